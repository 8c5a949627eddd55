/**
 * Issue 4 end to end through `warden server`'s wiring: a factory key derived in the key store (never stored), a device
 * that bootstraps with it over DTLS, receives fresh DM credentials, and registers; the factory key then opens nothing
 * but the bootstrap server.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Lwm2mClient } from '../src/client/index.js';
import { Lwm2mPath } from '../src/lwm2m/path.js';
import { once } from './helpers.js';
import { startWardenWithFactoryKeys } from './warden-fixtures.js';

test('a device with only its factory key bootstraps, gets fresh DM credentials and registers over DTLS', async (t) => {
  const { warden, factory: [factory] } = await startWardenWithFactoryKeys(t, ['SN-0001'], 'test-token-factory');
  if (!factory) throw new Error('no factory credential');
  const client = new Lwm2mClient({
    endpoint: factory.endpoint,
    bootstrap: {
      serverUri: `coaps://127.0.0.1:${warden.bootstrapsPort}`,
      security: { mode: 'psk', identity: factory.pskIdentity, key: factory.pskKey },
    },
  });
  t.after(async () => {
    await client.stop().catch(() => {});
    await warden.close();
  });
  const registered = once(warden.server, 'registered', 15_000);
  await client.start();
  await registered;
  const reg = warden.server.getRegistration(factory.endpoint);
  assert.ok(reg?.secure, 'registered over DTLS');
  assert.equal(reg.identity?.mode, 'psk');
  assert.notEqual(reg.identity?.name, factory.pskIdentity, 'with the DM identity written at bootstrap, not the factory one');
  const dm = warden.security.get(factory.endpoint, { withKey: true });
  assert.ok(dm?.pskKey && dm.pskKey.length === 32, 'a fresh 256-bit DM key');
  assert.notDeepEqual(Buffer.from(dm.pskKey), Buffer.from(factory.pskKey));
  assert.equal((await warden.server.read(factory.endpoint, Lwm2mPath.parse('/3/0/0'))).code, 69);
  assert.equal((await warden.server.read(factory.endpoint, Lwm2mPath.parse('/0/0/5'))).code, 129, 'the DM server cannot read the Security object');

  // Fleet rotation through the API: the device is given a new DM key alongside the old one and proves it.
  const firstDmIdentity = reg.identity!.name;
  const api = (path: string, init: RequestInit = {}) =>
    fetch(`${warden.apiUrl}${path}`, { ...init, headers: { authorization: 'Bearer test-token-factory', 'content-type': 'application/json' } });
  const started = await api('/api/credentials/rotations', { method: 'POST', body: JSON.stringify({ endpoint: factory.endpoint }) });
  assert.equal(started.status, 201);
  const { id } = (await started.json()) as { id: number };
  let state = '';
  for (let i = 0; i < 300 && state !== 'finished'; i++) {
    state = ((await (await api(`/api/credentials/rotations/${id}`)).json()) as { state: string }).state;
    if (state !== 'finished') await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(state, 'finished', 'the rotation campaign completes');
  const rotated = warden.server.getRegistration(factory.endpoint);
  assert.ok(rotated, 'still registered');
  assert.notEqual(rotated.identity?.name, firstDmIdentity, 'registered with the new credential');
  assert.equal(warden.security.getPending(factory.endpoint), undefined, 'no second key is left behind');
  const audit = (await (await api(`/api/audit?endpoint=${encodeURIComponent(factory.endpoint)}`)).json()) as { kind: string }[];
  assert.ok(audit.some((e) => e.kind === 'rotated'), 'the audit log records the rotation');
  assert.ok(!JSON.stringify(audit).includes(Buffer.from(dm.pskKey).toString('hex')), 'and no key');
});
