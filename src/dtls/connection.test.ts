import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createCiphers, keyBlockLength, splitKeyBlock, suiteInfo } from './cipher.js';
import { DtlsConnection, RESTORE_SEQUENCE_GAP } from './connection.js';
import { ContentType, decodeRecords } from './record.js';
import { CipherSuite } from './types.js';

function pair(suiteId: number = CipherSuite.TLS_PSK_WITH_AES_128_CCM_8, serverCid?: Uint8Array, maxFailed?: number) {
  const suite = suiteInfo(suiteId)!;
  const keys = splitKeyBlock(suite, Buffer.from(Array.from({ length: keyBlockLength(suite) }, (_, i) => i * 7)));
  const client = new DtlsConnection(true, maxFailed);
  const server = new DtlsConnection(false, maxFailed);
  for (const [c, isClient] of [[client, true], [server, false]] as const) {
    const { read, write } = createCiphers(suite, keys, isClient);
    c.setWriteCipher(1, write);
    c.writeEpoch = 1;
    c.setReadCipher(1, read);
    c.establish(suite, keys, isClient ? undefined : { mode: 'psk', name: 'dev' }, undefined);
  }
  if (serverCid) {
    server.ownCid = serverCid;
    client.peerCid = serverCid;
  }
  return { client, server, cidLength: serverCid?.length ?? 0 };
}

describe('DtlsConnection', () => {
  it('encrypts application data with increasing sequence numbers and decrypts it once (replay dropped)', () => {
    const { client, server } = pair();
    const a = decodeRecords(client.encrypt(Buffer.from('one')))[0]!;
    const b = decodeRecords(client.encrypt(Buffer.from('two')))[0]!;
    assert.deepEqual([a.epoch, a.sequenceNumber, b.sequenceNumber], [1, 0, 1]);
    assert.equal(Buffer.from(server.decrypt(b)!).toString(), 'two');
    assert.equal(Buffer.from(server.decrypt(a)!).toString(), 'one');
    assert.equal(server.decrypt(a), undefined);
    assert.deepEqual(server.open(a), { ok: false, reason: 'replay' });
  });

  it('drops records of another epoch and reports the next one as future', () => {
    const { client, server } = pair();
    const rec = decodeRecords(client.encrypt(Buffer.from('x')))[0]!;
    assert.deepEqual(server.open({ ...rec, epoch: 0 }), { ok: false, reason: 'old-epoch' });
    assert.deepEqual(server.open({ ...rec, epoch: 2 }), { ok: false, reason: 'future' });
  });

  it('counts failed decryptions and reports when the bound is passed', () => {
    const { client, server } = pair(undefined, undefined, 3);
    const rec = decodeRecords(client.encrypt(Buffer.from('x')))[0]!;
    const bad = Buffer.from(rec.fragment);
    bad[bad.length - 1]! ^= 1;
    const reasons = [0, 1, 2, 3].map((i) => (server.open({ ...rec, sequenceNumber: rec.sequenceNumber, fragment: bad }) as { reason: string }).reason + i);
    assert.deepEqual(reasons, ['bad-mac0', 'bad-mac1', 'bad-mac2', 'too-many-failures3']);
    assert.equal(server.failedDecryptions, 4);
  });

  it('sends tls12_cid records with the peer CID and checks the CID on receipt (RFC 9146)', () => {
    const cid = Uint8Array.of(1, 2, 3, 4, 5, 6);
    const { client, server } = pair(CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, cid);
    const dg = client.encrypt(Buffer.from('hello'));
    const rec = decodeRecords(dg, 6)[0]!;
    assert.equal(rec.type, ContentType.tls12_cid);
    assert.deepEqual(Array.from(rec.cid!), Array.from(cid));
    const r = server.open(rec);
    assert.deepEqual(r.ok && [r.type, Buffer.from(r.content).toString()], [23, 'hello']);
    const other = { ...decodeRecords(client.encrypt(Buffer.from('x')), 6)[0]!, cid: Uint8Array.of(9, 9, 9, 9, 9, 9) };
    assert.deepEqual(server.open(other), { ok: false, reason: 'cid' });
    // a plain record where a CID record is expected
    const plain = decodeRecords(server.encrypt(Buffer.from('y')))[0]!;
    assert.deepEqual(server.open(plain), { ok: false, reason: 'cid' });
    assert.equal(Buffer.from(client.decrypt(plain)!).toString(), 'y');
  });

  for (const id of [CipherSuite.TLS_PSK_WITH_AES_128_CCM_8, CipherSuite.TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256]) {
    it(`serializes and restores an established association (${suiteInfo(id)!.name})`, () => {
      const { client, server } = pair(id, Uint8Array.of(7, 7, 7, 7, 7, 7));
      server.session = { id: Uint8Array.of(1), masterSecret: new Uint8Array(48).fill(2), cipherSuite: id, extendedMasterSecret: true };
      server.decrypt(decodeRecords(client.encrypt(Buffer.from('a')), 6)[0]!);
      server.encrypt(Buffer.from('z'));
      const { connection: restored, peer } = DtlsConnection.deserialize(server.serialize({ address: '127.0.0.1', port: 9 }));
      assert.deepEqual(peer, { address: '127.0.0.1', port: 9 });
      assert.deepEqual(restored.identity, { mode: 'psk', name: 'dev' });
      assert.deepEqual(restored.session?.masterSecret, new Uint8Array(48).fill(2));
      const first = decodeRecords(client.encrypt(Buffer.from('after restart')), 6)[0]!;
      assert.equal(Buffer.from(restored.decrypt(first)!).toString(), 'after restart');
      const back = decodeRecords(restored.encrypt(Buffer.from('pong')))[0]!;
      assert.equal(back.sequenceNumber, 1 + RESTORE_SEQUENCE_GAP, 'sequence numbers never repeat after a restore');
      assert.equal(Buffer.from(client.decrypt(back)!).toString(), 'pong');
      assert.throws(() => DtlsConnection.deserialize(Buffer.from('{"v":99}')));
    });
  }
});
