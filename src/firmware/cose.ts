/**
 * COSE_Sign1 (RFC 9052 §4.2), tag 18, with ES256 (alg -7, ECDSA P-256 with SHA-256, signature r||s, RFC 9053 §2.1)
 * or EdDSA (alg -8, Ed25519, RFC 9053 §2.2). The protected header carries only the algorithm; the unprotected header
 * the key ID (kid, label 4): the first 8 bytes of SHA-256 over the signer's SubjectPublicKeyInfo.
 */
import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { bytesItem, checkKeys, decodeCbor, encodeCbor, Tag } from './cbor.js';
import { FirmwareError } from './error.js';
import type { FirmwareSigner } from './signer.js';

/** CBOR tag of COSE_Sign1 (RFC 9052 §2). */
export const COSE_SIGN1_TAG = 18;
/** COSE algorithm ES256 (RFC 9053 §2.1). */
export const ALG_ES256 = -7;
/** COSE algorithm EdDSA (RFC 9053 §2.2). */
export const ALG_EDDSA = -8;
const HEADER_ALG = 1;
const HEADER_KID = 4;
/** Bytes of a key ID. */
export const KID_LENGTH = 8;

/** The algorithm a key signs with, or undefined for keys COSE_Sign1 here does not take. */
function algOf(key: KeyObject): number | undefined {
  if (key.asymmetricKeyType === 'ed25519') return ALG_EDDSA;
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return ALG_ES256;
  return undefined;
}

/** The key ID of a public (or private) key: SHA-256 of its SubjectPublicKeyInfo DER, first 8 bytes. */
export function keyId(key: KeyObject): Uint8Array {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  const spki = pub.export({ format: 'der', type: 'spki' });
  return new Uint8Array(createHash('sha256').update(spki).digest().subarray(0, KID_LENGTH));
}

/** Sig_structure for COSE_Sign1 (RFC 9052 §4.4): ["Signature1", body_protected, external_aad, payload]. */
export function sigStructure(protectedHeader: Uint8Array, payload: Uint8Array, externalAad: Uint8Array = new Uint8Array(0)): Uint8Array {
  return encodeCbor(['Signature1', protectedHeader, externalAad, payload]);
}

/** The COSE algorithm of a private key (ES256 or EdDSA); TypeError for any other key. */
export function coseAlgOf(key: KeyObject): typeof ALG_ES256 | typeof ALG_EDDSA {
  if (key.type !== 'private') throw new TypeError('signing needs a private key');
  const alg = algOf(key);
  if (alg === undefined) throw new TypeError('COSE_Sign1 here takes an ECDSA P-256 or an Ed25519 key');
  return alg as typeof ALG_ES256 | typeof ALG_EDDSA;
}

/** What a COSE_Sign1 signer signs: the protected header (alg only) and the Sig_structure over it and `payload`. */
export function cose1ToBeSigned(alg: number, payload: Uint8Array): { protectedHeader: Uint8Array; tbs: Uint8Array } {
  const protectedHeader = encodeCbor(new Map([[HEADER_ALG, alg]]));
  return { protectedHeader, tbs: sigStructure(protectedHeader, payload) };
}

/** The tagged COSE_Sign1 from its parts; the signature must be 64 bytes (ES256 r || s, or Ed25519). */
export function assembleCose1(protectedHeader: Uint8Array, kid: Uint8Array, payload: Uint8Array, signature: Uint8Array): Uint8Array {
  if (signature.byteLength !== 64) throw new RangeError(`a COSE_Sign1 signature here is 64 bytes, not ${signature.byteLength}`);
  if (kid.byteLength !== KID_LENGTH) throw new RangeError(`a key ID is ${KID_LENGTH} bytes`);
  const body = [protectedHeader, new Map([[HEADER_KID, kid]]), payload, signature];
  return encodeCbor(new Tag(body, COSE_SIGN1_TAG));
}

