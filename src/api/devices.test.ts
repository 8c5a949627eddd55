import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { spkiOf } from '../dtls/rpk.js';
import { DeviceInventory } from '../server/inventory.js';
import { DeviceFactsStore, SecretBox, SecurityStore, SqliteStore } from '../store/index.js';
import { FakeServer, fakeRegistration, testModel } from './fake-server.js';
import { createApi } from './index.js';
import type { DeviceJson } from './devices.js';

const TOKEN = 'test-token-devices-0123';
const DAY = 86_400_000;
const NOW = Date.UTC(2026, 0, 1);
const PSK = Buffer.from('7f3a9c21d4e5b6a708192a3b4c5d6e7f', 'hex');
const spki = () => spkiOf(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey);

interface Ctx {
  app: FastifyInstance;
  server: FakeServer;
  security: SecurityStore;
  facts: DeviceFactsStore;
  clock: { t: number };
  close(): Promise<void>;
}

/**
 * The fleet: a-psk (registered, PSK 100 days old, fw 1.0), b-rpk (registered in queue mode, RPK 10 days, fw 2.0),
 * c-x509 (offline, x509 400 days), d-nosec (registered over plain CoAP, no credential, fw 1.0), e-psk (offline, PSK 1 day).
 */
async function setup(): Promise<Ctx> {
  const dir = mkdtempSync(join(tmpdir(), 'warden-api-devices-'));
  const store = new SqliteStore(join(dir, 'warden.db'));
  const clock = { t: NOW };
  const security = new SecurityStore(store, SecretBox.openOrCreate(join(dir, 'secret.key')), { now: () => clock.t });
  const facts = new DeviceFactsStore(store, { now: () => clock.t });
  const server = new FakeServer();
  clock.t = NOW - 100 * DAY;
  security.add({ endpoint: 'a-psk', mode: 'psk', pskIdentity: 'id-a', pskKey: PSK });
  clock.t = NOW - 10 * DAY;
  security.add({ endpoint: 'b-rpk', mode: 'rpk', rpkPublicKey: spki() });
  clock.t = NOW - 400 * DAY;
  security.add({ endpoint: 'c-x509', mode: 'x509', x509: true });
  clock.t = NOW - 1 * DAY;
  security.add({ endpoint: 'e-psk', mode: 'psk', pskIdentity: 'id-e', pskKey: Buffer.alloc(16, 7) });
  clock.t = NOW;
  server.add(fakeRegistration('a-psk', { secure: true, identity: { mode: 'psk', name: 'id-a' } }));
  server.add(fakeRegistration('b-rpk', { secure: true, queueMode: true, identity: { mode: 'rpk', name: 'x' } }));
  server.add(fakeRegistration('d-nosec'));
  facts.record('a-psk', { version: '1.0' });
  facts.record('b-rpk', { version: '2.0', fwState: 1 });
  facts.record('d-nosec', { version: '1.0' });
  const inventory = new DeviceInventory({ server, security, facts, now: () => clock.t });
  const app = await createApi({ server, model: testModel(), apiToken: TOKEN, security, inventory });
  return {
    app, server, security, facts, clock,
    async close() {
      await app.close();
      inventory.close();
      store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function list(ctx: Ctx, query = ''): Promise<{ status: number; total: number; endpoints: string[]; body: DeviceJson[]; raw: string }> {
  const res = await ctx.app.inject({ method: 'GET', url: `/api/devices${query ? `?${query}` : ''}`, headers: { authorization: `Bearer ${TOKEN}` } });
  const body = JSON.parse(res.body) as DeviceJson[];
  return { status: res.statusCode, total: Number(res.headers['x-total-count']), body, raw: res.body, endpoints: Array.isArray(body) ? body.map((d) => d.endpoint) : [] };
}

describe('GET /api/devices', () => {
  it('lists registered devices and those with credentials, sorted, without key material', async (t) => {
    const ctx = await setup();
    t.after(() => ctx.close());
    const r = await list(ctx);
    assert.equal(r.status, 200);
    assert.deepEqual(r.endpoints, ['a-psk', 'b-rpk', 'c-x509', 'd-nosec', 'e-psk']);
    assert.equal(r.total, 5);
    const a = r.body[0]!;
    assert.equal(a.online, true);
    assert.equal(a.securityMode, 'psk');
    assert.equal(a.firmwareVersion, '1.0');
    assert.equal(a.credentialCreatedAt, new Date(NOW - 100 * DAY).toISOString());
    assert.equal(a.address, '127.0.0.1:56830');
    const c = r.body[2]!;
    assert.equal(c.online, false);
    assert.equal(c.address, undefined);
    assert.equal(r.body[3]!.securityMode, 'nosec');
    assert.equal(r.body[3]!.credentialCreatedAt, undefined);
    assert.equal(r.body[1]!.fwState, 1);
    assert.doesNotMatch(r.raw, /7f3a9c21|pskKey|"key"|rpkPublicKey|id-a/i);
  });

  it('filters on each parameter', async (t) => {
    const ctx = await setup();
    t.after(() => ctx.close());
    const cases: [string, string[]][] = [
      ['search=psk', ['a-psk', 'e-psk']],
      ['online=true', ['a-psk', 'b-rpk', 'd-nosec']],
      ['online=false', ['c-x509', 'e-psk']],
      ['queueMode=true', ['b-rpk']],
      ['queueMode=false', ['a-psk', 'c-x509', 'd-nosec', 'e-psk']],
      ['firmwareVersion=1.0', ['a-psk', 'd-nosec']],
      ['firmwareVersion=3.0', []],
      ['securityMode=psk', ['a-psk', 'e-psk']],
      ['securityMode=rpk', ['b-rpk']],
      ['securityMode=x509', ['c-x509']],
      ['securityMode=none', ['d-nosec']],
      ['credentialOlderThan=30', ['a-psk', 'c-x509']],
      ['credentialOlderThan=365', ['c-x509']],
      ['credentialNewerThan=30', ['b-rpk', 'e-psk']],
      ['credentialOlderThan=5&credentialNewerThan=200', ['a-psk', 'b-rpk']],
    ];
    for (const [q, want] of cases) {
      const r = await list(ctx, q);
      assert.equal(r.status, 200, q);
      assert.deepEqual(r.endpoints, want, q);
      assert.equal(r.total, want.length, q);
    }
  });

  it('combines filters and pages through the matches', async (t) => {
    const ctx = await setup();
    t.after(() => ctx.close());
    assert.deepEqual((await list(ctx, 'online=true&securityMode=psk&firmwareVersion=1.0')).endpoints, ['a-psk']);
    assert.deepEqual((await list(ctx, 'online=false&securityMode=psk&credentialNewerThan=7')).endpoints, ['e-psk']);
    assert.deepEqual((await list(ctx, 'online=true&search=-&queueMode=false&firmwareVersion=2.0')).endpoints, []);
    const p1 = await list(ctx, 'limit=2');
    const p2 = await list(ctx, 'limit=2&offset=2');
    const p3 = await list(ctx, 'limit=2&offset=4');
    assert.deepEqual([p1.endpoints, p2.endpoints, p3.endpoints], [['a-psk', 'b-rpk'], ['c-x509', 'd-nosec'], ['e-psk']]);
    assert.equal(p3.total, 5);
    const f = await list(ctx, 'online=true&limit=1&offset=1');
    assert.deepEqual(f.endpoints, ['b-rpk']);
    assert.equal(f.total, 3);
  });

  it('answers 400 naming the bad parameter', async (t) => {
    const ctx = await setup();
    t.after(() => ctx.close());
    for (const [q, name] of [
      ['online=yes', 'online'],
      ['queueMode=1', 'queueMode'],
      ['securityMode=psk2', 'securityMode'],
      ['credentialOlderThan=ten', 'credentialOlderThan'],
      ['credentialNewerThan=-3', 'credentialNewerThan'],
      ['limit=many', 'limit'],
      ['offset=-1', 'offset'],
    ]) {
      const res = await ctx.app.inject({ method: 'GET', url: `/api/devices?${q}`, headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(res.statusCode, 400, q);
      assert.match((JSON.parse(res.body) as { message: string }).message, new RegExp(name), q);
    }
  });

  it('follows registrations, credentials and firmware facts as they change', async (t) => {
    const ctx = await setup();
    t.after(() => ctx.close());
    const reg = fakeRegistration('c-x509', { secure: true, identity: { mode: 'x509', name: 'c-x509' } });
    ctx.server.add(reg);
    ctx.server.emit('registered', reg);
    ctx.security.add({ endpoint: 'f-new', mode: 'psk', pskIdentity: 'id-f', pskKey: PSK });
    ctx.security.remove('e-psk');
    ctx.facts.record('c-x509', { version: '2.0' });
    const d = ctx.server.getRegistration('d-nosec')!;
    ctx.server.registrations.delete('d-nosec');
    ctx.server.emit('deregistered', d, 'deregister');
    // A device that went offline stays known, with when it was last seen.
    assert.deepEqual((await list(ctx)).endpoints, ['a-psk', 'b-rpk', 'c-x509', 'd-nosec', 'f-new']);
    assert.deepEqual((await list(ctx, 'online=true')).endpoints, ['a-psk', 'b-rpk', 'c-x509']);
    const gone = (await list(ctx, 'search=d-nosec')).body[0]!;
    assert.deepEqual([gone.online, typeof gone.lastSeen, gone.lastUpdate], [false, 'string', undefined]);
    assert.deepEqual((await list(ctx, 'firmwareVersion=2.0')).endpoints, ['b-rpk', 'c-x509']);
    assert.deepEqual((await list(ctx, 'credentialNewerThan=1')).endpoints, ['f-new']);
  });
});

describe('GET /api/devices/firmware-versions', () => {
  it('counts the known devices per firmware version', async (t) => {
    const ctx = await setup();
    t.after(() => ctx.close());
    const res = await ctx.app.inject({ method: 'GET', url: '/api/devices/firmware-versions', headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(JSON.parse(res.body), [{ version: '1.0', count: 2 }, { version: '2.0', count: 1 }]);
  });
});
