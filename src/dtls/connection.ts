/**
 * The record state of one association (RFC 6347 §4.1): epochs, per-epoch write sequence numbers, the
 * replay window, the read and write ciphers, Connection IDs (RFC 9146), the failed-decryption counter,
 * and serialization of an established association.
 */
import { alert } from './alert.js';
import { createCiphers, nullCipher, suiteInfo, type KeyMaterial, type RecordCipher, type SuiteInfo } from './cipher.js';
import {
  ContentType,
  decodeInnerPlaintext,
  DTLS1_2,
  encodeInnerPlaintext,
  MAX_SEQUENCE_NUMBER,
  recordHeaderLength,
  writeRecordHeader,
  type DtlsRecord,
} from './record.js';
import { ReplayWindow } from './replay-window.js';
import type { DtlsSession } from './session.js';
import type { PeerIdentity } from './types.js';

/** Default bound on records failing authentication before the association is closed. */
export const DEFAULT_MAX_FAILED_DECRYPTIONS = 1024;

/** Outcome of opening a record. */
export type OpenResult =
  | { ok: true; type: number; content: Uint8Array }
  | { ok: false; reason: 'future' | 'old-epoch' | 'replay' | 'bad-mac' | 'cid' | 'too-many-failures' };

const SERIAL_VERSION = 1;
/** The empty CID, shared (never written to). */
const NO_CID = new Uint8Array(0);
/** Sequence numbers skipped after restoring serialized state, so no nonce can repeat even if the snapshot was stale. */
export const RESTORE_SEQUENCE_GAP = 1 << 20;

/** Everything needed to rebuild an established association. */
export interface ConnectionSnapshot {
  v: number;
  isClient: boolean;
  suite: number;
  epoch: number;
  keys: Record<keyof KeyMaterial, string>;
  writeSeq: number;
  replay: [number, number, number];
  ownCid?: string;
  peerCid?: string;
  identity?: PeerIdentity;
  session?: { id: string; master: string; ems: boolean };
  peer?: { address: string; port: number; family?: 'IPv4' | 'IPv6' };
}

export class DtlsConnection {
  readonly isClient: boolean;
  writeEpoch = 0;
  readEpoch = 0;
  // Sized for epochs 0 and 1 up front (no growth slack kept per association).
  private readonly writeSeq: number[] = [0, 0];
  private readonly writeCiphers: (RecordCipher | undefined)[] = [nullCipher, undefined];
  private readCipher: RecordCipher = nullCipher;
  private replay = new ReplayWindow();
  /** CID the peer puts in records to us (RFC 9146); empty = none. */
  ownCid: Uint8Array = NO_CID;
  /** CID we put in protected records to the peer. */
  peerCid: Uint8Array = NO_CID;
  failedDecryptions = 0;
  readonly maxFailedDecryptions: number;
  /** Set once the handshake completed. */
  suite: SuiteInfo | undefined;
  /** Set by establish(); the keys themselves live only in the ciphers (`keys` reads them back on demand). */
  private establishedKeys = false;
  identity: PeerIdentity | undefined;
  session: DtlsSession | undefined;

  constructor(isClient: boolean, maxFailedDecryptions = DEFAULT_MAX_FAILED_DECRYPTIONS) {
    this.isClient = isClient;
    this.maxFailedDecryptions = maxFailedDecryptions;
  }

  /** True once established (keys installed in both directions). */
  get established(): boolean {
    return this.establishedKeys;
  }

  /** The key material once established (fresh copies read back from the current ciphers). */
  get keys(): KeyMaterial | undefined {
    if (!this.establishedKeys) return undefined;
    const r = this.readCipher.material?.();
    const w = this.writeCiphers[this.writeEpoch]?.material?.();
    if (!r || !w) return undefined;
    const client = this.isClient ? w : r;
    const server = this.isClient ? r : w;
    return { clientMacKey: client.macKey, serverMacKey: server.macKey, clientKey: client.key, serverKey: server.key, clientIv: client.iv, serverIv: server.iv };
  }

  /**
   * A stateless server answering a ClientHello that carried a valid cookie continues from that ClientHello's
   * record sequence number: its HelloVerifyRequest reused the first ClientHello's number (RFC 6347 §4.2.1), so
   * starting again at 0 would make the ServerHello look like a replay of it and the client drop it.
   */
  continueEpoch0From(sequenceNumber: number): void {
    if (this.writeEpoch === 0 && this.writeSeq[0]! < sequenceNumber) this.writeSeq[0] = sequenceNumber;
  }

