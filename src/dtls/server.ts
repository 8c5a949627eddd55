/**
 * DtlsServer: a DTLS 1.2 server transport for the CoAP endpoint. Demultiplexes by peer address, and by
 * Connection ID for tls12_cid records (RFC 9146); keeps no state for a client before it returns a valid
 * cookie (RFC 6347 §4.2.1); runs many handshakes at once.
 */
import type { RemoteInfo, Socket } from 'node:dgram';
import { systemClock, type Clock } from '../coap/clock.js';
import { bindUdpSocket, SERVER_SOCKET_BUFFER } from '../coap/udp.js';
import type { PeerAddress, Transport } from '../coap/types.js';
import { silentLogger, type Logger } from '../log.js';
import { DtlsAlert } from './alert.js';
import { Association, DEFAULT_MTU, type AssociationOptions } from './association.js';
import { suiteInfo } from './cipher.js';
import { DtlsConnection } from './connection.js';
import { CookieJar } from './cookie.js';
import { spkiOf } from './kex.js';
import { certificateInfo } from './x509.js';
import {
  decodeClientHello,
  decodeHandshakeFragments,
  encodeHandshake,
  encodeHelloVerifyRequest,
  HandshakeType,
  type ClientHello,
  type HandshakeFragment,
} from './messages.js';
import { pooledRandom } from './random.js';
import { ContentType, decodeRecords, DTLS1_0, encodeRecord, type DtlsRecord } from './record.js';
import { ServerHandshake, type ServerHandshakeConfig } from './server-handshake.js';
import { SessionCache } from './session.js';
import { CipherSuite, type CertificateCredential, type CertificateVerifier, type PeerIdentity, type PskLookup, type RawPublicKeyCredential, type RawPublicKeyVerifier } from './types.js';

/** Suites on by default: CCM_8 (RFC 7925 mandatory) and GCM, for PSK and ECDHE_ECDSA. CBC only when listed. */
export const DEFAULT_SERVER_SUITES: readonly number[] = [
  CipherSuite.TLS_PSK_WITH_AES_128_CCM_8,
  CipherSuite.TLS_PSK_WITH_AES_128_GCM_SHA256,
  CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8,
  CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
];

/** Reported after each successful handshake. */
export interface HandshakeEvent {
  peer: PeerAddress;
  identity?: PeerIdentity;
  /** IANA name of the suite. */
  suite: string;
  resumed: boolean;
}

/** Reported when a handshake fails (alert sent or received, or timeout). */
export interface HandshakeFailureEvent {
  peer: PeerAddress;
  alert: DtlsAlert | Error;
}

export interface DtlsServerOptions {
  pskLookup?: PskLookup;
  pskIdentityHint?: string | Uint8Array;
  certificate?: CertificateCredential;
  rawPublicKey?: RawPublicKeyCredential;
  verifyCertificate?: CertificateVerifier;
  verifyRawPublicKey?: RawPublicKeyVerifier;
  /** Default DEFAULT_SERVER_SUITES; list the CBC suites to enable them. */
  cipherSuites?: number[];
  /** Length of the CIDs we hand out (RFC 9146); default 6, 0 = do not negotiate CIDs. */
  connectionIdLength?: number;
  /** Initial retransmission timer in ms (RFC 6347 §4.2.4.1: 1 s; RFC 7925 §11 recommends 9 s on slow radio links). */
  retransmitInitial?: number;
  maxRetransmissions?: number;
  logger?: Logger;
  clock?: Clock;
  /** Established associations kept; beyond it the oldest is dropped. Default 100000. */
  maxSessions?: number;
  /** Handshakes in progress at once (after the cookie); more are ignored. Default 10000. */
  maxHandshakes?: number;
  /** Sessions kept for resumption by session ID; default 10000, 0 = no resumption. */
  sessionCacheSize?: number;
  /** Datagram size budget for handshake flights (default 1200). */
  mtu?: number;
  /** Cookie secret rotation period (ms), default 5 minutes. */
  cookieRotateEvery?: number;
  /** Bound on records failing authentication per association before it is closed. */
  maxFailedDecryptions?: number;
  /** Largest handshake message accepted (default 16 KiB). */
  maxMessageSize?: number;
  onHandshake?: (e: HandshakeEvent) => void;
  onHandshakeFailure?: (e: HandshakeFailureEvent) => void;
  /** An association moved to a new address (RFC 9146 §6, NAT rebinding): layers above re-address the peer. */
  onPeerMoved?: (from: PeerAddress, to: PeerAddress) => void;
}

