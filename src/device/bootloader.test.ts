import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { FirmwareFailure } from '../client/objects/firmware-updater.js';
import { keyPair } from '../firmware/test-helpers.js';
import { classIdFor, vendorIdFor } from '../firmware/index.js';
import { Device } from './device.js';
import { programSlot } from './slot.js';
import { ctx, deltaPackage, deviceOptions, factoryFlash, imagePackage, imagePair, testLayout } from './test-helpers.js';
import { headerArea } from './layout.js';
import type { MemoryFlash } from './flash.js';

const layout = testLayout(40);
const opts = deviceOptions(layout);
const [oldImage, newImage] = imagePair(1, 24_000);
const oldPkg = imagePackage(oldImage, 10, '1.0.0');
const newPkg = imagePackage(newImage, 11, '1.1.0');

function primaryDigest(flash: MemoryFlash): string {
  return createHash('sha256').update(flash.bytes.subarray(layout.primary.offset, layout.primary.offset + layout.primary.size)).digest('hex');
}

function flipped(data: Uint8Array, at: number): Uint8Array {
  const out = Uint8Array.from(data);
  out[at]! ^= 0x01;
  return out;
}

const H = headerArea(layout.pageSize);
const envelopeEnd = (pkg: Uint8Array): number => pkg.length - (pkg === oldPkg ? oldImage.length : newImage.length);

test('factory image boots; a fresh device is not in test mode', async () => {
  const d = await Device.open(factoryFlash(layout, oldPkg), opts);
  assert.equal(d.version, '1.0.0');
  assert.equal(d.testing, false);
  assert.equal(d.bricked, false);
});

test('secure boot refuses a pending image that does not verify, and keeps running the old one untouched', async () => {
  const other = keyPair('ed25519');
  const cases: [string, Uint8Array, number][] = [
    ['bad signature', flipped(newPkg, envelopeEnd(newPkg) - 1), 5],
    ['unknown key', imagePackage(newImage, 11, '1.1.0', {}, other.privateKey), 5],
    ['wrong vendor', imagePackage(newImage, 11, '1.1.0', { vendorId: vendorIdFor('other.example') }), 6],
    ['wrong class', imagePackage(newImage, 11, '1.1.0', { classId: classIdFor(vendorIdFor('example.com'), 'other-class') }), 6],
    ['digest mismatch', flipped(newPkg, newPkg.length - 10), 5],
    ['truncated image', newPkg.subarray(0, newPkg.length - 3000), 5],
    ['rollback', imagePackage(newImage, 9, '0.9.0'), 5],
  ];
  for (const [name, pkg, result] of cases) {
    const flash = factoryFlash(layout, oldPkg);
    let d = await Device.open(flash, opts);
    d.confirm(); // counter = 10
    const before = primaryDigest(flash);
    // Bypass the updater's own checks: put the package in the secondary slot and mark it pending.
    programSlot(flash, layout.secondary, pkg);
    d.bootloader.state.pending = true;
    d.bootloader.save();
    d = await Device.open(flash, opts);
    assert.equal(d.version, '1.0.0', name);
    assert.equal(d.testing, false, name);
    assert.equal(primaryDigest(flash), before, `${name}: primary untouched`);
    assert.deepEqual(d.updater.restore(), { kind: 'updated', result }, name);
  }
});

