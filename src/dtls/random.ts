/**
 * Random bytes for the handshake (randoms, session IDs, CIDs) drawn from a pool refilled by the CSPRNG, so a
 * handshake does not make a native call per value. Bytes handed out are wiped from the pool and never reused.
 */
import { randomBytes, randomFillSync } from 'node:crypto';

const POOL_SIZE = 4096;
const pool = Buffer.alloc(POOL_SIZE);
let at = POOL_SIZE;

/** `n` fresh random bytes in their own array. */
export function pooledRandom(n: number): Uint8Array {
  if (n > 256) return new Uint8Array(randomBytes(n));
  if (at + n > POOL_SIZE) {
    randomFillSync(pool);
    at = 0;
  }
  const out = new Uint8Array(n);
  out.set(pool.subarray(at, at + n));
  pool.fill(0, at, at + n);
  at += n;
  return out;
}