/** What `exportSessions()` hands out and `importSessions()` takes: opaque, secret bytes per association. */
export interface ExportedSession {
  data: Uint8Array;
}

/** Who a peer authenticated as: what `closeWhere` selects associations and resumable sessions by. */
export interface PeerCredential {
  identity?: PeerIdentity;
  /**
   * Serial number (lowercase hex, no leading zeros) of the peer's X.509 leaf certificate, when it authenticated with one
   * in this process (absent for sessions restored by `importSessions`).
   */
  certificateSerial?: string;
}

/** An established association as `sessions()` lists it. */
export interface SessionInfo extends PeerCredential {
  peer: PeerAddress;
  identity?: PeerIdentity;
  suite: string;
  connectionId?: Uint8Array;
}

type DatagramHandler = (datagram: Uint8Array, peer: PeerAddress, identity?: PeerIdentity) => void;

interface Slot {
  established?: Association;
  pending?: Association;
  pendingRandom?: Uint8Array;
}

const keyOf = (p: PeerAddress) => `${p.address}:${p.port}`;
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

export class DtlsServer implements Transport {
  private handler: DatagramHandler | undefined;
  private readonly slots = new Map<string, Slot>();
  private readonly byCid = new Map<string, Association>();
  private readonly cidOf = new Map<Association, string>();
  private readonly cookies: CookieJar;
  private readonly sessionCache: SessionCache;
  private readonly hsConfig: ServerHandshakeConfig;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly cidLength: number;
  private pendingCount = 0;
  private inflight = 0;
  private drained: (() => void) | undefined;
  private establishedCount = 0;
  private closed = false;
  /** The leaf certificate serial behind each identity the certificate verifier returned (resumed sessions share it). */
  private readonly certificateSerials = new WeakMap<PeerIdentity, string>();
  /** The SubjectPublicKeyInfo behind each identity the raw public key verifier returned. */
  private readonly rawPublicKeys = new WeakMap<PeerIdentity, Uint8Array>();

  private constructor(
    private readonly socket: Socket,
    private readonly opts: DtlsServerOptions,
  ) {
    this.clock = opts.clock ?? systemClock;
    this.logger = (opts.logger ?? silentLogger).child({ layer: 'dtls' });
    this.cidLength = opts.connectionIdLength ?? 6;
    if (this.cidLength < 0 || this.cidLength > 255) throw new RangeError('connectionIdLength');
    this.cookies = new CookieJar({ clock: this.clock, ...(opts.cookieRotateEvery !== undefined ? { rotateEvery: opts.cookieRotateEvery } : {}) });
    this.sessionCache = new SessionCache(opts.sessionCacheSize ?? 10_000);
    const suites = opts.cipherSuites ?? [...DEFAULT_SERVER_SUITES];
    for (const s of suites) if (!suiteInfo(s)) throw new Error(`unsupported cipher suite 0x${s.toString(16)}`);
    const hint = opts.pskIdentityHint;
    this.hsConfig = {
      cipherSuites: suites,
      connectionIdLength: this.cidLength,
      sessionCache: this.sessionCache,
      ...(opts.pskLookup ? { pskLookup: opts.pskLookup } : {}),
      ...(hint !== undefined ? { pskIdentityHint: typeof hint === 'string' ? new TextEncoder().encode(hint) : hint } : {}),
      ...(opts.certificate ? { certificate: opts.certificate } : {}),
      ...(opts.rawPublicKey ? { rawPublicKey: { privateKey: opts.rawPublicKey.privateKey, spki: spkiOf(opts.rawPublicKey.privateKey) } } : {}),
      ...(opts.verifyCertificate ? { verifyCertificate: this.recordingCertificateVerifier(opts.verifyCertificate) } : {}),
      ...(opts.verifyRawPublicKey ? { verifyRawPublicKey: this.recordingRawPublicKeyVerifier(opts.verifyRawPublicKey) } : {}),
    };
    this.associationOptions = this.makeAssociationOptions();
    socket.on('message', (msg: Buffer, rinfo: RemoteInfo) => this.onMessage(msg, rinfo));
    socket.on('error', (err) => this.logger.debug({ err: err.message }, 'DTLS socket error'));
  }

