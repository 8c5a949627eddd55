/**
 * Keys in a PKCS#11 token through `pkcs11js` (the PKCS#11 2.40 binding that graphene-pk11 itself sits on; we use it
 * directly for a thin, explicit mapping onto C_* calls). Keys are generated inside the token as CKA_TOKEN,
 * CKA_SENSITIVE and not CKA_EXTRACTABLE, so their value can never be read out; the PRF is C_Sign with CKM_SHA256_HMAC
 * (generic secret) or CKM_AES_CMAC (AES), and seal/open use CKM_AES_GCM. Signing keys are key pairs made by
 * C_GenerateKeyPair (CKM_EC_KEY_PAIR_GEN on P-256, CKM_EC_EDWARDS_KEY_PAIR_GEN on edwards25519) whose private half is
 * held the same way and may only sign (CKM_ECDSA, CKM_EDDSA).
 */
import { createHash, createPublicKey, randomBytes, type KeyObject } from 'node:crypto';
import { ecdsaRawToDer } from './der.js';
import { createRequire } from 'node:module';
import { checkLabel, isSigningKeyAlg, KEY_BYTES, KeyStoreError, type KeyStore, type KeyType, type SecretKeyType, type SigningKeyAlg } from './key-store.js';

type Pkcs11Module = typeof import('pkcs11js');
type PKCS11 = import('pkcs11js').PKCS11;
type Handle = Buffer;

const NONCE = 12;
const TAG = 16;

/** PKCS#11 3.0 §6.3 (Edwards curves) values; pkcs11js 2.x predates them. */
const CKK_EC_EDWARDS = 0x40;
const CKM_EC_EDWARDS_KEY_PAIR_GEN = 0x1055;
const CKM_EDDSA = 0x1057;
/** CKA_EC_PARAMS of an Ed25519 key: the OID id-Ed25519 1.3.101.112 (RFC 8410 §3), or the curve name (PKCS#11 3.0 §2.3.10). */
const ED25519_PARAMS = Buffer.from('06032b6570', 'hex');
const ED25519_PARAMS_NAME = Buffer.concat([Buffer.from([0x13, 12]), Buffer.from('edwards25519')]);
/** SubjectPublicKeyInfo DER up to the key bits: P-256 (RFC 5480 §2, uncompressed point) and Ed25519 (RFC 8410 §4). */
const P256_SPKI_PREFIX = Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex');
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

let loaded: Pkcs11Module | undefined;

/** Loads pkcs11js lazily so the software store works where the native module is missing. */
function pkcs11js(): Pkcs11Module {
  if (!loaded) {
    try {
      loaded = createRequire(import.meta.url)('pkcs11js') as Pkcs11Module;
    } catch (err) {
      throw new KeyStoreError('UNAVAILABLE', `the npm package pkcs11js is not installed or did not build: ${(err as Error).message}`);
    }
  }
  return loaded;
}

/** Where the token is. `slot` is a slot ID, or else an index into the list of slots with a token. */
export interface Pkcs11Options {
  module: string;
  slot?: number;
  /** Alternative to `slot`: the token's label. */
  tokenLabel?: string;
  pin: string;
}

function code(err: unknown): number | undefined {
  return typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : undefined;
}

/** Names the PKCS#11 error without echoing inputs (a PIN never appears). */
function tokenError(what: string, err: unknown): KeyStoreError {
  const p = loaded;
  const c = code(err);
  const name = p && c !== undefined ? Object.keys(p).find((k) => k.startsWith('CKR_') && (p as unknown as Record<string, unknown>)[k] === c) : undefined;
  return new KeyStoreError('TOKEN', `${what} failed: ${name ?? (err as Error).message}`);
}

/** One loaded, initialised library per module path: C_Finalize would end every other store's session (PKCS#11 §5.4). */
const libraries = new Map<string, { p: PKCS11; refs: number }>();

function release(module: string): void {
  const lib = libraries.get(module);
  if (!lib || --lib.refs > 0) return;
  libraries.delete(module);
  try {
    lib.p.C_Finalize();
  } catch {
    /* nothing left to release */
  }
}

