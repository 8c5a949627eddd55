import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodePackage } from '../firmware/index.js';
import { xorshift32 } from '../firmware/test-helpers.js';
import { Device, type DeviceOptions } from './device.js';
import { MemoryFlash, PowerCut, PowerLoss } from './flash.js';
import { headerArea, type Layout } from './layout.js';
import { ctx, deltaPackage, deviceOptions, factoryFlash, imagePackage, imagePair, inPlacePackage, MemoryFetcher, testLayout } from './test-helpers.js';

const POINTS = 300;
const OLD = '1.0.0';
const NEW = '2.0.0';
const URI = 'coap://127.0.0.1/fw';
const [oldImage, newImage] = imagePair(21, 48 * 1024);
const oldPkg = imagePackage(oldImage, 10, OLD);
const newPkg = imagePackage(newImage, 11, NEW);

interface Scenario {
  readonly layout: Layout;
  readonly pkg: Uint8Array;
  /** The flash before the operation under test. */
  readonly base: Uint8Array;
  /** The operation a cut interrupts. */
  run(flash: MemoryFlash, opts: DeviceOptions): Promise<void>;
}

function setup(layout: Layout, pkg: Uint8Array): { fetcher: MemoryFetcher; opts: DeviceOptions } {
  const fetcher = new MemoryFetcher(1024);
  fetcher.put(URI, pkg);
  return { fetcher, opts: deviceOptions(layout, { fetcher: fetcher.fetch }) };
}

/**
 * What Object 5 and the client do after a power cycle, until the device runs the new image confirmed: resume or
 * restart the download, verify and install; confirm a test boot. Every boot must run a verified image.
 */
async function settle(flash: MemoryFlash, opts: DeviceOptions): Promise<Device> {
  for (let round = 0; round < 6; round++) {
    const d = await Device.open(flash, opts);
    assert.equal(d.bricked, false);
    assert.ok(d.version === OLD || d.version === NEW, `runs ${d.version}`);
    if (d.version === NEW) {
      if (d.testing) d.confirm();
      const again = await Device.open(flash, opts);
      assert.equal(again.version, NEW);
      assert.equal(again.testing, false);
      return again;
    }
    const r = d.updater.restore();
    if (r?.kind === 'downloading') await d.updater.download(r.uri, ctx);
    else if (r?.kind !== 'downloaded') await d.updater.download(URI, ctx);
    await d.updater.install(await d.updater.verify(ctx), ctx);
  }
  assert.fail('the update never finished');
}

/** Cuts the power at POINTS seeded offsets of `s.run`; after each, a reboot runs old or new and the update finishes. */
async function cutEverywhere(s: Scenario, seed: number, points = POINTS): Promise<Set<string>> {
  const { opts } = setup(s.layout, s.pkg);
  const power = new PowerCut();
  const dry = new MemoryFlash(s.base, { pageSize: s.layout.pageSize, power });
  await s.run(dry, opts);
  const total = power.written;
  assert.ok(total > 0);
  assert.equal((await settle(dry, opts)).version, NEW);
  const r = xorshift32(seed);
  const seen = new Set<string>();
  for (let i = 0; i < points; i++) {
    const cut = r() % total;
    const flash = new MemoryFlash(s.base, { pageSize: s.layout.pageSize, power });
    power.arm(cut);
    await assert.rejects(s.run(flash, opts), PowerLoss, `cut at ${cut}`);
    power.restore();
    const d = await Device.open(flash, opts);
    assert.equal(d.bricked, false, `cut at ${cut}: bricked`);
    seen.add(d.version!);
    assert.equal((await settle(flash, opts)).version, NEW, `cut at ${cut}`);
  }
  return seen;
}

/** A flash with the old image, after `prepare` ran on the device (no cuts). */
async function prepared(layout: Layout, pkg: Uint8Array, prepare: (d: Device) => Promise<void>): Promise<Uint8Array> {
  const { opts } = setup(layout, pkg);
  const flash = factoryFlash(layout, oldPkg);
  await prepare(await Device.open(flash, opts));
  return flash.bytes;
}