  /** Binds a UDP socket on `host:port` (port 0 = ephemeral; udp6 when the host contains ':'). */
  static async bind(port: number, host: string, opts: DtlsServerOptions): Promise<DtlsServer> {
    const socket = await bindUdpSocket(port, host, host, SERVER_SOCKET_BUFFER);
    try {
      return new DtlsServer(socket, opts);
    } catch (err) {
      socket.close();
      throw err;
    }
  }

  /** The bound local address. */
  address(): { address: string; port: number } {
    const a = this.socket.address();
    return { address: a.address, port: a.port };
  }

  onDatagram(handler: DatagramHandler): void {
    this.handler = handler;
  }

  /** Encrypts `datagram` for the peer's association; dropped (debug log) when there is none. */
  send(datagram: Uint8Array, peer: PeerAddress): void {
    const a = this.slots.get(keyOf(peer))?.established;
    if (!a || !a.sendApplicationData(datagram)) this.logger.debug({ peer: keyOf(peer) }, 'DTLS send without an association: dropped');
  }

  /** Counts for metrics and tests: handshakes in progress (after the cookie) and established associations. */
  stats(): { handshakes: number; associations: number; connectionIds: number } {
    return { handshakes: this.pendingCount, associations: this.establishedCount, connectionIds: this.byCid.size };
  }

  /** Established associations. */
  sessions(): SessionInfo[] {
    const out: SessionInfo[] = [];
    for (const slot of this.slots.values()) {
      const a = slot.established;
      if (!a || !a.result) continue;
      const info: SessionInfo = { peer: a.peer, suite: a.result.suite.name };
      if (a.conn.identity) {
        info.identity = a.conn.identity;
        const serial = this.certificateSerials.get(a.conn.identity);
        if (serial !== undefined) info.certificateSerial = serial;
      }
      if (a.conn.ownCid.length > 0) info.connectionId = a.conn.ownCid;
      out.push(info);
    }
    return out;
  }

  /**
   * Ends what a withdrawn credential opened: sends close_notify on every established association `pred` selects, and
   * forgets the resumable sessions it selects, so the peer has to run a full handshake where its credential is checked
   * again (an abbreviated handshake, RFC 5246 §7.3, would not check it).
   */
  closeWhere(pred: (peer: PeerCredential) => boolean): { associations: number; sessions: number } {
    let associations = 0;
    for (const slot of [...this.slots.values()]) {
      const a = slot.established;
      if (!a?.established) continue;
      if (!pred(this.credentialOf(a.conn.identity))) continue;
      a.close();
      associations++;
    }
    const sessions = this.sessionCache.deleteWhere((s) => pred(this.credentialOf(s.identity)));
    return { associations, sessions };
  }

  /** Serial (lowercase hex) of the X.509 leaf an identity this server authenticated presented; undefined for other modes. */
  certificateSerialOf(identity: PeerIdentity): string | undefined {
    return this.certificateSerials.get(identity);
  }

  /** The SubjectPublicKeyInfo a raw-public-key identity this server authenticated presented; undefined for other modes. */
  rawPublicKeyOf(identity: PeerIdentity): Uint8Array | undefined {
    return this.rawPublicKeys.get(identity);
  }

  private credentialOf(identity: PeerIdentity | undefined): PeerCredential {
    if (!identity) return {};
    const serial = this.certificateSerials.get(identity);
    return serial === undefined ? { identity } : { identity, certificateSerial: serial };
  }

  /** Wraps the verifier so each identity it returns is a fresh object tied to the leaf's serial (see `certificateSerials`). */
  private recordingCertificateVerifier(verify: CertificateVerifier): CertificateVerifier {
    const remember = (identity: PeerIdentity, leaf: Uint8Array | undefined): PeerIdentity => {
      const own: PeerIdentity = { ...identity };
      try {
        if (leaf) this.certificateSerials.set(own, certificateInfo(leaf).serialNumber);
      } catch {
        // A custom verifier accepted a certificate this layer cannot parse: no serial to record.
      }
      return own;
    };
    return (chain, context) => {
      const r = verify(chain, context);
      return r instanceof Promise ? r.then((identity) => remember(identity, chain[0])) : remember(r, chain[0]);
    };
  }

