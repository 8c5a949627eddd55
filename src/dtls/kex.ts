/** Key exchange and signature primitives for the handshakes: ECDHE on secp256r1, ECDSA P-256 SHA-256. */
import { createECDH, createPublicKey, sign, verify, X509Certificate, type ECDH, type KeyObject } from 'node:crypto';
import { alert, DtlsAlert } from './alert.js';
import { derDigest, LruCache } from './lru.js';

/** Public keys of peer certificates by SHA-256 of the DER (a reconnecting device sends the same leaf). */
const certificateKeys = new LruCache<string, KeyObject>(1024);

/** An ephemeral secp256r1 key pair. */
export interface EcdhKeyPair {
  ecdh: ECDH;
  /** Uncompressed point (RFC 8422 §5.4: 0x04 | X | Y). */
  publicPoint: Uint8Array;
}

export function generateEcdhKeyPair(): EcdhKeyPair {
  const ecdh = createECDH('prime256v1');
  const publicPoint = ecdh.generateKeys();
  return { ecdh, publicPoint };
}

/**
 * The ECDH shared secret (the X coordinate, RFC 8422 §5.10) with the peer's point. The point must be
 * uncompressed (RFC 8422 §5.1.2: we only offer that format) and on the curve (OpenSSL checks); any
 * failure is DtlsAlert(illegal_parameter).
 */
export function ecdhSharedSecret(pair: EcdhKeyPair, peerPoint: Uint8Array): Uint8Array {
  if (peerPoint.length !== 65 || peerPoint[0] !== 0x04) throw alert('illegal_parameter', 'ECDH point not an uncompressed P-256 point');
  try {
    return pair.ecdh.computeSecret(peerPoint);
  } catch {
    throw alert('illegal_parameter', 'ECDH point not on the curve');
  }
}

/**
 * Checks an ECDSA-Sig-Value DER encoding strictly: SEQUENCE { INTEGER r, INTEGER s } with 0 < r, s
 * (SEC 1 §4.1.4 step 1: r and s in [1, n-1]; a signature with r = s = 0 is refused before verification).
 */
export function ecdsaSignatureWellFormed(sig: Uint8Array): boolean {
  let o = 0;
  if (sig[o++] !== 0x30) return false;
  const seqLen = sig[o++];
  if (seqLen === undefined || seqLen > 0x7f || seqLen !== sig.length - 2) return false;
  for (let k = 0; k < 2; k++) {
    if (sig[o++] !== 0x02) return false;
    const len = sig[o++];
    if (len === undefined || len === 0 || len > 33 || o + len > sig.length) return false;
    const first = sig[o]!;
    if (first & 0x80) return false; // negative
    if (first === 0 && len > 1 && (sig[o + 1]! & 0x80) === 0) return false; // non-minimal
    let nonZero = 0;
    for (let i = 0; i < len; i++) nonZero |= sig[o + i]!;
    if (nonZero === 0) return false;
    o += len;
  }
  return o === sig.length;
}

/** ECDSA P-256 with SHA-256, DER signature (RFC 8422 §5.10). */
export function signEcdsa(privateKey: KeyObject, data: Uint8Array | readonly Uint8Array[]): Uint8Array {
  const msg = data instanceof Uint8Array ? data : Buffer.concat(data as Uint8Array[]);
  return sign('sha256', msg, { key: privateKey, dsaEncoding: 'der' });
}

/** Verifies; a malformed or zero r/s signature or a failed verification is DtlsAlert(decrypt_error). */
export function verifyEcdsa(publicKey: KeyObject, data: Uint8Array | readonly Uint8Array[], signature: Uint8Array): void {
  if (!ecdsaSignatureWellFormed(signature)) throw alert('decrypt_error', 'malformed ECDSA signature');
  const msg = data instanceof Uint8Array ? data : Buffer.concat(data as Uint8Array[]);
  let ok = false;
  try {
    ok = verify('sha256', msg, { key: publicKey, dsaEncoding: 'der' }, signature);
  } catch {
    ok = false;
  }
  if (!ok) throw alert('decrypt_error', 'ECDSA signature does not verify');
}

function requireP256(key: KeyObject): KeyObject {
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw alert('unsupported_certificate', 'peer key is not an ECDSA P-256 key');
  }
  return key;
}

/** The P-256 public key of a DER certificate (bad_certificate when unparsable). */
export function publicKeyOfCertificate(der: Uint8Array): KeyObject {
  const digest = derDigest(der);
  const cached = certificateKeys.get(digest);
  if (cached) return cached;
  let key: KeyObject;
  try {
    key = new X509Certificate(der).publicKey;
  } catch {
    throw alert('bad_certificate', 'unparsable certificate');
  }
  certificateKeys.set(digest, requireP256(key));
  return key;
}

/** The P-256 public key of a SubjectPublicKeyInfo (bad_certificate when unparsable). */
export function publicKeyOfSpki(spki: Uint8Array): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  } catch {
    throw alert('bad_certificate', 'unparsable SubjectPublicKeyInfo');
  }
  return requireP256(key);
}

/** The SubjectPublicKeyInfo DER of a private key's public half. */
export function spkiOf(privateKey: KeyObject): Uint8Array {
  return createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
}

/** Runs a peer verifier callback: DtlsAlerts pass through, anything else becomes bad_certificate. */
export async function runVerifier<T>(fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof DtlsAlert) throw err;
    throw alert('bad_certificate', err instanceof Error ? err.message : String(err));
  }
}
