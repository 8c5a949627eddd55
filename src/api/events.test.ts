import { test } from 'node:test';
import { EventEmitter } from 'node:events';
import assert from 'node:assert/strict';
import { Lwm2mPath } from '../lwm2m/index.js';
import type { Notification } from '../server/types.js';
import { FakeServer, fakeRegistration, testModel } from './fake-server.js';
import type { FastifyInstance } from 'fastify';
import { createApi } from './index.js';
import { notificationToJson, sseFrame } from './events.js';

const TOKEN = 'sse-token';

/** Reads from the stream until `count` event frames (not comments) arrived. */
async function readEvents(reader: ReadableStreamDefaultReader<Uint8Array>, count: number): Promise<{ event: string; data: unknown }[]> {
  const dec = new TextDecoder();
  let buf = '';
  const out: { event: string; data: unknown }[] = [];
  while (out.length < count) {
    const { value, done } = await reader.read();
    if (done) throw new Error('stream ended early');
    buf += dec.decode(value, { stream: true });
    let i: number;
    while ((i = buf.indexOf('\n\n')) !== -1) {
      const frame = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const lines = frame.split('\n').filter((l) => !l.startsWith(':'));
      if (lines.length === 0) continue;
      const event = lines.find((l) => l.startsWith('event: '))!.slice(7);
      const data = JSON.parse(lines.find((l) => l.startsWith('data: '))!.slice(6));
      out.push({ event, data });
    }
  }
  return out;
}

/** Listens on loopback and opens an event stream past its ": connected" comment. */
async function openStream(app: FastifyInstance, signal: AbortSignal, token = TOKEN, query = ''): Promise<ReadableStreamDefaultReader<Uint8Array>> {
  if (!app.server.listening) await app.listen({ port: 0, host: '127.0.0.1' });
  const addr = app.server.address();
  assert.ok(addr !== null && typeof addr === 'object');
  const res = await fetch(`http://127.0.0.1:${addr.port}/api/event${query}`, { headers: { authorization: `Bearer ${token}` }, signal });
  assert.equal(res.status, 200);
  const reader = res.body!.getReader();
  await reader.read();
  return reader;
}

function notification(endpoint: string): Notification {
  return {
    endpoint,
    observationId: 'obs-1',
    paths: [Lwm2mPath.parse('/3/0/9')],
    code: 69,
    content: { kind: 'singleResource', id: 9, value: { type: 'integer', value: 42 } },
  };
}

test('SSE delivers NOTIFICATION and registration events for the chosen endpoint, and detaches on disconnect', async () => {
  const fake = new FakeServer();
  fake.add(fakeRegistration('dev1'));
  const app = await createApi({ server: fake, model: testModel(), apiToken: TOKEN });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const ac = new AbortController();
  try {
    const addr = app.server.address();
    assert.ok(addr !== null && typeof addr === 'object');
    const base = `http://127.0.0.1:${addr.port}`;

    const denied = await fetch(`${base}/api/event`);
    assert.equal(denied.status, 401);
    await denied.body?.cancel();

    const res = await fetch(`${base}/api/event?ep=dev1`, { headers: { authorization: `Bearer ${TOKEN}` }, signal: ac.signal });
    assert.equal(res.status, 200);
    assert.match(String(res.headers.get('content-type')), /^text\/event-stream/);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const reader = res.body!.getReader();
    // The first chunk (": connected") means the subscription is in place.
    await reader.read();
    assert.equal(fake.listenerCount('notification'), 1);

    fake.emit('notification', notification('other'));
    fake.emit('notification', notification('dev1'));
    fake.emit('registered', fake.getRegistration('dev1'));
    const events = await readEvents(reader, 2);
    assert.deepEqual(events[0], {
      event: 'NOTIFICATION',
      data: {
        ep: 'dev1',
        kind: 'single',
        res: '/3/0/9',
        observationId: 'obs-1',
        status: 'CONTENT(205)',
        val: { kind: 'singleResource', id: 9, type: 'INTEGER', value: 42 },
      },
    });
    assert.equal(events[1]!.event, 'REGISTRATION');
    assert.equal((events[1]!.data as { endpoint: string }).endpoint, 'dev1');

    ac.abort();
    await reader.closed.catch(() => undefined);
    // The server notices the closed socket on its own schedule: wait for the listener count, not a clock.
    for (let i = 0; i < 200 && fake.listenerCount('notification') > 0; i++) await new Promise((r) => setImmediate(r));
    assert.equal(fake.listenerCount('notification'), 0, 'listeners removed after disconnect');
  } finally {
    ac.abort();
    await app.close();
  }
  assert.equal(fake.listenerCount('notification'), 0);
});

