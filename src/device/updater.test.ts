import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { FirmwareFailure } from '../client/objects/firmware-updater.js';
import { Device } from './device.js';
import { FileFlash, MemoryFlash, PowerCut, PowerLoss } from './flash.js';
import { headerArea } from './layout.js';
import { programSlot } from './slot.js';
import { ctx, deltaPackage, deviceOptions, factoryFlash, imagePackage, imagePair, inPlacePackage, MemoryFetcher, pullUpdate, testLayout } from './test-helpers.js';

const [oldImage, newImage] = imagePair(3, 20_000);
const oldPkg = imagePackage(oldImage, 10, '1.0.0');
const newPkg = imagePackage(newImage, 11, '1.1.0');
const URI = 'coaps://server/fw/1.1.0';

function rig(mode: 'ab' | 'single' = 'ab') {
  const layout = mode === 'ab' ? testLayout(40) : testLayout(40, 'single', 40);
  const fetcher = new MemoryFetcher(512);
  const opts = deviceOptions(layout, { fetcher: fetcher.fetch, packageName: 'sensor' });
  const flash = factoryFlash(layout, oldPkg);
  return { layout, fetcher, opts, flash, open: () => Device.open(flash, opts) };
}

const fails = (result: number) => (e: unknown) => e instanceof FirmwareFailure && e.result === result;

test('a pull that loses its link resumes where the stored bytes end, and after a reboot', async () => {
  const { fetcher, open } = rig();
  fetcher.put(URI, newPkg);
  let d = await open();
  assert.equal(d.updater.restore(), undefined);
  fetcher.failAfter = 9000;
  await assert.rejects(d.updater.download(URI, ctx), /connection lost/);
  d = await open(); // reboot
  assert.deepEqual(d.updater.restore(), { kind: 'downloading', uri: URI });
  fetcher.served = 0;
  await d.updater.download(URI, ctx);
  assert.ok(fetcher.served <= newPkg.length - 9000 + 2 * 1024, `resumed after the stored pages (${fetcher.served})`);
  assert.deepEqual(await d.updater.verify(ctx), { name: 'sensor', version: '1.1.0' });
  d = await open();
  assert.deepEqual(d.updater.restore(), { kind: 'downloaded', info: { name: 'sensor', version: '1.1.0' } });
  await d.updater.install({ name: 'sensor', version: '1.1.0' }, ctx);
  assert.equal((await open()).version, '1.1.0');
});

test('a resumed pull whose ETag changed fails with 4 and the next attempt starts over', async () => {
  const { fetcher, open } = rig();
  fetcher.put(URI, newPkg, Uint8Array.of(1));
  const d = await open();
  fetcher.failAfter = 8000;
  await assert.rejects(d.updater.download(URI, ctx));
  fetcher.put(URI, newPkg, Uint8Array.of(2));
  await assert.rejects(d.updater.download(URI, ctx), fails(4));
  fetcher.served = 0;
  await d.updater.download(URI, ctx);
  assert.equal(fetcher.served, newPkg.length);
  await d.updater.verify(ctx);
});

test('a package changed in flash after download is refused at restore, verify and install', async () => {
  const { layout, flash, fetcher, open } = rig();
  fetcher.put(URI, newPkg);
  const d = await open();
  await d.updater.download(URI, ctx);
  flash.bytes[layout.secondary.offset + headerArea(layout.pageSize) + 50]! ^= 4;
  await assert.rejects(d.updater.verify(ctx), fails(5));
  await assert.rejects(d.updater.install({ name: 'x', version: '1.1.0' }, ctx), fails(5));
  assert.deepEqual((await open()).updater.restore(), { kind: 'updated', result: 5 });
  assert.equal((await open()).updater.restore(), undefined, 'the bad package is forgotten');
});

test('an interrupted push is forgotten; discard forgets a stored package', async () => {
  const { open } = rig();
  const power = new PowerCut();
  const layout = testLayout(40);
  const flash = new MemoryFlash(factoryFlash(layout, oldPkg).bytes, { pageSize: layout.pageSize, power });
  const opts = deviceOptions(layout);
  power.arm(12_000);
  await assert.rejects((await Device.open(flash, opts)).updater.receive(newPkg, ctx), PowerLoss);
  power.restore();
  const d = await Device.open(flash, opts);
  assert.equal(d.updater.restore(), undefined);
  assert.equal((await Device.open(flash, opts)).updater.restore(), undefined);

  const e = await open();
  await e.updater.receive(newPkg, ctx);
  await e.updater.discard();
  await assert.rejects(e.updater.verify(ctx), fails(5));
});

