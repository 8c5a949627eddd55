/**
 * AES-CMAC (NIST SP 800-38B, RFC 4493) on node:crypto: AES-CBC-MAC with a zero IV over the message whose last block is
 * XORed with subkey K1 (complete block) or padded with 10* and XORed with K2 (RFC 4493 §2.4).
 */
import { createCipheriv } from 'node:crypto';

const BLOCK = 16;
const ZERO_IV = Buffer.alloc(BLOCK);

/** RFC 4493 §2.3: doubling in GF(2^128) with Rb = 0x87. */
function double(block: Buffer): Buffer {
  const out = Buffer.alloc(BLOCK);
  for (let i = 0; i < BLOCK; i++) out[i] = ((block[i]! << 1) | (i + 1 < BLOCK ? block[i + 1]! >>> 7 : 0)) & 0xff;
  if (block[0]! & 0x80) out[BLOCK - 1] = out[BLOCK - 1]! ^ 0x87;
  return out;
}

/** An AES-CMAC keyed once: the subkeys are computed at construction. Holds the key; keep it private to a store. */
export class AesCmac {
  readonly #key: Buffer;
  readonly #cipher: string;
  readonly #k1: Buffer;
  readonly #k2: Buffer;

  constructor(key: Uint8Array) {
    if (key.length !== 16 && key.length !== 24 && key.length !== 32) throw new RangeError('an AES key is 16, 24 or 32 bytes');
    this.#key = Buffer.from(key);
    this.#cipher = `aes-${key.length * 8}-cbc`;
    const ecb = createCipheriv(`aes-${key.length * 8}-ecb`, this.#key, null).setAutoPadding(false);
    const l = Buffer.concat([ecb.update(ZERO_IV), ecb.final()]);
    this.#k1 = double(l);
    this.#k2 = double(this.#k1);
  }

  /** The 16-byte tag of `message`. */
  mac(message: Uint8Array): Buffer {
    const n = message.length === 0 ? 1 : Math.ceil(message.length / BLOCK);
    const complete = message.length > 0 && message.length % BLOCK === 0;
    const padded = Buffer.alloc(n * BLOCK);
    padded.set(message);
    const last = (n - 1) * BLOCK;
    if (!complete) padded[message.length] = 0x80;
    const sub = complete ? this.#k1 : this.#k2;
    for (let i = 0; i < BLOCK; i++) padded[last + i] = padded[last + i]! ^ sub[i]!;
    const cbc = createCipheriv(this.#cipher, this.#key, ZERO_IV).setAutoPadding(false);
    const out = cbc.update(padded);
    cbc.final();
    return out.subarray(out.length - BLOCK);
  }
}

/** One-shot AES-CMAC. */
export function aesCmac(key: Uint8Array, message: Uint8Array): Buffer {
  return new AesCmac(key).mac(message);
}
