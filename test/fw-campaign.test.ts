/**
 * Firmware campaigns end to end: the real LwM2M server and SQLite file, real clients whose Object 5 runs a small
 * in-test FirmwareUpdater (half of them finish the install in place, half by rebooting and registering anew), driven
 * by FirmwareCampaignManager over lwm2mCampaignDriver. Canary and waves; installs that fail pause the campaign at the
 * error threshold; pause/resume/cancel; the server stopped mid-campaign resumes it on the same file.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lwm2mClient } from '../src/client/index.js';
import { FirmwareFailure, type FirmwareContext, type FirmwareRestored, type FirmwareUpdater, type InstallOutcome, type PackageInfo } from '../src/client/objects/firmware-updater.js';
import { FirmwareCampaignManager, type CampaignPackages, type CampaignSettings, type FirmwareCampaignSummary } from '../src/firmware/index.js';
import { lwm2mCampaignDriver } from '../src/firmware/campaign-driver.js';
import { startTestServer, until, type TestServer } from './helpers.js';

const PACKAGES: CampaignPackages = {
  get: (id) => (id === 'pkg-2' ? { id, vendor: 'v', class: 'c', version: '2.0.0', sequence: 2, kind: 'image', imageDigest: '00', packageSize: 1000 } : undefined),
  uri: (id, scheme) => `${scheme}://127.0.0.1:9/fw/${id}?version=2.0.0`,
};

/** What survives a device's reboot: its flash, as far as this test is concerned. */
interface Flash {
  version: string;
  restored?: FirmwareRestored;
}

interface DeviceBehaviour {
  /** Install ends with a reboot (the device registers anew) rather than in place. */
  reboot: boolean;
  /** Install fails with Update Result 8. */
  failInstall: boolean;
  downloadMs: number;
  installMs: number;
}

/** A tiny pipeline over the FirmwareUpdater contract: the "package" is the version in the URI. */
class TestUpdater implements FirmwareUpdater {
  readonly protocols = [0, 1, 2, 3];
  private staged: string | undefined;
  constructor(
    private readonly flash: Flash,
    private readonly b: DeviceBehaviour,
  ) {}
  restore(): FirmwareRestored | undefined {
    const r = this.flash.restored;
    this.flash.restored = undefined;
    return r;
  }
  async download(uri: string, ctx: FirmwareContext): Promise<void> {
    await ctx.delay(this.b.downloadMs);
    this.staged = new URL(uri).searchParams.get('version') ?? undefined;
  }
  async receive(pkg: Uint8Array): Promise<void> {
    this.staged = Buffer.from(pkg).toString('utf8');
  }
  async verify(): Promise<PackageInfo> {
    if (!this.staged) throw new FirmwareFailure(5, 'nothing staged');
    return { name: 'fw', version: this.staged };
  }
  async install(info: PackageInfo, ctx: FirmwareContext): Promise<InstallOutcome> {
    await ctx.delay(this.b.installMs);
    if (this.b.failInstall) throw new FirmwareFailure(8, 'the image failed its health check');
    if (this.b.reboot) {
      this.flash.version = info.version;
      this.flash.restored = { kind: 'updated', result: 1, info };
      return { kind: 'reboot' };
    }
    this.flash.version = info.version;
    return { kind: 'installed', version: info.version };
  }
  async discard(): Promise<void> {
    this.staged = undefined;
  }
}

/** A fleet of real clients; a firmware reboot replaces a client by a new one on the same flash. */
class Fleet {
  readonly clients = new Map<string, Lwm2mClient>();
  readonly flash = new Map<string, Flash>();
  private readonly pending = new Set<Promise<void>>();
  constructor(private readonly uri: string) {}

  async add(endpoint: string, b: DeviceBehaviour): Promise<void> {
    this.flash.set(endpoint, { version: '1.0.0' });
    await this.boot(endpoint, b);
  }

