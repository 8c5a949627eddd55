/**
 * A stored image (layout.ts): reading a slot's package header, verifying the image the way a secure bootloader does
 * (signature, vendor, class, security counter, size and SHA-256 of the image), and factory programming.
 */
import { createHash, timingSafeEqual, type KeyObject } from 'node:crypto';
import {
  decodeManifest,
  decodePackage,
  FirmwareError,
  parsePackageHeader,
  verifyCose1,
  type ImageRef,
  type Manifest,
} from '../firmware/index.js';
import type { Flash } from './flash.js';
import { headerArea, RegionWriter, type Region } from './layout.js';

/** What the device trusts: the signing keys and its vendor and class IDs. */
export interface DeviceIdentity {
  readonly trustedKeys: readonly KeyObject[];
  readonly vendorId: Uint8Array;
  readonly classId: Uint8Array;
}

/** A slot's header: the envelope and where the payload would start in the package. */
export interface SlotHeader {
  readonly envelope: Uint8Array;
  /** The package prefix (magic .. envelope), as it is stored. */
  readonly prefix: Uint8Array;
}

/** A verified image in a slot. */
export interface SlotImage {
  readonly manifest: Manifest;
  /** Size and SHA-256 of the image bytes (a delta package's resulting image). */
  readonly image: ImageRef;
  /** Bytes the slot uses: header area and image. */
  readonly used: number;
}

/** The image a manifest promises once installed: the payload itself, or what a delta produces. */
export function imageOf(m: Manifest): ImageRef {
  return m.payload.kind === 'image' ? m.payload : m.payload.image;
}

/** Reads the package prefix at the start of `region`; FirmwareError MALFORMED when there is none. */
export function readSlotHeader(flash: Flash, region: Region): SlotHeader {
  const h = parsePackageHeader(flash.read(region.offset, headerArea(flash.pageSize)));
  if (!h.complete) throw new FirmwareError('MALFORMED', 'slot header cut short');
  return { envelope: h.envelope, prefix: flash.read(region.offset, h.payloadOffset) };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && timingSafeEqual(a, b);
}

const MEMO_SIZE = 32;
const memo = new WeakMap<readonly KeyObject[], Map<string, Manifest>>();

/**
 * The manifest in `envelope` once its signature by one of `keys` verifies (FirmwareError otherwise). A pure function
 * of the envelope bytes and the keys, so the last few successes are remembered per key list: a simulated fleet
 * re-verifies the same envelopes at every boot, and the check costs more than the rest of a boot.
 */
export function signedManifest(envelope: Uint8Array, keys: readonly KeyObject[]): Manifest {
  let byEnvelope = memo.get(keys);
  if (!byEnvelope) memo.set(keys, (byEnvelope = new Map()));
  const k = Buffer.from(envelope.buffer, envelope.byteOffset, envelope.byteLength).toString('base64');
  const hit = byEnvelope.get(k);
  if (hit) return hit;
  const m = decodeManifest(verifyCose1(envelope, keys));
  if (byEnvelope.size >= MEMO_SIZE) byEnvelope.delete(byEnvelope.keys().next().value!);
  byEnvelope.set(k, m);
  return m;
}

/**
 * Verifies an envelope as the bootloader does: signature by a trusted key, then vendor, class and the security
 * counter. A delta manifest is accepted here: what the slot holds is the image it produced (`imageOf`).
 */
export function verifyEnvelope(envelope: Uint8Array, id: DeviceIdentity, counter: number): Manifest {
  const m = signedManifest(envelope, id.trustedKeys);
  if (!sameBytes(m.vendorId, id.vendorId)) throw new FirmwareError('WRONG_VENDOR', 'image is for another vendor');
  if (!sameBytes(m.classId, id.classId)) throw new FirmwareError('WRONG_CLASS', 'image is for another device class');
  if (m.sequence < counter) throw new FirmwareError('ROLLBACK', `sequence ${m.sequence} is below the security counter ${counter}`);
  return m;
}

/** SHA-256 of `size` bytes at `offset`, read a page at a time. */
export function digestOf(flash: Flash, offset: number, size: number): Uint8Array {
  const h = createHash('sha256');
  const ps = flash.pageSize;
  for (let o = 0; o < size; o += ps) h.update(flash.read(offset + o, Math.min(ps, size - o)));
  return new Uint8Array(h.digest());
}

/** Secure boot's check of the image in `region`; throws FirmwareError with the refusing check's code. */
export function verifySlot(flash: Flash, region: Region, id: DeviceIdentity, counter: number): SlotImage {
  const { envelope } = readSlotHeader(flash, region);
  const manifest = verifyEnvelope(envelope, id, counter);
  const image = imageOf(manifest);
  const start = headerArea(flash.pageSize);
  if (start + image.size > region.size) throw new FirmwareError('TRUNCATED', 'image larger than its slot');
  if (!sameBytes(digestOf(flash, region.offset + start, image.size), image.digest)) {
    throw new FirmwareError('DIGEST_MISMATCH', 'image digest differs from its manifest');
  }
  return { manifest, image, used: start + image.size };
}

/** Erases the header area of `region` and writes a package prefix (magic .. envelope) into it. */
export function writeSlotHeader(flash: Flash, region: Region, prefix: Uint8Array): void {
  const ps = flash.pageSize;
  for (let p = 0; p < headerArea(ps); p += ps) flash.erase((region.offset + p) / ps);
  flash.write(region.offset, prefix);
}

/** Factory programming: writes a full-image package into `region` in the slot format (no checks). */
export function programSlot(flash: Flash, region: Region, pkg: Uint8Array): void {
  const { payload } = decodePackage(pkg);
  const start = headerArea(flash.pageSize);
  if (start + payload.length > region.size) throw new RangeError('image larger than the slot');
  writeSlotHeader(flash, region, pkg.subarray(0, pkg.length - payload.length));
  new RegionWriter(flash, region).write(start, payload);
}
