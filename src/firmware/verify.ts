/**
 * Verifying a package as a device does: the manifest first (signature, vendor, class, anti-rollback, delta base),
 * then the payload as it streams in (size and SHA-256). Sequence equal to the security counter is accepted (a
 * reinstall of the running release), lower is ROLLBACK: MCUboot's rule (it refuses only a lower security counter).
 */
import { createHash, timingSafeEqual, type Hash, type KeyObject } from 'node:crypto';
import { verifyCose1 } from './cose.js';
import { FirmwareError } from './error.js';
import { decodeManifest, type ImageRef, type Manifest } from './manifest.js';
import { decodePackage } from './package.js';

/** What the device knows and trusts when it checks a manifest. */
export interface VerifyOptions {
  /** Public keys allowed to sign; the envelope's kid chooses one. */
  trustedKeys: readonly KeyObject[];
  vendorId: Uint8Array;
  classId: Uint8Array;
  /** The stored security counter: the sequence of the newest accepted release. */
  securityCounter: number;
  /** The running image; a delta must name it as its base. */
  currentImage?: ImageRef;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && timingSafeEqual(a, b);
}

function sameRef(a: ImageRef, b: ImageRef): boolean {
  return a.size === b.size && sameBytes(a.digest, b.digest);
}

/**
 * Verifies a COSE_Sign1 envelope and the manifest it carries against the device's state. The manifest is decoded
 * only after its signature verifies. A delta needs `currentImage` equal to its base (WRONG_BASE otherwise).
 */
export function verifyManifest(envelope: Uint8Array, opts: VerifyOptions): Manifest {
  const m = decodeManifest(verifyCose1(envelope, opts.trustedKeys));
  if (!sameBytes(m.vendorId, opts.vendorId)) throw new FirmwareError('WRONG_VENDOR', 'manifest is for another vendor');
  if (!sameBytes(m.classId, opts.classId)) throw new FirmwareError('WRONG_CLASS', 'manifest is for another device class');
  if (m.sequence < opts.securityCounter) throw new FirmwareError('ROLLBACK', `sequence ${m.sequence} is below the security counter ${opts.securityCounter}`);
  if (m.payload.kind === 'delta' && (!opts.currentImage || !sameRef(m.payload.base, opts.currentImage))) {
    throw new FirmwareError('WRONG_BASE', opts.currentImage ? 'delta applies to another image' : 'delta needs the current image to check its base');
  }
  return m;
}

/** Incremental size and SHA-256 check of a payload against what the manifest promised. */
export class PayloadVerifier {
  private readonly hash: Hash = createHash('sha256');
  private received = 0;

  constructor(private readonly expected: ImageRef) {}

  /** Bytes taken so far. */
  get size(): number {
    return this.received;
  }

  /** Takes the next chunk; SIZE_MISMATCH as soon as the payload exceeds the promised size. */
  update(chunk: Uint8Array): void {
    if (this.received + chunk.byteLength > this.expected.size) throw new FirmwareError('SIZE_MISMATCH', 'payload longer than the manifest says');
    this.received += chunk.byteLength;
    this.hash.update(chunk);
  }

  /** Ends the payload: TRUNCATED if short, DIGEST_MISMATCH if the SHA-256 differs. Call once. */
  finish(): void {
    if (this.received < this.expected.size) throw new FirmwareError('TRUNCATED', `payload ends after ${this.received} of ${this.expected.size} bytes`);
    if (!sameBytes(new Uint8Array(this.hash.digest()), this.expected.digest)) throw new FirmwareError('DIGEST_MISMATCH', 'payload digest differs from the manifest');
  }
}

/** A whole package in memory: verifies the manifest, then the payload; returns both. */
export function verifyPackage(data: Uint8Array, opts: VerifyOptions): { manifest: Manifest; payload: Uint8Array } {
  const { envelope, payload } = decodePackage(data);
  const manifest = verifyManifest(envelope, opts);
  const v = new PayloadVerifier(manifest.payload);
  v.update(payload);
  v.finish();
  return { manifest, payload };
}
