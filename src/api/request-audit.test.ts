import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { ApiTokenStore, RequestAudit, SessionStore, SqliteStore, UserStore } from '../store/index.js';
import { FakeServer, fakeRegistration, testModel } from './fake-server.js';
import { createApi } from './index.js';

const BUILTIN = 'builtin-admin-token-for-audit-0123';
const PASSWORD = 'operator-password-Kx9-audit';

async function setup(): Promise<{ app: FastifyInstance; store: SqliteStore; adminToken: string; viewerToken: string }> {
  const store = new SqliteStore(':memory:');
  const users = new UserStore(store, { scrypt: { logN: 4, r: 8, p: 1 } });
  const tokens = new ApiTokenStore(store);
  await users.add('op', 'operator', PASSWORD);
  await users.add('root', 'admin', 'root-password-7Yq2-audit');
  await users.add('view', 'viewer', 'viewer-password-Lp3-audit');
  const adminToken = tokens.create({ username: 'root', scope: 'admin' }).secret;
  const viewerToken = tokens.create({ username: 'view', scope: 'read' }).secret;
  const fake = new FakeServer();
  fake.add(fakeRegistration('dev1'));
  const app = await createApi({
    server: fake, model: testModel(), apiToken: BUILTIN, requestAudit: new RequestAudit(store),
    access: { users, sessions: new SessionStore(store), tokens },
  });
  await app.ready();
  return { app, store, adminToken, viewerToken };
}

test('every state-changing request is audited with who, route, path and status; never a body, query or secret', async () => {
  const { app, store, adminToken, viewerToken } = await setup();
  try {
    const bad = await app.inject({ method: 'POST', url: '/api/login', payload: { username: 'op', password: 'wrong-password-123456' }, remoteAddress: '192.0.2.7' });
    assert.equal(bad.statusCode, 401);
    const good = await app.inject({ method: 'POST', url: '/api/login', payload: { username: 'op', password: PASSWORD } });
    assert.equal(good.statusCode, 200);
    const cookie = String(good.headers['set-cookie']).split(';')[0]!;
    const csrf = (JSON.parse(good.body) as { csrfToken: string }).csrfToken;
    const write = await app.inject({
      method: 'PUT', url: '/api/clients/dev1/3/0/14?timeout=2', headers: { cookie, 'x-csrf-token': csrf },
      payload: { id: 14, kind: 'singleResource', value: '+02:00', type: 'STRING' },
    });
    assert.ok(write.statusCode < 500);
    assert.equal((await app.inject({ method: 'DELETE', url: '/api/clients/dev1/3/0', headers: { authorization: `Bearer ${viewerToken}` } })).statusCode, 403);
    assert.equal((await app.inject({ method: 'POST', url: '/api/clients/dev1/3/0/4' })).statusCode, 401);
    // Reads are not audited.
    assert.equal((await app.inject({ method: 'GET', url: '/api/clients', headers: { authorization: `Bearer ${BUILTIN}` } })).statusCode, 200);

    const get = async (query: string) => {
      const res = await app.inject({ method: 'GET', url: `/api/audit/requests${query}`, headers: { authorization: `Bearer ${adminToken}` } });
      assert.equal(res.statusCode, 200, res.body);
      return JSON.parse(res.body) as { actor: string; via: string; method: string; route: string; path: string; status: number; address: string }[];
    };
    const all = await get('');
    assert.deepEqual(all.map((e) => [e.method, e.path, e.status, e.actor, e.via]), [
      ['POST', '/api/clients/dev1/3/0/4', 401, '', 'none'],
      ['DELETE', '/api/clients/dev1/3/0', 403, 'view', 'token'],
      ['PUT', '/api/clients/dev1/3/0/14', write.statusCode, 'op', 'session'],
      ['POST', '/api/login', 200, 'op', 'none'],
      ['POST', '/api/login', 401, 'op', 'none'],
    ]);
    assert.equal(all[2]!.route, '/api/clients/:ep/*');
    assert.equal(all[4]!.address, '192.0.2.7');

    assert.deepEqual((await get('?actor=view')).map((e) => e.status), [403]);
    assert.deepEqual((await get('?status=4xx')).map((e) => e.status), [401, 403, 401]);
    assert.deepEqual((await get('?method=PUT')).length, 1);
    assert.deepEqual((await get('?path=/api/login')).length, 2);
    assert.deepEqual((await get('?path=/api/login&status=2xx&limit=5')).length, 1);
    const page = await get('?limit=2');
    assert.equal(page.length, 2);
    const rest = await get(`?before=${(page[1] as unknown as { id: number }).id}`);
    assert.equal(rest.length, 3);
    assert.deepEqual((await get('?offset=2&limit=2')).map((e) => e.path), rest.slice(0, 2).map((e) => e.path));

    for (const q of ['?status=200', '?method=GET', '?limit=0', '?since=yesterday']) {
      const res = await app.inject({ method: 'GET', url: `/api/audit/requests${q}`, headers: { authorization: `Bearer ${adminToken}` } });
      assert.equal(res.statusCode, 400, q);
    }
    // Only admins read it.
    const asViewer = await app.inject({ method: 'GET', url: '/api/audit/requests', headers: { authorization: `Bearer ${viewerToken}` } });
    assert.equal(asViewer.statusCode, 403);

    const dump = JSON.stringify(store.db.prepare('SELECT * FROM request_audit').all());
    for (const secret of [PASSWORD, 'wrong-password-123456', csrf, cookie.split('=')[1]!, viewerToken, adminToken, BUILTIN, 'timeout=2', '+02:00']) {
      assert.ok(!dump.includes(secret), `the audit holds ${secret.slice(0, 6)}…`);
    }
  } finally {
    await app.close();
    store.close();
  }
});
