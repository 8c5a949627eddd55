/**
 * One DTLS association as it runs: the record state (DtlsConnection), the handshake state machine and
 * its reassembler, the flight timer, and the dispatch of received records by content type. Used by both
 * DtlsServer (one per peer) and DtlsClient.
 */
import type { Clock } from '../coap/clock.js';
import type { PeerAddress } from '../coap/types.js';
import type { Logger } from '../log.js';
import { alert, AlertDescription, AlertLevel, decodeAlert, DtlsAlert, encodeAlert } from './alert.js';
import { DtlsConnection } from './connection.js';
import { FlightTimer, type FlightItem, type FlightTimerOptions } from './flight.js';
import { fragmentMessage, HandshakeReassembler, type HandshakeMessage } from './fragment.js';
import type { HandshakeMachine, HandshakeResult, OutItem, StepResult } from './handshake.js';
import { decodeHandshakeFragments, HANDSHAKE_HEADER_LENGTH, HandshakeType } from './messages.js';
import { ContentType, type DtlsRecord } from './record.js';

/** Default datagram size budget for handshake flights (bytes of UDP payload). */
export const DEFAULT_MTU = 1200;
/** Records of the next epoch held until the ChangeCipherSpec that opens it (UDP reordering). */
const MAX_FUTURE_RECORDS = 8;
/** The ChangeCipherSpec message (RFC 5246 §7.1), shared by every flight; never written to. */
const CCS_MESSAGE = Uint8Array.of(1);
/** Records waiting while an asynchronous step (PSK lookup, certificate check) runs. */
const MAX_QUEUED = 64;

/**
 * Options shared by every association of a server (one object, no per-association closures): the callbacks
 * receive the association. `peer` and `restored` may instead be passed to the constructor.
 */
export interface AssociationOptions {
  isClient: boolean;
  peer?: PeerAddress;
  clock: Clock;
  logger: Logger;
  /** Puts a datagram on the wire to the association's current peer address. */
  send: (datagram: Uint8Array, peer: PeerAddress) => void;
  mtu?: number;
  retransmitInitial?: number;
  maxRetransmissions?: number;
  maxFailedDecryptions?: number;
  maxMessageSize?: number;
  onEstablished?: (a: Association, result: HandshakeResult) => void;
  /** The handshake failed (local or remote alert, timeout). */
  onHandshakeFailure?: (a: Association, err: Error) => void;
  /** An established association ended (close_notify, fatal alert, too many failed decryptions, close()). */
  onClose?: (a: Association, reason: Error | undefined) => void;
  onApplicationData?: (data: Uint8Array, a: Association) => void;
  /** A record authenticated from a new address and is the newest seen (RFC 9146 §6). */
  onAddressChange?: (a: Association, from: PeerAddress) => void;
  /** An established connection restored from `DtlsConnection.deserialize` (no handshake runs). */
  restored?: DtlsConnection;
}

type QueueItem = { rec: DtlsRecord; from: PeerAddress } | undefined;

/** What an established association keeps of its handshake (the keys live in `conn`). */
export type EstablishedResult = Omit<HandshakeResult, 'keys' | 'ownCid' | 'peerCid'>;

export class Association implements FlightTimerOptions {
  readonly conn: DtlsConnection;
  machine: HandshakeMachine | undefined;
  peer: PeerAddress;
  result: EstablishedResult | undefined;
  closed = false;
  /** Wall time (clock) of the last authenticated record. */
  lastActivity: number;
  private reassembler: HandshakeReassembler | undefined;
  private readonly flight: FlightTimer;
  private nextReceiveSeq = 0;
  private queue: QueueItem[] = [];
  private busy = false;
  private future: DtlsRecord[] | undefined;
  /** Application data authenticated under the new keys before our handshake finished (delivered on completion). */
  private early: Uint8Array[] | undefined;
  private dupSeen = false;
  private renegotiationRefused = -1;