test('app.close ends open streams', async () => {
  const fake = new FakeServer();
  const app = await createApi({ server: fake, model: testModel(), apiToken: TOKEN });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const addr = app.server.address();
  assert.ok(addr !== null && typeof addr === 'object');
  const res = await fetch(`http://127.0.0.1:${addr.port}/api/event`, { headers: { authorization: `Bearer ${TOKEN}` } });
  const reader = res.body!.getReader();
  await reader.read();
  assert.equal(fake.listenerCount('send'), 1);
  await app.close();
  for (;;) {
    const { done } = await reader.read();
    if (done) break;
  }
  assert.equal(fake.listenerCount('send'), 0);
});

test('idle streams get comment heartbeats', async () => {
  const fake = new FakeServer();
  const app = await createApi({ server: fake, model: testModel(), apiToken: TOKEN, heartbeatMs: 5 });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const ac = new AbortController();
  try {
    const addr = app.server.address();
    assert.ok(addr !== null && typeof addr === 'object');
    const res = await fetch(`http://127.0.0.1:${addr.port}/api/event`, { headers: { authorization: `Bearer ${TOKEN}` }, signal: ac.signal });
    const reader = res.body!.getReader();
    const dec = new TextDecoder();
    let text = '';
    while (!text.includes(': heartbeat\n\n')) {
      const { value, done } = await reader.read();
      if (done) throw new Error('stream ended before a heartbeat');
      text += dec.decode(value, { stream: true });
    }
    assert.ok(text.startsWith(': connected\n\n'));
  } finally {
    ac.abort();
    await app.close();
  }
});

test('frames and composite notification JSON', () => {
  assert.equal(sseFrame('SEND', { a: 'x\ny' }), 'event: SEND\ndata: {"a":"x\\ny"}\n\n');
  const n = notificationToJson({
    endpoint: 'dev1',
    observationId: 'o',
    paths: [Lwm2mPath.parse('/3/0/9'), Lwm2mPath.parse('/3/0/0')],
    code: 69,
    contents: [{ path: Lwm2mPath.parse('/3/0/9'), node: { kind: 'singleResource', id: 9, value: { type: 'integer', value: 1 } } }],
  });
  assert.equal(n.kind, 'composite');
  assert.equal(n.res, '/3/0/9,/3/0/0');
  assert.deepEqual(n.val, { '/3/0/9': { kind: 'singleResource', id: 9, type: 'INTEGER', value: 1 } });
});

test('SSE: campaign progress as CAMPAIGN (unfiltered streams) and FIRMWARE (the device\'s own stream too)', async () => {
  const campaigns = Object.assign(new EventEmitter(), {
    create: () => Promise.reject(new Error('unused')),
    start: () => Promise.reject(new Error('unused')),
    pause: () => { throw new Error('unused'); },
    resumeCampaign: () => { throw new Error('unused'); },
    cancel: () => Promise.reject(new Error('unused')),
    status: () => undefined,
    list: () => [],
    device: () => undefined,
    deviceHistory: () => [],
    deviceCampaigns: () => [],
  });
  const app = await createApi({ server: new FakeServer(), model: testModel(), apiToken: TOKEN, campaigns });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const ac = new AbortController();
  try {
    const addr = app.server.address();
    assert.ok(addr !== null && typeof addr === 'object');
    const open = async (query: string) => {
      const res = await fetch(`http://127.0.0.1:${addr.port}/api/event${query}`, { headers: { authorization: `Bearer ${TOKEN}` }, signal: ac.signal });
      const reader = res.body!.getReader();
      await reader.read(); // ": connected"
      return reader;
    };
    const all = await open('');
    const dev1 = await open('?ep=dev1');
    campaigns.emit('device', { campaignId: 1, endpoint: 'dev2', state: 'downloading' });
    campaigns.emit('campaign', { id: 1, state: 'paused', pauseReason: 'error rate' });
    campaigns.emit('device', { campaignId: 1, endpoint: 'dev1', state: 'failed', updateResult: 8 });
    assert.deepEqual(await readEvents(all, 3), [
      { event: 'FIRMWARE', data: { campaignId: 1, endpoint: 'dev2', state: 'downloading' } },
      { event: 'CAMPAIGN', data: { id: 1, state: 'paused', pauseReason: 'error rate' } },
      { event: 'FIRMWARE', data: { campaignId: 1, endpoint: 'dev1', state: 'failed', updateResult: 8 } },
    ]);
    assert.deepEqual(await readEvents(dev1, 1), [{ event: 'FIRMWARE', data: { campaignId: 1, endpoint: 'dev1', state: 'failed', updateResult: 8 } }]);
  } finally {
    ac.abort();
    await app.close();
  }
  assert.equal(campaigns.listenerCount('device'), 0, 'detached once the streams closed');
});

