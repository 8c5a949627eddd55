import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { RotationManager } from '../bootstrap/index.js';
import { SimulatedFleet } from '../bootstrap/rotation-sim.js';
import { AuditLog, SecretBox, SecurityStore, SqliteStore } from '../store/index.js';
import { FakeServer, testModel } from './fake-server.js';
import { createApi } from './index.js';

const TOKEN = 'test-token-credentials-0123';

async function setup() {
  const store = new SqliteStore(':memory:');
  const security = new SecurityStore(store, SecretBox.fromKey(randomBytes(32)));
  const audit = new AuditLog(store);
  const fleet = new SimulatedFleet();
  const keys: string[] = [];
  for (const ep of ['a', 'b', 'c']) {
    const key = new Uint8Array(randomBytes(32));
    keys.push(Buffer.from(key).toString('hex'));
    security.add({ endpoint: ep, mode: 'psk', pskIdentity: ep, pskKey: key });
    fleet.register(security, fleet.add(ep, ep, key));
  }
  const rotation = new RotationManager({ store, security, audit, driver: fleet.driver(security), proofTimeout: 200, retryDelay: 1,
    resolveGroup: (g) => (g === 'ab' ? ['a', 'b'] : undefined) });
  const app = await createApi({ server: new FakeServer(), model: testModel(), apiToken: TOKEN, credentials: { rotation, audit } });
  return {
    app, rotation, security, keys, audit,
    async close() {
      await app.close();
      await rotation.close();
      store.close();
    },
  };
}

async function call(app: FastifyInstance, opts: InjectOptions, auth = true) {
  const res = await app.inject({ ...opts, headers: { ...(auth ? { authorization: `Bearer ${TOKEN}` } : {}), ...opts.headers } });
  return { status: res.statusCode, raw: res.body, body: res.body === '' ? undefined : JSON.parse(res.body) };
}

