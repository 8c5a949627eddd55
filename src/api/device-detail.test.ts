import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { RotationManager } from '../bootstrap/index.js';
import { fingerprint, spkiOf } from '../dtls/rpk.js';
import { CertificateAuthority, createCsr } from '../keys/index.js';
import { AuditLog, SecretBox, SecurityStore, SqliteStore } from '../store/index.js';
import { FirmwareCampaignManager } from '../firmware/index.js';
import { FakeServer, fakeRegistration, testModel } from './fake-server.js';
import { createApi } from './index.js';

const TOKEN = 'test-token-device-detail-0123';
const PSK = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
const NEW_PSK = Buffer.from('ffeeddccbbaa99887766554433221100', 'hex');
const T0 = Date.UTC(2026, 2, 1, 12, 0, 0);

async function setup() {
  const store = new SqliteStore(':memory:');
  const box = SecretBox.fromKey(randomBytes(32));
  let now = T0;
  const security = new SecurityStore(store, box, { now: () => now });
  const audit = new AuditLog(store, { now: () => now });
  const ca = await CertificateAuthority.create({ store, box, now: () => new Date(now) });
  // The managers own their history tables; they are created here for them (no campaign runs).
  const rotation = new RotationManager({ store, security, audit, driver: {} as never, now: () => now });
  const campaigns = new FirmwareCampaignManager({ store, packages: {} as never, driver: {} as never, now: () => now });
  const server = new FakeServer();
  const app = await createApi({
    server, model: testModel(), apiToken: TOKEN, security,
    credentials: { audit, rotation }, certificates: { ca, audit }, campaigns,
  });
  return {
    app, store, security, audit, ca, server,
    at(t: number) {
      now = t;
    },
    async close() {
      await app.close();
      await rotation.close();
      await campaigns.close();
      store.close();
    },
  };
}