  /** Wraps the verifier so each identity it returns is a fresh object tied to the key presented (see `rawPublicKeys`). */
  private recordingRawPublicKeyVerifier(verify: RawPublicKeyVerifier): RawPublicKeyVerifier {
    const remember = (identity: PeerIdentity, spki: Uint8Array): PeerIdentity => {
      const own: PeerIdentity = { ...identity };
      this.rawPublicKeys.set(own, new Uint8Array(spki));
      return own;
    };
    return (spki) => {
      const r = verify(spki);
      return r instanceof Promise ? r.then((identity) => remember(identity, spki)) : remember(r, spki);
    };
  }

  /** The state of every established association (secret: encrypt it at rest). */
  exportSessions(): ExportedSession[] {
    const out: ExportedSession[] = [];
    for (const slot of this.slots.values()) {
      const a = slot.established;
      if (a?.established) out.push({ data: a.conn.serialize(a.peer) });
    }
    return out;
  }

  /** Restores associations exported by a previous server (e.g. before a restart). Returns how many. */
  importSessions(sessions: readonly ExportedSession[]): number {
    let n = 0;
    for (const s of sessions) {
      let restored: ReturnType<typeof DtlsConnection.deserialize>;
      try {
        restored = DtlsConnection.deserialize(s.data, this.opts.maxFailedDecryptions);
      } catch (err) {
        this.logger.warn({ err: (err as Error).message }, 'DTLS session not restored');
        continue;
      }
      if (!restored.peer || restored.connection.isClient) continue;
      const peer: PeerAddress = restored.peer;
      const a = this.newAssociation(peer, undefined, restored.connection);
      const cid = restored.connection.ownCid;
      if (cid.length > 0) {
        if (cid.length !== this.cidLength || this.byCid.has(hex(cid))) continue;
        this.byCid.set(hex(cid), a);
        this.cidOf.set(a, hex(cid));
      }
      const slot = this.slot(keyOf(peer));
      slot.established?.close();
      slot.established = a;
      this.establishedCount++;
      if (restored.connection.session) this.sessionCache.set(restored.connection.session);
      n++;
    }
    return n;
  }

  private slot(key: string): Slot {
    let s = this.slots.get(key);
    if (!s) {
      s = {};
      this.slots.set(key, s);
    }
    return s;
  }

  private onMessage(msg: Buffer, rinfo: RemoteInfo): void {
    if (this.closed) return;
    const from: PeerAddress = { address: rinfo.address, port: rinfo.port, family: rinfo.family as 'IPv4' | 'IPv6' };
    let records: DtlsRecord[];
    try {
      records = decodeRecords(msg, this.cidLength);
    } catch (err) {
      this.logger.debug({ peer: keyOf(from), err: (err as Error).message }, 'DTLS datagram dropped');
      return;
    }
    const key = keyOf(from);
    let target: Association | undefined;
    let batch: DtlsRecord[] = [];
    for (let i = 0; i < records.length; i++) {
      const rec = records[i]!;
      let a: Association | undefined;
      if (rec.type === ContentType.tls12_cid) {
        a = this.byCid.get(hex(rec.cid!));
        if (!a) {
          this.logger.debug({ peer: key }, 'DTLS record with unknown CID dropped');
          continue;
        }
      } else {
        const slot = this.slots.get(key);
        if (rec.epoch === 0) {
          if (rec.type === ContentType.handshake && rec.fragment[0] === HandshakeType.client_hello) {
            a = this.onClientHello(rec, slot, from, msg.length);
          } else {
            a = slot?.pending;
          }
        } else {
          // A handshake running for this address means the peer there started over (RFC 6347 §4.2.8):
          // its protected records belong to the new association (held until its ChangeCipherSpec).
          a = slot?.pending ?? slot?.established;
        }
      }
      if (!a) continue;
      if (a !== target) {
        if (target && batch.length > 0) {
          target.receive(batch, from);
          batch = [];
        }
        target = a;
      }
      batch.push(rec);
    }
    if (target && batch.length > 0) target.receive(batch, from);
  }