describe('/api/credentials/rotations and /api/audit', () => {
  it('starts a campaign, shows per-device states, and the audit log, without key material', async () => {
    const c = await setup();
    try {
      const res = await call(c.app, { method: 'POST', url: '/api/credentials/rotations', payload: { group: 'ab', concurrency: 2 } });
      assert.equal(res.status, 201);
      const id = res.body.id as number;
      await c.rotation.wait(id);
      const st = await call(c.app, { method: 'GET', url: `/api/credentials/rotations/${id}` });
      assert.equal(st.status, 200);
      assert.deepEqual(st.body.devices.map((d: { endpoint: string; state: string }) => [d.endpoint, d.state]), [['a', 'done'], ['b', 'done']]);
      assert.equal(st.body.counts.done, 2);
      assert.equal(st.body.devicesTotal, 2);
      // A page of the devices: by state, offset and limit; bad paging is refused naming the parameter.
      const page = await call(c.app, { method: 'GET', url: `/api/credentials/rotations/${id}?state=done&offset=1&limit=1` });
      assert.deepEqual([page.body.devices.map((d: { endpoint: string }) => d.endpoint), page.body.devicesTotal, page.body.counts.done], [['b'], 2, 2]);
      assert.equal((await call(c.app, { method: 'GET', url: `/api/credentials/rotations/${id}?state=failed` })).body.devicesTotal, 0);
      for (const q of ['state=bogus', 'limit=0', 'limit=1001', 'offset=-1']) {
        const bad = await call(c.app, { method: 'GET', url: `/api/credentials/rotations/${id}?${q}` });
        assert.equal(bad.status, 400, q);
        assert.match(bad.raw, new RegExp(q.split('=')[0]!), q);
      }
      const list = await call(c.app, { method: 'GET', url: '/api/credentials/rotations' });
      assert.equal(list.body.length, 1);
      const audit = await call(c.app, { method: 'GET', url: '/api/audit?endpoint=a&kind=rotated&since=0' });
      assert.equal(audit.status, 200);
      assert.equal(audit.body.length, 1);
      assert.equal(audit.body[0].detail.identity, `a~r${id}`);
      assert.equal((await call(c.app, { method: 'GET', url: `/api/audit?since=${Date.now() + 60_000}` })).body.length, 0);
      const newKey = Buffer.from(c.security.get('a')!.pskKey!).toString('hex');
      for (const raw of [st.raw, audit.raw, list.raw]) for (const k of [...c.keys, newKey]) assert.ok(!raw.includes(k), 'key material in a response');
    } finally {
      await c.close();
    }
  });

  it('answers bad requests, unknown campaigns and groups, and requires the token', async () => {
    const c = await setup();
    try {
      assert.equal((await call(c.app, { method: 'POST', url: '/api/credentials/rotations', payload: { all: true } }, false)).status, 401);
      assert.equal((await call(c.app, { method: 'GET', url: '/api/audit' }, false)).status, 401);
      assert.equal((await call(c.app, { method: 'POST', url: '/api/credentials/rotations', payload: { all: true, endpoint: 'a' } })).status, 400);
      assert.equal((await call(c.app, { method: 'POST', url: '/api/credentials/rotations', payload: { all: 'yes' } })).status, 400);
      assert.equal((await call(c.app, { method: 'POST', url: '/api/credentials/rotations', payload: { endpoint: 'a', concurrency: 0 } })).status, 400);
      assert.equal((await call(c.app, { method: 'POST', url: '/api/credentials/rotations', payload: { group: 'nope' } })).status, 404);
      assert.equal((await call(c.app, { method: 'POST', url: '/api/credentials/rotations', payload: { endpoint: 'zz' } })).status, 409);
      assert.equal((await call(c.app, { method: 'GET', url: '/api/credentials/rotations/99' })).status, 404);
      assert.equal((await call(c.app, { method: 'GET', url: '/api/credentials/rotations/x' })).status, 400);
      assert.equal((await call(c.app, { method: 'GET', url: '/api/audit?kind=stolen' })).status, 400);
      assert.equal((await call(c.app, { method: 'GET', url: '/api/audit?since=yesterday' })).status, 400);
      assert.equal((await call(c.app, { method: 'GET', url: '/api/audit?since=2020-01-01T00:00:00Z&limit=5' })).status, 200);
    } finally {
      await c.close();
    }
  });
});

/** Reads SSE frames until `stop` says so. */
async function readUntil(reader: ReadableStreamDefaultReader<Uint8Array>, stop: (e: { event: string; data: Record<string, unknown> }) => boolean) {
  const dec = new TextDecoder();
  let buf = '';
  const out: { event: string; data: Record<string, unknown> }[] = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error('stream ended early');
    buf += dec.decode(value, { stream: true });
    let i: number;
    while ((i = buf.indexOf('\n\n')) !== -1) {
      const lines = buf.slice(0, i).split('\n').filter((l) => !l.startsWith(':'));
      buf = buf.slice(i + 2);
      if (lines.length === 0) continue;
      const e = { event: lines.find((l) => l.startsWith('event: '))!.slice(7), data: JSON.parse(lines.find((l) => l.startsWith('data: '))!.slice(6)) };
      out.push(e);
      if (stop(e)) return out;
    }
  }
}