test('the updater refuses each bad package with its Update Result before install, leaving the primary untouched', async () => {
  const [, third] = imagePair(7, 24_000);
  const other = keyPair('es256');
  const cases: [string, Uint8Array, number][] = [
    ['bad signature', flipped(newPkg, envelopeEnd(newPkg) - 1), 5],
    ['unknown key', imagePackage(newImage, 11, '1.1.0', {}, other.privateKey), 5],
    ['wrong vendor', imagePackage(newImage, 11, '1.1.0', { vendorId: vendorIdFor('other.example') }), 6],
    ['wrong class', imagePackage(newImage, 11, '1.1.0', { classId: classIdFor(vendorIdFor('example.com'), 'x') }), 6],
    ['digest mismatch', flipped(newPkg, newPkg.length - 10), 5],
    ['truncated download', newPkg.subarray(0, newPkg.length - 100), 5],
    ['rollback', imagePackage(newImage, 9, '0.9.0'), 5],
    ['delta for another base', deltaPackage(third, newImage, 11, '1.1.0'), 6],
    ['too big for the slot', imagePackage(new Uint8Array(40 * 1024), 11, '1.1.0'), 2],
    ['not a package', Buffer.from('hello, this is not firmware'), 5],
  ];
  const refusedAtHeader = new Set(['bad signature', 'unknown key', 'wrong vendor', 'wrong class', 'rollback', 'delta for another base', 'too big for the slot', 'not a package']);
  for (const [name, pkg, result] of cases) {
    const flash = factoryFlash(layout, oldPkg);
    const d = await Device.open(flash, opts);
    d.confirm();
    const before = primaryDigest(flash);
    const secondaryBefore = Buffer.from(flash.bytes.subarray(layout.secondary.offset, layout.secondary.offset + layout.secondary.size));
    await assert.rejects(
      (async () => {
        await d.updater.receive(pkg, ctx);
        const info = await d.updater.verify(ctx);
        await d.updater.install(info, ctx);
      })(),
      (e: unknown) => e instanceof FirmwareFailure && e.result === result,
      name,
    );
    if (refusedAtHeader.has(name)) {
      assert.ok(secondaryBefore.equals(flash.bytes.subarray(layout.secondary.offset, layout.secondary.offset + layout.secondary.size)), `${name}: staging untouched`);
    }
    const again = await Device.open(flash, opts);
    assert.equal(again.version, '1.0.0', name);
    assert.equal(primaryDigest(flash), before, `${name}: primary untouched`);
  }
});

test('test boot, confirm, revert, and the counter after confirm', async () => {
  const flash = factoryFlash(layout, oldPkg);
  let d = await Device.open(flash, opts);
  await d.updater.receive(newPkg, ctx);
  await d.updater.install(await d.updater.verify(ctx), ctx);
  assert.equal((await Device.open(flash, opts)).version, '1.1.0');

  // Reboot without confirming: reverts.
  d = await Device.open(flash, opts);
  assert.equal(d.version, '1.0.0');
  assert.equal(d.testing, false);
  assert.deepEqual(d.updater.restore(), { kind: 'updated', result: 8 });

  // Install again, pass the health check: permanent, counter raised.
  await d.updater.receive(newPkg, ctx);
  await d.updater.install(await d.updater.verify(ctx), ctx);
  d = await Device.open(flash, { ...opts, healthCheck: () => true });
  assert.equal(d.version, '1.1.0');
  assert.equal(d.testing, true);
  assert.deepEqual(d.updater.restore(), { kind: 'testing', info: { name: 'firmware', version: '1.1.0' } });
  assert.equal(d.securityCounter, 0, 'the factory image was never confirmed');
  assert.equal(await d.checkHealth(), true);
  assert.equal(d.securityCounter, 11);
  d = await Device.open(flash, opts);
  assert.equal(d.version, '1.1.0');
  assert.equal(d.testing, false);

  // The old image is in the secondary slot now, but its sequence is below the counter.
  d.bootloader.state.pending = true;
  d.bootloader.save();
  d = await Device.open(flash, opts);
  assert.equal(d.version, '1.1.0');
  assert.deepEqual(d.updater.restore(), { kind: 'updated', result: 5 });
  await assert.rejects(d.updater.receive(oldPkg, ctx), (e: unknown) => e instanceof FirmwareFailure && e.result === 5);
});

test('a failed health check leaves the image unconfirmed and the next boot reverts', async () => {
  const flash = factoryFlash(layout, oldPkg);
  let d = await Device.open(flash, opts);
  await d.updater.receive(newPkg, ctx);
  await d.updater.install(await d.updater.verify(ctx), ctx);
  d = await Device.open(flash, { ...opts, healthCheck: async () => false });
  assert.equal(d.version, '1.1.0');
  assert.equal(await d.checkHealth(), false);
  d = await Device.open(flash, opts);
  assert.equal(d.version, '1.0.0');
  assert.equal(d.updater.restore()?.kind, 'updated');
});

test('recovery: a primary that does not verify is restored from a valid secondary; neither valid is bricked', async () => {
  const flash = factoryFlash(layout, oldPkg);
  programSlot(flash, layout.secondary, newPkg);
  flash.bytes[layout.primary.offset + H + 100]! ^= 0xff;
  const d = await Device.open(flash, opts);
  assert.equal(d.boot.status === 'running' && d.boot.recovered, true);
  assert.equal(d.version, '1.1.0');
  assert.equal((await Device.open(flash, opts)).version, '1.1.0');

  const dead = factoryFlash(layout, oldPkg);
  dead.bytes[dead.bytes.length - 1] = 0;
  dead.bytes[layout.primary.offset + H + 5]! ^= 1;
  assert.equal((await Device.open(dead, opts)).bricked, true);
});
