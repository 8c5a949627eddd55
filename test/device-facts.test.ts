/** Firmware facts learned from real Warden clients: the registration read, Read, Observe notifications, and a restart. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Lwm2mClient } from '../src/client/index.js';
import { parseAttributes } from '../src/lwm2m/attributes.js';
import { Lwm2mPath } from '../src/lwm2m/path.js';
import { collectFirmwareFacts } from '../src/server/index.js';
import { DeviceFactsStore, SqliteStore } from '../src/store/index.js';
import { join } from 'node:path';
import { once, startTestServer, until } from './helpers.js';

const p = (s: string) => Lwm2mPath.parse(s);

test('a new registration is read for its firmware version, which survives a restart', async (t) => {
  const ts = await startTestServer();
  const facts = new DeviceFactsStore(ts.store);
  const stop = collectFirmwareFacts(ts.server, facts);
  const client = new Lwm2mClient({ endpoint: 'fw-dev', serverUri: ts.uri, lifetime: 300, standard: { device: { firmwareVersion: '4.2.0' } } });
  t.after(async () => {
    await client.stop().catch(() => {});
    stop();
    await ts.close();
  });
  const registered = once(ts.server, 'registered');
  await client.start();
  await registered;
  await until(() => facts.get('fw-dev')?.version === '4.2.0', 5000, 'the registration read');
  stop();
  await client.stop();
  await ts.stop();
  const reopened = new SqliteStore(join(ts.dir, 'warden.db'));
  try {
    assert.equal(new DeviceFactsStore(reopened).get('fw-dev')?.version, '4.2.0');
  } finally {
    reopened.close();
  }
});

test('without the registration read, facts come from a Read and from Observe notifications', async (t) => {
  const ts = await startTestServer();
  const facts = new DeviceFactsStore(ts.store);
  const stop = collectFirmwareFacts(ts.server, facts, { inventoryRead: false });
  const client = new Lwm2mClient({ endpoint: 'fw-dev2', serverUri: ts.uri, lifetime: 300, standard: { device: { firmwareVersion: '7.1' } } });
  t.after(async () => {
    await client.stop().catch(() => {});
    stop();
    await ts.close();
  });
  const registered = once(ts.server, 'registered');
  await client.start();
  await registered;
  assert.equal((await ts.server.read('fw-dev2', p('/3/0/0'))).code, 69);
  assert.equal(facts.get('fw-dev2'), undefined, 'no registration read, and /3/0/0 is not a firmware fact');
  assert.equal((await ts.server.read('fw-dev2', p('/3'))).code, 69);
  assert.equal(facts.get('fw-dev2')?.version, '7.1', 'read of the whole Device object');
  assert.equal((await ts.server.read('fw-dev2', p('/5/0'))).code, 69);
  assert.equal(facts.get('fw-dev2')?.fwState, 0, 'Object 5 idle');

  // A notification: forget what the reads taught, then observe /3/0 with pmax 1 and wait for a notification.
  facts.remove('fw-dev2');
  assert.equal((await ts.server.writeAttributes('fw-dev2', p('/3/0'), parseAttributes(['pmin=0', 'pmax=1']))).code, 68);
  const watcher = collectFirmwareFacts(ts.server, facts, { inventoryRead: false });
  t.after(watcher);
  stop();
  ts.server.removeAllListeners('read');
  const observed = await ts.server.observe('fw-dev2', p('/3/0'));
  assert.equal(observed.code, 69);
  assert.equal(facts.get('fw-dev2'), undefined, 'the first answer was not heard as a read (listeners removed)');
  await until(() => facts.get('fw-dev2')?.version === '7.1', 5000, 'a notification carrying /3/0/3');
});
