/**
 * Named keys that never leave their store: the software store (a passphrase-encrypted file) or a PKCS#11 token.
 * Secret keys (PRF, seal/open) and asymmetric signing keys (only the public key comes out). Callers name a key by its
 * label and ask the store to compute with it; one label names one key, whatever its kind.
 */

/** What a named key is for: HMAC-SHA256 (a generic secret) or AES (CMAC, GCM). */
export type SecretKeyType = 'hmac-sha256' | 'aes-128' | 'aes-256';

/** Bytes of key material per type. */
export const KEY_BYTES: Readonly<Record<SecretKeyType, number>> = { 'hmac-sha256': 32, 'aes-128': 16, 'aes-256': 32 };

/** A signing key's algorithm: ECDSA P-256 with SHA-256 (COSE ES256, RFC 9053 §2.1) or Ed25519 (pure EdDSA, RFC 8032). */
export type SigningKeyAlg = 'es256' | 'ed25519';

/** The signing algorithms, for validating input. */
export const SIGNING_KEY_ALGS: readonly SigningKeyAlg[] = ['es256', 'ed25519'];

/** What a label names: a secret key or a signing key. */
export type KeyType = SecretKeyType | SigningKeyAlg;

/** True for the signing (asymmetric) key types. */
export function isSigningKeyAlg(type: string | undefined): type is SigningKeyAlg {
  return type === 'es256' || type === 'ed25519';
}

/** Every key store error carries a code a caller can act on; messages never contain key material. */
export class KeyStoreError extends Error {
  constructor(
    readonly code:
      | 'BAD_PASSPHRASE'
      | 'CORRUPT'
      | 'NO_KEY'
      | 'KEY_EXISTS'
      | 'WRONG_KEY_TYPE'
      | 'SEAL_FAILED'
      | 'TOKEN'
      | 'UNAVAILABLE'
      | 'CLOSED'
      | 'UNSUPPORTED'
      | 'INVALID',
    message: string,
  ) {
    super(message);
    this.name = 'KeyStoreError';
  }
}

/** A store of named, non-exportable keys: secret keys and signing keys. */
export interface KeyStore {
  readonly kind: 'software' | 'pkcs11';
  hasKey(label: string): Promise<boolean>;
  /** The key's type (a secret key type or a signing algorithm), or undefined if there is none under `label`. */
  keyType(label: string): Promise<KeyType | undefined>;
  /** Creates a random key; fails with KEY_EXISTS if the label is taken. */
  generateSecretKey(label: string, options: { type: SecretKeyType }): Promise<void>;
  /** HMAC-SHA256 (32 bytes) for an hmac-sha256 key, AES-CMAC (16 bytes) for an AES key, computed inside the store. */
  prf(label: string, data: Uint8Array): Promise<Uint8Array>;
  /** AES-256-GCM (or AES-128-GCM) under an AES key: nonce (12) | ciphertext | tag (16). `aad` binds the context. */
  seal?(label: string, plaintext: Uint8Array, aad?: Uint8Array): Promise<Uint8Array>;
  /** Opens what `seal` made; KeyStoreError SEAL_FAILED if it was tampered with or sealed for another context. */
  open?(label: string, sealed: Uint8Array, aad?: Uint8Array): Promise<Uint8Array>;
  /**
   * Creates a signing key pair whose private key never leaves the store; KEY_EXISTS if the label names any key,
   * UNSUPPORTED if the store cannot make this kind. Returns the public key (SubjectPublicKeyInfo DER).
   */
  generateSigningKey(label: string, options: { alg: SigningKeyAlg }): Promise<Uint8Array>;
  /** The public key of signing key `label` as SubjectPublicKeyInfo DER (RFC 5280 §4.1.2.7, RFC 5480, RFC 8410). */
  publicKey(label: string): Promise<Uint8Array>;
  /**
   * Signs `data` with signing key `label`: for es256 ECDSA over SHA-256(data), the signature as r || s (IEEE P1363,
   * 64 bytes, as COSE wants it: RFC 9053 §2.1); for ed25519 pure EdDSA over `data` (RFC 8032 §5.1.6, 64 bytes).
   * WRONG_KEY_TYPE for a secret key.
   */
  sign(label: string, data: Uint8Array): Promise<Uint8Array>;
  close(): Promise<void>;
}

/** Labels: printable ASCII, 1-64 characters (they go into files and PKCS#11 CKA_LABEL). */
export function checkLabel(label: string): void {
  if (!/^[\x21-\x7e]{1,64}$/.test(label)) throw new KeyStoreError('INVALID', 'a key label is 1-64 printable ASCII characters without spaces');
}
