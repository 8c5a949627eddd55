/**
 * The software key store: one JSON file (default DATA/keystore.json, mode 0600) holding each key (a secret key's bytes,
 * a signing key's PKCS#8 DER) encrypted with
 * AES-256-GCM under a wrapping key derived from a passphrase with scrypt (salt per file). A verifier sealed under the
 * wrapping key tells a wrong passphrase from a damaged file. Writes go to a temporary file renamed over the old one,
 * so a failed write or a wrong passphrase never overwrites anything.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  generateKeyPairSync,
  randomBytes,
  scrypt,
  sign,
  type CipherGCMTypes,
  type KeyObject,
} from 'node:crypto';
import { chmodSync, closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { AesCmac } from './cmac.js';
import { checkLabel, isSigningKeyAlg, KEY_BYTES, KeyStoreError, type KeyStore, type KeyType, type SecretKeyType, type SigningKeyAlg } from './key-store.js';

const FILE_VERSION = 1;
/** scrypt cost: N = 2^15 is the floor the brief sets; r = 8, p = 1 (RFC 7914 §2). */
export const SCRYPT_MIN_LOG2N = 15;
const SCRYPT_R = 8;
const SCRYPT_P = 1;
const NONCE = 12;
const TAG = 16;
const VERIFIER = Buffer.from('warden keystore v1');

interface SealedJson {
  nonce: string;
  data: string;
  tag: string;
}

interface KeyJson extends SealedJson {
  type: KeyType;
  created: string;
}

interface FileJson {
  version: number;
  kdf: { name: 'scrypt'; log2N: number; r: number; p: number; salt: string };
  verifier: SealedJson;
  keys: Record<string, KeyJson>;
}

interface Loaded {
  type: KeyType;
  hmac?: KeyObject;
  cmac?: AesCmac;
  aes?: Buffer;
  /** A signing key's private key, and its public key as SubjectPublicKeyInfo DER. */
  signing?: KeyObject;
  spki?: Buffer;
}

/** The signing algorithm of a private key, or undefined for keys the store does not sign with. */
function signingAlgOf(key: KeyObject): SigningKeyAlg | undefined {
  if (key.type !== 'private') return undefined;
  if (key.asymmetricKeyType === 'ed25519') return 'ed25519';
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'es256';
  return undefined;
}

function gcmName(key: Buffer): CipherGCMTypes {
  return key.length === 16 ? 'aes-128-gcm' : 'aes-256-gcm';
}

function b64(b: Uint8Array): string {
  return Buffer.from(b).toString('base64');
}

function sealWith(key: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): SealedJson {
  const nonce = randomBytes(NONCE);
  const c = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG });
  c.setAAD(aad);
  const data = Buffer.concat([c.update(plaintext), c.final()]);
  return { nonce: b64(nonce), data: b64(data), tag: b64(c.getAuthTag()) };
}

/** Undefined if the tag does not verify. */
function openWith(key: Uint8Array, s: SealedJson, aad: Uint8Array): Buffer | undefined {
  try {
    const d = createDecipheriv('aes-256-gcm', key, Buffer.from(s.nonce, 'base64'), { authTagLength: TAG });
    d.setAAD(aad);
    d.setAuthTag(Buffer.from(s.tag, 'base64'));
    return Buffer.concat([d.update(Buffer.from(s.data, 'base64')), d.final()]);
  } catch {
    return undefined;
  }
}

function keyAad(label: string, type: KeyType): Buffer {
  return Buffer.from(JSON.stringify(['warden-key', label, type]));
}