test('download needs a fetcher; a patch for the other install mode is an unsupported package', async () => {
  const layout = testLayout(40);
  const d = await Device.open(factoryFlash(layout, oldPkg), deviceOptions(layout));
  assert.deepEqual(d.updater.protocols, []);
  await assert.rejects(d.updater.download(URI, ctx), fails(9));
  await d.updater.receive(inPlacePackage(oldImage, newImage, 11, '1.1.0', 1024), ctx);
  await assert.rejects(d.updater.verify(ctx), fails(6));

  const single = rig('single');
  const s = await single.open();
  await s.updater.receive(deltaPackage(oldImage, newImage, 11, '1.1.0'), ctx);
  await assert.rejects(s.updater.verify(ctx), fails(6));
  await s.updater.receive(inPlacePackage(oldImage, newImage, 11, '1.1.0', 512), ctx);
  await assert.rejects(s.updater.verify(ctx), fails(6), 'made for another page size');
});

test('A/B delta and single-slot full-image and in-place installs end on the new image', async () => {
  const ab = rig();
  ab.fetcher.put(URI, deltaPackage(oldImage, newImage, 11, '1.1.0'));
  let d = await pullUpdate(await ab.open(), URI, ab.open);
  assert.equal(d.version, '1.1.0');
  assert.equal(d.testing, true);
  assert.deepEqual(d.updater.restore(), { kind: 'testing', info: { name: 'sensor', version: '1.1.0' } });

  for (const pkg of [newPkg, inPlacePackage(oldImage, newImage, 11, '1.1.0', 1024)]) {
    const s = rig('single');
    s.fetcher.put(URI, pkg);
    d = await pullUpdate(await s.open(), URI, s.open);
    assert.equal(d.version, '1.1.0');
    assert.equal(d.testing, false, 'a single-slot install is permanent');
    assert.equal(d.securityCounter, 11);
    assert.equal(d.updater.restore()?.kind, 'updated');
  }
});

test('power loss at any point of a single-slot full-image overwrite resumes at boot', async () => {
  const layout = testLayout(40, 'single', 40);
  const opts = deviceOptions(layout);
  const staged = factoryFlash(layout, oldPkg);
  const d0 = await Device.open(staged, opts);
  await d0.updater.receive(newPkg, ctx);
  await d0.updater.verify(ctx);
  const power = new PowerCut();
  const run = async (f: MemoryFlash): Promise<void> => {
    const d = await Device.open(f, opts);
    await d.updater.install(await d.updater.verify(ctx), ctx);
  };
  await run(new MemoryFlash(staged.bytes, { pageSize: 1024, power }));
  const total = power.written;
  for (let cut = 7; cut < total; cut += Math.ceil(total / 60)) {
    const f = new MemoryFlash(staged.bytes, { pageSize: 1024, power });
    power.arm(cut);
    await assert.rejects(run(f), PowerLoss);
    power.restore();
    const d = await Device.open(f, opts);
    assert.equal(d.bricked, false);
    if (d.version === '1.0.0') await run(f);
    assert.equal((await Device.open(f, opts)).version, '1.1.0', `cut at ${cut}`);
  }
});

test('a device on a real flash file updates across reopen', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-device-'));
  try {
    const layout = testLayout(40);
    const path = join(dir, 'flash.bin');
    const flash = FileFlash.create(path, layout.size, { pageSize: layout.pageSize });
    programSlot(flash, layout.primary, oldPkg);
    flash.close();
    const fetcher = new MemoryFetcher(1024);
    fetcher.put(URI, newPkg);
    const opts = deviceOptions(layout, { fetcher: fetcher.fetch });
    const reopen = (): Promise<Device> => Device.open(FileFlash.open(path, { pageSize: layout.pageSize }), opts);
    let d = await reopen();
    assert.equal(d.version, '1.0.0');
    d = await pullUpdate(d, URI, () => (d.flash.close(), reopen()));
    assert.equal(d.version, '1.1.0');
    d.confirm();
    d.flash.close();
    d = await reopen();
    assert.equal(d.version, '1.1.0');
    assert.equal(d.testing, false);
    assert.equal(d.securityCounter, 11);
    d.flash.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
