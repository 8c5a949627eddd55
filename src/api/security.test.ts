import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { fingerprint, spkiOf } from '../dtls/rpk.js';
import { AuditLog, SecretBox, SecurityStore, SqliteStore } from '../store/index.js';
import { FakeServer, testModel } from './fake-server.js';
import { createApi } from './index.js';

const TOKEN = 'test-token-security-0123';
const AUTH = { authorization: `Bearer ${TOKEN}` };
const PSK_HEX = '7f3a9c21d4e5b6a708192a3b4c5d6e7f';
const SPKI = spkiOf(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey);

interface Ctx {
  app: FastifyInstance;
  security: SecurityStore;
  audit: AuditLog;
  logLines: string[];
  close(): Promise<void>;
}

async function setup(): Promise<Ctx> {
  const dir = mkdtempSync(join(tmpdir(), 'warden-api-security-'));
  const store = new SqliteStore(join(dir, 'warden.db'));
  const security = new SecurityStore(store, SecretBox.openOrCreate(join(dir, 'secret.key')));
  const logLines: string[] = [];
  const record = (o: unknown, m?: string) => void logLines.push(JSON.stringify(o) + (m ?? ''));
  const logger = { debug: record, info: record, warn: record, error: record, child: () => logger };
  const audit = new AuditLog(store);
  const app = await createApi({ server: new FakeServer(), model: testModel(), apiToken: TOKEN, security, logger, credentials: { audit } });
  return {
    app, security, logLines, audit,
    async close() {
      await app.close();
      store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function call(app: FastifyInstance, opts: InjectOptions, auth = true) {
  const res = await app.inject({ ...opts, headers: { ...(auth ? AUTH : {}), ...opts.headers } });
  return { status: res.statusCode, headers: res.headers, raw: res.body, body: res.body === '' ? undefined : JSON.parse(res.body) };
}

const pskBody = (endpoint: string, identity: string, key = PSK_HEX) => ({ endpoint, tls: { mode: 'psk', details: { identity, key } } });

describe('/api/security/clients', () => {
  it('requires the API token on every route', async (t) => {
    const ctx = await setup();
    t.after(() => ctx.close());
    for (const opts of [
      { method: 'GET', url: '/api/security/clients' },
      { method: 'GET', url: '/api/security/clients/dev1' },
      { method: 'PUT', url: '/api/security/clients', payload: pskBody('dev1', 'dev1') },
      { method: 'DELETE', url: '/api/security/clients/dev1' },
    ] as InjectOptions[]) {
      assert.equal((await call(ctx.app, opts, false)).status, 401, `${opts.method} ${opts.url}`);
    }
    assert.equal(ctx.security.count(), 0);
  });

  it('adds each mode, lists and gets them without any key bytes, and deletes', async (t) => {
    const ctx = await setup();
    t.after(() => ctx.close());
    const put = await call(ctx.app, { method: 'PUT', url: '/api/security/clients', payload: pskBody('dev1', 'id-dev1') });
    assert.equal(put.status, 200);
    assert.deepEqual(put.body.tls, { mode: 'psk', details: { identity: 'id-dev1' } });
    assert.equal((await call(ctx.app, { method: 'PUT', url: '/api/security/clients', payload: { endpoint: 'dev2', tls: { mode: 'rpk', details: { key: Buffer.from(SPKI).toString('hex') } } } })).status, 200);
    assert.equal((await call(ctx.app, { method: 'PUT', url: '/api/security/clients', payload: { endpoint: 'dev3', tls: { mode: 'x509', details: {} } } })).status, 200);
    assert.deepEqual(ctx.security.get('dev1')?.pskKey, Uint8Array.from(Buffer.from(PSK_HEX, 'hex')));
    // Each addition is in the credential audit: the built-in token's name as actor, the mode, never a key.
    assert.deepEqual(ctx.audit.query({ kind: 'created' }).map((e) => [e.endpoint, e.actor, e.detail?.mode]), [['dev3', 'api-token', 'x509'], ['dev2', 'api-token', 'rpk'], ['dev1', 'api-token', 'psk']]);

    const list = await call(ctx.app, { method: 'GET', url: '/api/security/clients' });
    assert.equal(list.status, 200);
    assert.equal(list.headers['x-total-count'], '3');
    assert.deepEqual(list.body.map((i: { endpoint: string; tls: unknown }) => [i.endpoint, i.tls]), [
      ['dev1', { mode: 'psk', details: { identity: 'id-dev1' } }],
      ['dev2', { mode: 'rpk', details: { fingerprint: fingerprint(SPKI) } }],
      ['dev3', { mode: 'x509', details: {} }],
    ]);
    assert.equal(list.raw.toLowerCase().includes(PSK_HEX), false);
    assert.equal(list.raw.toLowerCase().includes(Buffer.from(SPKI).toString('hex')), false);
    const page = await call(ctx.app, { method: 'GET', url: '/api/security/clients?offset=1&limit=1' });
    assert.deepEqual(page.body.map((i: { endpoint: string }) => i.endpoint), ['dev2']);

    const one = await call(ctx.app, { method: 'GET', url: '/api/security/clients/dev1' });
    assert.equal(one.status, 200);
    assert.equal(one.raw.toLowerCase().includes(PSK_HEX), false);
    assert.equal((await call(ctx.app, { method: 'GET', url: '/api/security/clients/nope' })).status, 404);

    assert.equal((await call(ctx.app, { method: 'DELETE', url: '/api/security/clients/dev1' })).status, 204);
    assert.equal((await call(ctx.app, { method: 'DELETE', url: '/api/security/clients/dev1' })).status, 404);
    assert.equal(ctx.security.get('dev1'), undefined);
    for (const line of ctx.logLines) assert.equal(line.toLowerCase().includes(PSK_HEX), false, line);
  });

  it('answers 409 for a PSK identity another endpoint uses', async (t) => {
    const ctx = await setup();
    t.after(() => ctx.close());
    await call(ctx.app, { method: 'PUT', url: '/api/security/clients', payload: pskBody('dev1', 'shared') });
    const dup = await call(ctx.app, { method: 'PUT', url: '/api/security/clients', payload: pskBody('dev2', 'shared', 'aa'.repeat(16)) });
    assert.equal(dup.status, 409);
    assert.equal(dup.raw.includes('aa'.repeat(16)), false);
  });

  it('answers 400 for bad bodies, never echoing the key', async (t) => {
    const ctx = await setup();
    t.after(() => ctx.close());
    const secretish = 'c0ffee'.repeat(6);
    const bad: unknown[] = [
      pskBody('dev1', 'dev1', 'abcd'), // too short
      pskBody('dev1', 'dev1', secretish + 'z'), // not hex
      pskBody('', 'dev1'),
      { endpoint: 'dev1', tls: { mode: 'psk', details: { key: secretish } } },
      { endpoint: 'dev1', tls: { mode: 'rpk', details: { key: secretish } } }, // not a P-256 SPKI
      { endpoint: 'dev1', tls: { mode: 'nosec', details: {} } },
      { endpoint: 'dev1' },
      [1, 2],
    ];
    for (const payload of bad) {
      const res = await call(ctx.app, { method: 'PUT', url: '/api/security/clients', payload: payload as object });
      assert.equal(res.status, 400, JSON.stringify(payload));
      assert.equal(res.raw.includes(secretish), false, res.raw);
    }
    const broken = await call(ctx.app, {
      method: 'PUT', url: '/api/security/clients', headers: { 'content-type': 'application/json' },
      payload: `{"endpoint": "dev1", "tls": {"mode": "psk", "details": {"identity": "x", "key": "${secretish}"}}`,
    });
    assert.equal(broken.status, 400);
    assert.equal(broken.raw.includes(secretish), false, broken.raw);
    assert.equal(ctx.security.count(), 0);
  });

  it('is absent when createApi gets no security store', async () => {
    const app = await createApi({ server: new FakeServer(), model: testModel(), apiToken: TOKEN });
    try {
      assert.equal((await call(app, { method: 'GET', url: '/api/security/clients' })).status, 404);
    } finally {
      await app.close();
    }
  });
});