function deriveWrappingKey(passphrase: string, salt: Buffer, log2N: number, r: number, p: number): Promise<Buffer> {
  const N = 2 ** log2N;
  return new Promise((resolve, reject) =>
    scrypt(passphrase.normalize('NFC'), salt, 32, { N, r, p, maxmem: 256 * N * r + 1024 * 1024 }, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

function writeFileAtomic(file: string, text: string): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  closeSync(fd);
  renameSync(tmp, file);
  chmodSync(file, 0o600);
}

/** Options for opening or creating a software key store. */
export interface SoftwareKeyStoreOptions {
  /** Create the file if it does not exist (default false: a missing file is an error). */
  create?: boolean;
  /** log2 of scrypt's N for a new file; at least 15. */
  scryptLog2N?: number;
}

/** Keys in a passphrase-encrypted file. The plain keys live only in this object's private fields. */
export class SoftwareKeyStore implements KeyStore {
  readonly kind = 'software' as const;
  readonly #file: string;
  readonly #wrap: Buffer;
  readonly #json: FileJson;
  readonly #keys = new Map<string, Loaded>();
  #closed = false;

  private constructor(file: string, wrap: Buffer, json: FileJson) {
    this.#file = file;
    this.#wrap = wrap;
    this.#json = json;
  }

  /**
   * Opens `file` with `passphrase` (or creates it with `create`). A wrong passphrase fails with BAD_PASSPHRASE and
   * leaves the file as it was.
   */
  static async open(file: string, passphrase: string, options: SoftwareKeyStoreOptions = {}): Promise<SoftwareKeyStore> {
    if (passphrase.length === 0) throw new KeyStoreError('INVALID', 'the key store passphrase is empty');
    let text: string | undefined;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (text === undefined) {
      if (!options.create) throw new KeyStoreError('NO_KEY', `no key store at ${file} (run \`warden keys init\`)`);
      const log2N = options.scryptLog2N ?? SCRYPT_MIN_LOG2N;
      if (!Number.isInteger(log2N) || log2N < SCRYPT_MIN_LOG2N || log2N > 22) throw new KeyStoreError('INVALID', `scrypt log2 N is ${SCRYPT_MIN_LOG2N} to 22`);
      const salt = randomBytes(16);
      const wrap = await deriveWrappingKey(passphrase, salt, log2N, SCRYPT_R, SCRYPT_P);
      const json: FileJson = {
        version: FILE_VERSION,
        kdf: { name: 'scrypt', log2N, r: SCRYPT_R, p: SCRYPT_P, salt: b64(salt) },
        verifier: sealWith(wrap, VERIFIER, VERIFIER),
        keys: {},
      };
      const store = new SoftwareKeyStore(file, wrap, json);
      store.#save();
      return store;
    }
    let json: FileJson;
    try {
      json = JSON.parse(text) as FileJson;
      if (json.version !== FILE_VERSION || json.kdf?.name !== 'scrypt' || typeof json.kdf.salt !== 'string' || typeof json.keys !== 'object') throw new Error();
    } catch {
      throw new KeyStoreError('CORRUPT', `${file} is not a Warden key store`);
    }
    const { log2N, r, p } = json.kdf;
    if (!Number.isInteger(log2N) || log2N < SCRYPT_MIN_LOG2N || log2N > 22 || !Number.isInteger(r) || !Number.isInteger(p) || r < 1 || r > 32 || p < 1 || p > 16) {
      throw new KeyStoreError('CORRUPT', `${file} has scrypt parameters outside the accepted range`);
    }
    const wrap = await deriveWrappingKey(passphrase, Buffer.from(json.kdf.salt, 'base64'), log2N, r, p);
    const check = openWith(wrap, json.verifier, VERIFIER);
    if (!check || !check.equals(VERIFIER)) throw new KeyStoreError('BAD_PASSPHRASE', `wrong passphrase for the key store ${file}`);
    const store = new SoftwareKeyStore(file, wrap, json);
    for (const [label, k] of Object.entries(json.keys)) {
      const raw = openWith(wrap, k, keyAad(label, k.type));
      if (!raw) throw new KeyStoreError('CORRUPT', `key ${label} in ${file} does not open: the file was altered`);
      if (isSigningKeyAlg(k.type)) store.#loadSigning(label, k.type, raw, file);
      else if (Object.hasOwn(KEY_BYTES, k.type) && raw.length === KEY_BYTES[k.type]) store.#load(label, k.type, raw);
      else throw new KeyStoreError('CORRUPT', `key ${label} in ${file} has an unknown type or length`);
    }
    return store;
  }

  #load(label: string, type: SecretKeyType, raw: Buffer): void {
    if (type === 'hmac-sha256') this.#keys.set(label, { type, hmac: createSecretKey(raw) });
    else this.#keys.set(label, { type, cmac: new AesCmac(raw), aes: raw });
  }

  /** `der` is PKCS#8; it is zeroed once the KeyObject holds the key. */
  #loadSigning(label: string, alg: SigningKeyAlg, der: Buffer, file: string): void {
    let key: KeyObject;
    try {
      key = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    } catch {
      throw new KeyStoreError('CORRUPT', `signing key ${label} in ${file} is not a PKCS#8 key`);
    } finally {
      der.fill(0);
    }
    if (signingAlgOf(key) !== alg) throw new KeyStoreError('CORRUPT', `signing key ${label} in ${file} is not an ${alg} key`);
    this.#setSigning(label, alg, key);
  }

  #setSigning(label: string, alg: SigningKeyAlg, key: KeyObject): void {
    this.#keys.set(label, { type: alg, signing: key, spki: createPublicKey(key).export({ format: 'der', type: 'spki' }) });
  }

  /** Seals `raw` under the wrapping key into the file as key `label`; nothing changes in memory or on disk on failure. */
  #store(label: string, type: KeyType, raw: Buffer): void {
    this.#json.keys[label] = { type, created: new Date().toISOString(), ...sealWith(this.#wrap, raw, keyAad(label, type)) };
    try {
      this.#save();
    } catch (err) {
      delete this.#json.keys[label];
      throw err;
    }
  }

  #save(): void {
    writeFileAtomic(this.#file, JSON.stringify(this.#json, null, 2) + '\n');
  }

  #live(): void {
    if (this.#closed) throw new KeyStoreError('CLOSED', 'the key store is closed');
  }

  #get(label: string): Loaded {
    this.#live();
    const k = this.#keys.get(label);
    if (!k) throw new KeyStoreError('NO_KEY', `no key labelled ${label}`);
    return k;
  }

  async hasKey(label: string): Promise<boolean> {
    this.#live();
    return this.#keys.has(label);
  }

  async keyType(label: string): Promise<KeyType | undefined> {
    this.#live();
    return this.#keys.get(label)?.type;
  }

  async generateSecretKey(label: string, options: { type: SecretKeyType }): Promise<void> {
    await this.importSecretKey(label, options.type, randomBytes(KEY_BYTES[options.type]));
  }

  /**
   * Stores a key the caller supplies (migration, test fixtures). The file is rewritten; the in-memory copy is only
   * added once the write succeeded.
   */
  async importSecretKey(label: string, type: SecretKeyType, value: Uint8Array): Promise<void> {
    this.#live();
    checkLabel(label);
    if (!(type in KEY_BYTES)) throw new KeyStoreError('INVALID', `unknown key type ${String(type)}`);
    if (value.length !== KEY_BYTES[type]) throw new KeyStoreError('INVALID', `a ${type} key is ${KEY_BYTES[type]} bytes`);
    if (this.#keys.has(label)) throw new KeyStoreError('KEY_EXISTS', `a key labelled ${label} exists`);
    const raw = Buffer.from(value);
    this.#store(label, type, raw);
    this.#load(label, type, raw);
  }

  async generateSigningKey(label: string, options: { alg: SigningKeyAlg }): Promise<Uint8Array> {
    const { alg } = options;
    if (!isSigningKeyAlg(alg)) throw new KeyStoreError('INVALID', `unknown signing algorithm ${String(alg)}`);
    const { privateKey } = alg === 'es256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519');
    return this.importSigningKey(label, privateKey);
  }

  /**
   * Stores a P-256 or Ed25519 private key the caller supplies (migrating a PEM signing key, test fixtures), sealed
   * like every other key (PKCS#8 DER under AES-256-GCM). Returns the public key (SubjectPublicKeyInfo DER).
   */
  async importSigningKey(label: string, privateKey: KeyObject): Promise<Uint8Array> {
    this.#live();
    checkLabel(label);
    const alg = signingAlgOf(privateKey);
    if (!alg) throw new KeyStoreError('INVALID', 'a signing key is an ECDSA P-256 or an Ed25519 private key');
    if (this.#keys.has(label)) throw new KeyStoreError('KEY_EXISTS', `a key labelled ${label} exists`);
    const der = privateKey.export({ format: 'der', type: 'pkcs8' });
    try {
      this.#store(label, alg, der);
    } finally {
      der.fill(0);
    }
    this.#setSigning(label, alg, privateKey);
    return new Uint8Array(this.#keys.get(label)!.spki!);
  }

  #signing(label: string): Loaded & { type: SigningKeyAlg; signing: KeyObject; spki: Buffer } {
    const k = this.#get(label);
    if (!k.signing || !k.spki || !isSigningKeyAlg(k.type)) throw new KeyStoreError('WRONG_KEY_TYPE', `key ${label} is not a signing key`);
    return k as Loaded & { type: SigningKeyAlg; signing: KeyObject; spki: Buffer };
  }

  async publicKey(label: string): Promise<Uint8Array> {
    return new Uint8Array(this.#signing(label).spki);
  }

  async sign(label: string, data: Uint8Array): Promise<Uint8Array> {
    const k = this.#signing(label);
    const sig = k.type === 'es256' ? sign('sha256', data, { key: k.signing, dsaEncoding: 'ieee-p1363' }) : sign(null, data, k.signing);
    return new Uint8Array(sig.buffer, sig.byteOffset, sig.byteLength);
  }

  async prf(label: string, data: Uint8Array): Promise<Uint8Array> {
    return this.prfSync(label, data);
  }

  /** `prf` without the promise, for bulk derivation in this process. */
  prfSync(label: string, data: Uint8Array): Buffer {
    const k = this.#get(label);
    if (k.hmac) return createHmac('sha256', k.hmac).update(data).digest();
    if (!k.cmac) throw new KeyStoreError('WRONG_KEY_TYPE', `key ${label} is not a secret key`);
    return k.cmac.mac(data);
  }

  async seal(label: string, plaintext: Uint8Array, aad: Uint8Array = new Uint8Array(0)): Promise<Uint8Array> {
    const k = this.#get(label);
    if (!k.aes) throw new KeyStoreError('WRONG_KEY_TYPE', `key ${label} is not an AES key`);
    const nonce = randomBytes(NONCE);
    const c = createCipheriv(gcmName(k.aes), k.aes, nonce, { authTagLength: TAG });
    c.setAAD(aad);
    return Buffer.concat([nonce, c.update(plaintext), c.final(), c.getAuthTag()]);
  }

  async open(label: string, sealed: Uint8Array, aad: Uint8Array = new Uint8Array(0)): Promise<Uint8Array> {
    const k = this.#get(label);
    if (!k.aes) throw new KeyStoreError('WRONG_KEY_TYPE', `key ${label} is not an AES key`);
    if (sealed.length < NONCE + TAG) throw new KeyStoreError('SEAL_FAILED', 'sealed data is too short');
    try {
      const d = createDecipheriv(gcmName(k.aes), k.aes, sealed.subarray(0, NONCE), { authTagLength: TAG });
      d.setAAD(aad);
      d.setAuthTag(sealed.subarray(sealed.length - TAG));
      return Buffer.concat([d.update(sealed.subarray(NONCE, sealed.length - TAG)), d.final()]);
    } catch {
      throw new KeyStoreError('SEAL_FAILED', 'sealed data does not open: tampered with, or sealed under another key or context');
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#keys.clear();
    this.#wrap.fill(0);
  }
}
