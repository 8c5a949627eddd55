import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { ApiTokenStore, AuditLog, RequestAudit, SecretBox, SecurityStore, SessionStore, SqliteStore, UserStore } from '../store/index.js';
import type { Logger } from '../log.js';
import { FakeServer, fakeRegistration, testModel } from './fake-server.js';
import { DeviceInventory } from '../server/inventory.js';
import { createApi, registeredRoutes, requiredAccess, type ApiOptions, type RouteEntry } from './index.js';

const BUILTIN = 'builtin-admin-token-0123456789';
const PASSWORDS = { root: 'root-password-7Yq2', op: 'operator-password-Kx9', view: 'viewer-password-Lp3' } as const;
const T0 = Date.parse('2026-05-01T08:00:00Z');
const FAST_SCRYPT = { logN: 4, r: 8, p: 1 };

interface Ctx {
  app: FastifyInstance;
  store: SqliteStore;
  clock: { now: number };
  tokens: ApiTokenStore;
  users: UserStore;
  logLines: string[];
  /** Every secret the test handled (passwords, tokens, session ids, CSRF tokens): none may reach a log line. */
  secrets: string[];
  token: { viewer: string; operator: string; admin: string; adminRead: string };
  close(): Promise<void>;
}

async function setup(extra: Partial<ApiOptions['access']> = {}): Promise<Ctx> {
  const store = new SqliteStore(':memory:');
  const clock = { now: T0 };
  const now = () => clock.now;
  const users = new UserStore(store, { scrypt: FAST_SCRYPT, now });
  const sessions = new SessionStore(store, { now });
  const tokens = new ApiTokenStore(store, { now });
  await users.add('root', 'admin', PASSWORDS.root);
  await users.add('op', 'operator', PASSWORDS.op);
  await users.add('view', 'viewer', PASSWORDS.view);
  const secrets: string[] = [BUILTIN, ...Object.values(PASSWORDS)];
  const mk = (username: string, scope: 'read' | 'write' | 'admin') => {
    const s = tokens.create({ username, scope }).secret;
    secrets.push(s);
    return s;
  };
  const token = { viewer: mk('view', 'read'), operator: mk('op', 'write'), admin: mk('root', 'admin'), adminRead: mk('root', 'read') };
  const logLines: string[] = [];
  const record = (o: unknown, m?: string) => void logLines.push(JSON.stringify(o) + ' ' + (m ?? ''));
  const logger: Logger = { debug: record, info: record, warn: record, error: record, child: () => logger };
  const fake = new FakeServer();
  fake.add(fakeRegistration('dev1'));
  const audit = new AuditLog(store);
  const stub = <T>(o: object): T => o as unknown as T;
  const security = new SecurityStore(store, SecretBox.fromKey(randomBytes(32)));
  const app = await createApi({
    server: fake, model: testModel(), apiToken: BUILTIN, logger, security,
    inventory: new DeviceInventory({ server: fake, security }),
    bootstrap: stub({ configs: {}, bootstrap: async () => true }),
    credentials: { rotation: stub(new EventEmitter()), audit, ages: stub({ credentialAges: () => ({ total: 0, byMode: {}, buckets: [] }) }) },
    certificates: { ca: stub({}), audit },
    campaigns: stub(new EventEmitter()),
    firmware: { repository: stub({}) },
    requestAudit: new RequestAudit(store, { now }),
    access: { users, sessions, tokens, now, loginLimits: { perAddress: 10, windowMs: 60_000, maxFailures: 5, lockoutMs: 900_000 }, ...extra },
  });
  await app.ready();
  return { app, store, clock, tokens, users, logLines, secrets, token, close: async () => (await app.close(), store.close()) };
}

/** A concrete URL for a route pattern. */
function urlOf(r: RouteEntry): string {
  return r.url.replace(/:[A-Za-z]+/g, 'x1').replace(/\*$/, '3/0/1');
}

const isWrite = (m: string) => m !== 'GET' && m !== 'HEAD';

