/** Fixtures shared by the firmware tests: keys, images and manifests. */
import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { classIdFor, imageRef, vendorIdFor, type Manifest } from './manifest.js';

/** A fresh signing key pair for `alg`. */
export function keyPair(alg: 'es256' | 'ed25519'): { privateKey: KeyObject; publicKey: KeyObject } {
  const kp = alg === 'es256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519');
  return { privateKey: kp.privateKey, publicKey: createPublicKey(kp.privateKey) };
}

/** xorshift32: a deterministic stream of unsigned 32-bit numbers, so test data differs without randomness. */
export function xorshift32(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

/** Deterministic pseudo-random bytes (xorshift), so images differ without randomness in tests. */
export function bytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed | 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

export const VENDOR = vendorIdFor('example.com');
export const CLASS = classIdFor(VENDOR, 'sensor-v2');

/** An image manifest for `image`. */
export function imageManifest(image: Uint8Array, sequence = 100, version = '1.2.3'): Manifest {
  return { version, vendorId: VENDOR, classId: CLASS, sequence, payload: { kind: 'image', ...imageRef(image) } };
}

/** A delta manifest: `patch` turns `base` into `image`. */
export function deltaManifest(patch: Uint8Array, image: Uint8Array, base: Uint8Array, sequence = 100): Manifest {
  return {
    version: '1.3.0',
    vendorId: VENDOR,
    classId: CLASS,
    sequence,
    payload: { kind: 'delta', ...imageRef(patch), image: imageRef(image), base: imageRef(base) },
  };
}
