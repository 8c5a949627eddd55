import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { additionalData, AeadCipher, CbcCipher, createCiphers, keyBlockLength, splitKeyBlock, suiteInfo } from './cipher.js';
import { CipherSuite } from './types.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('AEAD primitives behind the suites', () => {
  it('AES-128-GCM: NIST GCM spec test case 4 (96-bit IV, AAD)', () => {
    const c = createCipheriv('aes-128-gcm', hex('feffe9928665731c6d6a8f9467308308'), hex('cafebabefacedbaddecaf888'));
    c.setAAD(hex('feedfacedeadbeeffeedfacedeadbeefabaddad2'));
    const ct = Buffer.concat([
      c.update(hex('d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39')),
      c.final(),
    ]);
    assert.equal(ct.toString('hex'), '42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091');
    assert.equal(c.getAuthTag().toString('hex'), '5bc94fbc3221a5db94fae95ae7121a47');
  });

  it('AES-CCM with an 8-byte tag: RFC 3610 packet vector #1', () => {
    const c = createCipheriv('aes-128-ccm', hex('c0c1c2c3c4c5c6c7c8c9cacbcccdcecf'), hex('00000003020100a0a1a2a3a4a5'), { authTagLength: 8 });
    const pt = hex('08090a0b0c0d0e0f101112131415161718191a1b1c1d1e');
    c.setAAD(hex('0001020304050607'), { plaintextLength: pt.length });
    const ct = Buffer.concat([c.update(pt), c.final()]);
    assert.equal(ct.toString('hex') + c.getAuthTag().toString('hex'), '588c979a61c663d2f066d0c2c0f989806d5f6b61dac38417e8d12cfdf926e0');
  });
});