test('SSE: AUDIT events, credential ones to every stream and the device\'s, request ones to admins\' streams only', async () => {
  const { ApiTokenStore, AuditLog, RequestAudit, SessionStore, SqliteStore, UserStore } = await import('../store/index.js');
  const store = new SqliteStore(':memory:');
  const users = new UserStore(store, { scrypt: { logN: 4, r: 8, p: 1 } });
  const tokens = new ApiTokenStore(store);
  await users.add('view', 'viewer', 'viewer-password-Lp3-sse');
  const viewerToken = tokens.create({ username: 'view', scope: 'read' }).secret;
  const audit = new AuditLog(store);
  const fake = new FakeServer();
  fake.add(fakeRegistration('dev1'));
  const app = await createApi({
    server: fake, model: testModel(), apiToken: TOKEN, credentials: { audit }, requestAudit: new RequestAudit(store),
    access: { users, sessions: new SessionStore(store), tokens },
  });
  const ac = new AbortController();
  try {
    const admin = await openStream(app, ac.signal);
    const viewer = await openStream(app, ac.signal, viewerToken);
    const device = await openStream(app, ac.signal, TOKEN, '?ep=dev1');
    const addr = app.server.address();
    assert.ok(addr !== null && typeof addr === 'object');
    const base = `http://127.0.0.1:${addr.port}`;

    // A refused write is audited: admins see it live; then a credential event reaches all three.
    const refused = await fetch(`${base}/api/clients/dev1/3/0/4`, { method: 'POST', headers: { authorization: `Bearer ${viewerToken}` } });
    assert.equal(refused.status, 403);
    await refused.body?.cancel();
    audit.record({ endpoint: 'dev1', kind: 'rotated', actor: 'rotation:1' });

    const [request, credential] = await readEvents(admin, 2);
    assert.equal(request!.event, 'AUDIT');
    assert.deepEqual({ ...(request!.data as object), id: 0, time: '', address: '' }, {
      source: 'request', id: 0, time: '', actor: 'view', via: 'token', method: 'POST', route: '/api/clients/:ep/*', path: '/api/clients/dev1/3/0/4', status: 403, address: '',
    });
    assert.equal((credential!.data as { source: string; kind: string }).kind, 'rotated');
    // The viewer's first frame is the credential event: the request entry never reached it.
    const [v] = await readEvents(viewer, 1);
    assert.deepEqual([(v!.data as { source: string }).source, (v!.data as { kind: string }).kind], ['credential', 'rotated']);
    const [d] = await readEvents(device, 1);
    assert.equal((d!.data as { source: string }).source, 'credential');
  } finally {
    ac.abort();
    await app.close();
    store.close();
  }
});

test('SSE: DEVICE when an inventory entry changes (a credential added, then removed), PACKAGE when a package is stored', async () => {
  const { SecretBox, SecurityStore, SqliteStore } = await import('../store/index.js');
  const { DeviceInventory } = await import('../server/inventory.js');
  const { Watchers } = await import('../store/watchers.js');
  const { randomBytes } = await import('node:crypto');
  const store = new SqliteStore(':memory:');
  const security = new SecurityStore(store, SecretBox.fromKey(randomBytes(32)));
  const fake = new FakeServer();
  const inventory = new DeviceInventory({ server: fake, security });
  const packages = { changes: new Watchers<{ id: string; removed: boolean }>() };
  const app = await createApi({
    server: fake, model: testModel(), apiToken: TOKEN, security, inventory,
    firmware: { repository: { changes: packages.changes } as never },
  });
  const ac = new AbortController();
  try {
    const reader = await openStream(app, ac.signal);
    security.add({ endpoint: 'dev9', mode: 'psk', pskIdentity: 'id9', pskKey: randomBytes(16) });
    security.remove('dev9');
    packages.changes.emit({ id: 'ab'.repeat(32), removed: false });
    const events = await readEvents(reader, 3);
    assert.deepEqual(events.map((e) => e.event), ['DEVICE', 'DEVICE', 'PACKAGE']);
    const added = events[0]!.data as { endpoint: string; securityMode: string; online: boolean };
    assert.deepEqual([added.endpoint, added.securityMode, added.online], ['dev9', 'psk', false]);
    assert.ok(!JSON.stringify(added).includes('id9'), 'no PSK identity in the event');
    assert.deepEqual(events[1]!.data, { endpoint: 'dev9', removed: true });
    assert.deepEqual(events[2]!.data, { id: 'ab'.repeat(32), removed: false });
  } finally {
    ac.abort();
    await app.close();
    inventory.close();
    store.close();
  }
});