  /** The write cipher for `epoch` becomes available (it is used once a CCS moved the write epoch). */
  setWriteCipher(epoch: number, cipher: RecordCipher): void {
    this.writeCiphers[epoch] = cipher;
    if (this.writeSeq[epoch] === undefined) this.writeSeq[epoch] = 0;
  }

  /** RFC 6347 §4.1: a new read epoch starts a new replay window. */
  setReadCipher(epoch: number, cipher: RecordCipher): void {
    this.readEpoch = epoch;
    this.readCipher = cipher;
    this.replay = new ReplayWindow();
  }

  /** Bytes a record in `epoch` adds around its content. */
  overhead(epoch: number): number {
    const cidLen = epoch > 0 ? this.peerCid.length : 0;
    return recordHeaderLength(cidLen) + (this.writeCiphers[epoch]?.expansion ?? 0) + (cidLen > 0 ? 1 : 0);
  }

  /** Protects `content` as one record of `type` in `epoch` and returns the record bytes. */
  seal(type: number, epoch: number, content: Uint8Array): Uint8Array {
    const cipher = this.writeCiphers[epoch];
    if (!cipher) throw alert('internal_error', `no write cipher for epoch ${epoch}`);
    const seq = this.writeSeq[epoch]!;
    // RFC 6347 §4.1: sequence numbers never wrap within an epoch.
    if (seq >= MAX_SEQUENCE_NUMBER) throw alert('internal_error', 'sequence numbers exhausted');
    this.writeSeq[epoch] = seq + 1;
    const cid = epoch > 0 && this.peerCid.length > 0 ? this.peerCid : undefined;
    let fragment: Uint8Array;
    let outerType = type;
    if (cid) {
      outerType = ContentType.tls12_cid;
      fragment = cipher.seal(outerType, DTLS1_2, epoch, seq, encodeInnerPlaintext(content, type), cid);
    } else {
      fragment = cipher.seal(type, DTLS1_2, epoch, seq, content);
    }
    const out = new Uint8Array(recordHeaderLength(cid?.length ?? 0) + fragment.length);
    const p = writeRecordHeader(out, 0, outerType, DTLS1_2, epoch, seq, fragment.length, cid);
    out.set(fragment, p);
    return out;
  }

  /**
   * Authenticates and decrypts a record of the current read epoch. Records of the next epoch are
   * reported as 'future' (the caller may hold them until the ChangeCipherSpec), older epochs as
   * 'old-epoch'; replays and records failing authentication are dropped (RFC 6347 §4.1.2.6-7), the
   * latter counted.
   */
  open(rec: DtlsRecord): OpenResult {
    if (rec.epoch !== this.readEpoch) return { ok: false, reason: rec.epoch > this.readEpoch ? 'future' : 'old-epoch' };
    const isCid = rec.type === ContentType.tls12_cid;
    if (isCid !== (this.readEpoch > 0 && this.ownCid.length > 0)) return { ok: false, reason: 'cid' };
    if (isCid && !equalBytes(rec.cid!, this.ownCid)) return { ok: false, reason: 'cid' };
    if (!this.replay.check(rec.sequenceNumber)) return { ok: false, reason: 'replay' };
    const plain = this.readCipher.open(rec.type, rec.version, rec.epoch, rec.sequenceNumber, rec.fragment, rec.cid);
    if (!plain) {
      if (this.readEpoch > 0) this.failedDecryptions++;
      return { ok: false, reason: this.failedDecryptions > this.maxFailedDecryptions ? 'too-many-failures' : 'bad-mac' };
    }
    this.replay.accept(rec.sequenceNumber);
    if (isCid) {
      const inner = decodeInnerPlaintext(plain);
      if (!inner) return { ok: false, reason: 'bad-mac' };
      return { ok: true, type: inner.type, content: inner.content };
    }
    return { ok: true, type: rec.type, content: plain };
  }

  /** The highest sequence number accepted in the read epoch (RFC 9146 §6: only newer records move the peer address). */
  get highestReceived(): number {
    return this.replay.highest;
  }

  /** Installs the handshake's outcome; the ciphers made from `keys` are already installed for the current epochs. */
  establish(suite: SuiteInfo, keys: KeyMaterial, identity: PeerIdentity | undefined, session: DtlsSession | undefined): void {
    this.suite = suite;
    // The ciphers installed for the current epochs hold these keys (see `keys`).
    void keys;
    this.establishedKeys = true;
    this.identity = identity;
    this.session = session;
  }

