/**
 * NIST SP 800-108r1 §4.1 KDF in counter mode: K(i) = PRF(K_IN, [i]_32 || FixedInput), i = 1..n, output the leftmost
 * L bits of K(1) || ... || K(n); FixedInput = Label || 0x00 || Context || [L]_32 (§5). The PRF runs wherever the key
 * lives (`KeyStore.prf`), so the key-derivation key never leaves an HSM.
 */
import type { KeyStore } from './key-store.js';

/** A PRF keyed by the caller: HMAC-SHA256 or AES-CMAC inside a key store. */
export type Prf = (data: Uint8Array) => Promise<Uint8Array>;

/** §5: Label || 0x00 || Context || [L]_32, with L the output length in bits. */
export function fixedInput(label: Uint8Array, context: Uint8Array, lengthBits: number): Uint8Array {
  const out = new Uint8Array(label.length + 1 + context.length + 4);
  out.set(label, 0);
  out.set(context, label.length + 1);
  new DataView(out.buffer).setUint32(out.length - 4, lengthBits);
  return out;
}

/** Counter mode over a ready fixed input (the CAVP vectors' FixedInputData); 32-bit counter before it. */
export async function kdfCounterFixed(prf: Prf, fixed: Uint8Array, lengthBytes: number): Promise<Uint8Array> {
  if (!Number.isInteger(lengthBytes) || lengthBytes <= 0) throw new RangeError('the output length is a positive number of bytes');
  const out = new Uint8Array(lengthBytes);
  const input = new Uint8Array(4 + fixed.length);
  input.set(fixed, 4);
  const view = new DataView(input.buffer);
  let filled = 0;
  // §4.1: n = ceil(L/h) must not exceed 2^r - 1 (r = 32); our outputs are far below it.
  for (let i = 1; filled < lengthBytes; i++) {
    view.setUint32(0, i);
    const block = await prf(input);
    if (block.length === 0) throw new Error('the PRF returned no output');
    const take = Math.min(block.length, lengthBytes - filled);
    out.set(block.subarray(0, take), filled);
    filled += take;
  }
  return out;
}

/** KDF in counter mode with Label and Context; the output length is bound into the fixed input. */
export function kdfCounter(prf: Prf, label: Uint8Array, context: Uint8Array, lengthBytes: number): Promise<Uint8Array> {
  return kdfCounterFixed(prf, fixedInput(label, context, lengthBytes * 8), lengthBytes);
}

/** The KDF keyed by the named key in `store` (HMAC-SHA256 or AES-CMAC, by the key's type). */
export function deriveKey(store: KeyStore, keyLabel: string, label: Uint8Array, context: Uint8Array, lengthBytes: number): Promise<Uint8Array> {
  return kdfCounter((data) => store.prf(keyLabel, data), label, context, lengthBytes);
}