  constructor(
    private readonly opts: AssociationOptions,
    machine?: HandshakeMachine,
    firstReceiveSeq = 0,
    peer?: PeerAddress,
    restored?: DtlsConnection,
  ) {
    restored ??= opts.restored;
    this.conn = restored ?? new DtlsConnection(opts.isClient, opts.maxFailedDecryptions);
    const c = this.conn;
    if (restored && c.suite && c.established) {
      this.result = {
        suite: c.suite,
        session: c.session ?? { id: new Uint8Array(0), masterSecret: new Uint8Array(0), cipherSuite: c.suite.id, extendedMasterSecret: true },
        resumed: false,
        nextReceiveSeq: 0,
        ...(c.identity ? { identity: c.identity } : {}),
      };
    }
    const at = peer ?? opts.peer;
    if (!at) throw new TypeError('Association needs a peer address');
    this.peer = at;
    this.lastActivity = opts.clock.now();
    this.machine = machine;
    if (machine) {
      const ro: { nextSeq: number; maxMessageSize?: number } = { nextSeq: firstReceiveSeq };
      if (opts.maxMessageSize !== undefined) ro.maxMessageSize = opts.maxMessageSize;
      this.reassembler = new HandshakeReassembler(ro);
    }
    // The association is the timer's host (FlightTimerOptions): no closures per association.
    this.flight = new FlightTimer(this);
  }

  /** FlightTimerOptions: the clock and timer settings come from the shared options. */
  get clock(): Clock {
    return this.opts.clock;
  }

  get initial(): number | undefined {
    return this.opts.retransmitInitial;
  }

  get maxRetransmissions(): number | undefined {
    return this.opts.maxRetransmissions;
  }

  /** FlightTimerOptions: retransmissions exhausted. */
  onGiveUp(): void {
    this.fail(new Error('DTLS handshake timed out'), false);
  }

  /** True once the handshake completed and until closed. */
  get established(): boolean {
    return this.result !== undefined && !this.closed;
  }

  /** Runs a first step (the client's ClientHello, or the server's answer to the cookie-checked ClientHello). */
  begin(step: () => StepResult | Promise<StepResult>): void {
    this.busy = true;
    let r: StepResult | Promise<StepResult>;
    try {
      r = step();
    } catch (err) {
      this.busy = false;
      this.fail(err as Error, true);
      return;
    }
    this.started(r);
  }

  /** Applies the first step's result (`busy` is set). */
  private started(r: StepResult | Promise<StepResult>): void {
    if (r instanceof Promise) {
      this.settle(r.then((res) => this.apply(res)));
      return;
    }
    try {
      this.apply(r);
    } catch (err) {
      this.busy = false;
      this.fail(err as Error, true);
      return;
    }
    this.busy = false;
    this.pump();
  }

  /** Feeds the ClientHello that passed the cookie check (server side). */
  beginWithMessage(msg: HandshakeMessage): void {
    const machine = this.machine!;
    this.reassembler!.nextSeq = msg.messageSeq + 1;
    this.busy = true;
    let r: StepResult | Promise<StepResult>;
    try {
      r = machine.handle({ kind: 'message', message: msg });
    } catch (err) {
      this.busy = false;
      this.fail(err as Error, true);
      return;
    }
    this.started(r);
  }

  /** Takes the records of one datagram from `from`. */
  receive(records: readonly DtlsRecord[], from: PeerAddress): void {
    if (this.closed) return;
    if (this.queue.length + records.length > MAX_QUEUED) return;
    if (!this.busy && this.queue.length === 0) {
      this.receiveNow(records, from);
      return;
    }
    this.enqueue(records, 0, from);
    if (!this.busy) this.pump();
  }

  /** Queues `records` from index `start`, then the end-of-datagram marker. */
  private enqueue(records: readonly DtlsRecord[], start: number, from: PeerAddress): void {
    for (let i = start; i < records.length; i++) this.queue.push({ rec: records[i]!, from });
    this.queue.push(undefined);
  }