/** Signs `payload` into a tagged COSE_Sign1 with a P-256 or Ed25519 private key. */
export function signCose1(payload: Uint8Array, key: KeyObject): Uint8Array {
  const alg = coseAlgOf(key);
  const { protectedHeader, tbs } = cose1ToBeSigned(alg, payload);
  const signature =
    alg === ALG_ES256 ? sign('sha256', tbs, { key, dsaEncoding: 'ieee-p1363' }) : sign(null, tbs, key);
  return assembleCose1(protectedHeader, keyId(key), payload, new Uint8Array(signature));
}

/** Signs `payload` into a tagged COSE_Sign1 with a signer (a key store key, or a KeyObject through keyObjectSigner). */
export async function signCose1Async(payload: Uint8Array, signer: FirmwareSigner): Promise<Uint8Array> {
  const { protectedHeader, tbs } = cose1ToBeSigned(signer.alg, payload);
  return assembleCose1(protectedHeader, signer.kid, payload, await signer.sign(tbs));
}

/** The parts of a COSE_Sign1, checked for shape only: nothing here is authenticated. */
export interface CoseSign1 {
  alg: number;
  kid: Uint8Array;
  protectedHeader: Uint8Array;
  payload: Uint8Array;
  signature: Uint8Array;
}

/** Parses a tagged COSE_Sign1 in this profile (alg ES256|EdDSA, kid of 8 bytes, attached payload); MALFORMED otherwise. */
export function parseCose1(envelope: Uint8Array): CoseSign1 {
  const item = decodeCbor(envelope, 'COSE_Sign1');
  if (!(item instanceof Tag) || item.tag !== COSE_SIGN1_TAG || !Array.isArray(item.value) || item.value.length !== 4) {
    throw new FirmwareError('MALFORMED', 'not a tagged COSE_Sign1');
  }
  const [p, u, payloadItem, sig] = item.value as unknown[];
  const protectedHeader = bytesItem(p, 'COSE protected header');
  const ph = checkKeys(decodeCbor(protectedHeader, 'COSE protected header'), 'COSE protected header', [HEADER_ALG], [HEADER_ALG]);
  const alg = ph.get(HEADER_ALG);
  if (alg !== ALG_ES256 && alg !== ALG_EDDSA) throw new FirmwareError('MALFORMED', 'COSE algorithm not supported');
  const uh = checkKeys(u, 'COSE unprotected header', [HEADER_KID], [HEADER_KID]);
  const kid = bytesItem(uh.get(HEADER_KID), 'COSE kid', KID_LENGTH);
  const payload = bytesItem(payloadItem, 'COSE payload');
  const signature = bytesItem(sig, 'COSE signature', 64);
  return { alg, kid, protectedHeader, payload, signature };
}

/**
 * Verifies a COSE_Sign1 against the trusted public keys, the one chosen by kid, and returns its payload.
 * MALFORMED for a bad shape, UNKNOWN_KEY when no trusted key has the kid, BAD_SIGNATURE for anything else
 * (algorithm and key disagree, signature does not verify): the message says no more than the code.
 */
export function verifyCose1(envelope: Uint8Array, trusted: readonly KeyObject[]): Uint8Array {
  const c = parseCose1(envelope);
  const key = trusted.find((k) => Buffer.compare(keyId(k), c.kid) === 0);
  if (!key) throw new FirmwareError('UNKNOWN_KEY', 'signed by a key that is not trusted');
  const tbs = sigStructure(c.protectedHeader, c.payload);
  let ok = false;
  try {
    const alg = algOf(key);
    if (alg === ALG_ES256 && c.alg === ALG_ES256) ok = verify('sha256', tbs, { key, dsaEncoding: 'ieee-p1363' }, c.signature);
    else if (alg === ALG_EDDSA && c.alg === ALG_EDDSA) ok = verify(null, tbs, key, c.signature);
  } catch {
    ok = false;
  }
  if (!ok) throw new FirmwareError('BAD_SIGNATURE', 'signature does not verify');
  return c.payload;
}
