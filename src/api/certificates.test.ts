import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { CertificateAuthority, createCsr, type IssuedCertificate } from '../keys/index.js';
import { AuditLog, SecretBox, SqliteStore } from '../store/index.js';
import { FakeServer, testModel } from './fake-server.js';
import { createApi } from './index.js';

const TOKEN = 'test-token-certificates-0123';

async function setup() {
  const store = new SqliteStore(':memory:');
  let now = new Date('2026-03-01T12:00:00Z');
  const ca = await CertificateAuthority.create({ store, box: SecretBox.fromKey(randomBytes(32)), now: () => now });
  const audit = new AuditLog(store);
  const issue = (endpoint: string): IssuedCertificate => {
    const keys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const c = ca.issue(createCsr({ commonName: endpoint, ...keys }), { endpoint });
    now = new Date(now.getTime() + 1000);
    return c;
  };
  const revokedSeen: string[][] = [];
  const app = await createApi({
    server: new FakeServer(), model: testModel(), apiToken: TOKEN,
    certificates: { ca, audit, onRevoked: (certs) => (revokedSeen.push(certs.map((c) => c.serial)), certs.length) },
  });
  return {
    app, ca, audit, issue, revokedSeen,
    async close() {
      await app.close();
      store.close();
    },
  };
}

async function call(app: FastifyInstance, opts: InjectOptions, auth = true) {
  const res = await app.inject({ ...opts, headers: { ...(auth ? { authorization: `Bearer ${TOKEN}` } : {}), ...opts.headers } });
  return { status: res.statusCode, raw: res.body, body: res.body === '' ? undefined : JSON.parse(res.body) };
}