  /**
   * The common case, nothing queued and no step running: the datagram's records are processed in place (no queue
   * entries). Whatever must wait (an asynchronous step, held records released by a ChangeCipherSpec) falls back to
   * the queue in the same order.
   */
  private receiveNow(records: readonly DtlsRecord[], from: PeerAddress): void {
    for (let i = 0; i < records.length; i++) {
      if (this.closed) return;
      let r: void | Promise<void>;
      try {
        r = this.processRecord(records[i]!, from);
      } catch (err) {
        this.fail(err as Error, true);
        return;
      }
      if (r) {
        this.enqueue(records, i + 1, from);
        this.busy = true;
        this.settle(r);
        return;
      }
      if (this.queue.length > 0) {
        // Held records go first, then the rest of this datagram.
        this.enqueue(records, i + 1, from);
        this.pump();
        return;
      }
    }
    if (this.closed) return;
    // End of a datagram: answer a retransmitted flight once (RFC 6347 §4.2.4).
    if (this.dupSeen) {
      this.dupSeen = false;
      this.flight.retransmit();
    }
  }

  private pump(): void {
    this.pumpQueue();
    // An idle association keeps an empty array, not the backing store of the last burst.
    if (this.queue.length === 0) this.queue = [];
  }

  private pumpQueue(): void {
    while (!this.busy && !this.closed && this.queue.length > 0) {
      const item = this.queue.shift();
      if (item === undefined) {
        // End of a datagram: answer a retransmitted flight once (RFC 6347 §4.2.4).
        if (this.dupSeen) {
          this.dupSeen = false;
          this.flight.retransmit();
        }
        continue;
      }
      let r: void | Promise<void>;
      try {
        r = this.processRecord(item.rec, item.from);
      } catch (err) {
        this.fail(err as Error, true);
        return;
      }
      if (r) {
        this.busy = true;
        this.settle(r);
        return;
      }
    }
  }

  private settle(p: Promise<void>): void {
    p.then(
      () => {
        this.busy = false;
        this.pump();
      },
      (err: Error) => {
        this.busy = false;
        this.fail(err, true);
      },
    );
  }

  private processRecord(rec: DtlsRecord, from: PeerAddress): void | Promise<void> {
    const before = this.conn.highestReceived;
    const r = this.conn.open(rec);
    if (!r.ok) {
      switch (r.reason) {
        case 'future':
          if (this.machine && rec.epoch === this.conn.readEpoch + 1 && (this.future?.length ?? 0) < MAX_FUTURE_RECORDS) (this.future ??= []).push(rec);
          return;
        case 'bad-mac':
          // During the handshake a record of the new epoch failing to decrypt means the keys differ
          // (wrong PSK, or an unknown identity answered with a random key): fail alike in both cases.
          if (this.machine?.awaitingFinished) throw alert('bad_record_mac', 'Finished record does not authenticate');
          return;
        case 'too-many-failures':
          this.fail(alert('bad_record_mac', 'too many records failed authentication'), false);
          return;
        default:
          return;
      }
    }
    if (rec.epoch > 0) {
      this.lastActivity = this.opts.clock.now();
      if (rec.sequenceNumber > before && (from.address !== this.peer.address || from.port !== this.peer.port)) {
        this.opts.onAddressChange?.(this, from);
        this.peer = from;
      }
    }
    switch (r.type) {
      case ContentType.change_cipher_spec:
        return this.onChangeCipherSpec(r.content);
      case ContentType.alert:
        this.onAlert(r.content);
        return;
      case ContentType.handshake:
        return this.onHandshake(r.content);
      case ContentType.application_data:
        if (this.result && rec.epoch > 0) {
          // The peer finished: our final flight is no longer needed.
          if (this.flight.flight.length > 0) this.flight.clear();
          this.opts.onApplicationData?.(r.content, this);
        } else if (rec.epoch > 0 && (this.early?.length ?? 0) < MAX_FUTURE_RECORDS) {
          // The peer completed (its final flight may have been lost) and already sends data.
          (this.early ??= []).push(r.content);
        }
        return;
      default:
        return;
    }
  }

