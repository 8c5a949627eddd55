import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spkiOf } from '../dtls/rpk.js';
import { SecretBox, SecretBoxError } from './secret-box.js';
import { SecurityStore, SecurityStoreError } from './security.js';
import { SqliteStore } from './sqlite.js';

const KEY = Uint8Array.from(Buffer.from('0102030405060708090a0b0c0d0e0f10', 'hex'));
const spkiA = spkiOf(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey);
const spkiB = spkiOf(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey);

function fresh(): { store: SqliteStore; security: SecurityStore } {
  const store = new SqliteStore(':memory:');
  return { store, security: new SecurityStore(store, SecretBox.fromKey(new Uint8Array(32).fill(3)), { now: () => 1000 }) };
}

function code(c: SecurityStoreError['code']) {
  return (e: unknown) => e instanceof SecurityStoreError && e.code === c;
}

describe('SecurityStore', () => {
  it('adds, gets, lists, counts and removes each mode', () => {
    const { store, security } = fresh();
    assert.deepEqual(security.add({ endpoint: 'dev1', mode: 'psk', pskIdentity: 'id1', pskKey: KEY }), {
      endpoint: 'dev1', mode: 'psk', pskIdentity: 'id1', pskKey: KEY, createdAt: 1000,
    });
    security.add({ endpoint: 'dev2', mode: 'rpk', rpkPublicKey: spkiA });
    security.add({ endpoint: 'dev3', mode: 'x509', x509: true });
    assert.deepEqual(security.get('dev1')?.pskKey, KEY);
    assert.deepEqual(security.get('dev2')?.rpkPublicKey, spkiA);
    assert.equal(security.get('dev3')?.x509, true);
    assert.equal(security.get('nope'), undefined);
    assert.equal(security.count(), 3);
    const all = security.list();
    assert.deepEqual(all.map((i) => i.endpoint), ['dev1', 'dev2', 'dev3']);
    assert.equal(all[0]!.pskKey, undefined, 'list does not open PSK keys');
    assert.equal(all[0]!.pskIdentity, 'id1');
    assert.deepEqual(security.list({ offset: 1, limit: 1 }).map((i) => i.endpoint), ['dev2']);
    assert.equal(security.remove('dev2'), true);
    assert.equal(security.remove('dev2'), false);
    assert.equal(security.count(), 2);
    store.close();
  });

  it('never stores a PSK key in the clear', () => {
    const { store, security } = fresh();
    security.add({ endpoint: 'dev1', mode: 'psk', pskIdentity: 'id1', pskKey: KEY });
    const row = store.db.prepare('SELECT * FROM security_info').get() as Record<string, unknown>;
    for (const v of Object.values(row)) {
      if (Buffer.isBuffer(v)) assert.equal(v.includes(Buffer.from(KEY)), false);
      if (typeof v === 'string') assert.equal(v.includes(Buffer.from(KEY).toString('hex')), false);
    }
    store.close();
  });

  it('a sealed key moved to another row does not open', () => {
    const { store, security } = fresh();
    security.add({ endpoint: 'dev1', mode: 'psk', pskIdentity: 'id1', pskKey: KEY });
    security.add({ endpoint: 'dev2', mode: 'psk', pskIdentity: 'id2', pskKey: new Uint8Array(16).fill(9) });
    store.db.exec(`UPDATE security_info SET psk_key_sealed = (SELECT psk_key_sealed FROM security_info WHERE endpoint = 'dev1') WHERE endpoint = 'dev2'`);
    assert.throws(() => security.get('dev2'), SecretBoxError);
    store.close();
  });

  it('replaces an endpoint’s info, and keeps PSK identities and raw public keys unique across endpoints', () => {
    const { store, security } = fresh();
    security.add({ endpoint: 'dev1', mode: 'psk', pskIdentity: 'id1', pskKey: KEY });
    assert.throws(() => security.add({ endpoint: 'dev2', mode: 'psk', pskIdentity: 'id1', pskKey: KEY }), code('DUPLICATE_IDENTITY'));
    security.add({ endpoint: 'dev1', mode: 'psk', pskIdentity: 'id1', pskKey: new Uint8Array(20).fill(1) });
    assert.equal(security.get('dev1')?.pskKey?.length, 20);
    security.add({ endpoint: 'dev1', mode: 'rpk', rpkPublicKey: spkiA });
    assert.equal(security.findByPskIdentity('id1'), undefined, 'the old identity is gone with the mode change');
    security.add({ endpoint: 'dev2', mode: 'psk', pskIdentity: 'id1', pskKey: KEY });
    assert.throws(() => security.add({ endpoint: 'dev3', mode: 'rpk', rpkPublicKey: spkiA }), code('DUPLICATE_KEY'));
    store.close();
  });

  it('finds by PSK identity, raw public key and certificate name', async () => {
    const { store, security } = fresh();
    security.add({ endpoint: 'dev1', mode: 'psk', pskIdentity: 'id1', pskKey: KEY });
    security.add({ endpoint: 'dev2', mode: 'rpk', rpkPublicKey: spkiA });
    security.add({ endpoint: 'dev3', mode: 'x509', x509: true });
    assert.equal(security.findByPskIdentity('id1')?.endpoint, 'dev1');
    assert.equal(security.findByPskIdentity('dev1'), undefined);
    assert.equal(security.findByRawPublicKey(spkiA)?.endpoint, 'dev2');
    assert.equal(security.findByRawPublicKey(spkiB), undefined);
    assert.equal(security.findByCertificateName('dev3')?.endpoint, 'dev3');
    assert.equal(security.findByCertificateName('dev1'), undefined, 'a PSK device is not an X.509 device');
    const lookup = security.pskLookup();
    assert.deepEqual(await lookup('id1'), KEY);
    assert.equal(await lookup('unknown'), undefined);
    assert.equal(security.rawPublicKeyLookup()(spkiA), 'dev2');
    store.close();
  });

  it('validates what it stores', () => {
    const { store, security } = fresh();
    const invalid = [
      { endpoint: '', mode: 'x509', x509: true },
      { endpoint: 'a\nb', mode: 'x509', x509: true },
      { endpoint: 'x'.repeat(256), mode: 'x509', x509: true },
      { endpoint: 'dev1', mode: 'psk', pskIdentity: 'id', pskKey: new Uint8Array(15) },
      { endpoint: 'dev1', mode: 'psk', pskIdentity: 'id', pskKey: new Uint8Array(65) },
      { endpoint: 'dev1', mode: 'psk', pskIdentity: '', pskKey: KEY },
      { endpoint: 'dev1', mode: 'psk', pskIdentity: 'é'.repeat(65), pskKey: KEY },
      { endpoint: 'dev1', mode: 'psk', pskIdentity: '\ud800', pskKey: KEY },
      { endpoint: 'dev1', mode: 'psk', pskIdentity: 'id' },
      { endpoint: 'dev1', mode: 'rpk', rpkPublicKey: spkiOf(generateKeyPairSync('ed25519').publicKey) },
      { endpoint: 'dev1', mode: 'rpk', rpkPublicKey: spkiA, pskIdentity: 'id' },
      { endpoint: 'dev1', mode: 'x509' },
      { endpoint: 'dev1', mode: 'nosec' },
    ];
    for (const info of invalid) {
      assert.throws(() => security.add(info as never), code('INVALID'), JSON.stringify(info));
    }
    assert.equal(security.count(), 0);
    security.add({ endpoint: 'dev1', mode: 'psk', pskIdentity: 'é'.repeat(64), pskKey: new Uint8Array(64) });
    store.close();
  });

  it('keeps security info across reopening the database with the same key file', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'warden-security-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    let store = new SqliteStore(join(dir, 'warden.db'));
    new SecurityStore(store, SecretBox.openOrCreate(join(dir, 'secret.key'))).add({ endpoint: 'dev1', mode: 'psk', pskIdentity: 'id1', pskKey: KEY });
    store.close();
    store = new SqliteStore(join(dir, 'warden.db'));
    assert.deepEqual(new SecurityStore(store, SecretBox.openOrCreate(join(dir, 'secret.key'))).get('dev1')?.pskKey, KEY);
    store.close();
  });
});
