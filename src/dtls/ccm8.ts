/**
 * AES-128-CCM with an 8-byte tag and a 12-byte nonce (RFC 3610 with M = 8, L = 3; RFC 6655 for TLS) over long-lived
 * AES contexts from node:crypto: the CTR keystream from one AES-ECB context, the CBC-MAC from one AES-CBC context.
 * Node's CCM needs a new cipher object per record (the nonce is fixed at creation), which cost more than the
 * encryption itself and a fifth of a DTLS server's time in garbage. AES stays OpenSSL's; only the mode is composed
 * here, and it is checked against OpenSSL's aes-128-ccm byte for byte (ccm8.test.ts).
 *
 * The contexts hold about 1.4 KiB each, so they are cached for the most recently used keys only (`ContextCache`): a
 * fleet of mostly idle associations keeps its per-session memory, a busy one keeps its contexts.
 */
import { createCipheriv, type Cipher } from 'node:crypto';

const BLOCK = 16;
export const CCM8_TAG = 8;
/** RFC 3610 §2.2 B0 flags: Adata, M' = (8 - 2) / 2 = 3, L' = 3 - 1 = 2. */
const B0_FLAGS = 0x40 | (3 << 3) | 2;
/** RFC 3610 §2.3 A_i flags: L' = 2. */
const A_FLAGS = 2;

/** One key's AES contexts. */
class Contexts {
  readonly ecb: Cipher;
  readonly cbc: Cipher;
  /** The CBC context's last output block: CBC-MAC starts from a zero IV, so it is XORed into the next first block. */
  readonly chain = Buffer.alloc(BLOCK);

  constructor(key: Uint8Array) {
    this.ecb = createCipheriv('aes-128-ecb', key, null).setAutoPadding(false);
    this.cbc = createCipheriv('aes-128-cbc', key, Buffer.alloc(BLOCK)).setAutoPadding(false);
  }
}

/** A bounded LRU of AES contexts by key owner; evicted contexts are rebuilt on next use. */
class ContextCache {
  private readonly entries = new Map<Ccm8, Contexts>();
  constructor(private readonly max: number) {}

  get(owner: Ccm8, key: Uint8Array): Contexts {
    let c = this.entries.get(owner);
    if (c !== undefined) {
      this.entries.delete(owner);
    } else {
      c = new Contexts(key);
      if (this.entries.size >= this.max) this.entries.delete(this.entries.keys().next().value!);
    }
    this.entries.set(owner, c);
    return c;
  }

  forget(owner: Ccm8): void {
    this.entries.delete(owner);
  }
}

const cache = new ContextCache(4096);

/** Input blocks under construction, reused (records are sealed one at a time; `update` copies what it reads). */
let scratch = Buffer.alloc(BLOCK * 64);
function blocks(n: number): Buffer {
  if (scratch.length < BLOCK * n) scratch = Buffer.alloc(BLOCK * n);
  return scratch.subarray(0, BLOCK * n);
}

/** AES-128-CCM_8 under one key; the 12-byte nonce and the additional data come with each call. */
export class Ccm8 {
  constructor(private readonly key: Uint8Array) {}

  /** Writes ciphertext | tag of `plaintext` into `out` at `offset` (plaintext.length + 8 bytes). */
  seal(nonce: Uint8Array, ad: Uint8Array, plaintext: Uint8Array, out: Uint8Array, offset: number): void {
    const c = cache.get(this, this.key);
    const s = keystream(c, nonce, plaintext.length);
    const t = cbcMac(c, nonce, ad, plaintext);
    for (let i = 0; i < plaintext.length; i++) out[offset + i] = plaintext[i]! ^ s[BLOCK + i]!;
    for (let i = 0; i < CCM8_TAG; i++) out[offset + plaintext.length + i] = t[i]! ^ s[i]!;
  }

  /** The plaintext of `ciphertext`, or undefined when `tag` does not verify (compared in constant time). */
  open(nonce: Uint8Array, ad: Uint8Array, ciphertext: Uint8Array, tag: Uint8Array): Uint8Array | undefined {
    const c = cache.get(this, this.key);
    const s = keystream(c, nonce, ciphertext.length);
    const p = Buffer.allocUnsafe(ciphertext.length);
    for (let i = 0; i < p.length; i++) p[i] = ciphertext[i]! ^ s[BLOCK + i]!;
    const t = cbcMac(c, nonce, ad, p);
    let diff = 0;
    for (let i = 0; i < CCM8_TAG; i++) diff |= t[i]! ^ s[i]! ^ tag[i]!;
    return diff === 0 ? p : undefined;
  }

  /** Drops the cached contexts (the association is gone). */
  dispose(): void {
    cache.forget(this);
  }
}

/** S_0 | S_1 ... : AES-ECB of the counter blocks A_0 .. A_n (RFC 3610 §2.3). */
function keystream(c: Contexts, nonce: Uint8Array, length: number): Buffer {
  const n = 1 + Math.ceil(length / BLOCK);
  const a = blocks(n);
  for (let i = 0; i < n; i++) {
    const o = i * BLOCK;
    a[o] = A_FLAGS;
    a.set(nonce, o + 1);
    a[o + 13] = 0;
    a[o + 14] = i >> 8;
    a[o + 15] = i & 0xff;
  }
  return c.ecb.update(a);
}

/** The first 8 bytes of the CBC-MAC of B0 | encoded additional data | message, each part zero-padded (RFC 3610 §2.2). */
function cbcMac(c: Contexts, nonce: Uint8Array, ad: Uint8Array, msg: Uint8Array): Buffer {
  const adBlocks = Math.ceil((2 + ad.length) / BLOCK);
  const msgBlocks = Math.ceil(msg.length / BLOCK);
  const x = blocks(1 + adBlocks + msgBlocks).fill(0);
  x[0] = B0_FLAGS;
  x.set(nonce, 1);
  x[13] = msg.length >> 16;
  x[14] = (msg.length >> 8) & 0xff;
  x[15] = msg.length & 0xff;
  // 0 < l(a) < 2^16 - 2^8: a two-byte length (§2.2); DTLS additional data is 13 bytes, or a little more with a CID.
  x[16] = ad.length >> 8;
  x[17] = ad.length & 0xff;
  x.set(ad, 18);
  x.set(msg, BLOCK * (1 + adBlocks));
  for (let i = 0; i < BLOCK; i++) x[i]! ^= c.chain[i]!;
  const y = c.cbc.update(x);
  y.copy(c.chain, 0, y.length - BLOCK);
  return y.subarray(y.length - BLOCK);
}
