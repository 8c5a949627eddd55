/**
 * Record protection for the suites of `CipherSuite` (types.ts): AES-128-CCM_8 and AES-128-GCM
 * (RFC 6655, RFC 5288 with the DTLS nonce of RFC 6347 §4.1.2.1), and AES-128-CBC + HMAC-SHA256
 * MAC-then-encrypt (RFC 5246 §6.2.3.2). With a Connection ID the additional data is RFC 9146 §5's.
 */
import { createCipheriv, createDecipheriv, createHmac, randomFillSync, timingSafeEqual } from 'node:crypto';
import { Ccm8 } from './ccm8.js';
import { CipherSuite } from './types.js';
import { ContentType, writeUint48 } from './record.js';

export type KeyExchange = 'psk' | 'ecdhe_psk' | 'ecdhe_ecdsa';
export type BulkCipher = 'ccm8' | 'gcm' | 'cbc';

/** What a suite number means. */
export interface SuiteInfo {
  readonly id: number;
  readonly name: string;
  readonly keyExchange: KeyExchange;
  readonly cipher: BulkCipher;
  readonly macKeyLength: number;
  readonly keyLength: number;
  /** The implicit part of the IV taken from the key block (4 for AEAD, 0 for CBC in TLS 1.2). */
  readonly fixedIvLength: number;
}