/** A key found by label: the secret key's handle, or for a signing key the private key's handle. */
interface KeyRef {
  handle: Handle;
  type: KeyType;
}

/** A PKCS#11 token session holding Warden's keys. One session, calls serialised (PKCS#11 §5.6: one operation at a time). */
export class Pkcs11KeyStore implements KeyStore {
  readonly kind = 'pkcs11' as const;
  readonly #p: PKCS11;
  readonly #m: Pkcs11Module;
  readonly #session: Handle;
  readonly #slot: Handle;
  readonly #keys = new Map<string, KeyRef>();
  #closed = false;

  readonly #module: string;

  private constructor(m: Pkcs11Module, p: PKCS11, session: Handle, slot: Handle, module: string) {
    this.#module = module;
    this.#m = m;
    this.#p = p;
    this.#session = session;
    this.#slot = slot;
  }

  /** Loads the module, opens a read-write session on the slot and logs in as the user. */
  static async open(options: Pkcs11Options): Promise<Pkcs11KeyStore> {
    const m = pkcs11js();
    let lib = libraries.get(options.module);
    if (!lib) {
      const p = new m.PKCS11();
      try {
        p.load(options.module);
      } catch (err) {
        throw new KeyStoreError('UNAVAILABLE', `cannot load the PKCS#11 module ${options.module}: ${(err as Error).message}`);
      }
      try {
        p.C_Initialize();
      } catch (err) {
        if (code(err) !== m.CKR_CRYPTOKI_ALREADY_INITIALIZED) throw tokenError('C_Initialize', err);
      }
      lib = { p, refs: 0 };
      libraries.set(options.module, lib);
    }
    const p = lib.p;
    lib.refs++;
    try {
      const slots = p.C_GetSlotList(true);
      let slot: Handle | undefined;
      if (options.tokenLabel !== undefined) {
        slot = slots.find((s) => p.C_GetTokenInfo(s).label.trim() === options.tokenLabel);
      } else if (options.slot !== undefined) {
        const id = BigInt(options.slot);
        slot = slots.find((s) => (s.length === 8 ? s.readBigUInt64LE() : BigInt(s.readUInt32LE())) === id) ?? slots[options.slot];
      } else {
        slot = slots[0];
      }
      if (!slot) throw new KeyStoreError('TOKEN', `no token in slot ${options.tokenLabel ?? options.slot ?? 0} (${slots.length} slot(s) with a token)`);
      const session = p.C_OpenSession(slot, m.CKF_SERIAL_SESSION | m.CKF_RW_SESSION);
      try {
        p.C_Login(session, m.CKU_USER, options.pin);
      } catch (err) {
        if (code(err) !== m.CKR_USER_ALREADY_LOGGED_IN) {
          p.C_CloseSession(session);
          if (code(err) === m.CKR_PIN_INCORRECT) throw new KeyStoreError('BAD_PASSPHRASE', 'wrong PIN for the PKCS#11 token');
          throw err;
        }
      }
      return new Pkcs11KeyStore(m, p, session, slot, options.module);
    } catch (err) {
      release(options.module);
      if (err instanceof KeyStoreError) throw err;
      throw tokenError('opening the PKCS#11 token', err);
    }
  }

  #live(): void {
    if (this.#closed) throw new KeyStoreError('CLOSED', 'the key store is closed');
  }