  private onChangeCipherSpec(content: Uint8Array): void | Promise<void> {
    if (content.length !== 1 || content[0] !== 1) throw alert('decode_error', 'ChangeCipherSpec');
    // After the handshake a CCS is a duplicate: ignore it.
    if (!this.machine) return;
    return this.step(this.machine.handle({ kind: 'ccs' }));
  }

  private onAlert(content: Uint8Array): void {
    const { level, description } = decodeAlert(content);
    const err = new DtlsAlert(description, undefined, level, true);
    if (description === AlertDescription.close_notify) {
      this.terminate(err);
      return;
    }
    if (level === AlertLevel.fatal) {
      this.terminate(err);
      return;
    }
    this.opts.logger.debug({ peer: this.peer, alert: err.code }, 'DTLS warning alert');
  }

  private onHandshake(content: Uint8Array): void | Promise<void> {
    const frags = decodeHandshakeFragments(content);
    if (!this.machine) {
      for (const f of frags) {
        if (f.messageSeq < this.nextReceiveSeq) {
          this.dupSeen = true;
        } else if (
          this.renegotiationRefused !== f.messageSeq &&
          (f.msgType === HandshakeType.client_hello || f.msgType === HandshakeType.hello_request)
        ) {
          // RFC 5746 §4.2 / §4.4: renegotiation is refused with a no_renegotiation warning.
          this.renegotiationRefused = f.messageSeq;
          this.sendAlert(AlertLevel.warning, AlertDescription.no_renegotiation);
        }
      }
      return;
    }
    for (const f of frags) if (this.reassembler!.add(f) === 'old') this.dupSeen = true;
    return this.drain();
  }

  private drain(): void | Promise<void> {
    for (;;) {
      const machine = this.machine;
      if (!machine) return;
      const msg = this.reassembler!.next();
      if (!msg) return;
      // Part of the peer's next flight arrived: stop retransmitting ours (RFC 6347 §4.2.4).
      this.flight.stop();
      const r = machine.handle({ kind: 'message', message: msg });
      if (r instanceof Promise) return r.then((res) => { this.apply(res); return this.drain(); });
      this.apply(r);
    }
  }

  private step(r: StepResult | Promise<StepResult>): void | Promise<void> {
    if (r instanceof Promise) return r.then((res) => this.apply(res));
    this.apply(r);
  }

  private applyCids(): void {
    const ids = this.machine?.connectionIds;
    if (ids?.own) this.conn.ownCid = ids.own;
    if (ids?.peer) this.conn.peerCid = ids.peer;
  }

  private apply(res: StepResult): void {
    if (this.closed) return;
    if (res.restart) this.flight.clear();
    if (res.writeCipher) {
      this.applyCids();
      this.conn.setWriteCipher(this.conn.writeEpoch + 1, res.writeCipher);
    }
    if (res.readCipher) {
      this.applyCids();
      this.conn.setReadCipher(this.conn.readEpoch + 1, res.readCipher);
      const held = this.future;
      this.future = undefined;
      // Process the held records right after the current one, before anything queued later.
      if (held) for (let i = held.length - 1; i >= 0; i--) this.queue.unshift({ rec: held[i]!, from: this.peer });
    }
    if (res.flight) this.sendFlight(res.flight, res.final === true);
    if (res.established) this.establish(res.established, res.final === true);
  }

  private sendFlight(items: OutItem[], final: boolean): void {
    let epoch = this.conn.writeEpoch;
    // Exactly sized: the final flight stays buffered for the association's life (RFC 6347 §4.2.4).
    const flight: FlightItem[] = items.map((it) =>
      it.kind === 'ccs'
        ? { contentType: ContentType.change_cipher_spec, epoch: epoch++, data: CCS_MESSAGE }
        : { contentType: ContentType.handshake, epoch, data: it.raw, msgType: it.msgType },
    );
    this.conn.writeEpoch = epoch;
    this.flight.send(flight, !final);
  }

