/**
 * Who signs a manifest: a private key in this process, or a signing key in a key store (the software store or a
 * PKCS#11 token), where the private key never comes out. Either way the COSE kid is keyId() of the public key, so a
 * device or the repository matches it against its trusted keys exactly as for a key file.
 */
import { createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import type { KeyStore } from '../keys/index.js';
import { ALG_EDDSA, ALG_ES256, coseAlgOf, keyId } from './cose.js';
import { FirmwareError } from './error.js';

/** A COSE algorithm a firmware signer uses: ES256 (-7) or EdDSA (-8). */
export type FirmwareSigningAlg = typeof ALG_ES256 | typeof ALG_EDDSA;

/** Signs a COSE_Sign1 Sig_structure; knows its algorithm and key ID. */
export interface FirmwareSigner {
  /** ALG_ES256 or ALG_EDDSA. */
  readonly alg: FirmwareSigningAlg;
  /** keyId() of the public key: the COSE kid (8 bytes). */
  readonly kid: Uint8Array;
  /** The public key, to publish as a trusted key or to check a signature with. */
  readonly publicKey: KeyObject;
  /** The signature over `tbs`: ES256 as r || s (RFC 9053 §2.1), or Ed25519 (RFC 8032); 64 bytes either way. */
  sign(tbs: Uint8Array): Promise<Uint8Array>;
}

/** The part of a key store a signer needs. */
export type SigningKeyStore = Pick<KeyStore, 'publicKey' | 'sign'>;

function algOfPublic(key: KeyObject): FirmwareSigningAlg | undefined {
  if (key.asymmetricKeyType === 'ed25519') return ALG_EDDSA;
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return ALG_ES256;
  return undefined;
}

/** A signer for a P-256 or Ed25519 private key held in this process; TypeError for any other key. */
export function keyObjectSigner(privateKey: KeyObject): FirmwareSigner {
  const alg = coseAlgOf(privateKey);
  const publicKey = createPublicKey(privateKey);
  return {
    alg,
    kid: keyId(publicKey),
    publicKey,
    sign: async (tbs) => {
      const sig = alg === ALG_ES256 ? sign('sha256', tbs, { key: privateKey, dsaEncoding: 'ieee-p1363' }) : sign(null, tbs, privateKey);
      return new Uint8Array(sig.buffer, sig.byteOffset, sig.byteLength);
    },
  };
}

/**
 * A signer for the key store's signing key `label` (KeyStoreError NO_KEY / WRONG_KEY_TYPE from the store if there is
 * none). Each signature is checked against the store's public key before it is returned, so a token that signs wrong
 * makes an error here rather than a package no device accepts (BAD_SIGNATURE).
 */
export async function keyStoreSigner(store: SigningKeyStore, label: string): Promise<FirmwareSigner> {
  const spki = await store.publicKey(label);
  const publicKey = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  const alg = algOfPublic(publicKey);
  if (alg === undefined) throw new TypeError(`key ${label} is neither an ECDSA P-256 nor an Ed25519 key`);
  return {
    alg,
    kid: keyId(publicKey),
    publicKey,
    sign: async (tbs) => {
      const sig = await store.sign(label, tbs);
      const ok =
        sig.byteLength === 64 &&
        (alg === ALG_ES256 ? verify('sha256', tbs, { key: publicKey, dsaEncoding: 'ieee-p1363' }, sig) : verify(null, tbs, publicKey, sig));
      if (!ok) throw new FirmwareError('BAD_SIGNATURE', `the key store's signature with ${label} does not verify under its public key`);
      return sig;
    },
  };
}
