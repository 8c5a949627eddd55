import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore, type RegistrationRow } from './sqlite.js';

function row(endpoint: string, registrationId: string): RegistrationRow {
  return {
    endpoint, registrationId, address: '127.0.0.1', port: 5000, lifetime: 300, lwm2mVersion: '1.1',
    bindingMode: 'U', queueMode: false, smsNumber: null, objectLinks: '</1/0>,</3/0>', registeredAt: 1, lastUpdate: 2,
    identity: null, secure: false,
  };
}

test('registrations and observations survive closing and reopening the file', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-store-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'data', 'warden.db');
  let store = new SqliteStore(file);
  store.saveRegistration(row('dev1', 'a'));
  store.saveRegistration({ ...row('dev1', 'b'), queueMode: true });
  store.saveObservation({
    observationId: 'o1', endpoint: 'dev1', registrationId: 'b', token: Uint8Array.of(1, 2, 3), paths: '/3/0/9',
    composite: false, requestFormat: null, createdAt: 5,
  });
  store.close();
  store = new SqliteStore(file);
  const regs = store.loadRegistrations();
  assert.equal(regs.length, 1, 'a second registration of one endpoint replaces the first');
  assert.equal(regs[0]!.registrationId, 'b');
  assert.equal(regs[0]!.queueMode, true);
  const obs = store.loadObservations();
  assert.deepEqual([...obs[0]!.token], [1, 2, 3]);
  store.close();
});

test('removing a stale registration id leaves the newer registration', () => {
  const store = new SqliteStore(':memory:');
  store.saveRegistration(row('dev1', 'new'));
  store.removeRegistration('dev1', 'old');
  assert.equal(store.loadRegistrations().length, 1);
  store.removeRegistration('dev1', 'new');
  assert.equal(store.loadRegistrations().length, 0);
  store.close();
});
