/**
 * Raw public keys (RFC 7250): the peer sends only its SubjectPublicKeyInfo, and is trusted because that exact key
 * is stored for an endpoint. RFC 7925 §4.4 (and LwM2M 1.1) use P-256 ECDSA keys.
 */
import { createHash, createPublicKey, timingSafeEqual, type KeyObject } from 'node:crypto';
import type { PeerIdentity } from '../coap/types.js';
import { alert } from './alert.js';
import type { RawPublicKeyVerifier } from './types.js';

/**
 * The DER prefix of every uncompressed P-256 SubjectPublicKeyInfo (RFC 5480 §2): SEQUENCE { SEQUENCE { id-ecPublicKey,
 * secp256r1 }, BIT STRING (0 unused bits) 0x04 ... }; the 64 bytes of X and Y follow.
 */
const P256_SPKI_PREFIX = Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex');
/** Length of an uncompressed P-256 SPKI. */
export const P256_SPKI_LENGTH = P256_SPKI_PREFIX.length + 65;

/** The DER SubjectPublicKeyInfo of a key (public, or the public half of a private key). */
export function spkiOf(key: KeyObject): Uint8Array {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return new Uint8Array(pub.export({ type: 'spki', format: 'der' }));
}

/** SHA-256 of the SPKI, lowercase hex (the form operators compare). */
export function fingerprint(spki: Uint8Array): string {
  return createHash('sha256').update(spki).digest('hex');
}

/**
 * True if `spki` is an uncompressed P-256 SubjectPublicKeyInfo whose point is on the curve. Checks the exact
 * encoding (so two encodings of one key cannot both be stored) and then lets OpenSSL validate the point.
 */
export function isP256Spki(spki: Uint8Array): boolean {
  if (spki.length !== P256_SPKI_LENGTH) return false;
  const buf = Buffer.from(spki.buffer, spki.byteOffset, spki.byteLength);
  if (!buf.subarray(0, P256_SPKI_PREFIX.length).equals(P256_SPKI_PREFIX) || buf[P256_SPKI_PREFIX.length] !== 0x04) return false;
  try {
    const key = createPublicKey({ key: buf, format: 'der', type: 'spki' });
    return key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1';
  } catch {
    return false;
  }
}

/** Throws TypeError unless `spki` is a P-256 SubjectPublicKeyInfo (for configuration and the API). */
export function assertP256Spki(spki: Uint8Array): void {
  if (!isP256Spki(spki)) throw new TypeError('the raw public key must be a P-256 (secp256r1) SubjectPublicKeyInfo in DER');
}

/** Constant-time equality of two SPKIs (lengths are public: every valid one has the same length). */
export function spkiEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * A server-side RawPublicKeyVerifier: `lookup` maps a SubjectPublicKeyInfo to the endpoint it belongs to (undefined if
 * none). Non-P-256 keys are refused with unsupported_certificate, unknown keys with certificate_unknown.
 */
export function createRawPublicKeyVerifier(lookup: (spki: Uint8Array) => string | undefined): RawPublicKeyVerifier {
  return (spki): PeerIdentity => {
    if (spki.length === 0) throw alert('bad_certificate', 'empty raw public key');
    if (!isP256Spki(spki)) throw alert('unsupported_certificate', 'raw public key is not a P-256 key');
    const endpoint = lookup(spki);
    if (endpoint === undefined) throw alert('certificate_unknown', 'unknown raw public key');
    return { mode: 'rpk', name: endpoint };
  };
}

/**
 * A client-side RawPublicKeyVerifier for the LwM2M Security object's Server Public Key (/0/x/4) in RPK mode: the server
 * must present exactly that key (compared in constant time). `name` becomes the peer identity's name.
 */
export function createPinnedRawPublicKeyVerifier(expected: Uint8Array, name: string): RawPublicKeyVerifier {
  assertP256Spki(expected);
  const pinned = new Uint8Array(expected);
  return (spki): PeerIdentity => {
    if (!isP256Spki(spki)) throw alert('unsupported_certificate', 'raw public key is not a P-256 key');
    if (!spkiEqual(spki, pinned)) throw alert('bad_certificate', 'server raw public key is not the provisioned one');
    return { mode: 'rpk', name };
  };
}
