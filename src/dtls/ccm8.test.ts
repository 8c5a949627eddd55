import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import { Ccm8 } from './ccm8.js';

function openssl(key: Uint8Array, nonce: Uint8Array, ad: Uint8Array, plaintext: Uint8Array): Buffer {
  const c = createCipheriv('aes-128-ccm', key, nonce, { authTagLength: 8 });
  c.setAAD(ad, { plaintextLength: plaintext.length });
  const body = Buffer.concat([c.update(plaintext), c.final()]);
  return Buffer.concat([body, c.getAuthTag()]);
}

test('matches OpenSSL aes-128-ccm (8-byte tag) for every length from 1 to 600 and additional data of 13 to 40 bytes', () => {
  const key = randomBytes(16);
  const ccm = new Ccm8(key);
  for (let len = 1; len <= 600; len++) {
    const nonce = randomBytes(12);
    const ad = randomBytes(13 + (len % 28));
    const plaintext = randomBytes(len);
    const out = Buffer.alloc(len + 8);
    ccm.seal(nonce, ad, plaintext, out, 0);
    assert.deepEqual(out, openssl(key, nonce, ad, plaintext), `length ${len}`);
    assert.deepEqual(Buffer.from(ccm.open(nonce, ad, out.subarray(0, len), out.subarray(len))!), plaintext);
  }
});

test('an empty record (OpenSSL cannot seal one through Node) authenticates: only its own tag opens it', () => {
  const ccm = new Ccm8(randomBytes(16));
  const nonce = randomBytes(12);
  const ad = randomBytes(13);
  const tag = Buffer.alloc(8);
  ccm.seal(nonce, ad, new Uint8Array(0), tag, 0);
  assert.deepEqual(ccm.open(nonce, ad, new Uint8Array(0), tag), Buffer.alloc(0));
  tag[0]! ^= 1;
  assert.equal(ccm.open(nonce, ad, new Uint8Array(0), tag), undefined);
});

test('a record of 16 KiB (counter blocks past 255) and one cipher per key across interleaved keys', () => {
  const keys = [randomBytes(16), randomBytes(16)];
  const ccms = keys.map((k) => new Ccm8(k));
  for (let i = 0; i < 10; i++) {
    const which = i % 2;
    const nonce = randomBytes(12);
    const ad = randomBytes(13);
    const plaintext = randomBytes(i === 5 ? 16_384 : 100 + i);
    const out = Buffer.alloc(plaintext.length + 8);
    ccms[which]!.seal(nonce, ad, plaintext, out, 0);
    assert.deepEqual(out, openssl(keys[which]!, nonce, ad, plaintext));
  }
});

test('open refuses a flipped bit anywhere: ciphertext, tag, nonce or additional data', () => {
  const key = randomBytes(16);
  const ccm = new Ccm8(key);
  const nonce = randomBytes(12);
  const ad = randomBytes(13);
  const plaintext = randomBytes(40);
  const sealed = Buffer.alloc(48);
  ccm.seal(nonce, ad, plaintext, sealed, 0);
  for (let bit = 0; bit < 48 * 8; bit += 7) {
    const bad = Buffer.from(sealed);
    bad[bit >> 3]! ^= 1 << (bit & 7);
    assert.equal(ccm.open(nonce, ad, bad.subarray(0, 40), bad.subarray(40)), undefined, `bit ${bit}`);
  }
  const badNonce = Buffer.from(nonce);
  badNonce[11]! ^= 1;
  assert.equal(ccm.open(badNonce, ad, sealed.subarray(0, 40), sealed.subarray(40)), undefined);
  const badAd = Buffer.from(ad);
  badAd[0]! ^= 0x80;
  assert.equal(ccm.open(nonce, badAd, sealed.subarray(0, 40), sealed.subarray(40)), undefined);
  assert.deepEqual(Buffer.from(ccm.open(nonce, ad, sealed.subarray(0, 40), sealed.subarray(40))!), plaintext, 'the untouched record still opens');
});
