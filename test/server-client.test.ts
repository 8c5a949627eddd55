/** The server driving real Warden clients over UDP loopback: every Device Management operation end to end. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Lwm2mClient } from '../src/client/index.js';
import { Lwm2mPath } from '../src/lwm2m/path.js';
import type { LwM2mNode, SingleResourceNode } from '../src/lwm2m/node.js';
import type { Notification, SendData } from '../src/server/index.js';
import { once, startTestServer, until, type TestServer } from './helpers.js';

const p = (s: string) => Lwm2mPath.parse(s);

async function setup(t: import('node:test').TestContext, endpoint = 'dev1', opts: Partial<ConstructorParameters<typeof Lwm2mClient>[0]> = {}) {
  const ts = await startTestServer();
  const client = new Lwm2mClient({ endpoint, serverUri: ts.uri, lifetime: 300, ...opts });
  const registered = once(ts.server, 'registered');
  await client.start();
  await registered;
  t.after(async () => {
    await client.stop().catch(() => {});
    await ts.close();
  });
  return { ts, client };
}

function single(node: LwM2mNode | undefined): SingleResourceNode {
  assert.ok(node && node.kind === 'singleResource', `expected a single resource, got ${node?.kind}`);
  return node;
}

test('read: a resource, an instance, an object, and an unknown path', async (t) => {
  const { ts } = await setup(t);
  const s = ts.server;
  const manufacturer = await s.read('dev1', p('/3/0/0'));
  assert.equal(manufacturer.code, 69);
  assert.equal(single(manufacturer.content).value.type, 'string');
  const instance = await s.read('dev1', p('/3/0'));
  assert.equal(instance.content?.kind, 'instance');
  const object = await s.read('dev1', p('/3'));
  assert.equal(object.content?.kind, 'object');
  for (const format of [11542, 110, 112, 11544]) {
    const r = await s.read('dev1', p('/3/0'), { format });
    assert.equal(r.code, 69, `read in format ${format}`);
    assert.equal(r.content?.kind, 'instance');
  }
  assert.equal((await s.read('dev1', p('/9999/0'))).code, 132, 'unknown object is 4.04');
  assert.equal((await s.read('dev1', p('/3/7'))).code, 132, 'unknown instance is 4.04');
  assert.equal((await s.read('dev1', p('/3/0/4'))).code, 133, 'reading an executable is 4.05');
  await assert.rejects(s.read('nobody', p('/3/0/0')), { code: 'NOT_REGISTERED' });
});

test('write (replace and partial update) and read back', async (t) => {
  const { ts } = await setup(t);
  const s = ts.server;
  const w = await s.write('dev1', p('/3/0/14'), { kind: 'singleResource', id: 14, value: { type: 'string', value: '+02:00' } });
  assert.equal(w.code, 68);
  assert.deepEqual(single((await s.read('dev1', p('/3/0/14'))).content).value, { type: 'string', value: '+02:00' });
  const partial = await s.write('dev1', p('/3/0'), {
    kind: 'instance', id: 0, resources: [{ kind: 'singleResource', id: 15, value: { type: 'string', value: 'Europe/Paris' } }],
  }, { replace: false });
  assert.equal(partial.code, 68);
  assert.deepEqual(single((await s.read('dev1', p('/3/0/15'))).content).value, { type: 'string', value: 'Europe/Paris' });
  assert.deepEqual(single((await s.read('dev1', p('/3/0/14'))).content).value, { type: 'string', value: '+02:00' }, 'partial update keeps the rest');
  const readOnly = await s.write('dev1', p('/3/0/0'), { kind: 'singleResource', id: 0, value: { type: 'string', value: 'x' } });
  assert.equal(readOnly.code, 133, 'writing a read-only resource is 4.05');
  for (const format of [110, 112, 11544]) {
    const r = await s.write('dev1', p('/3/0/14'), { kind: 'singleResource', id: 14, value: { type: 'string', value: `f${format}` } }, { format });
    assert.equal(r.code, 68, `write in format ${format}`);
    assert.deepEqual(single((await s.read('dev1', p('/3/0/14'))).content).value, { type: 'string', value: `f${format}` });
  }
});

test('execute with and without arguments; execute of a non-executable is refused', async (t) => {
  const { ts } = await setup(t);
  const s = ts.server;
  const updated = once(ts.server, 'updated');
  assert.equal((await s.execute('dev1', p('/1/0/8'))).code, 68, 'Registration Update Trigger');
  await updated;
  assert.equal((await s.execute('dev1', p('/1/0/8'), "0='x',1")).code, 68, 'execute with arguments');
  assert.equal((await s.execute('dev1', p('/3/0/0'))).code, 133);
});

test('create and delete an object instance', async (t) => {
  const { ts } = await setup(t);
  const s = ts.server;
  const created = await s.create('dev1', p('/2'), [{
    kind: 'instance', id: 7, resources: [
      { kind: 'singleResource', id: 0, value: { type: 'unsignedInteger', value: 3 } },
      { kind: 'singleResource', id: 1, value: { type: 'unsignedInteger', value: 0 } },
      { kind: 'singleResource', id: 3, value: { type: 'unsignedInteger', value: 1 } },
    ],
  }]);
  assert.equal(created.code, 65);
  assert.equal((await s.read('dev1', p('/2/7'))).code, 69);
  assert.equal((await s.delete('dev1', p('/2/7'))).code, 66);
  assert.equal((await s.read('dev1', p('/2/7'))).code, 132);
});

test('discover and write-attributes', async (t) => {
  const { ts } = await setup(t);
  const s = ts.server;
  assert.equal((await s.writeAttributes('dev1', p('/3/0/9'), { pmin: 5, pmax: 60 })).code, 68);
  const d = await s.discover('dev1', p('/3/0'));
  assert.equal(d.code, 69);
  const battery = d.links?.find((l) => l.uri === '/3/0/9');
  assert.ok(battery, 'discover lists /3/0/9');
  assert.equal(battery.attributes.pmin, '5');
  assert.equal(battery.attributes.pmax, '60');
  assert.equal((await s.writeAttributes('dev1', p('/3/0/9'), { gt: 10, lt: 50, st: 30 })).code, 128, 'inconsistent gt/lt/st is 4.00');
});

test('observe: notifications on change, cancel stops them', async (t) => {
  const { ts } = await setup(t);
  const s = ts.server;
  const obs = await s.observe('dev1', p('/3/0/14'));
  assert.equal(obs.code, 69);
  assert.ok(obs.observationId);
  assert.equal(s.observations('dev1').length, 1);
  const notified = once<Notification>(s, 'notification');
  await s.write('dev1', p('/3/0/14'), { kind: 'singleResource', id: 14, value: { type: 'string', value: '+05:00' } });
  const n = await notified;
  assert.equal(n.endpoint, 'dev1');
  assert.deepEqual(single(n.content).value, { type: 'string', value: '+05:00' });
  assert.equal(await s.cancelObservation('dev1', p('/3/0/14'), { active: true }), 1);
  assert.equal(s.observations('dev1').length, 0);
  assert.equal(ts.store.loadObservations().length, 0);
});

test('composite read, write and observe', async (t) => {
  const { ts } = await setup(t);
  const s = ts.server;
  const r = await s.readComposite('dev1', [p('/3/0/0'), p('/3/0/14'), p('/1/0/1')]);
  assert.equal(r.code, 69);
  assert.deepEqual(r.contents?.map((c) => c.path.toString()).sort(), ['/1/0/1', '/3/0/0', '/3/0/14']);
  const w = await s.writeComposite('dev1', [
    { path: p('/3/0/14'), node: { kind: 'singleResource', id: 14, value: { type: 'string', value: '-03:00' } } },
    { path: p('/3/0/15'), node: { kind: 'singleResource', id: 15, value: { type: 'string', value: 'America/Sao_Paulo' } } },
  ]);
  assert.equal(w.code, 68);
  assert.deepEqual(single((await s.read('dev1', p('/3/0/15'))).content).value, { type: 'string', value: 'America/Sao_Paulo' });
  const o = await s.observeComposite('dev1', [p('/3/0/14'), p('/3/0/15')]);
  assert.equal(o.code, 69);
  const notified = once<Notification>(s, 'notification');
  await s.write('dev1', p('/3/0/14'), { kind: 'singleResource', id: 14, value: { type: 'string', value: '+01:00' } });
  const n = await notified;
  assert.ok(n.contents?.some((c) => c.path.toString() === '/3/0/14'));
});

test('send: the device reports values on its own', async (t) => {
  const { ts, client } = await setup(t);
  const sent = once<SendData>(ts.server, 'send');
  await client.send([p('/3/0/9'), p('/3/0/14')]);
  const data = await sent;
  assert.equal(data.endpoint, 'dev1');
  assert.ok(data.contents.some((c) => c.path.toString() === '/3/0/9'));
});

test('de-registration on client stop', async (t) => {
  const { ts, client } = await setup(t);
  const gone = once(ts.server, 'deregistered');
  await client.stop();
  await gone;
  assert.equal(ts.server.getRegistration('dev1'), undefined);
  assert.equal(ts.store.loadRegistrations().length, 0);
});

test('registrations and observations survive a server restart', async (t) => {
  let ts: TestServer = await startTestServer();
  const { dir, port } = ts;
  const client = new Lwm2mClient({ endpoint: 'dev1', serverUri: ts.uri, lifetime: 300 });
  t.after(async () => {
    await client.stop({ deregister: false }).catch(() => {});
    await ts.close();
  });
  await client.start();
  await until(() => ts.server.getRegistration('dev1') !== undefined);
  await ts.server.observe('dev1', p('/3/0/14'));
  await ts.stop();
  ts = await startTestServer({ dir, port });
  assert.ok(ts.server.getRegistration('dev1'), 'the registration is back without the device doing anything');
  assert.equal(ts.server.observations('dev1').length, 1);
  const notified = once<Notification>(ts.server, 'notification');
  await ts.server.write('dev1', p('/3/0/14'), { kind: 'singleResource', id: 14, value: { type: 'string', value: '+09:00' } });
  const n = await notified;
  assert.deepEqual(single(n.content).value, { type: 'string', value: '+09:00' });
});

test('queue mode: a request for a sleeping device waits until it wakes', async (t) => {
  const ts = await startTestServer({ queueAwakeTime: 300 });
  const client = new Lwm2mClient({ endpoint: 'sleepy', serverUri: ts.uri, lifetime: 300, queueMode: true, queueModeAwakeTime: 300 });
  t.after(async () => {
    await client.stop().catch(() => {});
    await ts.close();
  });
  await client.start();
  const reg = ts.server.getRegistration('sleepy');
  assert.equal(reg?.queueMode, true);
  await once(ts.server, 'sleeping');
  assert.equal(ts.server.isSleeping('sleepy'), true);
  const pending = ts.server.read('sleepy', p('/3/0/0'), { timeout: 10_000 });
  await client.update();
  const res = await pending;
  assert.equal(res.code, 69);
  await assert.rejects(
    (async () => {
      await once(ts.server, 'sleeping');
      return ts.server.read('sleepy', p('/3/0/0'), { timeout: 200 });
    })(),
    { code: 'TIMEOUT' },
  );
});
