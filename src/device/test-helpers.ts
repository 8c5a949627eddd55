/** Fixtures shared by the device tests: a keyed device identity, image pairs, packages, flashes and fetchers. */
import { createPatch, createInPlacePatch, signPackage, type Manifest } from '../firmware/index.js';
import { CLASS, deltaManifest, imageManifest, keyPair, VENDOR, xorshift32 } from '../firmware/test-helpers.js';
import type { FirmwareContext, PackageChunk, PackageFetcher } from '../client/objects/firmware-updater.js';
import { Device, type DeviceOptions } from './device.js';
import { MemoryFlash, type PowerCut } from './flash.js';
import { defineLayout, type Layout } from './layout.js';
import { programSlot } from './slot.js';

export const signer = keyPair('ed25519');
export const identity = { trustedKeys: [signer.publicKey], vendorId: VENDOR, classId: CLASS };

/** An old image and a new one made of moved, inserted and tweaked blocks of it (a realistic delta). */
export function imagePair(seed: number, size: number): [Uint8Array, Uint8Array] {
  const r = xorshift32(seed);
  const old = Uint8Array.from({ length: size }, () => r() % 32);
  const parts: Uint8Array[] = [];
  let total = 0;
  while (total < size + 2000) {
    const from = r() % size;
    const block = old.slice(from, from + 200 + (r() % 3000));
    if (r() % 3 === 0) block[0] = (block[0]! + 1) & 0xff;
    parts.push(block);
    if (r() % 4 === 0) parts.push(Uint8Array.from({ length: r() % 40 }, () => r() & 0xff));
    total += block.length;
  }
  return [old, Buffer.concat(parts)];
}

/** A signed full-image package of `image` (manifest overrides applied before signing). */
export function imagePackage(image: Uint8Array, sequence: number, version: string, over: Partial<Manifest> = {}, key = signer.privateKey): Uint8Array {
  return signPackage({ ...imageManifest(image, sequence, version), ...over }, image, key);
}

/** A signed A/B (streaming) delta package from `base` to `image`. */
export function deltaPackage(base: Uint8Array, image: Uint8Array, sequence: number, version: string): Uint8Array {
  const patch = createPatch(base, image, { quality: 5 });
  return signPackage({ ...deltaManifest(patch, image, base, sequence), version }, patch, signer.privateKey);
}

/** A signed in-place delta package for a flash of `pageSize`. */
export function inPlacePackage(base: Uint8Array, image: Uint8Array, sequence: number, version: string, pageSize: number): Uint8Array {
  const patch = createInPlacePatch(base, image, { pageSize, quality: 5 });
  return signPackage({ ...deltaManifest(patch, image, base, sequence), version }, patch, signer.privateKey);
}

/** A 1 KiB-page layout with slots of `slotKiB`. */
export function testLayout(slotKiB: number, mode: 'ab' | 'single' = 'ab', stagingKiB?: number): Layout {
  return defineLayout({ pageSize: 1024, slotSize: slotKiB * 1024, ...(stagingKiB ? { stagingSize: stagingKiB * 1024 } : {}), mode });
}

/** Device options over `layout` with the test identity. */
export function deviceOptions(layout: Layout, extra: Partial<DeviceOptions> = {}): DeviceOptions {
  return { ...identity, layout, ...extra };
}

/** A memory flash for `layout` with `pkg` factory-programmed into the primary slot. */
export function factoryFlash(layout: Layout, pkg: Uint8Array, power?: PowerCut): MemoryFlash {
  const flash = new MemoryFlash(layout.size, { pageSize: layout.pageSize, ...(power ? { power } : {}) });
  programSlot(flash, layout.primary, pkg);
  return flash;
}

/** A context that is never cancelled. */
export const ctx: FirmwareContext = { signal: new AbortController().signal, delay: () => Promise.resolve() };

/** Serves packages from memory in `block`-byte chunks with an ETag; counts bytes served; can lose the link. */
export class MemoryFetcher {
  served = 0;
  /** Throws a connection loss after serving this many more bytes. */
  failAfter = Infinity;
  readonly packages = new Map<string, { data: Uint8Array; etag: Uint8Array }>();
  constructor(readonly block = 1024) {}

  put(uri: string, data: Uint8Array, etag = Uint8Array.of(1, 2, 3, data.length & 0xff)): void {
    this.packages.set(uri, { data, etag });
  }

  readonly fetch: PackageFetcher = (uri, from) => {
    const p = this.packages.get(uri);
    const self = this;
    return (async function* (): AsyncGenerator<PackageChunk> {
      if (!p) throw new Error(`no package at ${uri}`);
      for (let o = from.offset; o < p.data.length; o += self.block) {
        const data = p.data.subarray(o, o + self.block);
        if (self.failAfter < data.length) {
          self.failAfter = Infinity;
          throw new Error('connection lost');
        }
        self.failAfter -= data.length;
        self.served += data.length;
        yield { offset: o, data, total: p.data.length, etag: p.etag };
      }
    })();
  };
}

/** Drives a full pull update the way Object 5 does: download, verify, install; returns the rebooted device. */
export async function pullUpdate(device: Device, uri: string, reopen: () => Device | Promise<Device>): Promise<Device> {
  await device.updater.download(uri, ctx);
  const info = await device.updater.verify(ctx);
  await device.updater.install(info, ctx);
  return reopen();
}
