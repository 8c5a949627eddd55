/**
 * Firmware updates end to end on simulated MCUboot-class devices: a package uploaded to the repository, a campaign
 * delivering it through Object 5 by pull over CoAPs (through a lossy, reordering link), pull over HTTP and push
 * (Block1), the device verifying, installing, rebooting into test mode and confirming; a download cut by a power
 * loss resumes; an image that fails its health check is reverted and recorded; a package for another device class is
 * refused without touching the device.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deltaPackage, imagePackage, imagePair, inPlacePackage, testLayout } from '../src/device/test-helpers.js';
import { classIdFor, vendorIdFor } from '../src/firmware/index.js';
import { UpdateResult, type Lwm2mClient } from '../src/client/index.js';
import { startFirmwareRig } from './firmware-rig.js';
import { until } from './helpers.js';

const [v1, v2] = imagePair(21, 40 * 1024);
const V1 = imagePackage(v1, 1, '1.0.0');
const V2 = imagePackage(v2, 2, '2.0.0');

test('pull over CoAPs and HTTP and push over Block1 all end on the new image, confirmed, with the counter raised', { timeout: 120_000 }, async (t) => {
  const rig = await startFirmwareRig(t, { loss: 0.1, reorder: 0.1, lossWindow: 10, seed: 3 });
  const id = await rig.upload(V2);
  const groups = { coaps: ['c1', 'c2'], http: ['h1', 'h2'], push: ['p1', 'p2'] } as const;
  const runners = Object.values(groups).flat().map((ep) => rig.device(ep, V1));
  await Promise.all(runners.map((r) => r.start()));
  await until(() => rig.warden.server.listRegistrations({ limit: 100 }).length === runners.length, 60_000, 'all registered');

  const campaigns = await Promise.all([
    rig.warden.campaigns.create(id, { filter: { endpoint: 'c*' } }, { canary: 0, waves: [1], delivery: 'pull', scheme: 'coaps' }),
    rig.warden.campaigns.create(id, { filter: { endpoint: 'h*' } }, { canary: 0, waves: [1], delivery: 'pull', scheme: 'http' }),
    rig.warden.campaigns.create(id, { filter: { endpoint: 'p*' } }, { canary: 0, waves: [1], delivery: 'push' }),
  ]);
  for (const c of campaigns) await rig.warden.campaigns.start(c.id);
  for (const c of campaigns) {
    const done = await rig.settle(c.id, 100_000);
    assert.equal(done.state, 'finished', JSON.stringify(done));
    assert.equal(done.counts.succeeded, 2, JSON.stringify(rig.warden.campaigns.status(c.id)?.devices));
  }
  for (const r of runners) {
    assert.equal(r.version, '2.0.0');
    assert.equal(r.device!.testing, false, 'confirmed');
    assert.equal(r.device!.securityCounter, 2);
  }
  const history = rig.warden.campaigns.device(campaigns[0]!.id, 'c1')!.history.map((h) => h.to);
  assert.deepEqual(history.filter((s, i) => s !== history[i - 1]), ['queued', 'delivering', 'downloading', 'downloaded', 'updating', 'verifying', 'succeeded'].slice(history[0] === 'queued' ? 0 : 1));
  assert.ok(rig.proxy.counters.up.dropped > 0 && rig.proxy.counters.down.dropped > 0, 'the link lost datagrams');
});

test('a delta pull cut by power loss resumes after the reboot; a failing health check reverts; a foreign package is refused', { timeout: 120_000 }, async (t) => {
  const rig = await startFirmwareRig(t);
  const delta = deltaPackage(v1, v2, 2, '2.0.0');
  const [deltaId, v3Id] = [await rig.upload(delta), await rig.upload(imagePackage(v2, 3, '3.0.0'))];

  // Power is cut 6 KiB into the download (the package is written to flash as it arrives).
  const cut = rig.device('cut', V1);
  await cut.start();
  await until(() => rig.warden.server.getRegistration('cut') !== undefined, 30_000, 'cut registered');
  cut.power.arm(6 * 1024);

  // Health check fails on 3.0.0: the watchdog reboots it unconfirmed and the bootloader reverts.
  const sick = rig.device('sick', V1, { healthCheck: (client) => readVersion(client) !== '3.0.0' });
  await sick.start();
  await until(() => rig.warden.server.getRegistration('sick') !== undefined, 30_000, 'sick registered');

  const a = await rig.warden.campaigns.create(deltaId, { filter: { endpoint: 'cut' } }, { canary: 0, waves: [1], delivery: 'pull', scheme: 'coaps' });
  const b = await rig.warden.campaigns.create(v3Id, { filter: { endpoint: 'sick' } }, { canary: 0, waves: [1], delivery: 'pull', scheme: 'http', successThreshold: 0, errorThreshold: 1 });
  await rig.warden.campaigns.start(a.id);
  await rig.warden.campaigns.start(b.id);
  const doneA = await rig.settle(a.id, 100_000);
  const doneB = await rig.settle(b.id, 100_000);

  assert.equal(cut.powerLosses, 1, 'the power was cut once, mid-download');
  assert.equal(doneA.counts.succeeded, 1, JSON.stringify(rig.warden.campaigns.status(a.id)?.devices));
  assert.equal(cut.version, '2.0.0');

  assert.equal(doneB.counts.failed, 1);
  const sickStatus = rig.warden.campaigns.device(b.id, 'sick')!;
  assert.equal(sickStatus.updateResult, UpdateResult.UpdateFailed);
  assert.match(sickStatus.lastError ?? '', /running 1\.0\.0/);
  assert.equal(sick.version, '1.0.0', 'reverted to the old image');
  assert.equal(sick.device!.securityCounter, 0, 'the counter only rises on confirm');

  // A package signed by the fleet key but for another device class: the device refuses it (Update Result 6).
  const other = imagePackage(v2, 4, '4.0.0', { vendorId: vendorIdFor('acme'), classId: classIdFor(vendorIdFor('acme'), 'other') });
  const otherId = await rig.upload(other);
  const c = await rig.warden.campaigns.create(otherId, { filter: { endpoint: 'cut' } }, { canary: 0, waves: [1], delivery: 'push', successThreshold: 0, errorThreshold: 1 });
  await rig.warden.campaigns.start(c.id);
  await rig.settle(c.id, 60_000);
  assert.equal(rig.warden.campaigns.device(c.id, 'cut')!.updateResult, UpdateResult.UnsupportedPackageType);
  assert.equal(cut.version, '2.0.0');
});

/** Device Firmware Version (/3/0/3) as the client reports it. */
function readVersion(client: Lwm2mClient): string | undefined {
  const node = client.tree.enabler(3)?.instance(0)?.read(3);
  return node?.kind === 'singleResource' ? String(node.value.value) : undefined;
}

