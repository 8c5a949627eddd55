import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FirmwareError, type FirmwareErrorCode } from './error.js';
import { classIdFor, imageRef, vendorIdFor } from './manifest.js';
import { decodePackage, parsePackageHeader, signPackage } from './package.js';
import { bytes, CLASS, deltaManifest, imageManifest, keyPair, VENDOR } from './test-helpers.js';
import { PayloadVerifier, verifyManifest, verifyPackage, type VerifyOptions } from './verify.js';

function refused(fn: () => unknown, code: FirmwareErrorCode): void {
  assert.throws(fn, (e: unknown) => e instanceof FirmwareError && e.code === code, `expected ${code}`);
}

const signer = keyPair('es256');
const image = bytes(5000, 11);
const pkg = signPackage(imageManifest(image, 100), image, signer.privateKey);
const opts: VerifyOptions = { trustedKeys: [signer.publicKey], vendorId: VENDOR, classId: CLASS, securityCounter: 99 };

function flipped(data: Uint8Array, offset: number): Uint8Array {
  const out = Uint8Array.from(data);
  out[offset]! ^= 0x01;
  return out;
}

test('a good package verifies (ES256 and Ed25519); sequence equal to the counter is a reinstall, lower is ROLLBACK', () => {
  const r = verifyPackage(pkg, opts);
  assert.deepEqual(r.payload, image);
  assert.equal(r.manifest.sequence, 100);
  const ed = keyPair('ed25519');
  const edPkg = signPackage(imageManifest(image, 7), image, ed.privateKey);
  assert.equal(verifyPackage(edPkg, { ...opts, trustedKeys: [signer.publicKey, ed.publicKey], securityCounter: 0 }).manifest.sequence, 7);
  assert.equal(verifyPackage(pkg, { ...opts, securityCounter: 100 }).manifest.sequence, 100);
  refused(() => verifyPackage(pkg, { ...opts, securityCounter: 101 }), 'ROLLBACK');
});

test('every refusal has its code', () => {
  const envEnd = (parsePackageHeader(pkg) as { payloadOffset: number }).payloadOffset;
  refused(() => verifyPackage(flipped(pkg, envEnd - 1), opts), 'BAD_SIGNATURE'); // the signature's last byte
  refused(() => verifyPackage(flipped(pkg, envEnd - 64 - 2 - 10), opts), 'BAD_SIGNATURE'); // a manifest byte
  refused(() => verifyPackage(flipped(pkg, 9 + 5), opts), 'BAD_SIGNATURE'); // protected header a1 01 26: alg -7 → -8
  refused(() => verifyPackage(pkg, { ...opts, trustedKeys: [keyPair('es256').publicKey] }), 'UNKNOWN_KEY');
  refused(() => verifyPackage(pkg, { ...opts, vendorId: vendorIdFor('example.org') }), 'WRONG_VENDOR');
  refused(() => verifyPackage(pkg, { ...opts, classId: classIdFor(VENDOR, 'sensor-v3') }), 'WRONG_CLASS');
  refused(() => verifyPackage(pkg, { ...opts, securityCounter: 2 ** 40 }), 'ROLLBACK');
  refused(() => verifyPackage(flipped(pkg, pkg.length - 1), opts), 'DIGEST_MISMATCH'); // an image byte
  refused(() => verifyPackage(pkg.subarray(0, pkg.length - 1), opts), 'TRUNCATED');
  refused(() => verifyPackage(Uint8Array.from([...pkg, 0]), opts), 'SIZE_MISMATCH');
  refused(() => verifyPackage(pkg.subarray(0, 50), opts), 'TRUNCATED');
  refused(() => verifyPackage(flipped(pkg, 0), opts), 'MALFORMED');
  // A correctly signed manifest whose image digest is for other bytes.
  const lying = signPackage(imageManifest(bytes(5000, 12), 100), image, signer.privateKey);
  refused(() => verifyPackage(lying, opts), 'DIGEST_MISMATCH');
});

test('a delta verifies only over its base image', () => {
  const base = bytes(4000, 1);
  const next = bytes(4100, 2);
  const patch = bytes(300, 3);
  const d = signPackage(deltaManifest(patch, next, base, 200), patch, signer.privateKey);
  const m = verifyPackage(d, { ...opts, currentImage: imageRef(base) }).manifest;
  assert.equal(m.payload.kind, 'delta');
  assert.deepEqual(m.payload.kind === 'delta' && m.payload.image, imageRef(next));
  refused(() => verifyPackage(d, { ...opts, currentImage: imageRef(bytes(4000, 9)) }), 'WRONG_BASE');
  refused(() => verifyPackage(d, { ...opts, currentImage: { ...imageRef(base), size: 4001 } }), 'WRONG_BASE');
  refused(() => verifyPackage(d, opts), 'WRONG_BASE');
});

test('a device streams: header first, manifest verified before the payload, then chunks', () => {
  // Feed the package in 7-byte pieces, as a download would deliver it.
  let buf = new Uint8Array(0);
  let at = 0;
  let verifier: PayloadVerifier | undefined;
  while (at < pkg.length) {
    const chunk = pkg.subarray(at, Math.min(pkg.length, at + 7));
    at += chunk.length;
    if (verifier) {
      verifier.update(chunk);
      continue;
    }
    buf = Uint8Array.from([...buf, ...chunk]);
    const h = parsePackageHeader(buf);
    if (!h.complete) continue;
    verifier = new PayloadVerifier(verifyManifest(h.envelope, opts).payload);
    verifier.update(buf.subarray(h.payloadOffset));
  }
  assert.ok(verifier);
  assert.equal(verifier.size, image.length);
  verifier.finish();

  const v = new PayloadVerifier(imageRef(image));
  v.update(image.subarray(0, 10));
  refused(() => v.finish(), 'TRUNCATED');
  const w = new PayloadVerifier(imageRef(image));
  w.update(image);
  refused(() => w.update(Uint8Array.of(1)), 'SIZE_MISMATCH');
  assert.deepEqual(decodePackage(pkg).payload, image);
});
