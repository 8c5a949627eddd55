import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
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
