/**
 * Named secret keys that never leave their store: the software store (a passphrase-encrypted file) or a PKCS#11
 * token. Callers name a key by its label and ask the store to compute with it.
 */

/** What a named key is for: HMAC-SHA256 (a generic secret) or AES (CMAC, GCM). */
export type SecretKeyType = 'hmac-sha256' | 'aes-128' | 'aes-256';

/** Bytes of key material per type. */
export const KEY_BYTES: Readonly<Record<SecretKeyType, number>> = { 'hmac-sha256': 32, 'aes-128': 16, 'aes-256': 32 };

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
      | 'INVALID',
    message: string,
  ) {
    super(message);
    this.name = 'KeyStoreError';
  }
}

/** A store of named, non-exportable secret keys. */
export interface KeyStore {
  readonly kind: 'software' | 'pkcs11';
  hasKey(label: string): Promise<boolean>;
  /** The key's type, or undefined if there is none under `label`. */
  keyType(label: string): Promise<SecretKeyType | undefined>;
  /** Creates a random key; fails with KEY_EXISTS if the label is taken. */
  generateSecretKey(label: string, options: { type: SecretKeyType }): Promise<void>;
  /** HMAC-SHA256 (32 bytes) for an hmac-sha256 key, AES-CMAC (16 bytes) for an AES key, computed inside the store. */
  prf(label: string, data: Uint8Array): Promise<Uint8Array>;
  /** AES-256-GCM (or AES-128-GCM) under an AES key: nonce (12) | ciphertext | tag (16). `aad` binds the context. */
  seal?(label: string, plaintext: Uint8Array, aad?: Uint8Array): Promise<Uint8Array>;
  /** Opens what `seal` made; KeyStoreError SEAL_FAILED if it was tampered with or sealed for another context. */
  open?(label: string, sealed: Uint8Array, aad?: Uint8Array): Promise<Uint8Array>;
  close(): Promise<void>;
}

/** Labels: printable ASCII, 1-64 characters (they go into files and PKCS#11 CKA_LABEL). */
export function checkLabel(label: string): void {
  if (!/^[\x21-\x7e]{1,64}$/.test(label)) throw new KeyStoreError('INVALID', 'a key label is 1-64 printable ASCII characters without spaces');
}