  /**
   * An epoch-0 ClientHello. Without a valid cookie: one HelloVerifyRequest, never larger than the
   * datagram that asked for it, and no state kept (RFC 6347 §4.2.1). With one: a new handshake (also on
   * an address with an established association, RFC 6347 §4.2.8), or the running one when retransmitted.
   */
  private onClientHello(rec: DtlsRecord, slot: Slot | undefined, from: PeerAddress, datagramLength: number): Association | undefined {
    let frag: HandshakeFragment;
    let hello: ClientHello;
    try {
      const frags = decodeHandshakeFragments(rec.fragment);
      if (frags.length !== 1) return slot?.pending;
      frag = frags[0]!;
      // A stateless server needs the whole ClientHello in one fragment.
      if (frag.fragmentOffset !== 0 || frag.fragmentLength !== frag.length) return slot?.pending;
      hello = decodeClientHello(frag.fragment);
    } catch {
      return slot?.pending;
    }
    if (slot?.pending && slot.pendingRandom && Buffer.compare(slot.pendingRandom, hello.random) === 0) return slot.pending;
    if (!this.cookies.verify(from.address, from.port, hello)) {
      const cookie = this.cookies.generate(from.address, from.port, hello);
      const body = encodeHelloVerifyRequest({ serverVersion: DTLS1_0, cookie });
      // RFC 6347 §4.2.1: HelloVerifyRequest reuses the ClientHello's record sequence number and message_seq.
      const out = encodeRecord(ContentType.handshake, 0, rec.sequenceNumber, encodeHandshake(HandshakeType.hello_verify_request, frag.messageSeq, body));
      if (out.length <= datagramLength) this.transmit(out, from);
      return undefined;
    }
    if (this.pendingCount >= (this.opts.maxHandshakes ?? 10_000)) {
      this.logger.debug({ peer: keyOf(from) }, 'DTLS handshake refused: too many in progress');
      return undefined;
    }
    const s = this.slot(keyOf(from));
    if (s.pending) this.dropPending(s.pending);
    let a!: Association;
    // Without CIDs the shared configuration serves every handshake (no object or closure per handshake).
    const config: ServerHandshakeConfig = this.cidLength === 0 ? this.hsConfig : {
      ...this.hsConfig,
      newConnectionId: () => {
        const cid = this.uniqueCid();
        this.byCid.set(hex(cid), a);
        this.cidOf.set(a, hex(cid));
        return cid;
      },
    };
    const machine = new ServerHandshake(config, frag.messageSeq);
    machine.preparsedHello = hello;
    a = this.newAssociation(from, machine);
    s.pending = a;
    s.pendingRandom = Uint8Array.prototype.slice.call(hello.random);
    this.pendingCount++;
    const raw = Uint8Array.prototype.slice.call(rec.fragment, 0, 12 + frag.length);
    a.conn.continueEpoch0From(rec.sequenceNumber);
    a.beginWithMessage({ msgType: frag.msgType, messageSeq: frag.messageSeq, body: raw.subarray(12), raw });
    return undefined;
  }

  private transmit(d: Uint8Array, p: PeerAddress): void {
    if (this.closed) return;
    this.inflight++;
    this.socket.send(d, p.port, p.address, this.sent);
  }

  /** The send callback shared by every datagram (no closure per send). */
  private readonly sent = (): void => {
    if (--this.inflight === 0) this.drained?.();
  };

  private uniqueCid(): Uint8Array {
    for (;;) {
      const cid = pooledRandom(this.cidLength);
      if (!this.byCid.has(hex(cid))) return cid;
    }
  }

  private forgetCid(a: Association): void {
    const c = this.cidOf.get(a);
    if (c !== undefined) {
      this.cidOf.delete(a);
      if (this.byCid.get(c) === a) this.byCid.delete(c);
    }
  }

  private dropPending(a: Association): void {
    const slot = this.slots.get(keyOf(a.peer));
    if (slot?.pending === a) {
      slot.pending = undefined;
      slot.pendingRandom = undefined;
      this.pendingCount--;
    }
    this.forgetCid(a);
    a.fail(new Error('superseded'), false);
  }

  private newAssociation(peer: PeerAddress, machine: ServerHandshake | undefined, restored?: DtlsConnection): Association {
    return new Association(this.associationOptions, machine, 0, peer, restored);
  }

  /** One options object for every association (its callbacks receive the association). */
  private readonly associationOptions: AssociationOptions;

  private makeAssociationOptions(): AssociationOptions {
    const o = this.opts;
    return {
      isClient: false,
      clock: this.clock,
      logger: this.logger,
      mtu: o.mtu ?? DEFAULT_MTU,
      send: (d, p) => this.transmit(d, p),
      ...(o.retransmitInitial !== undefined ? { retransmitInitial: o.retransmitInitial } : {}),
      ...(o.maxRetransmissions !== undefined ? { maxRetransmissions: o.maxRetransmissions } : {}),
      ...(o.maxFailedDecryptions !== undefined ? { maxFailedDecryptions: o.maxFailedDecryptions } : {}),
      ...(o.maxMessageSize !== undefined ? { maxMessageSize: o.maxMessageSize } : {}),
      onEstablished: (a, r) => this.onEstablished(a, r.resumed),
      onHandshakeFailure: (a, err) => this.onFailure(a, err),
      onClose: (a, reason) => this.onClosed(a, reason),
      onApplicationData: (data, a) => this.handler?.(data, a.peer, a.conn.identity),
      onAddressChange: (a, to) => this.onAddressChange(a, to),
    };
  }