async function inject(app: FastifyInstance, o: InjectOptions) {
  const res = await app.inject(o);
  return { status: res.statusCode, headers: res.headers, text: res.body, json: () => JSON.parse(res.body) as Record<string, unknown> };
}

async function login(app: FastifyInstance, username: string, password: string, remoteAddress = '192.0.2.1') {
  return inject(app, { method: 'POST', url: '/api/login', payload: { username, password }, remoteAddress });
}

function sessionOf(res: { headers: Record<string, unknown> }): { cookie: string; id: string; setCookie: string } {
  const setCookie = String(res.headers['set-cookie']);
  const pair = setCookie.split(';')[0]!;
  return { cookie: pair, id: pair.slice(pair.indexOf('=') + 1), setCookie };
}

function assertNoSecretLogged(ctx: Ctx): void {
  assert.ok(ctx.logLines.length > 0, 'the logger was used');
  for (const line of ctx.logLines) for (const s of ctx.secrets) assert.equal(line.includes(s), false, `a secret reached the log: ${line}`);
}

describe('API authorization', () => {
  it('enumerates every registered route and maps each write to operator or admin', async () => {
    const ctx = await setup();
    try {
      const routes = registeredRoutes(ctx.app);
      const keys = new Set(routes.map((r) => `${r.method} ${r.url}`));
      for (const k of ['GET /healthz', 'POST /api/login', 'GET /api/me', 'POST /api/tokens', 'DELETE /api/users/:name', 'GET /api/event',
        'POST /api/firmware', 'POST /api/certificates/revoke', 'PUT /api/security/clients', 'POST /api/bootstrap/:ep/start', 'POST /api/campaigns/:id/:action']) {
        assert.ok(keys.has(k), `route ${k} registered`);
      }
      assert.ok(routes.length >= 50, `all routes seen (${routes.length})`);
      for (const r of routes) {
        const a = requiredAccess(r.method, r.url);
        if (r.url === '/healthz' || (r.method === 'POST' && r.url === '/api/login')) assert.equal(a, 'public');
        else if (isWrite(r.method) && r.url !== '/api/logout') assert.ok(a === 'operator' || a === 'admin', `${r.method} ${r.url} -> ${a}`);
        else assert.notEqual(a, 'public', `${r.method} ${r.url}`);
      }
      const admin = ['PUT /api/security/clients', 'DELETE /api/security/clients/:ep', 'POST /api/certificates/:serial/revoke', 'POST /api/certificates/revoke',
        'PUT /api/bootstrap/:ep', 'DELETE /api/bootstrap/groups/:name', 'GET /api/users', 'GET /api/tokens', 'POST /api/users'];
      for (const k of admin) assert.equal(requiredAccess(k.split(' ')[0]!, k.split(' ')[1]), 'admin', k);
      const operator = ['POST /api/clients/:ep/*', 'PUT /api/clients/:ep/*', 'DELETE /api/clients/:ep/*', 'POST /api/bootstrap/:ep/start', 'POST /api/campaigns',
        'POST /api/campaigns/:id/:action', 'POST /api/firmware', 'DELETE /api/firmware/:id', 'POST /api/credentials/rotations'];
      for (const k of operator) assert.equal(requiredAccess(k.split(' ')[0]!, k.split(' ')[1]), 'operator', k);
      for (const k of ['GET /api/clients', 'GET /api/event', 'GET /api/security/clients', 'GET /api/audit', 'HEAD /api/firmware']) {
        assert.equal(requiredAccess(k.split(' ')[0]!, k.split(' ')[1]), 'viewer', k);
      }
      assert.equal(requiredAccess('POST', '/api/some-future-route'), 'admin', 'an unlisted write fails closed');
      assert.equal(requiredAccess('GET', undefined), 'viewer', 'an unknown path needs credentials');
    } finally {
      await ctx.close();
    }
  });

  it('answers 401 on every route without credentials, with a wrong token, an unknown token or a stale cookie', async () => {
    const ctx = await setup();
    try {
      const routes = registeredRoutes(ctx.app).filter((r) => requiredAccess(r.method, r.url) !== 'public');
      const bad = [{}, { authorization: 'Bearer wrong' }, { authorization: `Bearer wdn_${'A'.repeat(43)}` }, { authorization: `Basic ${BUILTIN}` },
        { cookie: 'warden_session=' + 'B'.repeat(43) }];
      for (const r of routes) {
        for (const headers of bad) {
          const res = await inject(ctx.app, { method: r.method as InjectOptions['method'], url: urlOf(r), headers });
          assert.equal(res.status, 401, `${r.method} ${r.url} ${JSON.stringify(headers)}`);
          assert.match(String(res.headers['www-authenticate']), /^Bearer/);
        }
      }
      assert.equal((await inject(ctx.app, { method: 'GET', url: '/api/no-such-route' })).status, 401);
      assert.equal((await inject(ctx.app, { method: 'GET', url: '/healthz' })).status, 200);
    } finally {
      await ctx.close();
    }
  });

  it('answers 403 to a viewer token on every write route, and to an operator token on every admin route', async () => {
    const ctx = await setup();
    try {
      const routes = registeredRoutes(ctx.app);
      let viewerChecked = 0;
      let operatorChecked = 0;
      for (const r of routes) {
        const need = requiredAccess(r.method, r.url);
        const o = { method: r.method as InjectOptions['method'], url: urlOf(r) };
        if (isWrite(r.method) && (need === 'operator' || need === 'admin')) {
          for (const t of [ctx.token.viewer, ctx.token.adminRead]) {
            const res = await inject(ctx.app, { ...o, headers: { authorization: `Bearer ${t}` }, payload: {} });
            assert.equal(res.status, 403, `viewer ${r.method} ${r.url}`);
            assert.match(String(res.json().message), /needs the (operator|admin) role/);
          }
          viewerChecked++;
        }
        if (need === 'admin') {
          const res = await inject(ctx.app, { ...o, headers: { authorization: `Bearer ${ctx.token.operator}` }, payload: {} });
          assert.equal(res.status, 403, `operator ${r.method} ${r.url}`);
          operatorChecked++;
        }
      }
      assert.ok(viewerChecked >= 20 && operatorChecked >= 15, `${viewerChecked} write routes, ${operatorChecked} admin routes`);
      // Allowed where the role suffices: the request reaches the route (the fake device answers).
      const put = { method: 'PUT' as const, url: '/api/clients/dev1/3/0/14', payload: { value: '+02' } };
      assert.equal((await inject(ctx.app, { ...put, headers: { authorization: `Bearer ${ctx.token.operator}` } })).status, 200);
      assert.equal((await inject(ctx.app, { ...put, headers: { authorization: `Bearer ${ctx.token.admin}` } })).status, 200);
      assert.equal((await inject(ctx.app, { ...put, headers: { authorization: `Bearer ${BUILTIN}` } })).status, 200);
      assert.equal((await inject(ctx.app, { method: 'GET', url: '/api/clients', headers: { authorization: `Bearer ${ctx.token.viewer}` } })).status, 200);
      assert.equal((await inject(ctx.app, { method: 'GET', url: '/api/users', headers: { authorization: `Bearer ${ctx.token.admin}` } })).status, 200);
    } finally {
      await ctx.close();
    }
  });

  it('refuses expired and revoked tokens and tokens of removed users (401); a scope caps the role', async () => {
    const ctx = await setup();
    try {
      const get = (t: string) => inject(ctx.app, { method: 'GET', url: '/api/me', headers: { authorization: `Bearer ${t}` } });
      const admin = { authorization: `Bearer ${ctx.token.admin}` };
      const created = await inject(ctx.app, { method: 'POST', url: '/api/tokens', headers: admin, payload: { user: 'op', scope: 'write', expires: '1h', name: 'ci' } });
      assert.equal(created.status, 201);
      const body = created.json();
      const secret = String(body.token);
      ctx.secrets.push(secret);
      assert.match(secret, /^wdn_[A-Za-z0-9_-]{43}$/);
      assert.equal(body.expiresAt, new Date(T0 + 3600_000).toISOString());
      assert.deepEqual({ ...(await get(secret)).json() }, { username: 'op', role: 'operator', via: 'token', scope: 'write', tokenId: body.id });
      const listed = await inject(ctx.app, { method: 'GET', url: '/api/tokens', headers: admin });
      assert.equal(listed.text.includes(secret), false, 'a list never shows a secret');
      assert.equal(listed.json() instanceof Array, true);

      ctx.clock.now = T0 + 3600_000 - 1;
      assert.equal((await get(secret)).status, 200);
      ctx.clock.now = T0 + 3600_000;
      assert.equal((await get(secret)).status, 401, 'expired');

      assert.equal((await get(ctx.token.viewer)).status, 200);
      const ids = (await inject(ctx.app, { method: 'GET', url: '/api/tokens?user=view', headers: admin })).json() as unknown as { id: string }[];
      assert.equal((await inject(ctx.app, { method: 'DELETE', url: `/api/tokens/${ids[0]!.id}`, headers: admin })).status, 204);
      assert.equal((await get(ctx.token.viewer)).status, 401, 'revoked');
      assert.equal((await inject(ctx.app, { method: 'DELETE', url: `/api/tokens/${ids[0]!.id}`, headers: admin })).status, 404);

      const me = (await get(ctx.token.adminRead)).json();
      assert.equal(me.role, 'viewer', 'an admin user with a read token acts as a viewer');
      const tooWide = await inject(ctx.app, { method: 'POST', url: '/api/tokens', headers: admin, payload: { user: 'view', scope: 'admin' } });
      assert.equal(tooWide.status, 400, 'a scope above the user role is refused');
      // A role lowered later caps existing tokens at once.
      ctx.users.setRole('op', 'viewer');
      const opPut = await inject(ctx.app, { method: 'PUT', url: '/api/clients/dev1/3/0/14', payload: { value: 'x' }, headers: { authorization: `Bearer ${ctx.token.operator}` } });
      assert.equal(opPut.status, 403);
      assert.equal((await inject(ctx.app, { method: 'DELETE', url: '/api/users/op', headers: admin })).status, 204);
      assert.equal((await get(ctx.token.operator)).status, 401, 'the tokens of a removed user die with it');
      assertNoSecretLogged(ctx);
    } finally {
      await ctx.close();
    }
  });
});