async function get(app: FastifyInstance, url: string) {
  const res = await app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${TOKEN}` } });
  return { status: res.statusCode, raw: res.body, body: JSON.parse(res.body) as unknown };
}

describe('GET /api/devices/:ep/security', () => {
  it('PSK: mode, identity, createdAt and pending rotation; never the key', async () => {
    const s = await setup();
    try {
      s.security.add({ endpoint: 'psk-dev', mode: 'psk', pskIdentity: 'psk-id', pskKey: PSK });
      s.server.add(fakeRegistration('psk-dev', { identity: { mode: 'psk', name: 'psk-id' }, secure: true }));
      let r = await get(s.app, '/api/devices/psk-dev/security');
      assert.equal(r.status, 200);
      assert.deepEqual(r.body, {
        endpoint: 'psk-dev', mode: 'psk', pskIdentity: 'psk-id', certificates: [], credentialCreatedAt: new Date(T0).toISOString(),
        pendingRotation: false, registeredIdentity: { mode: 'psk', name: 'psk-id' },
      });
      s.security.setPending('psk-dev', 'psk-id-2', NEW_PSK);
      r = await get(s.app, '/api/devices/psk-dev/security');
      assert.equal((r.body as { pendingRotation: boolean }).pendingRotation, true);
      for (const key of [PSK, NEW_PSK]) {
        assert.ok(!r.raw.toLowerCase().includes(key.toString('hex')), 'no key hex');
        assert.ok(!r.raw.includes(key.toString('base64')), 'no key base64');
      }
    } finally {
      await s.close();
    }
  });

  it('RPK: the SHA-256 fingerprint of the SPKI, not the key', async () => {
    const s = await setup();
    try {
      const spki = spkiOf(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey);
      s.security.add({ endpoint: 'rpk-dev', mode: 'rpk', rpkPublicKey: spki });
      const r = await get(s.app, '/api/devices/rpk-dev/security');
      assert.equal(r.status, 200);
      const body = r.body as { mode: string; rpkFingerprint: string };
      assert.equal(body.mode, 'rpk');
      assert.equal(body.rpkFingerprint, fingerprint(spki));
      assert.ok(!r.raw.includes(Buffer.from(spki).toString('hex')) && !r.raw.includes(Buffer.from(spki).toString('base64')));
    } finally {
      await s.close();
    }
  });

  it('x509: subject, serial and validity of the certificates the CA issued, newest first', async () => {
    const s = await setup();
    try {
      const issue = () => {
        const keys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
        return s.ca.issue(createCsr({ commonName: 'cert-dev', ...keys }), { endpoint: 'cert-dev', days: 30 });
      };
      const first = issue();
      s.at(T0 + 60_000);
      const second = issue();
      s.ca.revoke({ serial: first.serial });
      const r = await get(s.app, '/api/devices/cert-dev/security');
      assert.equal(r.status, 200);
      const body = r.body as { mode: string; certificate: { serial: string; subject: string; notAfter: string }; certificates: { serial: string; revokedAt: string | null }[] };
      assert.equal(body.mode, 'x509');
      assert.equal(body.certificate.serial, second.serial);
      assert.equal(body.certificate.subject, 'CN=cert-dev');
      assert.equal(body.certificate.notAfter, second.notAfter.toISOString());
      assert.deepEqual(body.certificates.map((c) => c.serial), [second.serial, first.serial]);
      assert.notEqual(body.certificates[1]!.revokedAt, null);
      assert.doesNotMatch(r.raw, /BEGIN|PRIVATE/);
    } finally {
      await s.close();
    }
  });

  it('404 for a device nothing is known of', async () => {
    const s = await setup();
    try {
      const r = await get(s.app, '/api/devices/nobody/security');
      assert.equal(r.status, 404);
      assert.match((r.body as { message: string }).message, /nobody/);
    } finally {
      await s.close();
    }
  });
});

describe('GET /api/devices/:ep/timeline', () => {
  it('merges audit, firmware, rotation and registration entries newest first, honours limit', async () => {
    const s = await setup();
    try {
      const min = 60_000;
      s.at(T0);
      s.security.add({ endpoint: 'dev', mode: 'psk', pskIdentity: 'dev-id', pskKey: PSK });
      s.audit.record({ endpoint: 'dev', kind: 'created', actor: 'cli', detail: { identity: 'dev-id' } });
      s.audit.record({ endpoint: 'other', kind: 'created', actor: 'cli' });
      // What the firmware campaign manager and the rotation manager persist (their own tables).
      s.store.db.prepare("INSERT INTO fw_campaign (id, package_id, package_version, target, settings, state, actor, created_at, updated_at) VALUES (1, 'pkg-1', '2.0.0', '{}', '{}', 'running', 'op', ?, ?)").run(T0, T0);
      s.store.db.prepare("INSERT INTO fw_campaign_device (campaign_id, endpoint, wave, state, updated_at) VALUES (1, 'dev', 0, 'downloading', ?)").run(T0 + 3 * min);
      s.store.db.prepare("INSERT INTO fw_campaign_history (campaign_id, endpoint, time, from_state, to_state, detail) VALUES (1, 'dev', ?, 'queued', 'delivering', NULL), (1, 'dev', ?, 'delivering', 'downloading', '<b>x</b>')").run(T0 + 2 * min, T0 + 3 * min);
      s.store.db.prepare("INSERT INTO rotation_history (campaign_id, endpoint, time, from_state, to_state, note) VALUES (7, 'dev', ?, 'queued', 'prepared', NULL)").run(T0 + 4 * min);
      s.server.add(fakeRegistration('dev', { registeredAt: T0 + min, lastUpdate: T0 + 5 * min }));

      const r = await get(s.app, '/api/devices/dev/timeline');
      assert.equal(r.status, 200);
      const entries = r.body as { time: string; kind: string; source: string; summary: string }[];
      assert.deepEqual(entries.map((e) => [e.source, e.kind]), [
        ['registration', 'updated'],
        ['rotation', 'rotation-prepared'],
        ['firmware', 'firmware-downloading'],
        ['firmware', 'firmware-delivering'],
        ['registration', 'registered'],
        ['audit', 'credential-created'],
      ]);
      assert.equal(entries[0]!.time, new Date(T0 + 5 * min).toISOString());
      assert.match(entries[1]!.summary, /rotation campaign 7: queued → prepared/);
      assert.equal(entries[2]!.summary, 'firmware campaign 1: delivering → downloading (<b>x</b>)', 'device text is data, kept as is');
      assert.match(entries[5]!.summary, /identity=dev-id/);
      assert.ok(!r.raw.includes(PSK.toString('hex')));

      const two = await get(s.app, '/api/devices/dev/timeline?limit=2');
      assert.deepEqual((two.body as { kind: string }[]).map((e) => e.kind), ['updated', 'rotation-prepared']);
      assert.equal((await get(s.app, '/api/devices/dev/timeline?limit=0')).status, 400);
      const unknown = await get(s.app, '/api/devices/nobody/timeline');
      assert.deepEqual([unknown.status, unknown.body], [404, { message: 'nothing is known of device nobody' }]);
      s.security.add({ endpoint: 'quiet', mode: 'psk', pskIdentity: 'quiet-id', pskKey: PSK });
      assert.deepEqual((await get(s.app, '/api/devices/quiet/timeline')).body, [], 'a known device without history');

      const fw = await get(s.app, '/api/devices/dev/firmware');
      assert.deepEqual(fw.body, [{
        campaignId: 1, endpoint: 'dev', wave: 0, packageId: 'pkg-1', packageVersion: '2.0.0', campaignState: 'running', state: 'downloading', attempts: 0,
        updateResult: null, lastError: null, updatedAt: new Date(T0 + 3 * min).toISOString(),
      }]);
    } finally {
      await s.close();
    }
  });
});

describe('GET /api/objects/:id', () => {
  it('the model definition of an object; 404 for an unknown one', async () => {
    const s = await setup();
    try {
      const r = await get(s.app, '/api/objects/3');
      assert.equal(r.status, 200);
      const def = r.body as { id: number; resources: { id: number; type: string; operations: string }[] };
      assert.equal(def.id, 3);
      assert.ok(def.resources.length > 0);
      assert.ok(def.resources.every((x) => /^[A-Z_]+$/.test(x.type)));
      assert.equal((await get(s.app, '/api/objects/4242')).status, 404);
    } finally {
      await s.close();
    }
  });
});

describe('GET /api/devices/:ep/timeline with the registration history', () => {
  it('lists registrations and their ends from the log, not a second "registered" from the current registration', async () => {
    const { DeviceEventLog } = await import('../store/index.js');
    const store = new SqliteStore(':memory:');
    const events = new DeviceEventLog(store);
    const server = new FakeServer();
    server.add(fakeRegistration('dev', { registeredAt: T0 + 60_000, lastUpdate: T0 + 60_000 } as never));
    events.record({ endpoint: 'dev', time: T0, kind: 'registered', detail: 'from 192.0.2.1:5683, id r1' });
    events.record({ endpoint: 'dev', time: T0 + 30_000, kind: 'expired', detail: 'id r1' });
    events.record({ endpoint: 'dev', time: T0 + 60_000, kind: 'registered', detail: 'from 192.0.2.1:5684 over DTLS, id r2' });
    const app = await createApi({ server, model: testModel(), apiToken: TOKEN, deviceEvents: events });
    try {
      const r = await get(app, '/api/devices/dev/timeline');
      assert.equal(r.status, 200);
      assert.deepEqual((r.body as { kind: string; summary: string }[]).map((e) => [e.kind, e.summary]), [
        ['registered', 'registered from 192.0.2.1:5684 over DTLS, id r2'],
        ['expired', 'expired id r1'],
        ['registered', 'registered from 192.0.2.1:5683, id r1'],
      ]);
    } finally {
      await app.close();
      store.close();
    }
  });
});
