/**
 * The firmware manifest: what a signed package promises about its payload. Deterministic CBOR with small integer
 * keys, after the SUIT manifest's habits (RFC 9019 §6, draft-ietf-suit-manifest): vendor and class IDs are UUIDs
 * (UUIDv5 of names), a monotonically increasing sequence number is the anti-rollback value, and the payload is
 * named by SHA-256 digest and size.
 *
 * Wire form (all keys ascending, deterministic CBOR, RFC 8949 §4.2.1):
 *   { 1: format version (1), 2: version text, 3: vendor id bstr(16), 4: class id bstr(16), 5: sequence uint,
 *     6: payload { 1: kind (0 image | 1 delta), 2: size, 3: digest bstr(32),
 *                  [delta only] 4: image { 1: size, 2: digest }, 5: base { 1: size, 2: digest } } }
 */
import { createHash } from 'node:crypto';
import { bytesItem, checkKeys, decodeCbor, encodeCbor, safeUint, uintItem } from './cbor.js';
import { FirmwareError } from './error.js';

/** The manifest format this code writes and reads. */
export const MANIFEST_FORMAT = 1;
/** Bytes of a SHA-256 digest. */
export const DIGEST_LENGTH = 32;
/** Bytes of a vendor or class ID (a UUID). */
export const ID_LENGTH = 16;
/** Longest version text accepted. */
export const MAX_VERSION_LENGTH = 64;

/** An image named by its size and SHA-256 digest. */
export interface ImageRef {
  size: number;
  digest: Uint8Array;
}

/** A full image: `digest` and `size` are those of the payload, which is the image. */
export interface ImagePayload extends ImageRef {
  kind: 'image';
}

/** A patch: `digest` and `size` are those of the patch bytes; `image` is what it produces from `base`. */
export interface DeltaPayload extends ImageRef {
  kind: 'delta';
  image: ImageRef;
  base: ImageRef;
}

/** The signed statement about one firmware package. */
export interface Manifest {
  /** Human-readable version (not compared; `sequence` is). */
  version: string;
  vendorId: Uint8Array;
  classId: Uint8Array;
  /** The anti-rollback value: a safe unsigned integer that grows with every release. */
  sequence: number;
  payload: ImagePayload | DeltaPayload;
}

const DNS_NAMESPACE = Uint8Array.from(Buffer.from('6ba7b8109dad11d180b400c04fd430c8', 'hex'));

/** A name-based UUID, version 5 (RFC 9562 §5.5): SHA-1 of namespace and name, version and variant bits set. */
export function uuidV5(namespace: Uint8Array, name: string): Uint8Array {
  if (namespace.byteLength !== ID_LENGTH) throw new RangeError('a UUID namespace is 16 bytes');
  const h = createHash('sha1').update(namespace).update(name, 'utf8').digest();
  const u = new Uint8Array(h.subarray(0, 16));
  u[6] = (u[6]! & 0x0f) | 0x50;
  u[8] = (u[8]! & 0x3f) | 0x80;
  return u;
}

/** The vendor ID for a vendor's domain name: UUIDv5(DNS namespace, name), as SUIT does (RFC 9019 §3). */
export function vendorIdFor(name: string): Uint8Array {
  return uuidV5(DNS_NAMESPACE, name);
}

/** The class ID of a device class: UUIDv5(vendor ID, class name). */
export function classIdFor(vendorId: Uint8Array, className: string): Uint8Array {
  return uuidV5(vendorId, className);
}