describe('console sessions', () => {
  it('logs in with a session cookie (HttpOnly, SameSite=Strict, Path=/), needs the CSRF header on writes, logs out', async () => {
    const ctx = await setup();
    try {
      assert.equal((await login(ctx.app, 'op', 'wrong-password-123')).status, 401);
      assert.equal((await login(ctx.app, 'nobody', 'wrong-password-123')).json().message, 'invalid user name or password');
      const res = await login(ctx.app, 'op', PASSWORDS.op);
      assert.equal(res.status, 200);
      const s = sessionOf(res);
      const csrf = String(res.json().csrfToken);
      ctx.secrets.push(s.id, csrf);
      assert.equal(res.json().role, 'operator');
      assert.match(s.setCookie, /^warden_session=[A-Za-z0-9_-]{43}; /, '256 random bits, base64url');
      for (const attr of ['Path=/', 'HttpOnly', 'SameSite=Strict', `Max-Age=${12 * 3600}`]) assert.ok(s.setCookie.split('; ').includes(attr), attr);
      assert.equal(/;\s*Secure/i.test(s.setCookie), false, 'plain HTTP: no Secure attribute');
      assert.equal(ctx.store.db.prepare('SELECT COUNT(*) AS n FROM api_session').get() !== undefined, true);
      const rows = ctx.store.db.prepare('SELECT id_hash FROM api_session').all() as { id_hash: Buffer }[];
      assert.ok(rows.length === 1 && !rows[0]!.id_hash.toString('latin1').includes(s.id), 'the session id is stored hashed');

      const me = await inject(ctx.app, { method: 'GET', url: '/api/me', headers: { cookie: s.cookie } });
      assert.deepEqual(me.json(), { username: 'op', role: 'operator', via: 'session', csrfToken: csrf });
      const put = { method: 'PUT' as const, url: '/api/clients/dev1/3/0/14', payload: { value: 'x' } };
      const noCsrf = await inject(ctx.app, { ...put, headers: { cookie: s.cookie } });
      assert.equal(noCsrf.status, 403);
      assert.match(String(noCsrf.json().message), /CSRF/);
      assert.equal((await inject(ctx.app, { ...put, headers: { cookie: s.cookie, 'x-csrf-token': csrf.slice(0, -1) + (csrf.endsWith('A') ? 'B' : 'A') } })).status, 403);
      assert.equal((await inject(ctx.app, { ...put, headers: { cookie: s.cookie, 'x-csrf-token': csrf } })).status, 200);
      // A bearer request needs no CSRF token; a viewer's session is still capped by its role.
      assert.equal((await inject(ctx.app, { ...put, headers: { authorization: `Bearer ${ctx.token.operator}` } })).status, 200);
      const v = sessionOf(await login(ctx.app, 'view', PASSWORDS.view));
      ctx.secrets.push(v.id);
      const vCsrf = String((await inject(ctx.app, { method: 'GET', url: '/api/me', headers: { cookie: v.cookie } })).json().csrfToken);
      assert.equal((await inject(ctx.app, { ...put, headers: { cookie: v.cookie, 'x-csrf-token': vCsrf } })).status, 403);

      assert.equal((await inject(ctx.app, { method: 'POST', url: '/api/logout', headers: { cookie: s.cookie } })).status, 403, 'logout needs CSRF too');
      const out = await inject(ctx.app, { method: 'POST', url: '/api/logout', headers: { cookie: s.cookie, 'x-csrf-token': csrf } });
      assert.equal(out.status, 204);
      assert.match(String(out.headers['set-cookie']), /^warden_session=; .*Max-Age=0/);
      assert.equal((await inject(ctx.app, { method: 'GET', url: '/api/me', headers: { cookie: s.cookie } })).status, 401);
      assertNoSecretLogged(ctx);
    } finally {
      await ctx.close();
    }
  });

  it('ends sessions after the idle time and after the absolute lifetime', async () => {
    const ctx = await setup();
    try {
      const me = (cookie: string) => inject(ctx.app, { method: 'GET', url: '/api/me', headers: { cookie } });
      const a = sessionOf(await login(ctx.app, 'view', PASSWORDS.view));
      ctx.clock.now += 29 * 60_000;
      assert.equal((await me(a.cookie)).status, 200);
      ctx.clock.now += 31 * 60_000;
      assert.equal((await me(a.cookie)).status, 401, 'idle 31 min');

      const b = sessionOf(await login(ctx.app, 'view', PASSWORDS.view));
      const start = ctx.clock.now;
      while (ctx.clock.now + 20 * 60_000 < start + 12 * 3600_000) {
        ctx.clock.now += 20 * 60_000;
        assert.equal((await me(b.cookie)).status, 200);
      }
      ctx.clock.now = start + 12 * 3600_000;
      assert.equal((await me(b.cookie)).status, 401, 'absolute 12 h although active');
    } finally {
      await ctx.close();
    }
  });

  it('names the cookie __Host- and marks it Secure when cookies are secure', async () => {
    const ctx = await setup({ secureCookies: true });
    try {
      const res = await login(ctx.app, 'root', PASSWORDS.root);
      const s = sessionOf(res);
      assert.match(s.setCookie, /^__Host-warden_session=/);
      assert.ok(s.setCookie.split('; ').includes('Secure'));
      assert.equal((await inject(ctx.app, { method: 'GET', url: '/api/me', headers: { cookie: s.cookie } })).status, 200);
      assert.equal((await inject(ctx.app, { method: 'GET', url: '/api/me', headers: { cookie: s.cookie.replace('__Host-', '') } })).status, 401);
    } finally {
      await ctx.close();
    }
  });

  it('throttles a login flood: 429 with Retry-After, then the user is locked even for the right password', async () => {
    const ctx = await setup();
    try {
      for (let i = 0; i < 5; i++) assert.equal((await login(ctx.app, 'op', `guess-number-${i}`)).status, 401);
      const locked = await login(ctx.app, 'op', PASSWORDS.op, '198.51.100.7');
      assert.equal(locked.status, 429, 'locked after 5 failures, from any address');
      assert.match(String(locked.json().message), /locked/);
      assert.equal(locked.headers['retry-after'], '900');
      // The address limit (10 a minute) applies to every user name.
      for (let i = 0; i < 5; i++) assert.equal((await login(ctx.app, 'view', `guess-${i}-xxxxx`)).status, 401);
      const byAddress = await login(ctx.app, 'root', PASSWORDS.root);
      assert.equal(byAddress.status, 429);
      assert.match(String(byAddress.json().message), /address/);
      assert.equal((await login(ctx.app, 'root', PASSWORDS.root, '203.0.113.9')).status, 200, 'another address still signs in');
      ctx.clock.now += 900_000;
      assert.equal((await login(ctx.app, 'op', PASSWORDS.op)).status, 200, 'the lock ends');

      // A concurrent flood from many addresses: every answer is 401 or 429, none an error, and the API still serves.
      const flood = await Promise.all(Array.from({ length: 300 }, (_, i) => login(ctx.app, 'root', `flood-${i}-password`, `10.0.${i >> 8}.${i & 255}`)));
      const statuses = new Set(flood.map((r) => r.status));
      assert.deepEqual([...statuses].filter((s) => s !== 401 && s !== 429), []);
      assert.ok(statuses.has(429));
      assert.equal((await inject(ctx.app, { method: 'GET', url: '/healthz' })).status, 200);
      assert.equal((await inject(ctx.app, { method: 'GET', url: '/api/me', headers: { authorization: `Bearer ${ctx.token.viewer}` } })).status, 200);
      assertNoSecretLogged(ctx);
    } finally {
      await ctx.close();
    }
  });

  it('never echoes a password in an error: malformed JSON, wrong types, weak passwords', async () => {
    const ctx = await setup();
    try {
      const secret = 'Sup3r-secret-pass-word';
      ctx.secrets.push(secret);
      const bad = await inject(ctx.app, { method: 'POST', url: '/api/login', headers: { 'content-type': 'application/json' }, payload: `{"username":"op","password":"${secret}"` });
      assert.equal(bad.status, 400);
      assert.equal(bad.text.includes(secret), false);
      const typed = await inject(ctx.app, { method: 'POST', url: '/api/login', payload: { username: secret, password: 1 } });
      assert.equal(typed.status, 400);
      assert.equal(typed.text.includes(secret), false);
      const admin = { authorization: `Bearer ${BUILTIN}` };
      const weak = await inject(ctx.app, { method: 'POST', url: '/api/users', headers: admin, payload: { name: 'new', role: 'viewer', password: 'short' } });
      assert.equal(weak.status, 400);
      assert.equal(weak.text.includes('short"'), false);
      const made = await inject(ctx.app, { method: 'POST', url: '/api/users', headers: admin, payload: { name: 'new', role: 'viewer', password: secret } });
      assert.equal(made.status, 201);
      assert.equal(made.text.includes(secret), false);
      assert.equal((await login(ctx.app, 'new', secret)).status, 200);
      const badJsonUser = await inject(ctx.app, { method: 'PUT', url: '/api/users/new', headers: { ...admin, 'content-type': 'application/json' }, payload: `{"password":"${secret}` });
      assert.equal(badJsonUser.status, 400);
      assert.equal(badJsonUser.text.includes(secret), false);
      assertNoSecretLogged(ctx);
    } finally {
      await ctx.close();
    }
  });
});