  private async boot(endpoint: string, b: DeviceBehaviour): Promise<void> {
    const flash = this.flash.get(endpoint)!;
    const client = new Lwm2mClient({
      endpoint, serverUri: this.uri, lifetime: 120, valueUpdateInterval: 0,
      coap: { ackTimeout: 300, maxRetransmit: 3 },
      standard: {
        device: { firmwareVersion: flash.version },
        firmwareUpdater: new TestUpdater(flash, b),
        onFirmwareReboot: () => {
          const p = (async () => {
            await client.stop({ deregister: false });
            if (this.clients.get(endpoint) === client) await this.boot(endpoint, b);
          })().finally(() => this.pending.delete(p));
          this.pending.add(p);
        },
      },
    });
    this.clients.set(endpoint, client);
    await client.start();
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.pending]);
    const all = [...this.clients.values()];
    this.clients.clear();
    await Promise.all(all.map((c) => c.stop({ deregister: false })));
  }
}

function seeded(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 2 ** 32;
  };
}

function manager(ts: TestServer): FirmwareCampaignManager {
  return new FirmwareCampaignManager({
    store: ts.store, packages: PACKAGES,
    driver: lwm2mCampaignDriver(ts.server, { requestTimeout: 2000, pollInterval: 150 }),
    retryDelay: 100, downloadTimeout: 10_000, updateTimeout: 10_000, random: seeded(7),
  });
}

