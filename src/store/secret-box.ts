/**
 * Secrets at rest (PSK keys in the database): AES-256-GCM under a key kept outside the database, in a 0600 file.
 * Sealed form: version (1) | nonce (12) | ciphertext | tag (16); the additional data binds a secret to its row,
 * so a sealed value copied to another row does not open. The key store/HSM will later hold the key: callers only
 * see seal/open.
 */
import { chmodSync, closeSync, fstatSync, mkdirSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { dirname } from 'node:path';
import { silentLogger, type Logger } from '../log.js';

const VERSION = 1;
const KEY_LENGTH = 32;
const NONCE_LENGTH = 12;
const TAG_LENGTH = 16;

/** A sealed secret that does not open: tampered with, sealed under another key, or for another context. */
export class SecretBoxError extends Error {
  readonly code = 'SECRET_TAMPERED';

  constructor(message: string) {
    super(message);
    this.name = 'SecretBoxError';
  }
}

/** AES-256-GCM sealing of small secrets. */
export class SecretBox {
  private readonly key: Buffer;

  private constructor(key: Uint8Array) {
    if (key.length !== KEY_LENGTH) throw new TypeError(`a SecretBox key is ${KEY_LENGTH} bytes`);
    this.key = Buffer.from(key);
  }

  /** A box over a key the caller holds (tests, or a key from the key store). */
  static fromKey(key: Uint8Array): SecretBox {
    return new SecretBox(key);
  }

  /**
   * Reads the 32-byte key from `file`, or creates the file with a random key (mode 0600, directory 0700). A key file
   * readable or writable by group or others is narrowed to 0600 with a warning before use.
   */
  static openOrCreate(file: string, logger: Logger = silentLogger): SecretBox {
    let fd: number;
    try {
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
      // 'wx': create exclusively, so two processes starting at once cannot each write a different key.
      fd = openSync(file, 'wx', 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      return new SecretBox(readKeyFile(file, logger));
    }
    try {
      const key = randomBytes(KEY_LENGTH);
      writeSync(fd, key);
      logger.info({ file }, 'secret key created');
      return new SecretBox(key);
    } finally {
      closeSync(fd);
    }
  }

  /** Encrypts `plain`, bound to `aad` (e.g. "psk:<endpoint>"). */
  seal(plain: Uint8Array, aad: string): Uint8Array {
    const nonce = randomBytes(NONCE_LENGTH);
    const cipher = createCipheriv('aes-256-gcm', this.key, nonce, { authTagLength: TAG_LENGTH });
    cipher.setAAD(Buffer.from(aad, 'utf8'));
    const body = Buffer.concat([cipher.update(plain), cipher.final()]);
    return new Uint8Array(Buffer.concat([Uint8Array.of(VERSION), nonce, body, cipher.getAuthTag()]));
  }

  /** Decrypts what `seal` made with the same `aad`; throws SecretBoxError if anything was changed. */
  open(sealed: Uint8Array, aad: string): Uint8Array {
    if (sealed.length < 1 + NONCE_LENGTH + TAG_LENGTH || sealed[0] !== VERSION) {
      throw new SecretBoxError('sealed secret is malformed');
    }
    const buf = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
    const nonce = buf.subarray(1, 1 + NONCE_LENGTH);
    const tag = buf.subarray(buf.length - TAG_LENGTH);
    const body = buf.subarray(1 + NONCE_LENGTH, buf.length - TAG_LENGTH);
    const decipher = createDecipheriv('aes-256-gcm', this.key, nonce, { authTagLength: TAG_LENGTH });
    decipher.setAAD(Buffer.from(aad, 'utf8'));
    decipher.setAuthTag(tag);
    try {
      return new Uint8Array(Buffer.concat([decipher.update(body), decipher.final()]));
    } catch {
      throw new SecretBoxError('sealed secret failed authentication (tampered with, another key, or another record)');
    }
  }
}

function readKeyFile(file: string, logger: Logger): Buffer {
  if (process.platform !== 'win32') {
    const mode = statSync(file).mode & 0o777;
    if ((mode & 0o077) !== 0) {
      logger.warn({ file, mode: mode.toString(8) }, 'secret key file was accessible to other users; restricting it to 0600');
      chmodSync(file, 0o600);
    }
  }
  const fd = openSync(file, 'r');
  try {
    if (!fstatSync(fd).isFile()) throw new Error(`secret key ${file} is not a regular file`);
    const key = readFileSync(fd);
    if (key.length !== KEY_LENGTH) throw new Error(`secret key ${file} must hold exactly ${KEY_LENGTH} bytes, found ${key.length}`);
    return key;
  } finally {
    closeSync(fd);
  }
}
