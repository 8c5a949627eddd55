/** TLS 1.2 PRF with SHA-256 (RFC 5246 §5) and the secrets derived with it. */
import { createHash, createHmac } from 'node:crypto';

const enc = new TextEncoder();
const labels = new Map<string, Uint8Array>();

function labelBytes(label: string): Uint8Array {
  let b = labels.get(label);
  if (!b) {
    b = enc.encode(label);
    if (labels.size < 16) labels.set(label, b);
  }
  return b;
}

/**
 * RFC 5246 §5: P_SHA256(secret, seed) truncated to `length` bytes; the seed may come in parts (label | seed | seed2),
 * fed to the HMAC one after the other instead of concatenated.
 */
function pSha256Parts(secret: Uint8Array, label: Uint8Array | undefined, seed: Uint8Array, seed2: Uint8Array | undefined, length: number): Buffer {
  // A(1) = HMAC(secret, seed)
  const h = createHmac('sha256', secret);
  if (label) h.update(label);
  h.update(seed);
  if (seed2) h.update(seed2);
  let a: Buffer = h.digest();
  let out: Buffer | undefined;
  let o = 0;
  for (;;) {
    const p = createHmac('sha256', secret).update(a);
    if (label) p.update(label);
    p.update(seed);
    if (seed2) p.update(seed2);
    const block = p.digest();
    // One block is enough (Finished, 12 bytes): no output buffer to fill.
    if (o === 0 && length <= 32) return length === 32 ? block : block.subarray(0, length);
    out ??= Buffer.allocUnsafe(length);
    block.copy(out, o, 0, Math.min(32, length - o));
    o += 32;
    if (o >= length) return out;
    a = createHmac('sha256', secret).update(a).digest();
  }
}

/** RFC 5246 §5: P_SHA256(secret, seed) truncated to `length` bytes. */
export function pSha256(secret: Uint8Array, seed: Uint8Array, length: number): Buffer {
  return pSha256Parts(secret, undefined, seed, undefined, length);
}

/** RFC 5246 §5: PRF(secret, label, seed) = P_SHA256(secret, label + seed). */
export function prf(secret: Uint8Array, label: string, seed: Uint8Array, length: number): Buffer {
  return pSha256Parts(secret, labelBytes(label), seed, undefined, length);
}

/** RFC 5246 §8.1: master_secret = PRF(pre_master_secret, "master secret", client_random + server_random)[0..47]. */
export function masterSecret(preMasterSecret: Uint8Array, clientRandom: Uint8Array, serverRandom: Uint8Array): Buffer {
  return pSha256Parts(preMasterSecret, labelBytes('master secret'), clientRandom, serverRandom, 48);
}

/**
 * RFC 7627 §4: master_secret = PRF(pre_master_secret, "extended master secret", session_hash)[0..47],
 * session_hash = Hash(handshake messages up to and including ClientKeyExchange).
 */
export function extendedMasterSecret(preMasterSecret: Uint8Array, sessionHash: Uint8Array): Buffer {
  return prf(preMasterSecret, 'extended master secret', sessionHash, 48);
}

/** RFC 5246 §6.3: key_block = PRF(master_secret, "key expansion", server_random + client_random). */
export function keyBlock(master: Uint8Array, serverRandom: Uint8Array, clientRandom: Uint8Array, length: number): Buffer {
  return pSha256Parts(master, labelBytes('key expansion'), serverRandom, clientRandom, length);
}

/** RFC 5246 §7.4.9: verify_data = PRF(master_secret, finished_label, Hash(handshake_messages))[0..11]. */
export function finishedVerifyData(master: Uint8Array, label: 'client finished' | 'server finished', handshakeHash: Uint8Array): Buffer {
  return prf(master, label, handshakeHash, 12);
}

/**
 * RFC 4279 §2 and RFC 5489 §2: premaster = uint16(len(other)) | other | uint16(len(psk)) | psk,
 * where `other` is len(psk) zero bytes for plain PSK, or the ECDH shared secret for ECDHE_PSK.
 */
export function pskPreMasterSecret(psk: Uint8Array, otherSecret?: Uint8Array): Buffer {
  const other = otherSecret ?? new Uint8Array(psk.length);
  const out = Buffer.alloc(4 + other.length + psk.length);
  out.writeUInt16BE(other.length, 0);
  out.set(other, 2);
  out.writeUInt16BE(psk.length, 2 + other.length);
  out.set(psk, 4 + other.length);
  return out;
}

/** SHA-256 over the concatenated handshake messages. */
export function transcriptHash(messages: readonly Uint8Array[]): Buffer {
  const h = createHash('sha256');
  for (const m of messages) h.update(m);
  return h.digest();
}