  /** FlightTimerOptions: sends (or resends) a flight, fragmenting messages and packing records into datagrams up to the MTU. */
  transmit(items: readonly FlightItem[]): void {
    if (this.closed) return;
    const out: Uint8Array[] = [];
    let size = 0;
    const mtu = this.opts.mtu ?? DEFAULT_MTU;
    for (const it of items) {
      if (it.contentType !== ContentType.handshake) {
        size = this.pack(out, size, mtu, this.conn.seal(it.contentType, it.epoch, it.data));
        continue;
      }
      const d = it.data;
      const bodyLength = d.length - HANDSHAKE_HEADER_LENGTH;
      const maxFragment = Math.max(64, mtu - this.conn.overhead(it.epoch) - HANDSHAKE_HEADER_LENGTH);
      if (bodyLength <= maxFragment) {
        // Unfragmented: the encoded message is already its only fragment (offset 0, length = length).
        size = this.pack(out, size, mtu, this.conn.seal(ContentType.handshake, it.epoch, d));
        continue;
      }
      const body = d.subarray(HANDSHAKE_HEADER_LENGTH);
      for (const frag of fragmentMessage(d[0]!, (d[4]! << 8) | d[5]!, body, maxFragment)) size = this.pack(out, size, mtu, this.conn.seal(ContentType.handshake, it.epoch, frag));
    }
    if (size > 0) this.opts.send(concat(out, size), this.peer);
  }

  /** Adds a record to the datagram being filled, sending the datagram first when the record would overflow it. */
  private pack(out: Uint8Array[], size: number, mtu: number, rec: Uint8Array): number {
    if (size > 0 && size + rec.length > mtu) {
      this.opts.send(concat(out, size), this.peer);
      out.length = 0;
      size = 0;
    }
    out.push(rec);
    return size + rec.length;
  }

  private establish(result: HandshakeResult, sentFinalFlight: boolean): void {
    this.applyCids();
    // Keep what the association needs later; the keys are packed into the connection.
    const kept: EstablishedResult = { suite: result.suite, session: result.session, resumed: result.resumed, nextReceiveSeq: result.nextReceiveSeq };
    if (result.identity) kept.identity = result.identity;
    this.result = kept;
    this.conn.establish(result.suite, result.keys, result.identity, result.session);
    this.nextReceiveSeq = result.nextReceiveSeq;
    this.machine = undefined;
    this.reassembler = undefined;
    this.future = undefined;
    if (!sentFinalFlight) this.flight.clear();
    this.opts.onEstablished?.(this, result);
    const early = this.early;
    this.early = undefined;
    if (early) for (const d of early) if (!this.closed) this.opts.onApplicationData?.(d, this);
  }

  /** Encrypts and sends application data; false when not established. */
  sendApplicationData(data: Uint8Array): boolean {
    if (!this.established) return false;
    this.opts.send(this.conn.encrypt(data), this.peer);
    return true;
  }

  private sendAlert(level: number, description: number): void {
    try {
      this.opts.send(this.conn.seal(ContentType.alert, this.conn.writeEpoch, encodeAlert(level, description)), this.peer);
    } catch {
      // sequence numbers exhausted or no cipher: nothing more to say
    }
  }

  /** Ends the association with a fatal alert to the peer (when `notify` and the error is ours). */
  fail(err: Error, notify: boolean): void {
    if (this.closed) return;
    if (notify) {
      if (err instanceof DtlsAlert) {
        if (!err.remote) this.sendAlert(AlertLevel.fatal, err.description);
      } else {
        this.sendAlert(AlertLevel.fatal, AlertDescription.internal_error);
      }
    }
    this.terminate(err);
  }

  /** Sends close_notify (when established) and ends the association. */
  close(): void {
    if (this.closed) return;
    if (this.result) this.sendAlert(AlertLevel.warning, AlertDescription.close_notify);
    this.terminate(undefined);
  }

  private terminate(reason: Error | undefined): void {
    if (this.closed) return;
    this.closed = true;
    this.flight.clear();
    this.queue.length = 0;
    this.future = undefined;
    this.early = undefined;
    if (this.result) this.opts.onClose?.(this, reason);
    else this.opts.onHandshakeFailure?.(this, reason ?? new Error('DTLS handshake aborted'));
  }
}

function concat(parts: Uint8Array[], size: number): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(size);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