describe('record protection', () => {
  const ccm = suiteInfo(CipherSuite.TLS_PSK_WITH_AES_128_CCM_8)!;
  const gcm = suiteInfo(CipherSuite.TLS_PSK_WITH_AES_128_GCM_SHA256)!;
  const cbc = suiteInfo(CipherSuite.TLS_PSK_WITH_AES_128_CBC_SHA256)!;
  const key = hex('000102030405060708090a0b0c0d0e0f');
  const salt = hex('a0a1a2a3');

  it('additional data: seq_num(epoch|seq) type version length (RFC 5246 §6.2.3.3, RFC 6347 §4.1.2.1)', () => {
    assert.equal(additionalData(23, 0xfefd, 1, 0x0a0b0c0d0e0f, 300).toString('hex'), '00010a0b0c0d0e0f' + '17' + 'fefd' + '012c');
  });

  it('additional data with a CID (RFC 9146 §5)', () => {
    const ad = additionalData(25, 0xfefd, 1, 5, 17, hex('c1c2c3'));
    assert.equal(ad.toString('hex'), 'ffffffffffffffff' + '19' + '03' + '19' + 'fefd' + '0001' + '000000000005' + 'c1c2c3' + '0011');
  });

  it('CCM_8 puts the explicit nonce epoch|seq first and an 8-byte tag last; a record seals to exactly what the RFC nonce gives', () => {
    const c = new AeadCipher(ccm, key, salt);
    const pt = Buffer.from('hello');
    const frag = Buffer.from(c.seal(23, 0xfefd, 1, 7, pt));
    assert.equal(frag.length, 8 + 5 + 8);
    assert.equal(frag.subarray(0, 8).toString('hex'), '0001000000000007');
    const ref = createCipheriv('aes-128-ccm', key, Buffer.concat([salt, frag.subarray(0, 8)]), { authTagLength: 8 });
    ref.setAAD(additionalData(23, 0xfefd, 1, 7, 5), { plaintextLength: 5 });
    const expect = Buffer.concat([ref.update(pt), ref.final(), ref.getAuthTag()]);
    assert.deepEqual(frag.subarray(8), expect);
    assert.deepEqual(Buffer.from(c.open(23, 0xfefd, 1, 7, frag)!), pt);
  });

  it('CCM_8: the first records (a cipher per record) and the later ones (long-lived contexts) are all OpenSSL\'s, CID or not', () => {
    const c = new AeadCipher(ccm, key, salt);
    const peer = new AeadCipher(ccm, key, salt);
    for (let seq = 0; seq < 12; seq++) {
      const cid = seq % 3 === 0 ? hex('c1c2c3c4c5c6') : undefined;
      const pt = Buffer.alloc(20 + seq * 9, seq);
      const frag = Buffer.from(c.seal(23, 0xfefd, 1, seq, pt, cid));
      const ref = createCipheriv('aes-128-ccm', key, Buffer.concat([salt, frag.subarray(0, 8)]), { authTagLength: 8 });
      ref.setAAD(additionalData(23, 0xfefd, 1, seq, pt.length, cid), { plaintextLength: pt.length });
      assert.deepEqual(frag.subarray(8), Buffer.concat([ref.update(pt), ref.final(), ref.getAuthTag()]), `record ${seq}`);
      assert.deepEqual(Buffer.from(peer.open(23, 0xfefd, 1, seq, frag, cid)!), pt);
    }
  });

  for (const s of [ccm, gcm, cbc]) {
    it(`${s.name}: round trip; any bit flipped or wrong header fails authentication`, () => {
      const keys = splitKeyBlock(s, Buffer.from(Array.from({ length: keyBlockLength(s) }, (_, i) => (i * 37 + 11) & 0xff)));
      const client = createCiphers(s, keys, true);
      const server = createCiphers(s, keys, false);
      const pt = Buffer.from('a CoAP message of some length, more than one block of AES');
      const frag = client.write.seal(23, 0xfefd, 1, 42, pt);
      assert.deepEqual(Buffer.from(server.read.open(23, 0xfefd, 1, 42, frag)!), pt);
      assert.equal(server.read.open(23, 0xfefd, 1, 43, frag), undefined, 'other sequence number');
      assert.equal(server.read.open(22, 0xfefd, 1, 42, frag), undefined, 'other type');
      assert.equal(client.read.open(23, 0xfefd, 1, 42, frag), undefined, 'other direction key');
      for (let i = 0; i < frag.length; i += 7) {
        const bad = Buffer.from(frag);
        bad[i]! ^= 1;
        assert.equal(server.read.open(23, 0xfefd, 1, 42, bad), undefined, `bit flipped at ${i}`);
      }
      assert.equal(server.read.open(23, 0xfefd, 1, 42, frag.subarray(0, 10)), undefined, 'truncated');
    });
  }

  it('CBC: bad padding and bad MAC both fail the same way (no padding oracle)', () => {
    const macKey = Buffer.alloc(32, 3);
    const iv = Buffer.alloc(16, 9);
    const c = new CbcCipher(cbc, key, macKey, (b) => b.set(iv.subarray(0, b.length)));
    const frag = Buffer.from(c.seal(23, 0xfefd, 1, 1, Buffer.from('0123456789')));
    // 10 + 32 + 1 = 43 -> 5 bytes of padding of value 5, 48 bytes of ciphertext after the IV.
    assert.equal(frag.length, 16 + 48);
    // Decrypt, corrupt the padding, re-encrypt: valid MAC position, invalid padding bytes.
    const d = createDecipheriv('aes-128-cbc', key, iv);
    d.setAutoPadding(false);
    const plain = Buffer.concat([d.update(frag.subarray(16)), d.final()]);
    assert.deepEqual(Array.from(plain.subarray(42)), [5, 5, 5, 5, 5, 5]);
    const badPad = Buffer.from(plain);
    badPad[43] = 4;
    const e = createCipheriv('aes-128-cbc', key, iv);
    e.setAutoPadding(false);
    const reenc = Buffer.concat([iv, e.update(badPad), e.final()]);
    assert.equal(c.open(23, 0xfefd, 1, 1, reenc), undefined);
    const badMac = Buffer.from(plain);
    badMac[12]! ^= 1;
    const e2 = createCipheriv('aes-128-cbc', key, iv);
    e2.setAutoPadding(false);
    assert.equal(c.open(23, 0xfefd, 1, 1, Buffer.concat([iv, e2.update(badMac), e2.final()])), undefined);
    assert.deepEqual(Buffer.from(c.open(23, 0xfefd, 1, 1, frag)!).toString(), '0123456789');
  });

  it('key block split follows RFC 5246 §6.3 order', () => {
    const block = Buffer.from(Array.from({ length: keyBlockLength(cbc) }, (_, i) => i));
    const k = splitKeyBlock(cbc, block);
    assert.equal(k.clientMacKey[0], 0);
    assert.equal(k.serverMacKey[0], 32);
    assert.equal(k.clientKey[0], 64);
    assert.equal(k.serverKey[0], 80);
    const a = splitKeyBlock(ccm, Buffer.from(Array.from({ length: keyBlockLength(ccm) }, (_, i) => i)));
    assert.equal(keyBlockLength(ccm), 40);
    assert.deepEqual([a.clientKey[0], a.serverKey[0], a.clientIv[0], a.serverIv[0]], [0, 16, 32, 36]);
  });
});