  private onEstablished(a: Association, resumed: boolean): void {
    const key = keyOf(a.peer);
    const slot = this.slot(key);
    if (slot.pending === a) {
      slot.pending = undefined;
      slot.pendingRandom = undefined;
      this.pendingCount--;
    }
    const old = slot.established;
    slot.established = a;
    this.establishedCount++;
    if (old && old !== a) {
      // RFC 6347 §4.2.8: the new handshake replaces the old association once it completed.
      this.forgetCid(old);
      old.fail(new Error('replaced by a new handshake'), false);
    }
    this.evict();
    const r = a.result!;
    this.logger.debug({ peer: key, suite: r.suite.name, resumed }, 'DTLS handshake complete');
    const ev: HandshakeEvent = { peer: a.peer, suite: r.suite.name, resumed };
    if (a.conn.identity) ev.identity = a.conn.identity;
    this.opts.onHandshake?.(ev);
  }

  private evict(): void {
    const max = this.opts.maxSessions ?? 100_000;
    if (this.establishedCount <= max) return;
    for (const slot of this.slots.values()) {
      if (slot.established) {
        slot.established.close();
        break;
      }
    }
  }

  private onFailure(a: Association, err: Error): void {
    const slot = this.slots.get(keyOf(a.peer));
    if (slot?.pending === a) {
      slot.pending = undefined;
      slot.pendingRandom = undefined;
      this.pendingCount--;
      if (!slot.established) this.slots.delete(keyOf(a.peer));
    }
    this.forgetCid(a);
    if (err.message === 'superseded') return;
    this.logger.debug({ peer: keyOf(a.peer), err: err.message }, 'DTLS handshake failed');
    this.opts.onHandshakeFailure?.({ peer: a.peer, alert: err });
  }

  private onClosed(a: Association, reason: Error | undefined): void {
    const key = keyOf(a.peer);
    const slot = this.slots.get(key);
    if (slot?.established === a) {
      slot.established = undefined;
      if (!slot.pending) this.slots.delete(key);
    }
    this.establishedCount--;
    this.forgetCid(a);
    if (reason) this.logger.debug({ peer: key, reason: reason.message }, 'DTLS association closed');
  }

  /** RFC 9146 §6: a CID record authenticated from a new address moves the association there. */
  private onAddressChange(a: Association, to: PeerAddress): void {
    const from = a.peer;
    const oldKey = keyOf(from);
    const old = this.slots.get(oldKey);
    if (old?.established === a) {
      old.established = undefined;
      if (!old.pending) this.slots.delete(oldKey);
    } else if (old?.pending === a) {
      old.pending = undefined;
      old.pendingRandom = undefined;
      if (!old.established) this.slots.delete(oldKey);
    }
    const slot = this.slot(keyOf(to));
    if (a.established) {
      const displaced = slot.established;
      slot.established = a;
      if (displaced && displaced !== a) {
        this.forgetCid(displaced);
        displaced.fail(new Error('address taken over'), false);
      }
    } else {
      slot.pending = a;
    }
    this.logger.debug({ from: oldKey, to: keyOf(to) }, 'DTLS peer address changed (CID)');
    if (a.established) this.opts.onPeerMoved?.(from, to);
  }

  /**
   * Sends close_notify to every peer and closes the socket. With `notify: false` the peers are not told
   * (a restart that restores the associations from `exportSessions()`).
   */
  async close(opts: { notify?: boolean } = {}): Promise<void> {
    if (this.closed) return;
    for (const slot of [...this.slots.values()]) {
      if (opts.notify === false) slot.established?.fail(new Error('server closed'), false);
      else slot.established?.close();
      if (slot.pending) slot.pending.fail(new Error('superseded'), false);
    }
    // Let the close_notify alerts leave before the socket goes.
    if (this.inflight > 0) await new Promise<void>((resolve) => (this.drained = resolve));
    this.closed = true;
    this.cookies.close();
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
  }
}
