import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { AuditLog, SecretBox, SecurityStore, SqliteStore } from '../store/index.js';
import { checkTransition, RotationError, RotationManager, type RotationOptions } from './rotation.js';
import { seededRandom, SimulatedFleet } from './rotation-sim.js';

const BOX_KEY = randomBytes(32);

function open(file: string) {
  const store = new SqliteStore(file);
  const security = new SecurityStore(store, SecretBox.fromKey(BOX_KEY));
  const audit = new AuditLog(store);
  return { store, security, audit };
}

function fleetOf(n: number, security: SecurityStore, fleet: SimulatedFleet, prefix = 'dev'): void {
  for (let i = 0; i < n; i++) {
    const ep = `${prefix}${i}`;
    const key = new Uint8Array(randomBytes(32));
    security.add({ endpoint: ep, mode: 'psk', pskIdentity: ep, pskKey: key });
    const d = fleet.add(ep, ep, key);
    fleet.register(security, d);
  }
}

function manager(o: ReturnType<typeof open>, fleet: SimulatedFleet, extra: Partial<RotationOptions> = {}): RotationManager {
  return new RotationManager({ store: o.store, security: o.security, audit: o.audit, driver: fleet.driver(o.security), proofTimeout: 200, retryDelay: 1, ...extra });
}

function assertAllWork(security: SecurityStore, fleet: SimulatedFleet): void {
  for (const d of fleet.devices.values()) assert.ok(SimulatedFleet.works(security, d), `${d.endpoint} has no working credential`);
}

test('rotates every device: new PSK current, old refused, audit has one rotated event each', async () => {
  const o = open(':memory:');
  const fleet = new SimulatedFleet();
  fleetOf(5, o.security, fleet);
  const m = manager(o, fleet);
  const c = m.start({ all: true }, { actor: 'test' });
  const s = await m.wait(c.id);
  assert.equal(s.state, 'finished');
  assert.equal(s.counts.done, 5);
  for (const d of fleet.devices.values()) {
    assert.equal(d.identity, `${d.endpoint}~r${c.id}`);
    assert.equal(o.security.findByPskIdentity(d.endpoint), undefined, 'old identity still accepted');
    assert.equal(o.security.get(d.endpoint)!.pskIdentity, d.identity);
    assert.equal(o.security.getPending(d.endpoint), undefined);
  }
  assertAllWork(o.security, fleet);
  assert.equal(o.audit.query({ kind: 'rotated' }).length, 5);
  assert.deepEqual(m.history(c.id, 'dev0').map((h) => h.to), ['prepared', 'delivered', 'done']);
  await m.close();
  o.store.close();
});

test('an offline device fails with both credentials accepted, and a later campaign completes it', async () => {
  const o = open(':memory:');
  const fleet = new SimulatedFleet();
  fleetOf(3, o.security, fleet);
  const off = fleet.devices.get('dev1')!;
  off.online = false;
  const m = manager(o, fleet, { maxAttempts: 3 });
  const c = m.start({ all: true });
  const s = await m.wait(c.id);
  assert.equal(s.counts.done, 2);
  assert.equal(s.counts.failed, 1);
  const st = m.status(c.id)!.devices.find((d) => d.endpoint === 'dev1')!;
  assert.equal(st.state, 'failed');
  assert.equal(st.attempts, 3);
  assert.match(st.lastError!, /not registered/);
  assert.ok(SimulatedFleet.works(o.security, off), 'old credential must still work');
  assert.ok(o.security.getPending('dev1'), 'pending credential kept: the device may hold it');
  off.online = true;
  fleet.register(o.security, off);
  const c2 = m.start({ endpoint: 'dev1' });
  assert.equal((await m.wait(c2.id)).counts.done, 1);
  assert.equal(off.identity, `dev1~r${c.id}`, 'the pending credential of the first campaign is reused');
  assertAllWork(o.security, fleet);
  await m.close();
  o.store.close();
});

test('targets: endpoint, group, unknown group, devices in a running campaign are left to it', async () => {
  const o = open(':memory:');
  const fleet = new SimulatedFleet();
  fleetOf(3, o.security, fleet, 'a-');
  fleetOf(2, o.security, fleet, 'b-');
  const m = manager(o, fleet, { resolveGroup: (g) => (g === 'b' ? ['b-0', 'b-1', 'nobody'] : undefined) });
  assert.throws(() => m.start({ group: 'zzz' }), (e: unknown) => e instanceof RotationError && e.code === 'UNKNOWN_GROUP');
  assert.throws(() => m.start({ endpoint: 'nobody' }), (e: unknown) => e instanceof RotationError && e.code === 'NO_DEVICES');
  const g = m.start({ group: 'b' });
  const all = m.start({ all: true });
  assert.equal(m.status(g.id)!.devices.length, 2);
  assert.deepEqual(m.status(all.id)!.devices.map((d) => d.endpoint), ['a-0', 'a-1', 'a-2']);
  await Promise.all([m.wait(g.id), m.wait(all.id)]);
  assertAllWork(o.security, fleet);
  await m.close();
  o.store.close();
});