/** A 16-byte ID in the usual 8-4-4-4-12 UUID text form. */
export function uuidString(id: Uint8Array): string {
  const h = Buffer.from(id).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** SHA-256 and size of `data`. */
export function imageRef(data: Uint8Array): ImageRef {
  return { size: data.byteLength, digest: new Uint8Array(createHash('sha256').update(data).digest()) };
}

function checkRef(r: ImageRef, what: string): void {
  if (!Number.isSafeInteger(r.size) || r.size < 0) throw new RangeError(`${what}.size must be a safe unsigned integer`);
  if (!(r.digest instanceof Uint8Array) || r.digest.byteLength !== DIGEST_LENGTH) throw new RangeError(`${what}.digest must be 32 bytes`);
}

function refItem(r: ImageRef): Map<number, unknown> {
  return new Map<number, unknown>([[1, uintItem(r.size)], [2, r.digest]]);
}

/** The deterministic CBOR encoding of `m`; throws RangeError on a manifest the decoder would refuse. */
export function encodeManifest(m: Manifest): Uint8Array {
  if (typeof m.version !== 'string' || Buffer.byteLength(m.version) > MAX_VERSION_LENGTH) throw new RangeError(`version must be text of at most ${MAX_VERSION_LENGTH} bytes`);
  if (m.vendorId.byteLength !== ID_LENGTH || m.classId.byteLength !== ID_LENGTH) throw new RangeError('vendor and class IDs are 16 bytes');
  if (!Number.isSafeInteger(m.sequence) || m.sequence < 0) throw new RangeError('sequence must be a safe unsigned integer');
  const p = m.payload;
  checkRef(p, 'payload');
  const payload = new Map<number, unknown>([[1, p.kind === 'image' ? 0 : 1], [2, uintItem(p.size)], [3, p.digest]]);
  if (p.kind === 'delta') {
    checkRef(p.image, 'payload.image');
    checkRef(p.base, 'payload.base');
    payload.set(4, refItem(p.image)).set(5, refItem(p.base));
  } else if (p.kind !== 'image') {
    throw new RangeError('payload.kind is image or delta');
  }
  return encodeCbor(
    new Map<number, unknown>([
      [1, MANIFEST_FORMAT],
      [2, m.version],
      [3, m.vendorId],
      [4, m.classId],
      [5, uintItem(m.sequence)],
      [6, payload],
    ]),
  );
}

function uintField(v: unknown, what: string): number {
  const n = safeUint(v);
  if (n === undefined) throw new FirmwareError('MALFORMED', `${what}: not a safe unsigned integer`);
  return n;
}

function decodeRef(v: unknown, what: string): ImageRef {
  const m = checkKeys(v, what, [1, 2], [1, 2]);
  return { size: uintField(m.get(1), `${what} size`), digest: bytesItem(m.get(2), `${what} digest`, DIGEST_LENGTH) };
}

/** Decodes a manifest strictly: unknown keys, wrong types or lengths, non-deterministic CBOR → FirmwareError MALFORMED. */
export function decodeManifest(data: Uint8Array): Manifest {
  const m = checkKeys(decodeCbor(data, 'manifest'), 'manifest', [1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5, 6]);
  if (m.get(1) !== MANIFEST_FORMAT) throw new FirmwareError('MALFORMED', 'manifest: unknown format version');
  const version = m.get(2);
  if (typeof version !== 'string' || Buffer.byteLength(version) > MAX_VERSION_LENGTH) throw new FirmwareError('MALFORMED', 'manifest version: not short text');
  const vendorId = bytesItem(m.get(3), 'manifest vendor id', ID_LENGTH);
  const classId = bytesItem(m.get(4), 'manifest class id', ID_LENGTH);
  const sequence = uintField(m.get(5), 'manifest sequence');
  const p = checkKeys(m.get(6), 'manifest payload', [1, 2, 3], [1, 2, 3, 4, 5]);
  const kind = p.get(1);
  const size = uintField(p.get(2), 'payload size');
  const digest = bytesItem(p.get(3), 'payload digest', DIGEST_LENGTH);
  let payload: Manifest['payload'];
  if (kind === 0) {
    if (p.has(4) || p.has(5)) throw new FirmwareError('MALFORMED', 'manifest payload: image with delta fields');
    payload = { kind: 'image', size, digest };
  } else if (kind === 1) {
    if (!p.has(4) || !p.has(5)) throw new FirmwareError('MALFORMED', 'manifest payload: delta without image or base');
    payload = { kind: 'delta', size, digest, image: decodeRef(p.get(4), 'payload image'), base: decodeRef(p.get(5), 'payload base') };
  } else {
    throw new FirmwareError('MALFORMED', 'manifest payload: unknown kind');
  }
  return { version, vendorId, classId, sequence, payload };
}

function refJson(r: ImageRef): { size: number; digest: string } {
  return { size: r.size, digest: Buffer.from(r.digest).toString('hex') };
}

/** A JSON-friendly view: IDs as UUID text, digests as hex. */
export function manifestToJson(m: Manifest): Record<string, unknown> {
  const p = m.payload;
  return {
    version: m.version,
    vendorId: uuidString(m.vendorId),
    classId: uuidString(m.classId),
    sequence: m.sequence,
    payload: p.kind === 'image' ? { kind: 'image', ...refJson(p) } : { kind: 'delta', ...refJson(p), image: refJson(p.image), base: refJson(p.base) },
  };
}
