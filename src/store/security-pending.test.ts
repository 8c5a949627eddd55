import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { spkiOf } from '../dtls/rpk.js';
import { SecretBox, SecurityStore, SecurityStoreError } from './security.js';
import { SqliteStore } from './sqlite.js';
import { securityAuthorizer } from '../cli/authorizer.js';

const key = () => new Uint8Array(randomBytes(32));

test('a pending PSK is accepted alongside the current one until promoted, then the old one is gone', () => {
  const store = new SqliteStore(':memory:');
  const s = new SecurityStore(store, SecretBox.fromKey(randomBytes(32)));
  const oldKey = key();
  const newKey = key();
  s.add({ endpoint: 'e', mode: 'psk', pskIdentity: 'e', pskKey: oldKey });
  s.setPending('e', 'e~r1', newKey);
  assert.equal(s.setPending('e', 'e~r1', newKey).pskIdentity, 'e~r1', 'idempotent');
  const lookup = s.pskLookup();
  assert.deepEqual(lookup('e'), oldKey);
  assert.deepEqual(lookup('e~r1'), newKey);
  assert.equal(s.getPending('e')!.pskKey, undefined, 'key only when asked');
  const auth = securityAuthorizer(s);
  assert.ok(auth('e', { mode: 'psk', name: 'e' }));
  assert.ok(auth('e', { mode: 'psk', name: 'e~r1' }));
  assert.ok(!auth('e', { mode: 'psk', name: 'x' }));
  const promoted = s.promotePending('e')!;
  assert.equal(promoted.pskIdentity, 'e~r1');
  assert.equal(lookup('e'), undefined);
  assert.deepEqual(lookup('e~r1'), newKey);
  assert.ok(!auth('e', { mode: 'psk', name: 'e' }));
  assert.equal(s.getPending('e'), undefined);
  assert.equal(s.promotePending('e'), undefined);
  store.close();
});

test('pending PSK identities are unique across endpoints and differ from the current one', () => {
  const store = new SqliteStore(':memory:');
  const s = new SecurityStore(store, SecretBox.fromKey(randomBytes(32)));
  s.add({ endpoint: 'a', mode: 'psk', pskIdentity: 'a', pskKey: key() });
  s.add({ endpoint: 'b', mode: 'psk', pskIdentity: 'b', pskKey: key() });
  assert.throws(() => s.setPending('a', 'a', key()), SecurityStoreError);
  assert.throws(() => s.setPending('a', 'b', key()), (e: unknown) => e instanceof SecurityStoreError && e.code === 'DUPLICATE_IDENTITY');
  s.setPending('a', 'a~2', key());
  assert.throws(() => s.setPending('b', 'a~2', key()), (e: unknown) => e instanceof SecurityStoreError && e.code === 'DUPLICATE_IDENTITY');
  assert.throws(() => s.add({ endpoint: 'b', mode: 'psk', pskIdentity: 'a~2', pskKey: key() }), SecurityStoreError);
  assert.throws(() => s.setPending('nobody', 'n~2', key()), SecurityStoreError);
  assert.ok(s.remove('a'));
  assert.equal(s.findByPskIdentity('a~2'), undefined, 'remove drops the pending PSK too');
  store.close();
});

test('a pending raw public key is accepted alongside the current one until promoted; it cannot be another endpoint\'s', () => {
  const store = new SqliteStore(':memory:');
  const s = new SecurityStore(store, SecretBox.fromKey(randomBytes(32)));
  const spki = () => spkiOf(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey);
  const [oldKey, newKey, otherKey] = [spki(), spki(), spki()];
  s.add({ endpoint: 'e', mode: 'rpk', rpkPublicKey: oldKey });
  s.add({ endpoint: 'o', mode: 'rpk', rpkPublicKey: otherKey });
  assert.throws(() => s.setPendingRawPublicKey('e', otherKey), (e: unknown) => e instanceof SecurityStoreError && e.code === 'DUPLICATE_KEY');
  assert.throws(() => s.setPendingRawPublicKey('e', oldKey), (e: unknown) => e instanceof SecurityStoreError && e.code === 'INVALID');
  s.add({ endpoint: 'p', mode: 'psk', pskIdentity: 'p', pskKey: key() });
  assert.throws(() => s.setPendingRawPublicKey('p', newKey), (e: unknown) => e instanceof SecurityStoreError && e.code === 'INVALID', 'only RPK endpoints');
  s.setPendingRawPublicKey('e', newKey);
  const lookup = s.rawPublicKeyLookup();
  assert.equal(lookup(oldKey), 'e');
  assert.equal(lookup(newKey), 'e');
  assert.throws(() => s.add({ endpoint: 'x', mode: 'rpk', rpkPublicKey: newKey }), (e: unknown) => e instanceof SecurityStoreError && e.code === 'DUPLICATE_KEY', 'a pending key is taken');
  assert.deepEqual(s.promotePendingRawPublicKey('e')?.rpkPublicKey, newKey);
  assert.equal(lookup(oldKey), undefined, 'the old key is gone');
  assert.equal(lookup(newKey), 'e');
  assert.equal(s.getPendingRawPublicKey('e'), undefined);
  assert.equal(s.promotePendingRawPublicKey('e'), undefined, 'nothing left to promote');
  s.setPendingRawPublicKey('e', oldKey);
  assert.ok(s.remove('e'));
  assert.equal(lookup(oldKey), undefined, 'removing the endpoint drops its pending key');
});
