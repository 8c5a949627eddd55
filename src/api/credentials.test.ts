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
