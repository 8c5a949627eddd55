/**
 * The fleet test of issue 5: 1,000 simulated MCUboot-class devices updated by a delta over DTLS through a link that
 * loses 10% of datagrams each way, 5% of them losing power at a random byte of their install (while the patch is
 * applied into the secondary slot, or while the bootloader swaps slots). Every device must end on a valid signed
 * image, the new one or the old one with a failure recorded by the campaign; none bricked. Then a campaign whose image
 * fails its health check pauses itself at the error threshold, and every device it touched runs its old image.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deltaPackage, imagePackage, imagePair } from '../src/device/test-helpers.js';
import type { Lwm2mClient } from '../src/client/index.js';
import { xorshift32 } from '../src/firmware/test-helpers.js';
import { startFirmwareRig } from './firmware-rig.js';
import { until } from './helpers.js';

const DEVICES = Number(process.env.WARDEN_FLEET_DEVICES ?? 1000);
const [v1, v2] = imagePair(77, 24 * 1024);

function readVersion(client: Lwm2mClient): string | undefined {
  const node = client.tree.enabler(3)?.instance(0)?.read(3);
  return node?.kind === 'singleResource' ? String(node.value.value) : undefined;
}

test(`${DEVICES} devices: a delta over DTLS at 10% loss, 5% losing power mid-install; zero bricked; a failing image pauses its campaign`, { timeout: 900_000 }, async (t) => {
  const rig = await startFirmwareRig(t, { loss: 0.1, lossWindow: 10, seed: 11 }, 40);
  const random = xorshift32(5);
  const factory = imagePackage(v1, 1, '1.0.0');
  const deltaId = await rig.upload(deltaPackage(v1, v2, 2, '2.0.0'));
  const failingId = await rig.upload(imagePackage(v2, 3, '3.0.0'));

  const cutAt = new Map<string, number>();
  const runners = Array.from({ length: DEVICES }, (_, i) => {
    const endpoint = `fleet-${String(i).padStart(4, '0')}`;
    const runner = rig.device(endpoint, factory, {
      healthCheck: (client) => readVersion(client) !== '3.0.0',
      onInstall: () => {
        // One install per device is cut: anywhere in the patch application or the swap that follows at boot.
        const bytes = cutAt.get(endpoint);
        if (bytes === undefined) return;
        cutAt.delete(endpoint);
        runner.power.arm(bytes);
      },
    });
    if (i % 20 === 7) cutAt.set(endpoint, 1 + (random() % (4 * 24 * 1024)));
    return runner;
  });
  const cuts = cutAt.size;
  for (let i = 0; i < runners.length; i += 100) await Promise.all(runners.slice(i, i + 100).map((r) => r.start()));
  await until(() => rig.warden.server.listRegistrations({ limit: DEVICES + 1 }).length === DEVICES, 300_000, 'the fleet registered');

  const campaign = await rig.warden.campaigns.create(deltaId, { filter: { endpoint: 'fleet-*' } }, {
    canary: 0.05, waves: [0.3, 1], maxConcurrent: 100, delivery: 'pull', scheme: 'coaps', successThreshold: 0.9, errorThreshold: 0.1, maxAttempts: 4,
  });
  await rig.warden.campaigns.start(campaign.id);
  const done = await rig.settle(campaign.id, 600_000);
  assert.equal(done.state, 'finished', JSON.stringify(rig.warden.campaigns.status(campaign.id)!.devices.filter((d) => d.state === 'failed').slice(0, 5)));

  const status = rig.warden.campaigns.status(campaign.id)!;
  const byEndpoint = new Map(status.devices.map((d) => [d.endpoint, d]));
  assert.deepEqual(runners.filter((r) => !r.device || r.device.bricked).map((r) => r.endpoint), [], 'every device is on, none bricked');
  let onNew = 0;
  for (const r of runners) {
    const ep = r.endpoint;
    const d = byEndpoint.get(ep)!;
    if (d.state === 'succeeded') {
      assert.equal(r.version, '2.0.0', `${ep} succeeded and runs the new image`);
      onNew++;
    } else {
      assert.equal(d.state, 'failed', `${ep}: ${d.state}`);
      assert.ok(d.lastError, `${ep} failed with a recorded reason`);
      assert.ok(r.version === '1.0.0' || r.version === '2.0.0', `${ep} runs a valid signed image`);
    }
  }
  const lost = runners.reduce((n, r) => n + r.powerLosses, 0);
  t.diagnostic(`${onNew}/${DEVICES} on the new image; ${lost} power losses (${cuts} armed); proxy dropped ${rig.proxy.counters.up.dropped} up, ${rig.proxy.counters.down.dropped} down`);
  assert.equal(lost, cuts, 'every armed cut hit an install (patch application or swap)');
  assert.ok(onNew >= DEVICES * 0.95, `${onNew} of ${DEVICES} updated`);

  // An image that boots but fails its health check: the canary fails, the campaign pauses itself.
  const failing = await rig.warden.campaigns.create(failingId, { filter: { endpoint: 'fleet-*', version: '2.0.0' } }, {
    canary: 0.05, waves: [1], maxConcurrent: 20, delivery: 'pull', scheme: 'coaps', errorThreshold: 0.2, minSample: 5,
  });
  await rig.warden.campaigns.start(failing.id);
  const paused = await rig.settle(failing.id, 300_000);
  assert.equal(paused.state, 'paused');
  assert.match(paused.pauseReason ?? '', /error/i);
  const touched = rig.warden.campaigns.status(failing.id)!.devices.filter((d) => d.state !== 'queued');
  assert.ok(touched.length >= 5 && touched.length < paused.total / 2, `${touched.length} of ${paused.total} devices touched before the pause`);
  await until(() => rig.warden.campaigns.status(failing.id)!.devices.every((d) => d.state === 'queued' || d.state === 'failed'), 120_000, 'in-flight devices finished');
  for (const r of runners) assert.notEqual(r.version, '3.0.0');
  for (const d of rig.warden.campaigns.status(failing.id)!.devices.filter((x) => x.state === 'failed')) assert.equal(d.updateResult, 8);
});