async function rig(t: TestContext, devices: [string, DeviceBehaviour][]): Promise<{ ts: TestServer; fleet: Fleet; m: FirmwareCampaignManager; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'warden-fwc-'));
  const ts = await startTestServer({ dir });
  const fleet = new Fleet(ts.uri);
  const m = manager(ts);
  const state = { ts, m };
  t.after(async () => {
    await state.m.close();
    await fleet.close();
    await state.ts.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  await Promise.all(devices.map(([ep, b]) => fleet.add(ep, b)));
  await until(() => ts.server.registrationCount() === devices.length, 10_000, 'all devices registered');
  return Object.assign(state, { fleet, dir });
}

const ok = (i: number): DeviceBehaviour => ({ reboot: i % 2 === 0, failInstall: false, downloadMs: 30, installMs: 30 });

async function waitState(m: FirmwareCampaignManager, id: number, states: FirmwareCampaignSummary['state'][], timeoutMs = 20_000): Promise<FirmwareCampaignSummary> {
  let s = m.summary(id)!;
  await until(() => ((s = m.summary(id)!), states.includes(s.state)), timeoutMs, `campaign ${id} ${states.join('|')}`);
  return s;
}

test('20 devices: canary, then waves, every device on the new version (in place and by reboot)', async (t) => {
  const eps = Array.from({ length: 20 }, (_, i) => `fwc-${String(i).padStart(2, '0')}`);
  const { m, fleet, ts } = await rig(t, eps.map((ep, i) => [ep, ok(i)]));
  const registeredAt = new Map(eps.map((ep) => [ep, ts.server.getRegistration(ep)!.registrationId]));
  const waveStarts: number[] = [];
  let maxInFlight = 0;
  m.on('campaign', (s: FirmwareCampaignSummary) => waveStarts.push(s.currentWave));
  m.on('device', () => {
    const c = m.summary(1)!.counts;
    maxInFlight = Math.max(maxInFlight, c.delivering + c.downloading + c.downloaded + c.updating + c.verifying);
  });
  const settings: Partial<CampaignSettings> = { canary: 0.05, waves: [0.25, 0.5, 1], maxConcurrent: 4 };
  const created = await m.create('pkg-2', { filter: { endpoint: 'fwc-*', version: '1.0.0' } }, settings);
  assert.equal(created.state, 'created');
  const started = await m.start(created.id);
  assert.deepEqual(started.waveSizes, [1, 4, 5, 10]);
  const done = await waitState(m, created.id, ['finished', 'paused']);
  assert.equal(done.state, 'finished', done.pauseReason ?? '');
  assert.equal(done.counts.succeeded, 20);
  assert.ok(maxInFlight <= 4, `at most 4 devices in flight (saw ${maxInFlight})`);
  // The waves started in order, each after the previous one.
  assert.deepEqual([...new Set(waveStarts)], [0, 1, 2, 3]);
  for (const ep of eps) assert.equal(fleet.flash.get(ep)!.version, '2.0.0');
  // Even devices finished by rebooting (a new registration), odd ones in place (the same one).
  eps.forEach((ep, i) => assert.equal(ts.server.getRegistration(ep)!.registrationId !== registeredAt.get(ep), i % 2 === 0, ep));
  // The canary device finished before any device of wave 2 began.
  const status = m.status(created.id)!;
  const canary = status.devices.find((d) => d.wave === 0)!;
  const canaryDone = m.device(created.id, canary.endpoint)!.history.at(-1)!.time;
  for (const d of status.devices.filter((x) => x.wave === 1)) assert.ok(m.device(created.id, d.endpoint)!.history[0]!.time >= canaryDone);
  // History of one device: the whole path, in order.
  const h = m.device(created.id, 'fwc-00')!.history.map((e) => e.to);
  assert.deepEqual(h, ['delivering', 'downloading', 'downloaded', 'updating', 'verifying', 'succeeded']);
  // A second campaign over the same filter finds nobody left on 1.0.0.
  const again = await m.create('pkg-2', { filter: { endpoint: 'fwc-*', version: '1.0.0' } });
  await assert.rejects(m.start(again.id), /no registered device/);
});

test('installs that fail pause the campaign at the error threshold with the reason; resume, then cancel', async (t) => {
  const eps = Array.from({ length: 10 }, (_, i) => `bad-${i}`);
  // Every other device fails its install (Update Result 8): the error rate is far above 5%.
  const { m, fleet } = await rig(t, eps.map((ep, i) => [ep, { ...ok(i), reboot: false, failInstall: i % 2 === 1 }]));
  const c = await m.create('pkg-2', { filter: { endpoint: 'bad-*' } }, { canary: 0, waves: [1], maxConcurrent: 2, minSample: 4, errorThreshold: 0.05 });
  await m.start(c.id);
  const paused = await waitState(m, c.id, ['paused', 'finished']);
  assert.equal(paused.state, 'paused');
  assert.match(paused.pauseReason!, /error rate \d+(\.\d+)?% \(\d+ failed of \d+ finished\) is above the error threshold 5%/);
  await m.wait(c.id);
  const s = m.summary(c.id)!;
  assert.ok(s.counts.queued > 0, 'devices not yet started stay queued while paused');
  const failed = m.status(c.id)!.devices.filter((d) => d.state === 'failed');
  assert.ok(failed.length >= 1);
  for (const d of failed) {
    assert.equal(d.updateResult, 8);
    assert.match(d.lastError!, /Update Result 8 \(Update failed\); running 1\.0\.0/);
    assert.equal(fleet.flash.get(d.endpoint)!.version, '1.0.0');
  }
  // Queued devices stay queued while paused.
  const queuedBefore = s.counts.queued;
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(m.summary(c.id)!.counts.queued, queuedBefore);
  // Resume counts afresh; the failures continue, so it pauses again after another sample.
  const resumed = m.resumeCampaign(c.id);
  assert.equal(resumed.state, 'running');
  assert.equal(resumed.pauseReason, null);
  const again = await waitState(m, c.id, ['paused', 'finished']);
  assert.ok(again.counts.succeeded + again.counts.failed > paused.counts.succeeded + paused.counts.failed);
  if (again.state === 'paused') {
    await m.wait(c.id);
    const cancelled = await m.cancel(c.id);
    assert.equal(cancelled.state, 'cancelled');
    assert.equal(cancelled.counts.queued, 0);
    assert.equal(cancelled.counts.cancelled, again.counts.queued);
    assert.throws(() => m.resumeCampaign(c.id), /only a paused campaign resumes/);
  } else {
    // Too few devices were left for another sample: the campaign ran to its end.
    assert.equal(again.counts.succeeded + again.counts.failed, 10);
    await assert.rejects(m.cancel(c.id), /already finished/);
  }
});

test('pause by the operator stops new devices; cancel resets devices mid-download', async (t) => {
  const eps = Array.from({ length: 6 }, (_, i) => `op-${i}`);
  const { m, fleet, ts } = await rig(t, eps.map((ep) => [ep, { reboot: false, failInstall: false, downloadMs: 400, installMs: 30 }]));
  const c = await m.create('pkg-2', { filter: { endpoint: 'op-*' } }, { canary: 0, waves: [1], maxConcurrent: 2 });
  await m.start(c.id);
  await until(() => m.summary(c.id)!.counts.downloading === 2, 5000, 'two downloading');
  const p = m.pause(c.id);
  assert.equal(p.state, 'paused');
  assert.equal(p.pauseReason, 'paused by the operator');
  await m.wait(c.id);
  const afterPause = m.summary(c.id)!;
  assert.equal(afterPause.counts.succeeded, 2, 'devices in flight finish');
  assert.equal(afterPause.counts.queued, 4, 'nobody else started');
  m.resumeCampaign(c.id);
  await until(() => m.summary(c.id)!.counts.downloading === 2, 5000, 'two more downloading');
  const cancelled = await m.cancel(c.id);
  assert.equal(cancelled.state, 'cancelled');
  assert.equal(cancelled.counts.succeeded, 2);
  assert.equal(cancelled.counts.cancelled, 4);
  // The devices that were downloading got the reset write: Object 5 is Idle again with no package.
  const wasDownloading = m.status(c.id)!.devices.filter((d) => m.device(c.id, d.endpoint)!.history.some((h) => h.from === 'downloading' && h.to === 'cancelled'));
  assert.equal(wasDownloading.length, 2);
  for (const d of wasDownloading) {
    const r = await ts.server.read(d.endpoint, (await import('../src/lwm2m/index.js')).Lwm2mPath.of(5, 0, 3));
    assert.deepEqual(r.content, { kind: 'singleResource', id: 3, value: { type: 'integer', value: 0 } });
    assert.equal(fleet.flash.get(d.endpoint)!.version, '1.0.0');
  }
  await assert.rejects(m.cancel(c.id), /already cancelled/);
});

test('a server stopped mid-campaign resumes it from the same database', async (t) => {
  const eps = Array.from({ length: 6 }, (_, i) => `rs-${i}`);
  const st = await rig(t, eps.map((ep, i) => [ep, { ...ok(i), downloadMs: 150, installMs: 150 }]));
  const c = await st.m.create('pkg-2', { filter: { endpoint: 'rs-*' } }, { canary: 0, waves: [1], maxConcurrent: 2 });
  await st.m.start(c.id);
  const midStep = () => st.m.status(c.id)!.devices.filter((d) => !['queued', 'succeeded', 'failed', 'cancelled'].includes(d.state));
  await until(() => st.m.summary(c.id)!.counts.succeeded >= 1 && midStep().length >= 1, 10_000, 'mid-campaign');
  // Stop everything on the server side; the devices keep running (their downloads and installs go on).
  await st.m.close();
  const caught = midStep().map((d) => d.endpoint);
  const port = st.ts.port;
  await st.ts.stop();
  await new Promise((r) => setTimeout(r, 300));
  st.ts = await startTestServer({ dir: st.dir, port });
  st.m = manager(st.ts);
  assert.deepEqual(st.m.resume(), [c.id]);
  const done = await waitState(st.m, c.id, ['finished', 'paused']);
  assert.equal(done.state, 'finished', done.pauseReason ?? '');
  assert.equal(done.counts.succeeded, 6);
  for (const ep of eps) assert.equal(st.fleet.flash.get(ep)!.version, '2.0.0');
  assert.ok(caught.length >= 1);
  for (const ep of caught) assert.equal(st.m.device(c.id, ep)!.state, 'succeeded');
});