const suiteList: SuiteInfo[] = [
  { id: CipherSuite.TLS_PSK_WITH_AES_128_CCM_8, name: 'TLS_PSK_WITH_AES_128_CCM_8', keyExchange: 'psk', cipher: 'ccm8', macKeyLength: 0, keyLength: 16, fixedIvLength: 4 },
  { id: CipherSuite.TLS_PSK_WITH_AES_128_GCM_SHA256, name: 'TLS_PSK_WITH_AES_128_GCM_SHA256', keyExchange: 'psk', cipher: 'gcm', macKeyLength: 0, keyLength: 16, fixedIvLength: 4 },
  { id: CipherSuite.TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256, name: 'TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256', keyExchange: 'ecdhe_psk', cipher: 'cbc', macKeyLength: 32, keyLength: 16, fixedIvLength: 0 },
  { id: CipherSuite.TLS_PSK_WITH_AES_128_CBC_SHA256, name: 'TLS_PSK_WITH_AES_128_CBC_SHA256', keyExchange: 'psk', cipher: 'cbc', macKeyLength: 32, keyLength: 16, fixedIvLength: 0 },
  { id: CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8, name: 'TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8', keyExchange: 'ecdhe_ecdsa', cipher: 'ccm8', macKeyLength: 0, keyLength: 16, fixedIvLength: 4 },
  { id: CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, name: 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256', keyExchange: 'ecdhe_ecdsa', cipher: 'gcm', macKeyLength: 0, keyLength: 16, fixedIvLength: 4 },
];

const suites = new Map<number, SuiteInfo>(suiteList.map((s) => [s.id, s]));

/** The suite for an IANA number, undefined if we do not implement it. */
export function suiteInfo(id: number): SuiteInfo | undefined {
  return suites.get(id);
}

/** Every implemented suite. */
export function allSuites(): readonly SuiteInfo[] {
  return suiteList;
}

/** RFC 5246 §6.3: the keys cut from the key block. */
export interface KeyMaterial {
  clientMacKey: Uint8Array;
  serverMacKey: Uint8Array;
  clientKey: Uint8Array;
  serverKey: Uint8Array;
  clientIv: Uint8Array;
  serverIv: Uint8Array;
}

/** Bytes of key block a suite needs. */
export function keyBlockLength(s: SuiteInfo): number {
  return 2 * (s.macKeyLength + s.keyLength + s.fixedIvLength);
}

/** RFC 5246 §6.3: client_write_MAC_key, server_write_MAC_key, client_write_key, server_write_key, client_write_IV, server_write_IV. */
export function splitKeyBlock(s: SuiteInfo, block: Uint8Array): KeyMaterial {
  let o = 0;
  const take = (n: number) => {
    const v = Uint8Array.prototype.slice.call(block, o, o + n);
    o += n;
    return v;
  };
  const clientMacKey = take(s.macKeyLength);
  const serverMacKey = take(s.macKeyLength);
  const clientKey = take(s.keyLength);
  const serverKey = take(s.keyLength);
  const clientIv = take(s.fixedIvLength);
  const serverIv = take(s.fixedIvLength);
  return { clientMacKey, serverMacKey, clientKey, serverKey, clientIv, serverIv };
}

/**
 * The additional data (AEAD) or MAC header (CBC) of a record.
 * Without CID, RFC 5246 §6.2.3.3 with RFC 6347 §4.1.2.1's seq_num = epoch | sequence_number:
 *   seq_num(8) | type | version | length.
 * With a non-empty CID, RFC 9146 §5:
 *   seq_num_placeholder(8 x 0xff) | tls12_cid | cid_length | tls12_cid | version | epoch | sequence_number | cid | length.
 * `length` is that of the plaintext (the DTLSInnerPlaintext with a CID).
 */
export function additionalData(type: number, version: number, epoch: number, seq: number, length: number, cid?: Uint8Array): Buffer {
  if (cid && cid.length > 0) {
    const ad = Buffer.allocUnsafe(8 + 3 + 2 + 2 + 6 + cid.length + 2);
    ad.fill(0xff, 0, 8);
    ad[8] = ContentType.tls12_cid;
    ad[9] = cid.length;
    ad[10] = ContentType.tls12_cid;
    ad.writeUInt16BE(version, 11);
    ad.writeUInt16BE(epoch, 13);
    writeUint48(ad, 15, seq);
    ad.set(cid, 21);
    ad.writeUInt16BE(length, 21 + cid.length);
    return ad;
  }
  const ad = Buffer.allocUnsafe(13);
  ad.writeUInt16BE(epoch, 0);
  writeUint48(ad, 2, seq);
  ad[8] = type;
  ad.writeUInt16BE(version, 9);
  ad.writeUInt16BE(length, 11);
  return ad;
}

/** One direction's record protection. */
export interface RecordCipher {
  readonly suite: SuiteInfo | undefined;
  /** The most bytes `seal` adds to a plaintext. */
  readonly expansion: number;
  /** Protects `plaintext`; returns the record fragment. */
  seal(type: number, version: number, epoch: number, seq: number, plaintext: Uint8Array, cid?: Uint8Array): Uint8Array;
  /** Returns the plaintext, or undefined when the record does not authenticate (drop it silently). */
  open(type: number, version: number, epoch: number, seq: number, fragment: Uint8Array, cid?: Uint8Array): Uint8Array | undefined;
  /** The direction's keys (fresh copies), for serializing an established association; absent for the null cipher. */
  material?(): { key: Uint8Array; iv: Uint8Array; macKey: Uint8Array };
}

/** Epoch 0: TLS_NULL_WITH_NULL_NULL. */
export const nullCipher: RecordCipher = {
  suite: undefined,
  expansion: 0,
  seal: (_t, _v, _e, _s, plaintext) => plaintext,
  open: (_t, _v, _e, _s, fragment) => fragment,
};

const EXPLICIT_NONCE = 8;
/** The nonce under construction: salt | explicit part (JavaScript seals one record at a time). */
const nonce = Buffer.alloc(12);

/** A copy in its own small array (no view keeping a larger buffer alive). */
function own(b: Uint8Array): Uint8Array {
  const c = new Uint8Array(b.length);
  c.set(b);
  return c;
}

const LONG_LIVED_AFTER = 4;

/** AES-128-CCM_8 or AES-128-GCM with a 4-byte salt and an 8-byte explicit nonce (epoch | sequence_number). */
export class AeadCipher implements RecordCipher {
  readonly expansion: number;
  private readonly algorithm: 'aes-128-ccm' | 'aes-128-gcm';
  private readonly tagLength: number;
  private readonly key: Uint8Array;
  /** The 4-byte implicit nonce part (RFC 5288 §3 salt) as an unsigned integer. */
  private readonly salt: number;
  /**
   * CCM_8 over long-lived AES contexts (ccm8.ts) once a direction has carried `LONG_LIVED_AFTER` records: an
   * association that only handshakes (or a fleet of mostly idle ones) never makes them, so their memory goes only to
   * associations that carry traffic. GCM takes a cipher object per record.
   */
  private readonly ccm8: Ccm8 | undefined;
  private records = 0;

  constructor(
    readonly suite: SuiteInfo,
    key: Uint8Array,
    salt: Uint8Array,
  ) {
    this.algorithm = suite.cipher === 'ccm8' ? 'aes-128-ccm' : 'aes-128-gcm';
    this.tagLength = suite.cipher === 'ccm8' ? 8 : 16;
    this.expansion = EXPLICIT_NONCE + this.tagLength;
    this.key = own(key);
    this.salt = ((salt[0]! << 24) | (salt[1]! << 16) | (salt[2]! << 8) | salt[3]!) >>> 0;
    this.ccm8 = suite.cipher === 'ccm8' ? new Ccm8(this.key) : undefined;
  }

  material(): { key: Uint8Array; iv: Uint8Array; macKey: Uint8Array } {
    const iv = new Uint8Array(4);
    new DataView(iv.buffer).setUint32(0, this.salt);
    return { key: own(this.key), iv, macKey: new Uint8Array(0) };
  }

  seal(type: number, version: number, epoch: number, seq: number, plaintext: Uint8Array, cid?: Uint8Array): Uint8Array {
    const out = Buffer.allocUnsafe(EXPLICIT_NONCE + plaintext.length + this.tagLength);
    out.writeUInt16BE(epoch, 0);
    writeUint48(out, 2, seq);
    nonce.writeUInt32BE(this.salt, 0);
    out.copy(nonce, 4, 0, 8);
    const ad = additionalData(type, version, epoch, seq, plaintext.length, cid);
    if (this.ccm8 && ++this.records > LONG_LIVED_AFTER) {
      this.ccm8.seal(nonce, ad, plaintext, out, EXPLICIT_NONCE);
      return out;
    }
    const c = createCipheriv(this.algorithm as 'aes-128-ccm', this.key, nonce, { authTagLength: this.tagLength });
    c.setAAD(ad, { plaintextLength: plaintext.length });
    const n = c.update(plaintext).copy(out, EXPLICIT_NONCE);
    c.final();
    c.getAuthTag().copy(out, EXPLICIT_NONCE + n);
    return out;
  }

  open(type: number, version: number, epoch: number, seq: number, fragment: Uint8Array, cid?: Uint8Array): Uint8Array | undefined {
    const len = fragment.length - EXPLICIT_NONCE - this.tagLength;
    if (len < 0) return undefined;
    nonce.writeUInt32BE(this.salt, 0);
    nonce.set(fragment.subarray(0, EXPLICIT_NONCE), 4);
    const ad = additionalData(type, version, epoch, seq, len, cid);
    if (this.ccm8 && ++this.records > LONG_LIVED_AFTER) return this.ccm8.open(nonce, ad, fragment.subarray(EXPLICIT_NONCE, EXPLICIT_NONCE + len), fragment.subarray(EXPLICIT_NONCE + len));
    try {
      const d = createDecipheriv(this.algorithm as 'aes-128-ccm', this.key, nonce, { authTagLength: this.tagLength });
      d.setAuthTag(fragment.subarray(EXPLICIT_NONCE + len));
      d.setAAD(ad, { plaintextLength: len });
      const p = d.update(fragment.subarray(EXPLICIT_NONCE, EXPLICIT_NONCE + len));
      d.final();
      return p;
    } catch {
      return undefined;
    }
  }
}

const MAC = 32;
const BLOCK = 16;

/**
 * AES-128-CBC with HMAC-SHA256, MAC-then-encrypt, explicit IV (RFC 5246 §6.2.3.2).
 * Decryption checks padding and MAC without branching on the padding's validity: a bad padding
 * is treated as zero-length padding and the MAC is still computed and compared (RFC 5246 §6.2.3.2
 * implementation note; Lucky Thirteen, AlFardan and Paterson 2013), so both failures look alike.
 */
export class CbcCipher implements RecordCipher {
  readonly expansion = BLOCK + MAC + BLOCK;

  private readonly key: Uint8Array;
  private readonly macKey: Uint8Array;

  constructor(
    readonly suite: SuiteInfo,
    key: Uint8Array,
    macKey: Uint8Array,
    private readonly random: (b: Uint8Array) => void = (b) => void randomFillSync(b),
  ) {
    this.key = own(key);
    this.macKey = own(macKey);
  }

  material(): { key: Uint8Array; iv: Uint8Array; macKey: Uint8Array } {
    return { key: own(this.key), iv: new Uint8Array(0), macKey: own(this.macKey) };
  }

  seal(type: number, version: number, epoch: number, seq: number, plaintext: Uint8Array, cid?: Uint8Array): Uint8Array {
    const mac = createHmac('sha256', this.macKey).update(additionalData(type, version, epoch, seq, plaintext.length, cid)).update(plaintext).digest();
    const unpadded = plaintext.length + MAC + 1;
    const pad = (BLOCK - (unpadded % BLOCK)) % BLOCK;
    const body = Buffer.allocUnsafe(unpadded + pad);
    body.set(plaintext, 0);
    mac.copy(body, plaintext.length);
    body.fill(pad, plaintext.length + MAC);
    const out = Buffer.allocUnsafe(BLOCK + body.length);
    this.random(out.subarray(0, BLOCK));
    const c = createCipheriv('aes-128-cbc', this.key, out.subarray(0, BLOCK));
    c.setAutoPadding(false);
    const n = c.update(body).copy(out, BLOCK);
    c.final().copy(out, BLOCK + n);
    return out;
  }

  open(type: number, version: number, epoch: number, seq: number, fragment: Uint8Array, cid?: Uint8Array): Uint8Array | undefined {
    const n = fragment.length - BLOCK;
    // Public facts only: the length is on the wire.
    if (n < MAC + BLOCK || n % BLOCK !== 0) return undefined;
    const d = createDecipheriv('aes-128-cbc', this.key, fragment.subarray(0, BLOCK));
    d.setAutoPadding(false);
    const p = Buffer.concat([d.update(fragment.subarray(BLOCK)), d.final()]);
    const padLength = p[n - 1]!;
    // good = 1 when padLength + 1 + MAC <= n, branch-free
    let good = ((n - MAC - 1 - padLength) >>> 31) ^ 1;
    // Check up to 256 trailing bytes; each byte within padLength must equal padLength.
    const scan = Math.min(256, n);
    let diff = 0;
    for (let i = 0; i < scan; i++) {
      const inPad = ((i - padLength - 1) >>> 31) & 1; // i <= padLength
      diff |= inPad * (p[n - 1 - i]! ^ padLength);
    }
    good &= ((diff - 1) >>> 31) & 1; // diff === 0
    const effectivePad = good * padLength;
    const contentLength = n - MAC - 1 - effectivePad;
    const content = p.subarray(0, contentLength);
    const expected = createHmac('sha256', this.macKey).update(additionalData(type, version, epoch, seq, contentLength, cid)).update(content).digest();
    // Hash the bytes the real MAC skipped so the work does not depend on the padding length.
    createHmac('sha256', this.macKey).update(p.subarray(contentLength, contentLength + effectivePad + 1)).digest();
    const macOk = timingSafeEqual(expected, p.subarray(contentLength, contentLength + MAC)) ? 1 : 0;
    return (good & macOk) === 1 ? content : undefined;
  }
}

/** The read and write ciphers for one side once keys are derived. */
export function createCiphers(s: SuiteInfo, keys: KeyMaterial, isClient: boolean): { read: RecordCipher; write: RecordCipher } {
  const make = (key: Uint8Array, iv: Uint8Array, mac: Uint8Array): RecordCipher =>
    s.cipher === 'cbc' ? new CbcCipher(s, key, mac) : new AeadCipher(s, key, iv);
  const client = make(keys.clientKey, keys.clientIv, keys.clientMacKey);
  const server = make(keys.serverKey, keys.serverIv, keys.serverMacKey);
  return isClient ? { read: server, write: client } : { read: client, write: server };
}