  /** Application data -> one record (the caller sends it as a datagram). */
  encrypt(appData: Uint8Array): Uint8Array {
    if (!this.established) throw new Error('DTLS association not established');
    return this.seal(ContentType.application_data, this.writeEpoch, appData);
  }

  /** A record -> application data, or undefined for anything else or a record to drop. */
  decrypt(rec: DtlsRecord): Uint8Array | undefined {
    const r = this.open(rec);
    return r.ok && r.type === ContentType.application_data ? r.content : undefined;
  }

  /** The state of an established association (secret: the caller encrypts it at rest). */
  serialize(peer?: { address: string; port: number; family?: 'IPv4' | 'IPv6' }): Uint8Array {
    if (!this.suite || !this.keys) throw new Error('DTLS association not established');
    const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
    const k = this.keys!;
    const snap: ConnectionSnapshot = {
      v: SERIAL_VERSION,
      isClient: this.isClient,
      suite: this.suite.id,
      epoch: this.writeEpoch,
      keys: {
        clientMacKey: hex(k.clientMacKey),
        serverMacKey: hex(k.serverMacKey),
        clientKey: hex(k.clientKey),
        serverKey: hex(k.serverKey),
        clientIv: hex(k.clientIv),
        serverIv: hex(k.serverIv),
      },
      writeSeq: this.writeSeq[this.writeEpoch]!,
      replay: this.replay.toJSON(),
    };
    if (this.ownCid.length > 0) snap.ownCid = hex(this.ownCid);
    if (this.peerCid.length > 0) snap.peerCid = hex(this.peerCid);
    if (this.identity) snap.identity = { mode: this.identity.mode, name: this.identity.name };
    if (this.session && this.session.id.length > 0) snap.session = { id: hex(this.session.id), master: hex(this.session.masterSecret), ems: this.session.extendedMasterSecret };
    if (peer) snap.peer = { address: peer.address, port: peer.port, ...(peer.family ? { family: peer.family } : {}) };
    return new TextEncoder().encode(JSON.stringify(snap));
  }

  /**
   * Rebuilds an association from `serialize()`. The write sequence number jumps by RESTORE_SEQUENCE_GAP
   * so a stale snapshot can never reuse an AEAD nonce; the peer's replay window accepts the jump.
   */
  static deserialize(data: Uint8Array, maxFailedDecryptions?: number): { connection: DtlsConnection; peer?: { address: string; port: number; family?: 'IPv4' | 'IPv6' } } {
    let snap: ConnectionSnapshot;
    try {
      snap = JSON.parse(new TextDecoder().decode(data)) as ConnectionSnapshot;
    } catch {
      throw new Error('DTLS association state: not parsable');
    }
    if (snap.v !== SERIAL_VERSION) throw new Error(`DTLS association state: version ${snap.v}`);
    const suite = suiteInfo(snap.suite);
    if (!suite) throw new Error(`DTLS association state: unknown suite ${snap.suite}`);
    const b = (h: string) => new Uint8Array(Buffer.from(h, 'hex'));
    const keys: KeyMaterial = {
      clientMacKey: b(snap.keys.clientMacKey),
      serverMacKey: b(snap.keys.serverMacKey),
      clientKey: b(snap.keys.clientKey),
      serverKey: b(snap.keys.serverKey),
      clientIv: b(snap.keys.clientIv),
      serverIv: b(snap.keys.serverIv),
    };
    const c = new DtlsConnection(snap.isClient, maxFailedDecryptions);
    const { read, write } = createCiphers(suite, keys, snap.isClient);
    c.setWriteCipher(snap.epoch, write);
    c.writeEpoch = snap.epoch;
    c.writeSeq[snap.epoch] = Math.min(snap.writeSeq + RESTORE_SEQUENCE_GAP, MAX_SEQUENCE_NUMBER);
    c.setReadCipher(snap.epoch, read);
    c.replay = ReplayWindow.fromJSON(snap.replay);
    if (snap.ownCid) c.ownCid = b(snap.ownCid);
    if (snap.peerCid) c.peerCid = b(snap.peerCid);
    const session: DtlsSession | undefined = snap.session
      ? { id: b(snap.session.id), masterSecret: b(snap.session.master), cipherSuite: suite.id, extendedMasterSecret: snap.session.ems, ...(snap.identity ? { identity: snap.identity } : {}) }
      : undefined;
    c.establish(suite, keys, snap.identity, session);
    return snap.peer ? { connection: c, peer: snap.peer } : { connection: c };
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