test('device state machine refuses illegal transitions', () => {
  assert.throws(() => checkTransition('queued', 'done'), RotationError);
  assert.throws(() => checkTransition('queued', 'delivered'), RotationError);
  assert.throws(() => checkTransition('done', 'prepared'), RotationError);
  assert.throws(() => checkTransition('failed', 'queued'), RotationError);
  checkTransition('delivered', 'prepared');
});

test('2,000 devices, 20% loss, 2% offline, server killed mid-campaign and resumed: no device without a working credential', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-rot-'));
  try {
    const file = join(dir, 'warden.db');
    let o = open(file);
    const fleet = new SimulatedFleet({ loss: 0.2, random: seededRandom(42) });
    o.store.transaction(() => fleetOf(2000, o.security, fleet));
    for (const d of fleet.devices.values()) if (!d.registeredAs) fleet.register(o.security, d);
    let i = 0;
    for (const d of fleet.devices.values()) if (i++ % 50 === 7) (d.online = false, (d.registeredAs = undefined));
    // An attempt is three exchanges (trigger, bootstrap, registration): at 20% loss one succeeds with p = 0.8^3 ≈ 0.51,
    // so 30 attempts leave an online device failing with p ≈ 0.49^30 ≈ 5e-10 (12 attempts left ~2e-4: a flaky test).
    const attempts = { concurrency: 64, maxAttempts: 30, maxRetryDelay: 5 };
    let m = manager(o, fleet, attempts);
    const c = m.start({ all: true });
    let seen = 0;
    await new Promise<void>((resolve) => m.on('device', () => ++seen === 1500 && resolve()));
    await m.close(); // the crash: workers stop where they stand
    o.store.close();
    const mid = open(file);
    const midCounts = new RotationManager({ store: mid.store, security: mid.security, driver: fleet.driver(mid.security) }).summary(c.id)!.counts;
    assert.ok(midCounts.done < 2000 && midCounts.queued + midCounts.prepared + midCounts.delivered > 0, 'killed in the middle');
    mid.store.close();
    o = open(file);
    assertAllWork(o.security, fleet);
    m = manager(o, fleet, attempts);
    assert.deepEqual(m.resume(), [c.id]);
    const s = await m.wait(c.id);
    assert.equal(s.state, 'finished');
    assert.equal(s.counts.done + s.counts.failed, 2000);
    assert.equal(s.counts.failed, 40, 'only the offline devices fail');
    for (const d of m.status(c.id)!.devices) assert.equal(d.state === 'failed', !fleet.devices.get(d.endpoint)!.online, d.endpoint);
    assertAllWork(o.security, fleet);
    for (const d of fleet.devices.values()) if (d.online) assert.equal(o.security.get(d.endpoint)!.pskIdentity, d.identity);
    await m.close();
    o.store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('certificate devices: a device that never proves a newer certificate ends failed with its old certificate unrevoked', async () => {
  const o = open(':memory:');
  const revokedBefore: [string, number][] = [];
  const certificates = {
    has: (ep: string) => ep.startsWith('cert'),
    endpoints: () => ['cert0', 'cert1'],
    revokeIssuedBefore: (ep: string, time: number) => (revokedBefore.push([ep, time]), ['aa']),
  };
  const proofs: string[] = [];
  const driver = {
    deliver: async () => {},
    // cert0 registers with a certificate issued after it was prepared; cert1 never does.
    proven: async (ep: string, identity: string) => (proofs.push(identity), ep === 'cert0'),
  };
  const m = new RotationManager({ store: o.store, security: o.security, audit: o.audit, driver, certificates, proofTimeout: 10, retryDelay: 1, maxAttempts: 2 });
  const c = m.start({ all: true }, { actor: 'test' });
  const s = await m.wait(c.id);
  assert.deepEqual(s.counts.done, 1);
  assert.deepEqual(s.counts.failed, 1);
  assert.ok(proofs.every((p) => p.startsWith('x509-issued-from:')), 'proof asks for a certificate issued after preparation');
  assert.deepEqual(revokedBefore.map(([ep]) => ep), ['cert0'], 'only the proven device loses its older certificates');
  assert.ok(o.audit.query({ endpoint: 'cert0' }).some((e) => e.kind === 'revoked'));
  assert.ok(!o.audit.query({ endpoint: 'cert1' }).some((e) => e.kind === 'revoked' || e.kind === 'rotated'));
  await m.close();
});