describe('/api/certificates', () => {
  it('requires the API token on every route', async (t) => {
    const c = await setup();
    t.after(() => c.close());
    const cert = c.issue('dev1');
    for (const opts of [
      { method: 'GET', url: '/api/certificates' },
      { method: 'GET', url: '/api/certificates?endpoint=dev1' },
      { method: 'POST', url: `/api/certificates/${cert.serial}/revoke` },
      { method: 'POST', url: '/api/certificates/revoke', payload: { endpoint: 'dev1' } },
    ] as InjectOptions[]) {
      assert.equal((await call(c.app, opts, false)).status, 401, `${opts.method} ${opts.url}`);
    }
    assert.equal(c.ca.certificate(cert.serial)?.revokedAt, undefined, 'nothing revoked without the token');
  });

  it('lists issued certificates newest first, per endpoint, with a limit, and never a certificate or key', async (t) => {
    const c = await setup();
    t.after(() => c.close());
    const a = c.issue('dev1');
    const b = c.issue('dev2');
    const d = c.issue('dev1');
    const all = await call(c.app, { method: 'GET', url: '/api/certificates' });
    assert.equal(all.status, 200);
    assert.deepEqual(all.body.map((x: { serial: string }) => x.serial), [d.serial, b.serial, a.serial]);
    assert.deepEqual(all.body[2], {
      serial: a.serial, endpoint: 'dev1', notBefore: a.notBefore.toISOString(), notAfter: a.notAfter.toISOString(),
      issuedAt: '2026-03-01T12:00:00.000Z', revokedAt: null,
    });
    for (const x of all.body) assert.deepEqual(Object.keys(x).sort(), ['endpoint', 'issuedAt', 'notAfter', 'notBefore', 'revokedAt', 'serial']);
    const mine = await call(c.app, { method: 'GET', url: '/api/certificates?endpoint=dev1' });
    assert.deepEqual(mine.body.map((x: { serial: string }) => x.serial), [d.serial, a.serial]);
    assert.deepEqual((await call(c.app, { method: 'GET', url: '/api/certificates?endpoint=nobody' })).body, []);
    assert.deepEqual((await call(c.app, { method: 'GET', url: '/api/certificates?limit=1' })).body.map((x: { serial: string }) => x.serial), [d.serial]);
    for (const bad of ['0', '1001', 'x', '-1']) {
      assert.equal((await call(c.app, { method: 'GET', url: `/api/certificates?limit=${bad}` })).status, 400, bad);
    }
  });

  it('revokes one by serial (404 unknown, 409 again), records the audit event, and reports it to onRevoked', async (t) => {
    const c = await setup();
    t.after(() => c.close());
    const a = c.issue('dev1');
    const other = c.issue('dev1');
    // OpenSSL prints serials upper case with colons: accepted.
    const colons = a.serial.toUpperCase().match(/../g)!.join(':');
    const res = await call(c.app, { method: 'POST', url: `/api/certificates/${colons}/revoke` });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { revoked: 1, serials: [a.serial], closed: 1 });
    assert.ok(c.ca.certificate(a.serial)?.revokedAt);
    assert.equal(c.ca.certificate(other.serial)?.revokedAt, undefined, 'only that certificate');
    assert.deepEqual(c.revokedSeen, [[a.serial]]);
    const again = await call(c.app, { method: 'POST', url: `/api/certificates/${a.serial}/revoke` });
    assert.equal(again.status, 409);
    assert.equal((await call(c.app, { method: 'POST', url: `/api/certificates/${'7'.repeat(32)}/revoke` })).status, 404);
    assert.equal((await call(c.app, { method: 'POST', url: '/api/certificates/not-hex/revoke' })).status, 400);
    const listed = await call(c.app, { method: 'GET', url: '/api/certificates?endpoint=dev1' });
    assert.equal(listed.body.find((x: { serial: string }) => x.serial === a.serial).revokedAt, '2026-03-01T12:00:02.000Z');

    const events = c.audit.query({ endpoint: 'dev1', kind: 'revoked' });
    assert.equal(events.length, 1, 'one event, not one per attempt');
    assert.equal(events[0]!.actor, 'api');
    assert.deepEqual(events[0]!.detail, { serial: a.serial });
    const auditRaw = JSON.stringify(events);
    assert.ok(!auditRaw.includes(Buffer.from(a.certificate).toString('hex').slice(0, 64)), 'no certificate bytes in the audit log');
    assert.ok(!/key|private|BEGIN/i.test(auditRaw), auditRaw);
  });

  it('revokes every unrevoked certificate of an endpoint, and answers 404 when there is none, 400 for a bad body', async (t) => {
    const c = await setup();
    t.after(() => c.close());
    const a = c.issue('dev1');
    const b = c.issue('dev1');
    const d = c.issue('dev1');
    const keep = c.issue('dev2');
    assert.equal((await call(c.app, { method: 'POST', url: `/api/certificates/${a.serial}/revoke` })).status, 200);
    const res = await call(c.app, { method: 'POST', url: '/api/certificates/revoke', payload: { endpoint: 'dev1' } });
    assert.equal(res.status, 200);
    assert.equal(res.body.revoked, 2);
    assert.deepEqual([...res.body.serials].sort(), [b.serial, d.serial].sort());
    assert.equal(res.body.closed, 2);
    assert.equal(c.ca.certificate(keep.serial)?.revokedAt, undefined);
    assert.equal((await call(c.app, { method: 'POST', url: '/api/certificates/revoke', payload: { endpoint: 'dev1' } })).status, 404);
    assert.equal((await call(c.app, { method: 'POST', url: '/api/certificates/revoke', payload: { endpoint: 'nobody' } })).status, 404);
    for (const payload of [{}, { endpoint: '' }, { endpoint: 3 }, [1]]) {
      assert.equal((await call(c.app, { method: 'POST', url: '/api/certificates/revoke', payload: payload as object })).status, 400, JSON.stringify(payload));
    }
    const serials = c.audit.query({ endpoint: 'dev1', kind: 'revoked' }).map((e) => e.detail?.serial).sort();
    assert.deepEqual(serials, [a.serial, b.serial, d.serial].sort());
    assert.deepEqual(c.audit.query({ endpoint: 'dev2' }), []);
  });

  it('is absent when createApi gets no CA', async () => {
    const app = await createApi({ server: new FakeServer(), model: testModel(), apiToken: TOKEN });
    try {
      assert.equal((await call(app, { method: 'GET', url: '/api/certificates' })).status, 404);
    } finally {
      await app.close();
    }
  });
});