describe('/api/credentials/age, audit actor and offset, ROTATION events', () => {
  const DAY = 86_400_000;
  const NOW = 1_800_000_000_000;

  it('counts credential ages per bucket and per mode in SQL', async () => {
    const store = new SqliteStore(':memory:');
    let t = NOW;
    const security = new SecurityStore(store, SecretBox.fromKey(randomBytes(32)), { now: () => t });
    // Ages: 0 (psk), 2 d (psk), 10 d (x509), 40 d (psk), 100 d (psk), 400 d (x509), 3 y (psk); one dated in the future.
    const ages = [0, 2, 10, 40, 100, 400, 1095, -1];
    ages.forEach((a, i) => {
      t = NOW - a * DAY;
      if (i === 2 || i === 5) security.add({ endpoint: `dev${i}`, mode: 'x509', x509: true });
      else security.add({ endpoint: `dev${i}`, mode: 'psk', pskIdentity: `dev${i}`, pskKey: new Uint8Array(randomBytes(16)) });
    });
    const app = await createApi({ server: new FakeServer(), model: testModel(), apiToken: TOKEN, credentials: { ages: security, now: () => NOW } });
    try {
      const res = await call(app, { method: 'GET', url: '/api/credentials/age' });
      assert.equal(res.status, 200);
      assert.equal(res.body.total, 8);
      assert.deepEqual(res.body.byMode, { psk: 6, rpk: 0, x509: 2 });
      assert.deepEqual(res.body.buckets.map((b: { label: string; count: number }) => [b.label, b.count]), [
        ['< 1d', 2], ['1d–7d', 1], ['7d–30d', 1], ['30d–90d', 1], ['90d–1y', 1], ['> 1y', 2],
      ]);
      assert.deepEqual(res.body.buckets[5].byMode, { psk: 1, rpk: 0, x509: 1 });
      assert.equal(res.body.buckets[5].toMs, null);
      const custom = await call(app, { method: 'GET', url: '/api/credentials/age?buckets=12h,30d' });
      assert.deepEqual(custom.body.buckets.map((b: { count: number }) => b.count), [2, 2, 4]);
      for (const bad of ['7d,1d', '1x', '0d', 'd', Array.from({ length: 21 }, (_, i) => `${i + 1}d`).join(',')]) {
        assert.equal((await call(app, { method: 'GET', url: `/api/credentials/age?buckets=${encodeURIComponent(bad)}` })).status, 400, bad);
      }
      assert.equal((await call(app, { method: 'GET', url: '/api/credentials/age' }, false)).status, 401);
      // The counts are range searches of the (mode, created_at) index, not table scans.
      for (const [sql, args] of [['SELECT COUNT(*) FROM security_info WHERE mode = ?', ['psk']], ['SELECT COUNT(*) FROM security_info WHERE mode = ? AND created_at > ?', ['psk', 0]]] as const) {
        const plan = store.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...args) as { detail: string }[];
        assert.ok(plan.some((p) => /SEARCH .*COVERING INDEX security_info_age/.test(p.detail)), JSON.stringify(plan));
      }
    } finally {
      await app.close();
      store.close();
    }
  });

  it('records who started a rotation, filters the audit log by actor, pages with offset, takes an endpoint list', async () => {
    const c = await setup();
    try {
      const res = await call(c.app, { method: 'POST', url: '/api/credentials/rotations', payload: { endpoints: ['a', 'c', 'a', 'zz'] } });
      assert.equal(res.status, 201);
      assert.equal(res.body.actor, 'api-token', 'the principal of the built-in token, not a constant');
      assert.deepEqual(res.body.target, { endpoints: ['a', 'c', 'a', 'zz'] });
      await c.rotation.wait(res.body.id);
      const st = await call(c.app, { method: 'GET', url: `/api/credentials/rotations/${res.body.id}` });
      assert.deepEqual(st.body.devices.map((d: { endpoint: string }) => d.endpoint), ['a', 'c']);
      const dev = await call(c.app, { method: 'GET', url: `/api/credentials/rotations/${res.body.id}/devices/a` });
      assert.equal(dev.status, 200);
      assert.equal(dev.body.state, 'done');
      assert.deepEqual(dev.body.history.map((e: { from: string; to: string }) => `${e.from}>${e.to}`), ['queued>prepared', 'prepared>delivered', 'delivered>done']);
      assert.match((await call(c.app, { method: 'GET', url: `/api/credentials/rotations/${res.body.id}/devices/b` })).body.message, /not in rotation campaign/);
      assert.equal((await call(c.app, { method: 'GET', url: `/api/credentials/rotations/${res.body.id}/devices/b` })).status, 404);
      assert.match((await call(c.app, { method: 'GET', url: '/api/credentials/rotations/77/devices/a' })).body.message, /no rotation campaign 77/);
      c.audit.record({ endpoint: 'b', kind: 'revoked', actor: 'cli' });
      const byRotation = await call(c.app, { method: 'GET', url: `/api/audit?actor=${encodeURIComponent('rotation:*')}` });
      assert.deepEqual(byRotation.body.map((e: { endpoint: string }) => e.endpoint).sort(), ['a', 'c']);
      assert.ok(byRotation.body.every((e: { detail: { by: string } }) => e.detail.by === 'api-token'));
      assert.deepEqual((await call(c.app, { method: 'GET', url: '/api/audit?actor=cli' })).body.map((e: { endpoint: string }) => e.endpoint), ['b']);
      assert.equal((await call(c.app, { method: 'GET', url: '/api/audit?actor=rotation:' })).body.length, 0, 'exact unless it ends in *');
      const all = (await call(c.app, { method: 'GET', url: '/api/audit' })).body as { id: number }[];
      assert.equal(all.length, 3);
      const page2 = (await call(c.app, { method: 'GET', url: '/api/audit?limit=2&offset=2' })).body as { id: number }[];
      assert.deepEqual(page2.map((e) => e.id), [all[2]!.id]);
      assert.equal((await call(c.app, { method: 'GET', url: '/api/audit?offset=-1' })).status, 400);
      assert.equal((await call(c.app, { method: 'POST', url: '/api/credentials/rotations', payload: { endpoints: [] } })).status, 400);
      assert.equal((await call(c.app, { method: 'POST', url: '/api/credentials/rotations', payload: { endpoints: ['zz'] } })).status, 409);
    } finally {
      await c.close();
    }
  });

  it('streams ROTATION events: the campaign summary and each device move', async () => {
    const c = await setup();
    await c.app.listen({ port: 0, host: '127.0.0.1' });
    const ac = new AbortController();
    try {
      const addr = c.app.server.address();
      assert.ok(addr !== null && typeof addr === 'object');
      const open = async (query: string) => {
        const res = await fetch(`http://127.0.0.1:${addr.port}/api/event${query}`, { headers: { authorization: `Bearer ${TOKEN}` }, signal: ac.signal });
        const reader = res.body!.getReader();
        await reader.read();
        return reader;
      };
      const all = await open('');
      const onlyB = await open('?ep=b');
      const started = await call(c.app, { method: 'POST', url: '/api/credentials/rotations', payload: { group: 'ab' } });
      const id = started.body.id as number;
      const frames = await readUntil(all, (e) => e.data.kind === 'campaign' && e.data.state === 'finished');
      // Beside ROTATION, the credential audit's AUDIT events (the rotation records them).
      assert.ok(frames.every((e) => e.event === 'ROTATION' || (e.event === 'AUDIT' && e.data.source === 'credential')));
      const events = frames.filter((e) => e.event === 'ROTATION');
      assert.deepEqual(events[0]!.data, { kind: 'campaign', ...started.body }, 'the new campaign first');
      const moves = events.filter((e) => e.data.kind === 'device');
      for (const ep of ['a', 'b']) {
        assert.deepEqual(moves.filter((e) => e.data.endpoint === ep).map((e) => e.data.state), ['prepared', 'delivered', 'done'], ep);
      }
      assert.ok(moves.every((e) => e.data.campaignId === id));
      assert.deepEqual(events.at(-1)!.data.counts, { queued: 0, prepared: 0, delivered: 0, done: 2, failed: 0 });
      const own = (await readUntil(onlyB, (e) => e.data.state === 'done')).filter((e) => e.event === 'ROTATION');
      assert.ok(own.every((e) => e.data.kind === 'device' && e.data.endpoint === 'b'), 'a device stream sees its own moves only');
    } finally {
      ac.abort();
      await c.close();
    }
    assert.equal(c.rotation.listenerCount('device'), 0, 'detached once the streams closed');
  });
});
