import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { InjectOptions } from 'fastify';
import { BootstrapConfigStore } from '../bootstrap/index.js';
import { SecretBox, SqliteStore } from '../store/index.js';
import { FakeServer, testModel } from './fake-server.js';
import { createApi } from './index.js';

const TOKEN = 'test-token-bootstrap-0123';
const SECRET = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';

async function setup() {
  const store = new SqliteStore(':memory:');
  const configs = new BootstrapConfigStore(store, SecretBox.fromKey(new Uint8Array(32).fill(7)));
  const started: string[] = [];
  const logLines: string[] = [];
  const record = (o: unknown, m?: string) => void logLines.push(JSON.stringify(o) + (m ?? ''));
  const logger = { debug: record, info: record, warn: record, error: record, child: () => logger };
  const bootstrap = { configs, bootstrap: async (ep: string) => (started.push(ep), true) };
  const app = await createApi({ server: new FakeServer(), model: testModel(), apiToken: TOKEN, bootstrap, logger });
  const call = async (opts: InjectOptions, auth = true) => {
    const res = await app.inject({ ...opts, headers: auth ? { authorization: `Bearer ${TOKEN}` } : {} });
    return { status: res.statusCode, raw: res.body, body: res.body === '' ? undefined : JSON.parse(res.body) };
  };
  return { app, store, configs, started, logLines, call, close: async () => (await app.close(), store.close()) };
}

const CONFIG = {
  servers: { '0': { shortId: 1, lifetime: 600 } },
  security: { '1': { uri: 'coaps://dm.example:5684', securityMode: 'PSK', serverId: 2, publicKeyOrId: '6964', secretKey: SECRET } },
  toDelete: ['/0', '/1'],
};

describe('/api/bootstrap', () => {
  it('requires the API token on every route', async (t) => {
    const c = await setup();
    t.after(c.close);
    for (const opts of [
      { method: 'GET', url: '/api/bootstrap/dev1' },
      { method: 'PUT', url: '/api/bootstrap/dev1', payload: CONFIG },
      { method: 'DELETE', url: '/api/bootstrap/dev1' },
      { method: 'GET', url: '/api/bootstrap/groups/g' },
      { method: 'PUT', url: '/api/bootstrap/groups/g', payload: CONFIG },
      { method: 'POST', url: '/api/bootstrap/dev1/start' },
    ] as InjectOptions[]) {
      assert.equal((await c.call(opts, false)).status, 401, `${opts.method} ${opts.url}`);
    }
    assert.equal(c.configs.getDevice('dev1'), undefined);
  });

  it('stores device configurations sealed and never returns or logs their keys', async (t) => {
    const c = await setup();
    t.after(c.close);
    const put = await c.call({ method: 'PUT', url: '/api/bootstrap/dev1', payload: CONFIG });
    assert.equal(put.status, 200);
    const got = await c.call({ method: 'GET', url: '/api/bootstrap/dev1' });
    assert.equal(got.body.servers['0'].lifetime, 600);
    assert.equal(got.body.security['1'].hasSecretKey, true);
    assert.ok(!got.raw.includes(SECRET) && !put.raw.includes(SECRET));
    assert.ok(!c.logLines.join('\n').includes(SECRET));
    const row = c.store.db.prepare('SELECT body FROM bootstrap_config').get() as { body: Buffer };
    assert.ok(!row.body.toString('latin1').includes(SECRET) && !row.body.toString('hex').includes(SECRET));
    assert.equal(c.configs.getDevice('dev1')!.security!['1']!.secretKey, SECRET);
    assert.equal((await c.call({ method: 'DELETE', url: '/api/bootstrap/dev1' })).status, 204);
    assert.equal((await c.call({ method: 'GET', url: '/api/bootstrap/dev1' })).status, 404);
  });

  it('refuses invalid configurations with 400 and serves groups and server-initiated starts', async (t) => {
    const c = await setup();
    t.after(c.close);
    const badJson = await c.app.inject({ method: 'PUT', url: '/api/bootstrap/dev1', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, payload: `{"secretKey":"${SECRET}"` });
    assert.equal(badJson.statusCode, 400);
    assert.ok(!badJson.body.includes(SECRET));
    assert.equal((await c.call({ method: 'PUT', url: '/api/bootstrap/dev1', payload: { servers: { '0': { shortId: 0 } } } })).status, 400);
    assert.equal((await c.call({ method: 'PUT', url: '/api/bootstrap/dev1', payload: { servers: {}, security: { '0': { uri: 'http://x', securityMode: 'PSK', serverId: 1 } } } })).status, 400);
    assert.equal((await c.call({ method: 'PUT', url: '/api/bootstrap/groups/fleet', payload: { ...CONFIG, endpointPrefix: 'fl-' } })).status, 200);
    assert.equal(c.configs.resolve('fl-9')?.servers['0']?.lifetime, 600);
    assert.equal(c.configs.resolve('other'), undefined);
    const start = await c.call({ method: 'POST', url: '/api/bootstrap/dev1/start' });
    assert.deepEqual([start.status, start.body, c.started], [200, { success: true }, ['dev1']]);
  });
});