test('a single-slot device takes an in-place delta, even with the power cut in the middle of rewriting its slot', { timeout: 120_000 }, async (t) => {
  const rig = await startFirmwareRig(t);
  const single = testLayout(64, 'single', 24);
  const id = await rig.upload(inPlacePackage(v1, v2, 2, '2.0.0', single.pageSize));
  let cutArmed = false;
  const whole = rig.device('single-1', V1, { layout: single });
  const cut = rig.device('single-2', V1, {
    layout: single,
    onInstall: () => {
      if (cutArmed) return;
      cutArmed = true;
      // Past the boot-state writes, inside the page rewrites (about 40 pages, each written twice through scratch).
      cut.power.arm(30 * 1024);
    },
  });
  await Promise.all([whole.start(), cut.start()]);
  await until(() => rig.warden.server.listRegistrations({ limit: 10 }).length === 2, 30_000, 'both registered');
  const c = await rig.warden.campaigns.create(id, { filter: { endpoint: 'single-*' } }, { canary: 0, waves: [1], delivery: 'pull', scheme: 'coaps' });
  await rig.warden.campaigns.start(c.id);
  const done = await rig.settle(c.id, 100_000);
  assert.equal(done.counts.succeeded, 2, JSON.stringify(rig.warden.campaigns.status(c.id)?.devices));
  assert.equal(cut.powerLosses, 1, 'the power was cut during the in-place install');
  for (const r of [whole, cut]) {
    assert.equal(r.version, '2.0.0');
    assert.equal(r.device!.securityCounter, 2, 'a single-slot install is permanent at once');
  }
});