test('power loss during a download: the reboot runs the old image and the resumed download stores the identical package', async () => {
  const layout = testLayout(64);
  const { opts, fetcher } = setup(layout, newPkg);
  const base = factoryFlash(layout, oldPkg).bytes;
  const run = async (flash: MemoryFlash, o: DeviceOptions): Promise<void> => {
    await (await Device.open(flash, o)).updater.download(URI, ctx);
  };
  assert.deepEqual([...(await cutEverywhere({ layout, pkg: newPkg, base, run }, 1))], [OLD]);

  // A resume fetches only what is missing and ends with the package byte for byte.
  const power = new PowerCut();
  await run(new MemoryFlash(base, { pageSize: layout.pageSize, power }), opts);
  const total = power.written;
  const flash = new MemoryFlash(base, { pageSize: layout.pageSize, power });
  power.arm(Math.floor(total * 0.6));
  await assert.rejects(run(flash, opts), PowerLoss);
  power.restore();
  const d = await Device.open(flash, opts);
  assert.equal(d.version, OLD);
  const r = d.updater.restore();
  assert.equal(r?.kind, 'downloading');
  fetcher.served = 0;
  await d.updater.download(URI, ctx);
  assert.ok(fetcher.served < newPkg.length / 2, `resumed: fetched ${fetcher.served} of ${newPkg.length}`);
  const { payload } = decodePackage(newPkg);
  const prefixLength = newPkg.length - payload.length;
  const sec = layout.secondary.offset;
  const stored = Buffer.concat([flash.read(sec, prefixLength), flash.read(sec + headerArea(layout.pageSize), payload.length)]);
  assert.ok(stored.equals(newPkg), 'the staged package is the one served');
  assert.deepEqual(await d.updater.verify(ctx), { name: 'firmware', version: NEW });
});

test('power loss during the A/B swap: the device boots old or new, never bricked, and ends on the new image', async () => {
  const layout = testLayout(64);
  const base = await prepared(layout, newPkg, async (d) => {
    await d.updater.download(URI, ctx);
    await d.updater.install(await d.updater.verify(ctx), ctx);
  });
  const seen = await cutEverywhere({ layout, pkg: newPkg, base, run: async (flash, o) => void await Device.open(flash, o) }, 2);
  assert.deepEqual([...seen], [NEW], 'the boot after a cut resumes the swap and is the test boot');
});

test('power loss during the revert swap of an unconfirmed image', async () => {
  const layout = testLayout(64);
  const { opts } = setup(layout, newPkg);
  const base = await prepared(layout, newPkg, async (d) => {
    await d.updater.download(URI, ctx);
    await d.updater.install(await d.updater.verify(ctx), ctx);
  });
  const tested = new MemoryFlash(base, { pageSize: layout.pageSize });
  assert.equal((await Device.open(tested, opts)).version, NEW); // test boot, never confirmed
  // every cut during the revert ends on the old image (the revert resumes)
  assert.deepEqual([...(await cutEverywhere({ layout, pkg: newPkg, base: tested.bytes, run: async (flash, o) => void await Device.open(flash, o) }, 3, 100))], [OLD]);
});

/** Installs the staged package, then boots (where an A/B install finishes). */
async function installAndBoot(flash: MemoryFlash, o: DeviceOptions): Promise<void> {
  const d = await Device.open(flash, o);
  await d.updater.install(await d.updater.verify(ctx), ctx);
  await Device.open(flash, o);
}

test('power loss during a delta A/B install (patch applied into the secondary, then the swap)', async () => {
  const layout = testLayout(64);
  const pkg = deltaPackage(oldImage, newImage, 11, NEW);
  assert.ok(pkg.length < newPkg.length / 2, 'the delta is small');
  const base = await prepared(layout, pkg, async (d) => {
    await d.updater.download(URI, ctx);
    await d.updater.verify(ctx);
  });
  assert.equal((await cutEverywhere({ layout, pkg, base, run: installAndBoot }, 4)).size, 2);
});

test('power loss during an in-place delta install on a single-slot device', async () => {
  const layout = testLayout(64, 'single', 32);
  const pkg = inPlacePackage(oldImage, newImage, 11, NEW, layout.pageSize);
  const base = await prepared(layout, pkg, async (d) => {
    await d.updater.download(URI, ctx);
    await d.updater.verify(ctx);
  });
  assert.equal((await cutEverywhere({ layout, pkg, base, run: installAndBoot }, 5)).size, 2);
});