  #find(label: string): KeyRef | undefined {
    this.#live();
    const cached = this.#keys.get(label);
    if (cached) return cached;
    const m = this.#m;
    const handle = this.#findObject(label, m.CKO_SECRET_KEY);
    if (handle === undefined) return this.#findSigning(label);
    const [kt, len] = this.#p.C_GetAttributeValue(this.#session, handle, [{ type: m.CKA_KEY_TYPE }, { type: m.CKA_VALUE_LEN }]);
    const keyType = kt!.value.readUInt32LE();
    const bytes = len!.value.length >= 4 ? len!.value.readUInt32LE() : 0;
    let type: SecretKeyType;
    if (keyType === m.CKK_GENERIC_SECRET) type = 'hmac-sha256';
    else if (keyType === m.CKK_AES && (bytes === 16 || bytes === 32)) type = bytes === 16 ? 'aes-128' : 'aes-256';
    else throw new KeyStoreError('WRONG_KEY_TYPE', `key ${label} in the token is neither a generic secret nor AES-128/256`);
    const ref = { handle, type };
    this.#keys.set(label, ref);
    return ref;
  }

  /** The private key `label` as a signing key: P-256 (es256) or edwards25519 (ed25519). */
  #findSigning(label: string): KeyRef | undefined {
    const m = this.#m;
    const handle = this.#findObject(label, m.CKO_PRIVATE_KEY);
    if (handle === undefined) return undefined;
    const [kt, params] = this.#p.C_GetAttributeValue(this.#session, handle, [{ type: m.CKA_KEY_TYPE }, { type: m.CKA_EC_PARAMS }]);
    const keyType = kt!.value.readUInt32LE();
    let type: SigningKeyAlg;
    if (keyType === m.CKK_EC && params!.value.equals(Pkcs11KeyStore.P256_PARAMS)) type = 'es256';
    else if (keyType === CKK_EC_EDWARDS && (params!.value.equals(ED25519_PARAMS) || params!.value.equals(ED25519_PARAMS_NAME))) type = 'ed25519';
    else throw new KeyStoreError('WRONG_KEY_TYPE', `private key ${label} in the token is neither P-256 nor Ed25519`);
    const ref = { handle, type };
    this.#keys.set(label, ref);
    return ref;
  }

  /** Any object (secret, private or public key) labelled `label`: one label names one key. */
  #labelTaken(label: string): boolean {
    if (this.#find(label)) return true;
    return this.#findObject(label, this.#m.CKO_PUBLIC_KEY) !== undefined;
  }

  #get(label: string): KeyRef {
    const k = this.#find(label);
    if (!k) throw new KeyStoreError('NO_KEY', `no key labelled ${label} in the token`);
    return k;
  }

  async hasKey(label: string): Promise<boolean> {
    return this.#find(label) !== undefined;
  }

  async keyType(label: string): Promise<KeyType | undefined> {
    return this.#find(label)?.type;
  }

  /** A persistent private object whose value never leaves the token (PKCS#11 §4.9: sensitive, not extractable). */
  #heldInToken(label: string): { type: number; value: boolean | string }[] {
    const m = this.#m;
    return [
      { type: m.CKA_LABEL, value: label },
      { type: m.CKA_TOKEN, value: true },
      { type: m.CKA_PRIVATE, value: true },
      { type: m.CKA_SENSITIVE, value: true },
      { type: m.CKA_EXTRACTABLE, value: false },
    ];
  }

  #template(label: string, type: SecretKeyType): { type: number; value: number | boolean | string }[] {
    const m = this.#m;
    const aes = type !== 'hmac-sha256';
    return [
      { type: m.CKA_CLASS, value: m.CKO_SECRET_KEY },
      { type: m.CKA_KEY_TYPE, value: aes ? m.CKK_AES : m.CKK_GENERIC_SECRET },
      ...this.#heldInToken(label),
      { type: m.CKA_SIGN, value: true },
      { type: m.CKA_VERIFY, value: true },
      { type: m.CKA_ENCRYPT, value: aes },
      { type: m.CKA_DECRYPT, value: aes },
      { type: m.CKA_WRAP, value: false },
      { type: m.CKA_DERIVE, value: false },
    ];
  }

  async generateSecretKey(label: string, options: { type: SecretKeyType }): Promise<void> {
    checkLabel(label);
    const { type } = options;
    if (!(type in KEY_BYTES)) throw new KeyStoreError('INVALID', `unknown key type ${String(type)}`);
    if (this.#labelTaken(label)) throw new KeyStoreError('KEY_EXISTS', `a key labelled ${label} exists in the token`);
    const m = this.#m;
    const mechanism = type === 'hmac-sha256' ? m.CKM_GENERIC_SECRET_KEY_GEN : m.CKM_AES_KEY_GEN;
    try {
      const handle = this.#p.C_GenerateKey(this.#session, { mechanism }, [...this.#template(label, type), { type: m.CKA_VALUE_LEN, value: KEY_BYTES[type] }]);
      this.#keys.set(label, { handle, type });
    } catch (err) {
      throw tokenError(`generating key ${label}`, err);
    }
  }

  /**
   * Creates a key from a known value (C_CreateObject), with the same non-extractable attributes. For migrating a key
   * into the token and for test fixtures; generateSecretKey is the normal way.
   */
  async importSecretKey(label: string, type: SecretKeyType, value: Uint8Array): Promise<void> {
    checkLabel(label);
    if (value.length !== KEY_BYTES[type]) throw new KeyStoreError('INVALID', `a ${type} key is ${KEY_BYTES[type]} bytes`);
    if (this.#labelTaken(label)) throw new KeyStoreError('KEY_EXISTS', `a key labelled ${label} exists in the token`);
    try {
      const handle = this.#p.C_CreateObject(this.#session, [...this.#template(label, type), { type: this.#m.CKA_VALUE, value: Buffer.from(value) }]);
      this.#keys.set(label, { handle, type });
    } catch (err) {
      throw tokenError(`importing key ${label}`, err);
    }
  }

  async prf(label: string, data: Uint8Array): Promise<Uint8Array> {
    const k = this.#get(label);
    if (isSigningKeyAlg(k.type)) throw new KeyStoreError('WRONG_KEY_TYPE', `key ${label} is not a secret key`);
    const hmac = k.type === 'hmac-sha256';
    try {
      this.#p.C_SignInit(this.#session, { mechanism: hmac ? this.#m.CKM_SHA256_HMAC : this.#m.CKM_AES_CMAC }, k.handle);
      return this.#p.C_Sign(this.#session, Buffer.from(data.buffer, data.byteOffset, data.length), Buffer.alloc(hmac ? 32 : 16));
    } catch (err) {
      throw tokenError(`PRF with key ${label}`, err);
    }
  }

  #gcm(nonce: Buffer, aad: Uint8Array): import('pkcs11js').Mechanism {
    return {
      mechanism: this.#m.CKM_AES_GCM,
      parameter: { type: this.#m.CK_PARAMS_AES_GCM, iv: nonce, aad: Buffer.from(aad), ivBits: NONCE * 8, tagBits: TAG * 8 } as import('pkcs11js').AesGCM,
    };
  }

  async seal(label: string, plaintext: Uint8Array, aad: Uint8Array = new Uint8Array(0)): Promise<Uint8Array> {
    const k = this.#get(label);
    if (k.type !== 'aes-128' && k.type !== 'aes-256') throw new KeyStoreError('WRONG_KEY_TYPE', `key ${label} is not an AES key`);
    const nonce = randomBytes(NONCE);
    try {
      this.#p.C_EncryptInit(this.#session, this.#gcm(nonce, aad), k.handle);
      const ct = this.#p.C_Encrypt(this.#session, Buffer.from(plaintext), Buffer.alloc(plaintext.length + TAG));
      return Buffer.concat([nonce, ct]);
    } catch (err) {
      throw tokenError(`sealing with key ${label}`, err);
    }
  }

  async open(label: string, sealed: Uint8Array, aad: Uint8Array = new Uint8Array(0)): Promise<Uint8Array> {
    const k = this.#get(label);
    if (k.type !== 'aes-128' && k.type !== 'aes-256') throw new KeyStoreError('WRONG_KEY_TYPE', `key ${label} is not an AES key`);
    if (sealed.length < NONCE + TAG) throw new KeyStoreError('SEAL_FAILED', 'sealed data is too short');
    const s = Buffer.from(sealed);
    try {
      this.#p.C_DecryptInit(this.#session, this.#gcm(s.subarray(0, NONCE), aad), k.handle);
      return this.#p.C_Decrypt(this.#session, s.subarray(NONCE), Buffer.alloc(s.length));
    } catch {
      throw new KeyStoreError('SEAL_FAILED', 'sealed data does not open: tampered with, or sealed under another key or context');
    }
  }

  /** DER OID prime256v1 (RFC 5480 §2.1.1.1), the CKA_EC_PARAMS of a P-256 key. */
  static readonly P256_PARAMS = Buffer.from('06082a8648ce3d030107', 'hex');

  #findObject(label: string, cls: number): Handle | undefined {
    this.#live();
    this.#p.C_FindObjectsInit(this.#session, [
      { type: this.#m.CKA_CLASS, value: cls },
      { type: this.#m.CKA_LABEL, value: label },
    ]);
    let handles: Handle[];
    try {
      handles = this.#p.C_FindObjects(this.#session, 2);
    } finally {
      this.#p.C_FindObjectsFinal(this.#session);
    }
    if (handles.length > 1) throw new KeyStoreError('TOKEN', `more than one object labelled ${label} in the token`);
    return handles[0];
  }

  /** The token's mechanisms (C_GetMechanismList), to refuse clearly what it cannot do. */
  #mechanisms(): Set<number> {
    return new Set(this.#p.C_GetMechanismList(this.#slot));
  }

  /**
   * C_GenerateKeyPair for `alg`: the private key is CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE, not CKA_EXTRACTABLE and may
   * only sign (PKCS#11 3.0 §2.3.6 for EC, §2.3.11 for Edwards curves); the public key is a token object beside it.
   */
  #generateKeyPair(label: string, alg: SigningKeyAlg): void {
    checkLabel(label);
    if (!isSigningKeyAlg(alg)) throw new KeyStoreError('INVALID', `unknown signing algorithm ${String(alg)}`);
    const m = this.#m;
    if (this.#labelTaken(label)) throw new KeyStoreError('KEY_EXISTS', `a key labelled ${label} exists in the token`);
    const ed = alg === 'ed25519';
    const [gen, signMech] = ed ? [CKM_EC_EDWARDS_KEY_PAIR_GEN, CKM_EDDSA] : [m.CKM_EC_KEY_PAIR_GEN, m.CKM_ECDSA];
    let mechanisms: Set<number>;
    try {
      mechanisms = this.#mechanisms();
    } catch (err) {
      throw tokenError('C_GetMechanismList', err);
    }
    if (!mechanisms.has(gen) || !mechanisms.has(signMech)) {
      throw new KeyStoreError(
        'UNSUPPORTED',
        ed ? 'this PKCS#11 token offers no Ed25519 (CKM_EC_EDWARDS_KEY_PAIR_GEN and CKM_EDDSA): use es256' : 'this PKCS#11 token offers no ECDSA P-256 (CKM_EC_KEY_PAIR_GEN and CKM_ECDSA)',
      );
    }
    const keyType = ed ? CKK_EC_EDWARDS : m.CKK_EC;
    try {
      const { privateKey } = this.#p.C_GenerateKeyPair(
        this.#session,
        { mechanism: gen },
        [
          { type: m.CKA_CLASS, value: m.CKO_PUBLIC_KEY },
          { type: m.CKA_KEY_TYPE, value: keyType },
          { type: m.CKA_LABEL, value: label },
          { type: m.CKA_TOKEN, value: true },
          { type: m.CKA_PRIVATE, value: false },
          { type: m.CKA_VERIFY, value: true },
          { type: m.CKA_EC_PARAMS, value: ed ? ED25519_PARAMS : Pkcs11KeyStore.P256_PARAMS },
        ],
        [
          { type: m.CKA_CLASS, value: m.CKO_PRIVATE_KEY },
          { type: m.CKA_KEY_TYPE, value: keyType },
          ...this.#heldInToken(label),
          { type: m.CKA_SIGN, value: true },
          { type: m.CKA_DECRYPT, value: false },
          { type: m.CKA_UNWRAP, value: false },
          { type: m.CKA_DERIVE, value: false },
        ],
      );
      this.#keys.set(label, { handle: privateKey, type: alg });
    } catch (err) {
      throw tokenError(`generating ${alg} key pair ${label}`, err);
    }
  }

  /**
   * Generates a P-256 key pair in the token (C_GenerateKeyPair CKM_EC_KEY_PAIR_GEN): the private key is CKA_TOKEN,
   * CKA_SENSITIVE, not CKA_EXTRACTABLE and may only sign. Returns the public key.
   */
  async generateEcKeyPair(label: string): Promise<KeyObject> {
    this.#generateKeyPair(label, 'es256');
    return this.ecPublicKey(label)!;
  }

  async generateSigningKey(label: string, options: { alg: SigningKeyAlg }): Promise<Uint8Array> {
    this.#generateKeyPair(label, options.alg);
    return this.publicKey(label);
  }

  /** CKA_EC_POINT without its DER OCTET STRING wrapping (PKCS#11 v2.40 §2.3.3; 3.0 tokens may give it bare). */
  static #point(v: Buffer, size: number): Buffer {
    return v.length === size + 2 && v[0] === 0x04 && v[1] === size ? v.subarray(2) : v;
  }

  async publicKey(label: string): Promise<Uint8Array> {
    const k = this.#get(label);
    if (!isSigningKeyAlg(k.type)) throw new KeyStoreError('WRONG_KEY_TYPE', `key ${label} is not a signing key`);
    const m = this.#m;
    const h = this.#findObject(label, m.CKO_PUBLIC_KEY);
    if (!h) throw new KeyStoreError('NO_KEY', `the token holds no public key labelled ${label}`);
    const [point] = this.#p.C_GetAttributeValue(this.#session, h, [{ type: m.CKA_EC_POINT }]);
    if (k.type === 'es256') {
      const q = Pkcs11KeyStore.#point(point!.value, 65);
      if (q.length !== 65 || q[0] !== 0x04) throw new KeyStoreError('TOKEN', `key ${label}: unexpected EC point encoding`);
      return new Uint8Array(Buffer.concat([P256_SPKI_PREFIX, q]));
    }
    const a = Pkcs11KeyStore.#point(point!.value, 32);
    if (a.length !== 32) throw new KeyStoreError('TOKEN', `key ${label}: unexpected Ed25519 public key encoding`);
    return new Uint8Array(Buffer.concat([ED25519_SPKI_PREFIX, a]));
  }

  /**
   * ES256: SHA-256 here, C_Sign CKM_ECDSA in the token over the digest; its output is already r || s (PKCS#11 3.0
   * §2.3.1). Ed25519: C_Sign CKM_EDDSA with no parameters, which is pure Ed25519 (§2.3.14). pkcs11js calls are
   * synchronous, so no other call can come between C_SignInit and C_Sign.
   */
  async sign(label: string, data: Uint8Array): Promise<Uint8Array> {
    const k = this.#get(label);
    if (!isSigningKeyAlg(k.type)) throw new KeyStoreError('WRONG_KEY_TYPE', `key ${label} is not a signing key`);
    const es = k.type === 'es256';
    const input = es ? createHash('sha256').update(data).digest() : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    try {
      this.#p.C_SignInit(this.#session, { mechanism: es ? this.#m.CKM_ECDSA : CKM_EDDSA }, k.handle);
      const sig = this.#p.C_Sign(this.#session, input, Buffer.alloc(64));
      if (sig.length !== 64) throw new KeyStoreError('TOKEN', `the token made a ${sig.length}-byte ${k.type} signature`);
      return new Uint8Array(sig.buffer, sig.byteOffset, sig.byteLength);
    } catch (err) {
      if (err instanceof KeyStoreError) throw err;
      throw tokenError(`${k.type} signing with key ${label}`, err);
    }
  }

  /** The public key of the token's EC key pair `label`, or undefined if there is none. */
  ecPublicKey(label: string): KeyObject | undefined {
    const m = this.#m;
    const h = this.#findObject(label, m.CKO_PUBLIC_KEY);
    if (!h) return undefined;
    const [params, point] = this.#p.C_GetAttributeValue(this.#session, h, [{ type: m.CKA_EC_PARAMS }, { type: m.CKA_EC_POINT }]);
    if (!params!.value.equals(Pkcs11KeyStore.P256_PARAMS)) throw new KeyStoreError('WRONG_KEY_TYPE', `key ${label} is not a P-256 key`);
    // CKA_EC_POINT is the DER OCTET STRING of the uncompressed point 04 || X || Y (PKCS#11 v2.40 §2.3.3).
    const v = point!.value;
    const q = v.length === 67 && v[0] === 0x04 && v[1] === 0x41 ? v.subarray(2) : v;
    if (q.length !== 65 || q[0] !== 0x04) throw new KeyStoreError('TOKEN', `key ${label}: unexpected EC point encoding`);
    const b64 = (b: Buffer) => b.toString('base64url');
    return createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: b64(q.subarray(1, 33)), y: b64(q.subarray(33)) }, format: 'jwk' });
  }

  /**
   * ecdsa-with-SHA256 with the token's private key `label`: SHA-256 here, C_Sign CKM_ECDSA in the token, the raw
   * r || s converted to DER. Synchronous (pkcs11js calls are), so it needs no queue: no other call can interleave.
   */
  signEcdsaSha256(label: string, data: Uint8Array): Uint8Array {
    const h = this.#findObject(label, this.#m.CKO_PRIVATE_KEY);
    if (!h) throw new KeyStoreError('NO_KEY', `no EC private key labelled ${label} in the token`);
    const digest = createHash('sha256').update(data).digest();
    try {
      this.#p.C_SignInit(this.#session, { mechanism: this.#m.CKM_ECDSA }, h);
      return ecdsaRawToDer(this.#p.C_Sign(this.#session, digest, Buffer.alloc(64)));
    } catch (err) {
      throw tokenError(`ECDSA signing with key ${label}`, err);
    }
  }

  /** Attributes of a private key (EC or secret) as the token reports them. */
  privateKeyAttributes(label: string): { sensitive: boolean; extractable: boolean } {
    const h = this.#findObject(label, this.#m.CKO_PRIVATE_KEY);
    if (!h) throw new KeyStoreError('NO_KEY', `no EC private key labelled ${label} in the token`);
    const r = this.#p.C_GetAttributeValue(this.#session, h, [{ type: this.#m.CKA_SENSITIVE }, { type: this.#m.CKA_EXTRACTABLE }]);
    return { sensitive: r[0]!.value[0] === 1, extractable: r[1]!.value[0] === 1 };
  }

  /** Reads CKA_VALUE of a key: always fails for keys this store made (tests prove non-extractability with it). */
  tryReadKeyValue(label: string): Buffer {
    const k = this.#get(label);
    try {
      return this.#p.C_GetAttributeValue(this.#session, k.handle, [{ type: this.#m.CKA_VALUE }])[0]!.value;
    } catch (err) {
      throw tokenError(`reading key ${label}`, err);
    }
  }

  /** Attributes that make a key non-exportable, as the token reports them. */
  keyAttributes(label: string): { token: boolean; sensitive: boolean; extractable: boolean; neverExtractable: boolean } {
    const k = this.#get(label);
    const m = this.#m;
    const r = this.#p.C_GetAttributeValue(this.#session, k.handle, [
      { type: m.CKA_TOKEN },
      { type: m.CKA_SENSITIVE },
      { type: m.CKA_EXTRACTABLE },
      { type: m.CKA_NEVER_EXTRACTABLE },
    ]);
    const b = (i: number) => r[i]!.value[0] === 1;
    return { token: b(0), sensitive: b(1), extractable: b(2), neverExtractable: b(3) };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#keys.clear();
    try {
      this.#p.C_Logout(this.#session);
    } catch {
      /* session may be gone */
    }
    try {
      this.#p.C_CloseSession(this.#session);
    } finally {
      release(this.#module);
    }
  }
}
