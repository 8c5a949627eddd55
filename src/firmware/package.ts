/**
 * The package file: "WFWP" | format version (1 byte) | envelope length (u32, big-endian) | COSE_Sign1 envelope |
 * payload (the image or the patch). The header comes first so that a device reads and verifies the manifest before
 * it accepts a single payload byte (RFC 9019 §4: the manifest is checked before the payload is stored).
 */
import type { KeyObject } from 'node:crypto';
import { signCose1, signCose1Async } from './cose.js';
import { FirmwareError } from './error.js';
import { encodeManifest, type Manifest } from './manifest.js';
import type { FirmwareSigner } from './signer.js';

/** The package magic. */
export const PACKAGE_MAGIC = Uint8Array.from([0x57, 0x46, 0x57, 0x50]); // "WFWP"
/** The package format this code writes and reads. */
export const PACKAGE_VERSION = 1;
/** Bytes before the envelope: magic, version, envelope length. */
export const PACKAGE_FIXED_HEADER = 9;
/** Largest envelope accepted, so a device never buffers an attacker-chosen amount before the signature check. */
export const MAX_ENVELOPE_LENGTH = 4096;

/** A package laid out: the signed envelope and the payload after it. */
export function encodePackage(envelope: Uint8Array, payload: Uint8Array): Uint8Array {
  if (envelope.byteLength === 0 || envelope.byteLength > MAX_ENVELOPE_LENGTH) throw new RangeError(`an envelope is 1 to ${MAX_ENVELOPE_LENGTH} bytes`);
  const out = new Uint8Array(PACKAGE_FIXED_HEADER + envelope.byteLength + payload.byteLength);
  out.set(PACKAGE_MAGIC, 0);
  out[4] = PACKAGE_VERSION;
  new DataView(out.buffer).setUint32(5, envelope.byteLength);
  out.set(envelope, PACKAGE_FIXED_HEADER);
  out.set(payload, PACKAGE_FIXED_HEADER + envelope.byteLength);
  return out;
}

/** What the first bytes of a package tell: either how many bytes the header needs, or the envelope. */
export type PackageHeader =
  | { complete: false; /** Total prefix length needed to know more (at least the current one plus one). */ needed: number }
  | { complete: true; envelope: Uint8Array; /** Offset of the first payload byte. */ payloadOffset: number };

/**
 * Reads the header from a prefix of a package. Incomplete → `{ complete: false, needed }` (call again with at least
 * `needed` bytes); complete → the envelope (a copy) and where the payload starts. A wrong magic, an unknown version or
 * an envelope length of 0 or over MAX_ENVELOPE_LENGTH → MALFORMED, as soon as the bytes that show it have arrived.
 */
export function parsePackageHeader(prefix: Uint8Array): PackageHeader {
  const n = Math.min(prefix.byteLength, PACKAGE_MAGIC.byteLength);
  for (let i = 0; i < n; i++) if (prefix[i] !== PACKAGE_MAGIC[i]) throw new FirmwareError('MALFORMED', 'not a firmware package');
  if (prefix.byteLength > 4 && prefix[4] !== PACKAGE_VERSION) throw new FirmwareError('MALFORMED', 'unknown package version');
  if (prefix.byteLength < PACKAGE_FIXED_HEADER) return { complete: false, needed: PACKAGE_FIXED_HEADER };
  const length = new DataView(prefix.buffer, prefix.byteOffset, prefix.byteLength).getUint32(5);
  if (length === 0 || length > MAX_ENVELOPE_LENGTH) throw new FirmwareError('MALFORMED', 'envelope length out of range');
  const payloadOffset = PACKAGE_FIXED_HEADER + length;
  if (prefix.byteLength < payloadOffset) return { complete: false, needed: payloadOffset };
  return { complete: true, envelope: prefix.slice(PACKAGE_FIXED_HEADER, payloadOffset), payloadOffset };
}

/** Splits a whole package into envelope and payload (the payload a view into `data`); TRUNCATED if the header is cut. */
export function decodePackage(data: Uint8Array): { envelope: Uint8Array; payload: Uint8Array } {
  const h = parsePackageHeader(data);
  if (!h.complete) throw new FirmwareError('TRUNCATED', 'package header cut short');
  return { envelope: h.envelope, payload: data.subarray(h.payloadOffset) };
}

/** Encodes and signs `manifest` and lays out the package with `payload` (which the manifest must describe). */
export function signPackage(manifest: Manifest, payload: Uint8Array, key: KeyObject): Uint8Array {
  return encodePackage(signCose1(encodeManifest(manifest), key), payload);
}

/** signPackage with a signer: the private key may stay in a key store or an HSM. */
export async function signPackageAsync(manifest: Manifest, payload: Uint8Array, signer: FirmwareSigner): Promise<Uint8Array> {
  return encodePackage(await signCose1Async(encodeManifest(manifest), signer), payload);
}
