import { randomBytes } from 'node:crypto';
import { silentLogger, type Logger } from '../log.js';
import { decodeBlock, encodeBlock, sizeToSzx, szxToSize, type BlockValue } from './block.js';
import { systemClock, type Clock } from './clock.js';
import { DedupCache, type DedupEntry } from './dedup.js';
import { CoapError, type CoapErrorCode } from './error.js';
import { decodeMessage, encodeMessage } from './message.js';
import {
  decodeUint,
  encodeUint,
  getOption,
  getStrings,
  getUint,
  isCritical,
  isRequestCode,
  isSuccess,
  Method,
  ResponseCode,
  sortOptions,
} from './option.js';
import {
  MessageType,
  OptionNumber,
  type CoapMessage,
  type CoapOption,
  type CoapRequest,
  type CoapResponse,
  type IncomingRequest,
  type NotificationListener,
  type ObserveRelation,
  type Observation,
  type OutgoingResponse,
  type PeerAddress,
  type PeerIdentity,
  type RequestHandler,
  type RequestOptions,
  type Transport,
} from './types.js';

/** Tunables and injected dependencies of a CoapEndpoint (RFC 7252 §4.8 defaults). */
export interface CoapEndpointOptions {
  logger?: Logger;
  clock?: Clock;
  /** Random bytes (tokens, initial message ID, retransmission jitter). */
  random?: (n: number) => Uint8Array;
  /** ACK_TIMEOUT in ms (2000). */
  ackTimeout?: number;
  /** ACK_RANDOM_FACTOR (1.5). */
  ackRandomFactor?: number;
  /** MAX_RETRANSMIT (4). */
  maxRetransmit?: number;
  /** EXCHANGE_LIFETIME in ms (247000): dedup, block caches, default request timeout. */
  exchangeLifetime?: number;
  /** Cap on a reassembled block-wise body in bytes (16 MiB). */
  maxBlockTransfer?: number;
  /** Preferred block size, 16..1024 (1024). */
  blockSize?: number;
  /** Send an empty ACK and a separate response when a handler takes longer than this (1000 ms). */
  separateResponseAfter?: number;
}

const EMPTY = new Uint8Array(0);
const RECOGNIZED = new Set<number>([...Object.values(OptionNumber), 258 /* No-Response, RFC 7967 */]);
/** Critical options that must not repeat (RFC 7252 §5.4.5: a repeated one is treated as unrecognized). */
const SINGLE_CRITICAL = [
  OptionNumber.UriHost,
  OptionNumber.IfNoneMatch,
  OptionNumber.UriPort,
  OptionNumber.Accept,
  OptionNumber.Block1,
  OptionNumber.Block2,
  OptionNumber.ProxyUri,
  OptionNumber.ProxyScheme,
];
const OBSERVE_MAX = 0xffffff;
const SWEEP_INTERVAL = 10_000;

function peerKeyOf(p: PeerAddress): string {
  return `${p.address}:${p.port}`;
}

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

/** Cryptographic random bytes drawn from a 4 KiB pool, refilled as it empties (one syscall per ~450 tokens). */
function pooledRandom(): (n: number) => Uint8Array {
  const POOL = 4096;
  let pool = randomBytes(POOL);
  let pos = 0;
  return (n) => {
    if (n > POOL) return randomBytes(n);
    if (pos + n > POOL) {
      pool = randomBytes(POOL);
      pos = 0;
    }
    const out = pool.subarray(pos, pos + n);
    pos += n;
    return out;
  };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function isPromiseLike<T>(v: T | Promise<T>): v is Promise<T> {
  return typeof (v as { then?: unknown }).then === 'function';
}

function blockOf(msg: { options: CoapOption[] }, num: number): BlockValue | undefined {
  const o = getOption(msg, num);
  return o ? decodeBlock(o.value) : undefined;
}

function stripOptions(options: readonly CoapOption[], a: number, b: number, c: number, d: number): CoapOption[] {
  const out: CoapOption[] = [];
  for (const o of options) if (o.number !== a && o.number !== b && o.number !== c && o.number !== d) out.push(o);
  return out;
}

function concat(chunks: Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  return Buffer.concat(chunks, total);
}

/** Who is told what happened to a CON we sent. */
interface TransmissionOwner {
  /** Whether a piggybacked response with this token answers our CON. */
  matchesToken(token: Uint8Array): boolean;
  onAck(t: Transmission, msg: CoapMessage): void;
  onReset(t: Transmission): void;
  onTimeout(t: Transmission): void;
}

/** An outgoing CON message awaiting its ACK or RST (RFC 7252 §4.2). */
interface Transmission {
  key: string;
  bytes: Uint8Array;
  peer: PeerAddress;
  attempts: number;
  timeout: number;
  timer: unknown;
  owner: TransmissionOwner;
}

const ignoreOwner: TransmissionOwner = {
  matchesToken: () => false,
  onAck() {},
  onReset() {},
  onTimeout() {},
};

/** Server-side context of one received request until its response is sent. */
interface ServerExchange {
  peer: PeerAddress;
  peerKey: string;
  request: CoapMessage;
  dedup: DedupEntry;
  acked: boolean;
  done: boolean;
  timer: unknown;
  /** peer|method|uri: the key of block caches and observe relations' block-wise notifications. */
  resourceKey: string;
  block1?: BlockValue;
  block2?: BlockValue;
  observe?: number;
  /** The relation this response establishes: an RST or timeout of a separate/NON response ends it. */
  relation?: ServerRelation;
}

interface Reassembly {
  chunks: Uint8Array[];
  received: number;
  expires: number;
}

interface CachedRepresentation {
  code: number;
  options: CoapOption[];
  payload: Uint8Array;
  expires: number;
}

/**
 * A CoAP endpoint (RFC 7252) over any datagram Transport: client and server at once, with
 * reliability, deduplication, block-wise transfers (RFC 7959) and observe (RFC 7641).
 */
export class CoapEndpoint {
  readonly logger: Logger;
  readonly clock: Clock;
  private readonly random: (n: number) => Uint8Array;
  private readonly ackTimeout: number;
  private readonly ackRandomFactor: number;
  private readonly maxRetransmit: number;
  /** EXCHANGE_LIFETIME in ms. */
  readonly exchangeLifetime: number;
  /** Cap on block-wise bodies in bytes. */
  readonly maxBlockTransfer: number;
  /** Preferred block size in bytes. */
  readonly blockSize: number;
  private readonly separateResponseAfter: number;

  /**
   * Message IDs per peer (RFC 7252 §4.4: an ID is not reused with the same endpoint within EXCHANGE_LIFETIME).
   * One shared counter would wrap in a few seconds at fleet request rates and repeat IDs towards every
   * device; per-peer counters live in two generations, so a peer idle for a whole lifetime is forgotten.
   */
  private midsCurrent = new Map<string, number>();
  private midsPrevious = new Map<string, number>();
  private midsRotatedAt: number;
  private handler: RequestHandler | undefined;
  private closed = false;
  private lastSweep: number;
  private sweepTimer: unknown;
  private etagCounter = 0;
  private observeSeq = 0;

  private readonly transmissions = new Map<string, Transmission>();
  private readonly pings = new Map<TransmissionOwner, (e: Error) => void>();
  private readonly exchanges = new Map<string, ClientExchange>();
  private readonly observations = new Map<string, ClientObservation>();
  private readonly attached = new Map<string, ClientObservation>();
  private readonly dedup: DedupCache;
  private readonly separate = new Set<ServerExchange>();
  private readonly relations = new Map<string, ServerRelation>();
  private readonly relationByNonMid = new Map<string, ServerRelation>();
  private readonly reassemblies = new Map<string, Reassembly>();
  private readonly representations = new Map<string, CachedRepresentation>();
  /** Peers moved by movePeer: new key -> old key, kept an EXCHANGE_LIFETIME for duplicate detection. */
  private readonly movedFrom = new Map<string, { from: string; at: number }>();

  constructor(
    readonly transport: Transport,
    options: CoapEndpointOptions = {},
  ) {
    this.logger = options.logger ?? silentLogger;
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? pooledRandom();
    this.ackTimeout = options.ackTimeout ?? 2000;
    this.ackRandomFactor = options.ackRandomFactor ?? 1.5;
    this.maxRetransmit = options.maxRetransmit ?? 4;
    this.exchangeLifetime = options.exchangeLifetime ?? 247_000;
    this.maxBlockTransfer = options.maxBlockTransfer ?? 16 * 1024 * 1024;
    this.blockSize = szxToSize(sizeToSzx(options.blockSize ?? 1024));
    this.separateResponseAfter = options.separateResponseAfter ?? 1000;
    this.midsRotatedAt = this.clock.now();
    const now = this.clock.now();
    this.lastSweep = now;
    this.dedup = new DedupCache(this.exchangeLifetime, now);
    transport.onDatagram((d, p, id) => this.receive(d, p, id));
  }

  /** Install the handler for incoming requests (one per endpoint; a later call replaces it). */
  onRequest(handler: RequestHandler): void {
    this.handler = handler;
  }

  /** Send a request and resolve with its complete (block-wise reassembled) response. */
  request(peer: PeerAddress, req: CoapRequest, opts: RequestOptions = {}): Promise<CoapResponse> {
    return this.startExchange(peer, req, opts, false).promise;
  }

  /**
   * Register an observation (RFC 7641): sends `req` with Observe=0 and resolves with the first response.
   * Later notifications go to `listener`; if the first response carries no Observe option there is no relation.
   */
  async observe(
    peer: PeerAddress,
    req: CoapRequest,
    listener: NotificationListener,
    opts: RequestOptions = {},
  ): Promise<Observation> {
    const base = stripOptions(req.options ?? [], OptionNumber.Observe, -1, -1, -1);
    const token = opts.token ?? this.random(8);
    const key = `${peerKeyOf(peer)}|${hex(token)}`;
    const obs = new ClientObservation(this, peer, token, key, { ...req, options: base }, listener);
    this.observations.set(key, obs);
    const first = this.startExchange(
      peer,
      { ...req, options: [...base, { number: OptionNumber.Observe, value: EMPTY }] },
      { ...opts, token },
      true,
    );
    let response: CoapResponse;
    try {
      response = await first.promise;
    } catch (err) {
      if (this.observations.get(key) === obs) this.observations.delete(key);
      throw err;
    }
    const seq = getUint(response, OptionNumber.Observe);
    if (seq === undefined || !isSuccess(response.code)) {
      if (this.observations.get(key) === obs) this.observations.delete(key);
      obs.cancelled = true;
    } else obs.accept(seq);
    obs.response = response;
    return obs;
  }

  /**
   * Accept notifications carrying `token` from any peer (an observation made before a restart): they are
   * ACKed and delivered instead of reset. Pass the original request to let block-wise notifications be completed.
   * Returns a function that detaches the listener.
   */
  attachObservation(token: Uint8Array, listener: NotificationListener, request?: CoapRequest): () => void {
    const key = hex(token);
    const obs = new ClientObservation(this, undefined, token, key, request, listener);
    this.attached.set(key, obs);
    return () => {
      if (this.attached.get(key) === obs) this.attached.delete(key);
    };
  }

  /** CoAP ping (RFC 7252 §4.3): an Empty CON; resolves when the peer answers (RST or ACK), rejects 'TIMEOUT'. */
  ping(peer: PeerAddress): Promise<void> {
    if (this.closed) return Promise.reject(new CoapError('CLOSED', 'endpoint closed'));
    return new Promise((resolve, reject) => {
      const owner: TransmissionOwner = {
        matchesToken: () => false,
        onAck: () => (this.pings.delete(owner), resolve()),
        onReset: () => (this.pings.delete(owner), resolve()),
        onTimeout: () => (this.pings.delete(owner), reject(new CoapError('TIMEOUT', `no answer to ping from ${peerKeyOf(peer)}`))),
      };
      this.pings.set(owner, reject);
      const msg: CoapMessage = { type: MessageType.CON, code: 0, messageId: this.nextMessageId(peer), token: EMPTY, options: [], payload: EMPTY };
      this.sendConfirmable(msg, peer, owner);
    });
  }

  /**
   * The peer at `from` is now at `to` (a DTLS association moved by its Connection ID, RFC 9146 §6): our requests,
   * retransmissions and observations in progress with it follow, so its answers from `to` match them (over DTLS a
   * response belongs to the association, RFC 7252 §9.1.1, not to the address), and for an EXCHANGE_LIFETIME its
   * messages from `to` are deduplicated against those received from `from` (§4.5).
   */
  movePeer(from: PeerAddress, to: PeerAddress): void {
    const fromKey = peerKeyOf(from);
    const toKey = peerKeyOf(to);
    if (fromKey === toKey || this.closed) return;
    for (const t of [...this.transmissions.values()]) {
      if (peerKeyOf(t.peer) !== fromKey) continue;
      this.transmissions.delete(t.key);
      t.key = `${toKey}|${t.key.slice(fromKey.length + 1)}`;
      t.peer = to;
      this.transmissions.set(t.key, t);
    }
    for (const ex of [...this.exchanges.values()]) ex.movePeer(fromKey, to);
    for (const obs of [...this.observations.values()]) {
      if (obs.peer === undefined || peerKeyOf(obs.peer) !== fromKey) continue;
      if (this.observations.get(obs.key) === obs) this.observations.delete(obs.key);
      obs.peer = to;
      obs.key = `${toKey}|${hex(obs.token)}`;
      this.observations.set(obs.key, obs);
    }
    // §4.4: keep counting message IDs where `from` left off
    const mid = this.midsCurrent.get(fromKey) ?? this.midsPrevious.get(fromKey);
    if (mid !== undefined && !this.midsCurrent.has(toKey)) this.midsCurrent.set(toKey, mid);
    this.movedFrom.set(toKey, { from: fromKey, at: this.clock.now() });
  }

  /** A message already received from where the peer at `peerKey` moved from (a few moves back at most). */
  private movedDuplicate(peerKey: string, messageId: number, now: number): DedupEntry | undefined {
    let key = peerKey;
    for (let hops = 0; hops < 8; hops++) {
      const m = this.movedFrom.get(key);
      if (!m || now - m.at > this.exchangeLifetime) return undefined;
      const dup = this.dedup.lookup(`${m.from}|${messageId}`, now);
      if (dup) return dup;
      key = m.from;
    }
    return undefined;
  }

  /** Cancel every timer, reject pending requests with 'CLOSED' and close the transport. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.transmissions.values()) this.clock.clearTimeout(t.timer);
    this.transmissions.clear();
    for (const ex of [...this.exchanges.values()]) ex.fail('CLOSED', 'endpoint closed');
    for (const reject of this.pings.values()) reject(new CoapError('CLOSED', 'endpoint closed'));
    this.pings.clear();
    if (this.sweepTimer !== undefined) this.clock.clearTimeout(this.sweepTimer);
    this.sweepTimer = undefined;
    for (const s of this.separate) this.clock.clearTimeout(s.timer);
    this.separate.clear();
    for (const r of this.relations.values()) r.cancelled = true;
    this.relations.clear();
    this.relationByNonMid.clear();
    this.observations.clear();
    this.attached.clear();
    this.reassemblies.clear();
    this.representations.clear();
    this.dedup.clear();
    await this.transport.close();
  }

  /** Number of live state entries, for leak tests: transmissions, exchanges, observations, relations, caches. */
  stats(): Record<string, number> {
    return {
      transmissions: this.transmissions.size,
      exchanges: this.exchanges.size,
      observations: this.observations.size + this.attached.size,
      relations: this.relations.size,
      reassemblies: this.reassemblies.size,
      representations: this.representations.size,
      dedup: this.dedup.size,
      separate: this.separate.size,
    };
  }

  // ---------------------------------------------------------------- sending

  /** @internal */
  nextMessageId(peer: PeerAddress): number {
    const now = this.clock.now();
    if (now - this.midsRotatedAt >= this.exchangeLifetime) {
      this.midsPrevious = this.midsCurrent;
      this.midsCurrent = new Map();
      this.midsRotatedAt = now;
    }
    const key = peerKeyOf(peer);
    let last = this.midsCurrent.get(key) ?? this.midsPrevious.get(key);
    if (last === undefined) {
      const r = this.random(2);
      last = (r[0]! << 8) | r[1]!;
    }
    const mid = (last + 1) & 0xffff;
    this.midsCurrent.set(key, mid);
    return mid;
  }

  /** @internal */
  newToken(): Uint8Array {
    return this.random(8);
  }

  /** @internal */
  send(msg: CoapMessage, peer: PeerAddress): Uint8Array {
    const bytes = encodeMessage(msg);
    if (!this.closed) this.transport.send(bytes, peer);
    return bytes;
  }

  /** @internal Send a CON and retransmit it until ACK/RST or MAX_RETRANSMIT (RFC 7252 §4.2). */
  sendConfirmable(msg: CoapMessage, peer: PeerAddress, owner: TransmissionOwner, carry?: Transmission): Transmission {
    const bytes = this.send(msg, peer);
    let timeout: number;
    let attempts = 0;
    if (carry) {
      // §4.5.2 of RFC 7641: a replacing notification keeps the retransmission state of the one it replaces
      timeout = carry.timeout;
      attempts = carry.attempts;
    } else {
      const r = this.random(2);
      const jitter = ((r[0]! << 8) | r[1]!) / 0xffff;
      timeout = this.ackTimeout * (1 + jitter * (this.ackRandomFactor - 1));
    }
    const t: Transmission = {
      key: `${peerKeyOf(peer)}|${msg.messageId}`,
      bytes,
      peer,
      attempts,
      timeout,
      timer: undefined,
      owner,
    };
    t.timer = this.clock.setTimeout(() => this.retransmit(t), timeout);
    this.transmissions.set(t.key, t);
    return t;
  }

  private retransmit(t: Transmission): void {
    if (this.transmissions.get(t.key) !== t) return;
    if (t.attempts >= this.maxRetransmit) {
      this.transmissions.delete(t.key);
      t.owner.onTimeout(t);
      return;
    }
    t.attempts++;
    t.timeout *= 2;
    if (!this.closed) this.transport.send(t.bytes, t.peer);
    t.timer = this.clock.setTimeout(() => this.retransmit(t), t.timeout);
  }

  /** @internal */
  stopTransmission(t: Transmission | undefined): void {
    if (!t) return;
    this.clock.clearTimeout(t.timer);
    if (this.transmissions.get(t.key) === t) this.transmissions.delete(t.key);
  }

  private sendEmpty(type: MessageType, messageId: number, peer: PeerAddress): Uint8Array {
    return this.send({ type, code: 0, messageId, token: EMPTY, options: [], payload: EMPTY }, peer);
  }

  private startExchange(peer: PeerAddress, req: CoapRequest, opts: RequestOptions, observe: boolean): ClientExchange {
    const ex = new ClientExchange(this, peer, req, opts, observe);
    if (this.closed) {
      ex.fail('CLOSED', 'endpoint closed');
      return ex;
    }
    ex.start();
    return ex;
  }

  /** @internal */
  registerExchange(key: string, ex: ClientExchange): void {
    this.exchanges.set(key, ex);
  }

  /** @internal */
  unregisterExchange(key: string, ex: ClientExchange): void {
    if (this.exchanges.get(key) === ex) this.exchanges.delete(key);
  }

  /** @internal Fetch the rest of a block-wise notification (RFC 7959 §2.6) with plain requests. */
  fetchRemainder(peer: PeerAddress, req: CoapRequest, first: CoapMessage): Promise<CoapResponse> {
    const ex = new ClientExchange(this, peer, req, {}, false);
    if (this.closed) ex.fail('CLOSED', 'endpoint closed');
    else ex.continueBlock2(first);
    return ex.promise;
  }

  /** @internal */
  forgetObservation(obs: ClientObservation): void {
    if (obs.peer === undefined) {
      if (this.attached.get(obs.key) === obs) this.attached.delete(obs.key);
    } else if (this.observations.get(obs.key) === obs) this.observations.delete(obs.key);
  }

  // ---------------------------------------------------------------- receiving

  private receive(data: Uint8Array, peer: PeerAddress, identity?: PeerIdentity): void {
    if (this.closed) return;
    try {
      this.dispatch(data, peer, identity);
    } catch (err) {
      this.logger.error({ err, peer: peerKeyOf(peer) }, 'coap: error handling datagram');
    }
  }

  private dispatch(data: Uint8Array, peer: PeerAddress, identity?: PeerIdentity): void {
    let msg: CoapMessage;
    try {
      msg = decodeMessage(data);
    } catch (err) {
      const e = err as CoapError;
      this.logger.debug({ peer: peerKeyOf(peer), code: e.code, reason: e.message }, 'coap: malformed message');
      // §4.2/§4.3: a message format error in a CON (or NON) is rejected with RST; otherwise silently dropped
      if (e.messageId !== undefined && e.type === MessageType.CON) this.sendEmpty(MessageType.RST, e.messageId, peer);
      return;
    }
    const now = this.clock.now();
    if (now - this.lastSweep >= SWEEP_INTERVAL) this.sweep(now);
    const peerKey = peerKeyOf(peer);
    switch (msg.type) {
      case MessageType.ACK:
        this.onAck(msg, peerKey);
        return;
      case MessageType.RST:
        this.onReset(msg, peerKey);
        return;
    }
    if (msg.code === 0) {
      // §4.3: an Empty CON ("CoAP ping") is answered with RST; an empty NON is ignored
      if (msg.type === MessageType.CON) this.sendEmpty(MessageType.RST, msg.messageId, peer);
      return;
    }
    const dkey = `${peerKey}|${msg.messageId}`;
    let dup = this.dedup.lookup(dkey, now);
    if (dup === undefined && this.movedFrom.size > 0) dup = this.movedDuplicate(peerKey, msg.messageId, now);
    // a peer reusing a message ID within EXCHANGE_LIFETIME (§4.4) for another token is treated as a new message
    if (dup && sameBytes(dup.token, msg.token)) {
      // §4.5: same reply again for a duplicate CON; a NON duplicate (or one still in progress) is dropped
      if (msg.type === MessageType.CON && dup.reply && !this.closed) this.transport.send(dup.reply, peer);
      return;
    }
    const entry = this.dedup.add(dkey, msg.token);
    if (isRequestCode(msg.code)) this.onRequestMessage(msg, peer, peerKey, entry, identity);
    else this.onResponseMessage(msg, peer, peerKey, entry);
  }

  private onAck(msg: CoapMessage, peerKey: string): void {
    const t = this.transmissions.get(`${peerKey}|${msg.messageId}`);
    if (!t) return;
    if (isRequestCode(msg.code)) return;
    // §5.3.2: a piggybacked response must carry our token; another one (a stale reply to a reused ID) is ignored
    if (msg.code !== 0 && !t.owner.matchesToken(msg.token)) {
      this.logger.debug({ peer: peerKey, messageId: msg.messageId }, 'coap: ACK with a foreign token ignored');
      return;
    }
    this.stopTransmission(t);
    t.owner.onAck(t, msg);
  }

  private onReset(msg: CoapMessage, peerKey: string): void {
    const key = `${peerKey}|${msg.messageId}`;
    const t = this.transmissions.get(key);
    if (t) {
      this.stopTransmission(t);
      t.owner.onReset(t);
      return;
    }
    // RFC 7641 §3.6: an RST to a NON notification cancels the relation
    const rel = this.relationByNonMid.get(key);
    if (rel) rel.reset();
  }

  private hasUnrecognizedCritical(msg: CoapMessage): boolean {
    const opts = msg.options;
    for (let i = 0; i < opts.length; i++) {
      const n = opts[i]!.number;
      if (!isCritical(n)) continue;
      if (!RECOGNIZED.has(n)) return true;
      if (i > 0 && opts[i - 1]!.number === n && SINGLE_CRITICAL.includes(n as (typeof SINGLE_CRITICAL)[number])) return true;
    }
    return false;
  }

  private onResponseMessage(msg: CoapMessage, peer: PeerAddress, peerKey: string, entry: DedupEntry): void {
    const con = msg.type === MessageType.CON;
    // §5.4.1: a response with an unrecognized critical option is rejected
    if (this.hasUnrecognizedCritical(msg)) {
      this.logger.debug({ peer: peerKey }, 'coap: response with unrecognized critical option rejected');
      if (con) entry.reply = this.sendEmpty(MessageType.RST, msg.messageId, peer);
      return;
    }
    const tokenHex = hex(msg.token);
    const key = `${peerKey}|${tokenHex}`;
    const ex = this.exchanges.get(key);
    if (ex) {
      if (con) entry.reply = this.sendEmpty(MessageType.ACK, msg.messageId, peer);
      ex.onSeparateResponse(msg);
      return;
    }
    const obs = this.observations.get(key) ?? this.attached.get(tokenHex);
    if (obs) {
      if (con) entry.reply = this.sendEmpty(MessageType.ACK, msg.messageId, peer);
      obs.onNotification(msg, peer);
      return;
    }
    // RFC 7641 §3.6 / RFC 7252 §5.3.2: unexpected response (CON or NON) -> RST
    this.logger.debug({ peer: peerKey, token: tokenHex }, 'coap: response with unknown token reset');
    const rst = this.sendEmpty(MessageType.RST, msg.messageId, peer);
    if (con) entry.reply = rst;
  }

  // ---------------------------------------------------------------- server side

  private onRequestMessage(
    msg: CoapMessage,
    peer: PeerAddress,
    peerKey: string,
    entry: DedupEntry,
    identity: PeerIdentity | undefined,
  ): void {
    const con = msg.type === MessageType.CON;
    const path = getStrings(msg, OptionNumber.UriPath);
    const query = getStrings(msg, OptionNumber.UriQuery);
    const resourceKey = `${peerKey}|${msg.code}|${path.join('/')}?${query.join('&')}`;
    const sx: ServerExchange = {
      peer,
      peerKey,
      request: msg,
      dedup: entry,
      acked: false,
      done: false,
      timer: undefined,
      resourceKey,
    };
    if (msg.code > Method.iPATCH) {
      // §5.8: unrecognized method -> 4.05
      this.respond(sx, { code: ResponseCode.MethodNotAllowed });
      return;
    }
    if (this.hasUnrecognizedCritical(msg)) {
      this.logger.debug({ peer: peerKey }, 'coap: request with unrecognized critical option');
      // §5.4.1: 4.02 for a CON request; a NON one is rejected
      if (con) this.respond(sx, { code: ResponseCode.BadOption });
      else this.sendEmpty(MessageType.RST, msg.messageId, peer);
      return;
    }
    if (getOption(msg, OptionNumber.ProxyUri) || getOption(msg, OptionNumber.ProxyScheme)) {
      this.respond(sx, { code: ResponseCode.ProxyingNotSupported });
      return;
    }
    const b1opt = getOption(msg, OptionNumber.Block1);
    const b2opt = getOption(msg, OptionNumber.Block2);
    const block1 = b1opt ? decodeBlock(b1opt.value) : undefined;
    const block2 = b2opt ? decodeBlock(b2opt.value) : undefined;
    if ((b1opt && !block1) || (b2opt && !block2)) {
      this.respond(sx, { code: ResponseCode.BadOption });
      return;
    }
    const observe = getUint(msg, OptionNumber.Observe);
    sx.block2 = block2;
    sx.observe = observe;

    let payload = msg.payload;
    if (block1) {
      const whole = this.reassemble(sx, block1);
      if (whole === undefined) return;
      payload = whole;
      sx.block1 = block1;
    }

    if (msg.code === Method.GET || msg.code === Method.FETCH) {
      if (observe === 1) this.endRelation(`${peerKey}|${hex(msg.token)}`, true);
      if (block2 && block2.num > 0 && observe === undefined) {
        // RFC 7959 §2.4: later blocks come from the cached representation
        const cached = this.representations.get(resourceKey);
        if (cached) {
          this.sendRepresentation(sx, cached.code, cached.options, cached.payload, false);
          return;
        }
      }
    } else if (block2 && block2.num > 0) {
      const cached = this.representations.get(resourceKey);
      if (cached) this.sendRepresentation(sx, cached.code, cached.options, cached.payload, false);
      else this.respond(sx, { code: ResponseCode.RequestEntityIncomplete });
      return;
    }

    const contentFormat = getUint(msg, OptionNumber.ContentFormat);
    const accept = getUint(msg, OptionNumber.Accept);
    const incoming: IncomingRequest = {
      peer,
      identity,
      message: payload === msg.payload ? msg : { ...msg, payload },
      code: msg.code,
      path,
      query,
      contentFormat,
      accept,
      observe,
      payload,
    };
    const handler = this.handler;
    if (!handler) {
      this.respond(sx, { code: ResponseCode.NotFound });
      return;
    }
    let result: OutgoingResponse | Promise<OutgoingResponse>;
    try {
      result = handler(incoming);
    } catch (err) {
      this.logger.warn({ err, peer: peerKey }, 'coap: request handler threw');
      this.respond(sx, { code: ResponseCode.InternalServerError });
      return;
    }
    if (!isPromiseLike(result)) {
      this.respond(sx, result);
      return;
    }
    if (con) {
      // §5.2.2: too slow for a piggybacked response -> empty ACK now, separate response later
      sx.timer = this.clock.setTimeout(() => {
        sx.timer = undefined;
        if (sx.done || this.closed) return;
        sx.acked = true;
        sx.dedup.reply = this.sendEmpty(MessageType.ACK, msg.messageId, peer);
      }, this.separateResponseAfter);
      this.separate.add(sx);
    }
    result.then(
      (r) => this.respond(sx, r),
      (err: unknown) => {
        this.logger.warn({ err, peer: peerKey }, 'coap: request handler failed');
        this.respond(sx, { code: ResponseCode.InternalServerError });
      },
    );
  }

  /** RFC 7959 §2.3: collect Block1 blocks per peer + method + URI; undefined while incomplete (already answered). */
  private reassemble(sx: ServerExchange, b1: BlockValue): Uint8Array | undefined {
    const size = szxToSize(b1.szx);
    const offset = b1.num * size;
    const key = sx.resourceKey;
    const msg = sx.request;
    let r = this.reassemblies.get(key);
    const size1 = getUint(msg, OptionNumber.Size1);
    const tooLarge = () => {
      this.reassemblies.delete(key);
      this.respond(sx, {
        code: ResponseCode.RequestEntityTooLarge,
        options: [{ number: OptionNumber.Size1, value: encodeUint(this.maxBlockTransfer) }],
      });
      return undefined;
    };
    if (b1.num === 0) {
      if (size1 !== undefined && size1 > this.maxBlockTransfer) return tooLarge();
      r = { chunks: [], received: 0, expires: 0 };
      if (b1.more) {
        this.reassemblies.set(key, r);
        this.scheduleSweep();
      }
    } else if (!r || r.received !== offset) {
      // a block out of order, or without its start: 4.08 (§2.3)
      if (r) this.reassemblies.delete(key);
      this.respond(sx, { code: ResponseCode.RequestEntityIncomplete });
      return undefined;
    }
    if (b1.more && msg.payload.length !== size) {
      this.reassemblies.delete(key);
      this.respond(sx, { code: ResponseCode.BadRequest });
      return undefined;
    }
    if (r.received + msg.payload.length > this.maxBlockTransfer) return tooLarge();
    r.chunks.push(msg.payload);
    r.received += msg.payload.length;
    r.expires = this.clock.now() + this.exchangeLifetime;
    if (b1.more) {
      // §2.5: we may ask for smaller blocks by answering with a smaller SZX
      const szx = Math.min(b1.szx, sizeToSzx(this.blockSize));
      const echo = encodeBlock({ num: b1.num, more: true, szx });
      this.respond(sx, { code: ResponseCode.Continue, options: [{ number: OptionNumber.Block1, value: echo }] });
      return undefined;
    }
    this.reassemblies.delete(key);
    return concat(r.chunks, r.received);
  }

  private respond(sx: ServerExchange, resp: OutgoingResponse): void {
    if (sx.done || this.closed) return;
    sx.done = true;
    if (sx.timer !== undefined) this.clock.clearTimeout(sx.timer);
    this.separate.delete(sx);
    const msg = sx.request;
    const options = resp.options ? resp.options.slice() : [];
    let relation: ServerRelation | undefined;
    if (sx.observe === 0 && (msg.code === Method.GET || msg.code === Method.FETCH)) {
      const key = `${sx.peerKey}|${hex(msg.token)}`;
      if (resp.observe && isSuccess(resp.code)) {
        // RFC 7641 §4.1: a new registration with the same token replaces the old one
        this.endRelation(key, true);
        relation = new ServerRelation(this, sx.peer, msg.token, key, sx.resourceKey);
        this.relations.set(key, relation);
        sx.relation = relation;
        options.push({ number: OptionNumber.Observe, value: encodeUint(this.nextObserveSeq()) });
      } else this.endRelation(key, true);
    }
    if (sx.block1 && resp.code !== ResponseCode.Continue) {
      options.push({ number: OptionNumber.Block1, value: encodeBlock({ ...sx.block1, more: false }) });
    }
    this.sendRepresentation(sx, resp.code, options, resp.payload ?? EMPTY, true);
    if (relation && resp.observe) {
      try {
        resp.observe(relation);
      } catch (err) {
        this.logger.warn({ err }, 'coap: observe callback threw');
      }
    }
  }

  /**
   * Send a response, as Block2 slices when it does not fit one block or a later block was asked for
   * (RFC 7959 §2.4); `store` keeps the whole representation for the requests of later blocks.
   */
  private sendRepresentation(sx: ServerExchange, code: number, options: CoapOption[], payload: Uint8Array, store: boolean): void {
    const req = sx.block2;
    const size = req ? Math.min(szxToSize(req.szx), this.blockSize) : this.blockSize;
    const offset = req ? req.num * szxToSize(req.szx) : 0;
    if (payload.length <= size && offset === 0) {
      this.reply(sx, code, options, payload);
      return;
    }
    if (offset >= payload.length) {
      this.reply(sx, ResponseCode.BadOption, [], EMPTY);
      return;
    }
    const out = stripOptions(options, OptionNumber.Block2, OptionNumber.Size2, -1, -1);
    if (store) {
      if (!getOption(out, OptionNumber.ETag)) out.push({ number: OptionNumber.ETag, value: this.nextEtag() });
      this.scheduleSweep();
      this.representations.set(sx.resourceKey, {
        code,
        options: stripOptions(out, OptionNumber.Observe, OptionNumber.Block1, -1, -1),
        payload,
        expires: this.clock.now() + this.exchangeLifetime,
      });
    }
    const end = Math.min(offset + size, payload.length);
    out.push({ number: OptionNumber.Block2, value: encodeBlock({ num: offset / size, more: end < payload.length, szx: sizeToSzx(size) }) });
    if (offset === 0 || getOption(sx.request, OptionNumber.Size2)) {
      out.push({ number: OptionNumber.Size2, value: encodeUint(payload.length) });
    }
    this.reply(sx, code, out, payload.subarray(offset, end));
  }

  private reply(sx: ServerExchange, code: number, options: CoapOption[], payload: Uint8Array): void {
    const req = sx.request;
    const out: CoapMessage = {
      type: MessageType.ACK,
      code,
      messageId: req.messageId,
      token: req.token,
      options: sortOptions(options),
      payload,
    };
    if (req.type === MessageType.CON && !sx.acked) {
      const datagram = this.send(out, sx.peer);
      // §4.5: a duplicate of an idempotent GET may be processed again instead of answered from a kept reply.
      // Keeping the reply of every block of every download for EXCHANGE_LIFETIME costs more than serving a
      // retransmitted block twice. Observe registrations keep theirs (the relation must not be set up twice).
      if (req.code === Method.GET && sx.observe === undefined) this.dedup.forget(sx.dedup);
      else sx.dedup.reply = datagram;
    } else if (req.type === MessageType.CON) {
      out.type = MessageType.CON;
      out.messageId = this.nextMessageId(sx.peer);
      this.sendConfirmable(out, sx.peer, sx.relation ?? ignoreOwner);
    } else {
      out.type = MessageType.NON;
      out.messageId = this.nextMessageId(sx.peer);
      this.send(out, sx.peer);
      if (sx.relation) this.trackNonNotification(sx.relation, out.messageId);
    }
  }

  private nextEtag(): Uint8Array {
    this.etagCounter = (this.etagCounter + 1) >>> 0;
    const r = this.random(4);
    return Uint8Array.of(r[0]!, r[1]!, r[2]!, r[3]!, (this.etagCounter >>> 8) & 0xff, this.etagCounter & 0xff);
  }

  private nextObserveSeq(): number {
    this.observeSeq = (this.observeSeq + 1) & OBSERVE_MAX;
    return this.observeSeq;
  }

  /** @internal Remove a relation; `fire` runs its onCancel listeners. */
  endRelation(key: string, fire: boolean): void {
    const rel = this.relations.get(key);
    if (!rel) return;
    this.relations.delete(key);
    rel.finish(fire);
  }

  /** @internal */
  dropRelation(rel: ServerRelation): void {
    if (this.relations.get(rel.key) === rel) this.relations.delete(rel.key);
    for (const k of rel.nonMids) if (this.relationByNonMid.get(k) === rel) this.relationByNonMid.delete(k);
    rel.nonMids.length = 0;
    this.stopTransmission(rel.pending);
    rel.pending = undefined;
  }

  /** @internal Send a notification on a relation (RFC 7641 §4.2). */
  notify(rel: ServerRelation, resp: OutgoingResponse, confirmable: boolean): void {
    if (this.closed || rel.cancelled) return;
    const options = resp.options ? resp.options.slice() : [];
    const success = isSuccess(resp.code);
    if (success) options.push({ number: OptionNumber.Observe, value: encodeUint(this.nextObserveSeq()) });
    let payload = resp.payload ?? EMPTY;
    if (payload.length > this.blockSize) {
      // RFC 7959 §2.6: the first block goes in the notification, the client fetches the rest
      const base = stripOptions(options, OptionNumber.Observe, OptionNumber.Block2, OptionNumber.Size2, -1);
      if (!getOption(base, OptionNumber.ETag)) {
        const etag = { number: OptionNumber.ETag, value: this.nextEtag() };
        base.push(etag);
        options.push(etag);
      }
      this.scheduleSweep();
      this.representations.set(rel.resourceKey, {
        code: resp.code,
        options: base,
        payload,
        expires: this.clock.now() + this.exchangeLifetime,
      });
      options.push({ number: OptionNumber.Block2, value: encodeBlock({ num: 0, more: true, szx: sizeToSzx(this.blockSize) }) });
      options.push({ number: OptionNumber.Size2, value: encodeUint(payload.length) });
      payload = payload.subarray(0, this.blockSize);
    }
    // RFC 7641 §4.5.2: while a CON notification is unacknowledged, a newer one replaces it (and stays CON)
    if (rel.pending) confirmable = true;
    const msg: CoapMessage = {
      type: confirmable ? MessageType.CON : MessageType.NON,
      code: resp.code,
      messageId: this.nextMessageId(rel.peer),
      token: rel.token,
      options: sortOptions(options),
      payload,
    };
    if (confirmable) {
      const prev = rel.pending;
      if (prev) this.stopTransmission(prev);
      rel.pending = this.sendConfirmable(msg, rel.peer, rel, prev);
    } else {
      this.send(msg, rel.peer);
      this.trackNonNotification(rel, msg.messageId);
    }
    // §4.2: a non-2.xx notification ends the relation
    if (!success) {
      this.relations.delete(rel.key);
      rel.finish(false);
    }
  }

  /** Remember the last few NON notification IDs of a relation so an RST to one cancels it (RFC 7641 §3.6). */
  private trackNonNotification(rel: ServerRelation, messageId: number): void {
    const k = `${peerKeyOf(rel.peer)}|${messageId}`;
    rel.nonMids.push(k);
    this.relationByNonMid.set(k, rel);
    if (rel.nonMids.length > 4) {
      const old = rel.nonMids.shift()!;
      if (this.relationByNonMid.get(old) === rel) this.relationByNonMid.delete(old);
    }
  }

  private sweep(now: number): void {
    this.lastSweep = now;
    for (const [k, r] of this.reassemblies) if (r.expires <= now) this.reassemblies.delete(k);
    for (const [k, r] of this.representations) if (r.expires <= now) this.representations.delete(k);
    for (const [k, m] of this.movedFrom) if (now - m.at > this.exchangeLifetime) this.movedFrom.delete(k);
  }

  /**
   * Expire block-wise state even when no datagram arrives to trigger the lazy sweep (a client that vanished
   * mid-transfer must not pin memory). One timer at a time, only while there is state; unref'd on the real clock.
   */
  private scheduleSweep(): void {
    if (this.sweepTimer !== undefined || this.closed) return;
    const h = this.clock.setTimeout(() => {
      this.sweepTimer = undefined;
      this.sweep(this.clock.now());
      if (this.reassemblies.size > 0 || this.representations.size > 0) this.scheduleSweep();
    }, this.exchangeLifetime);
    (h as { unref?: () => void }).unref?.();
    this.sweepTimer = h;
  }
}

/** A request of ours in flight: retransmission, separate responses and block-wise continuation. */
class ClientExchange implements TransmissionOwner {
  readonly promise: Promise<CoapResponse>;
  private resolveFn!: (r: CoapResponse) => void;
  private rejectFn!: (e: Error) => void;
  private peerKey: string;
  private token: Uint8Array;
  private key = '';
  private transmission: Transmission | undefined;
  private timer: unknown;
  private finished = false;
  private readonly con: boolean;
  private readonly payload: Uint8Array;
  private options: CoapOption[];
  private readonly preferredSzx: number;
  private b1Szx = 0;
  private b1Offset = -1;
  private b2Chunks: Uint8Array[] | undefined;
  private b2Received = 0;
  private b2Etag: Uint8Array | undefined;
  private b2First: CoapMessage | undefined;
  private restarts = 0;
  private abortListener: (() => void) | undefined;

  constructor(
    private readonly ep: CoapEndpoint,
    private peer: PeerAddress,
    private readonly req: CoapRequest,
    private readonly opts: RequestOptions,
    private observe: boolean,
  ) {
    this.promise = new Promise<CoapResponse>((res, rej) => {
      this.resolveFn = res;
      this.rejectFn = rej;
    });
    this.peerKey = peerKeyOf(peer);
    this.token = opts.token ?? ep.newToken();
    this.con = req.confirmable !== false;
    this.payload = req.payload ?? EMPTY;
    this.options = stripOptions(req.options ?? [], OptionNumber.Block1, OptionNumber.Block2, OptionNumber.Size1, OptionNumber.Size2);
    this.preferredSzx = sizeToSzx(opts.blockSize ?? ep.blockSize);
  }

  private arm(): boolean {
    const signal = this.opts.signal;
    if (signal?.aborted) {
      this.fail('ABORTED', 'request aborted');
      return false;
    }
    if (signal) {
      this.abortListener = () => this.fail('ABORTED', 'request aborted');
      signal.addEventListener('abort', this.abortListener, { once: true });
    }
    this.timer = this.ep.clock.setTimeout(
      () => this.fail('TIMEOUT', `no response from ${this.peerKey} within the exchange timeout`),
      this.opts.timeout ?? this.ep.exchangeLifetime,
    );
    this.setKey(this.token);
    return true;
  }

  /** @internal The peer moved (CoapEndpoint.movePeer): later blocks go to `to`, its answers match. */
  movePeer(fromKey: string, to: PeerAddress): void {
    if (this.peerKey !== fromKey || this.finished) return;
    this.peer = to;
    this.peerKey = peerKeyOf(to);
    if (this.key) this.setKey(this.token);
  }

  private setKey(token: Uint8Array): void {
    if (this.key) this.ep.unregisterExchange(this.key, this);
    this.token = token;
    this.key = `${this.peerKey}|${hex(token)}`;
    this.ep.registerExchange(this.key, this);
  }

  start(): void {
    if (!this.arm()) return;
    const szx = this.preferredSzx;
    if (this.payload.length > szxToSize(szx)) {
      this.b1Szx = szx;
      this.b1Offset = 0;
      this.sendBlock1();
      return;
    }
    const options = this.options.slice();
    const code = this.req.code;
    const single = this.opts.block2;
    if (single) {
      options.push({ number: OptionNumber.Block2, value: encodeBlock({ num: single.num, more: false, szx: single.szx }) });
      options.push({ number: OptionNumber.Size2, value: EMPTY });
      this.transmit(options, this.payload);
      return;
    }
    // RFC 7959 §2.4: early negotiation of a smaller Block2 size
    if (szx < 6 && (code === Method.GET || code === Method.FETCH)) {
      options.push({ number: OptionNumber.Block2, value: encodeBlock({ num: 0, more: false, szx }) });
    }
    this.transmit(options, this.payload);
  }

  /** Start from a received first block (a block-wise notification). */
  continueBlock2(first: CoapMessage): void {
    if (!this.arm()) return;
    this.observe = false;
    this.onResponse(first);
  }

  private transmit(options: CoapOption[], payload: Uint8Array): void {
    const msg: CoapMessage = {
      type: this.con ? MessageType.CON : MessageType.NON,
      code: this.req.code,
      messageId: this.ep.nextMessageId(this.peer),
      token: this.token,
      options: sortOptions(options),
      payload,
    };
    if (this.con) this.transmission = this.ep.sendConfirmable(msg, this.peer, this);
    else this.ep.send(msg, this.peer);
  }

  private sendBlock1(): void {
    const size = szxToSize(this.b1Szx);
    const offset = this.b1Offset;
    const end = Math.min(offset + size, this.payload.length);
    const options = this.options.slice();
    options.push({
      number: OptionNumber.Block1,
      value: encodeBlock({ num: offset / size, more: end < this.payload.length, szx: this.b1Szx }),
    });
    if (offset === 0) options.push({ number: OptionNumber.Size1, value: encodeUint(this.payload.length) });
    this.transmit(options, this.payload.subarray(offset, end));
  }

  private sendBlock2(num: number, szx: number): void {
    if (this.observe) {
      // RFC 7959 §2.6: the rest of an observed representation is fetched without Observe, under another token
      this.observe = false;
      this.options = stripOptions(this.options, OptionNumber.Observe, -1, -1, -1);
      this.setKey(this.ep.newToken());
    }
    const options = this.options.slice();
    options.push({ number: OptionNumber.Block2, value: encodeBlock({ num, more: false, szx }) });
    this.transmit(options, this.req.code === Method.FETCH ? this.payload : EMPTY);
  }

  matchesToken(token: Uint8Array): boolean {
    return sameBytes(token, this.token);
  }

  onAck(_t: Transmission, msg: CoapMessage): void {
    this.transmission = undefined;
    if (msg.code === 0) return; // §5.2.2: empty ACK, the response comes separately
    this.onResponse(msg);
  }

  onReset(): void {
    this.transmission = undefined;
    this.fail('RESET', `${this.peerKey} reset the request`);
  }

  onTimeout(): void {
    this.transmission = undefined;
    this.fail('TIMEOUT', `no acknowledgement from ${this.peerKey}`);
  }

  onSeparateResponse(msg: CoapMessage): void {
    // a response implies the ACK we may have missed (§5.2.2)
    this.ep.stopTransmission(this.transmission);
    this.transmission = undefined;
    this.onResponse(msg);
  }

  private onResponse(msg: CoapMessage): void {
    if (this.finished) return;
    if (this.b1Offset >= 0) {
      const b1 = blockOf(msg, OptionNumber.Block1);
      if (msg.code === ResponseCode.Continue) {
        const sentSize = szxToSize(this.b1Szx);
        const sent = Math.min(sentSize, this.payload.length - this.b1Offset);
        if (!b1 || b1.num * sentSize !== this.b1Offset) {
          this.fail('BAD_RESPONSE', '2.31 Continue without a matching Block1');
          return;
        }
        this.b1Offset += sent;
        // §2.5: the server may ask for a smaller block size
        if (b1.szx < this.b1Szx) this.b1Szx = b1.szx;
        if (this.b1Offset >= this.payload.length) {
          this.fail('BAD_RESPONSE', '2.31 Continue after the last block');
          return;
        }
        this.sendBlock1();
        return;
      }
      this.b1Offset = -1;
    }
    if (this.opts.block2) {
      this.finish({ code: msg.code, options: msg.options, payload: msg.payload });
      return;
    }
    const b2 = blockOf(msg, OptionNumber.Block2);
    if (b2 && (b2.more || this.b2Chunks)) {
      const size = szxToSize(b2.szx);
      const etag = getOption(msg, OptionNumber.ETag)?.value;
      if (!this.b2Chunks) {
        if (b2.num !== 0) {
          this.fail('BAD_RESPONSE', 'first Block2 response is not block 0');
          return;
        }
        this.b2Chunks = [];
        this.b2Received = 0;
        this.b2Etag = etag;
        this.b2First = msg;
      } else if (!isSuccess(msg.code)) {
        this.finish({ code: msg.code, options: msg.options, payload: msg.payload });
        return;
      } else if ((this.b2Etag ? hex(this.b2Etag) : '') !== (etag ? hex(etag) : '') || b2.num * size !== this.b2Received) {
        // §2.4: the representation changed (or a block went astray): start over
        if (++this.restarts > 3) {
          this.fail('BLOCK_MISMATCH', 'representation kept changing during the block-wise transfer');
          return;
        }
        this.b2Chunks = undefined;
        this.sendBlock2(0, b2.szx);
        return;
      }
      this.b2Chunks.push(msg.payload);
      this.b2Received += msg.payload.length;
      if (this.b2Received > this.ep.maxBlockTransfer) {
        this.fail('TOO_LARGE', `block-wise response larger than ${this.ep.maxBlockTransfer} bytes`);
        return;
      }
      if (b2.more) {
        if (msg.payload.length !== size) {
          this.fail('BAD_RESPONSE', 'Block2 block of the wrong size');
          return;
        }
        this.sendBlock2(this.b2Received / size, b2.szx);
        return;
      }
      const first = this.b2First!;
      this.finish({
        code: first.code,
        options: stripOptions(first.options, OptionNumber.Block2, OptionNumber.Size2, -1, -1),
        payload: concat(this.b2Chunks, this.b2Received),
      });
      return;
    }
    this.finish({ code: msg.code, options: msg.options, payload: msg.payload });
  }

  private cleanup(): void {
    this.finished = true;
    if (this.key) this.ep.unregisterExchange(this.key, this);
    this.ep.stopTransmission(this.transmission);
    this.transmission = undefined;
    if (this.timer !== undefined) this.ep.clock.clearTimeout(this.timer);
    if (this.abortListener) this.opts.signal?.removeEventListener('abort', this.abortListener);
    this.b2Chunks = undefined;
  }

  private finish(r: CoapResponse): void {
    if (this.finished) return;
    this.cleanup();
    this.resolveFn(r);
  }

  fail(code: CoapErrorCode, message: string): void {
    if (this.finished) return;
    this.cleanup();
    this.rejectFn(new CoapError(code, message));
  }
}

/** Client side of an observation: freshness (RFC 7641 §3.4) and block-wise notifications. */
class ClientObservation implements Observation {
  response: CoapResponse = { code: 0, options: [], payload: EMPTY };
  cancelled = false;
  private seq = -1;
  private seqTime = 0;

  constructor(
    private readonly ep: CoapEndpoint,
    public peer: PeerAddress | undefined,
    readonly token: Uint8Array,
    public key: string,
    private readonly request: CoapRequest | undefined,
    private readonly listener: NotificationListener,
  ) {}

  /** @internal the first response's sequence number */
  accept(seq: number): void {
    this.seq = seq;
    this.seqTime = this.ep.clock.now();
  }

  private fresh(v2: number): boolean {
    const v1 = this.seq;
    const now = this.ep.clock.now();
    if (v1 < 0 || (v1 < v2 && v2 - v1 < 1 << 23) || (v1 > v2 && v1 - v2 > 1 << 23) || now > this.seqTime + 128_000) {
      this.seq = v2;
      this.seqTime = now;
      return true;
    }
    return false;
  }

  /** @internal */
  onNotification(msg: CoapMessage, peer: PeerAddress): void {
    if (this.cancelled) return;
    const o = getOption(msg, OptionNumber.Observe);
    if (o === undefined || !isSuccess(msg.code)) {
      // RFC 7641 §3.2: a response without Observe (or an error) ends the observation
      this.cancelled = true;
      this.ep.forgetObservation(this);
      this.deliver({ code: msg.code, options: msg.options, payload: msg.payload }, peer);
      return;
    }
    if (!this.fresh(decodeUint(o.value))) return;
    const b2 = blockOf(msg, OptionNumber.Block2);
    if (b2?.more && this.request) {
      const req: CoapRequest = {
        code: this.request.code,
        options: stripOptions(this.request.options ?? [], OptionNumber.Observe, -1, -1, -1),
        payload: this.request.payload,
      };
      const seq = this.seq;
      this.ep.fetchRemainder(peer, req, msg).then(
        (full) => {
          // a newer notification delivered meanwhile makes this one stale
          if (!this.cancelled && this.seq === seq) {
            this.deliver({ code: full.code, options: msg.options.filter((x) => x.number === OptionNumber.Observe).concat(full.options), payload: full.payload }, peer);
          }
        },
        (err: unknown) => this.ep.logger.debug({ err }, 'coap: could not complete a block-wise notification'),
      );
      return;
    }
    this.deliver({ code: msg.code, options: msg.options, payload: msg.payload }, peer);
  }

  private deliver(r: CoapResponse, peer: PeerAddress): void {
    try {
      this.listener(r, peer);
    } catch (err) {
      this.ep.logger.warn({ err }, 'coap: notification listener threw');
    }
  }

  async cancel(proactive = false): Promise<void> {
    const wasActive = !this.cancelled;
    this.cancelled = true;
    this.ep.forgetObservation(this);
    if (proactive && wasActive && this.peer && this.request) {
      // RFC 7641 §3.6: GET with Observe=1 and the same token
      const options = stripOptions(this.request.options ?? [], OptionNumber.Observe, -1, -1, -1);
      options.push({ number: OptionNumber.Observe, value: Uint8Array.of(1) });
      await this.ep.request(this.peer, { ...this.request, options }, { token: this.token });
    }
  }
}

/** Server side of an observation (RFC 7641 §4). */
class ServerRelation implements ObserveRelation, TransmissionOwner {
  cancelled = false;
  pending: Transmission | undefined;
  readonly nonMids: string[] = [];
  private listeners: (() => void)[] | undefined;

  constructor(
    private readonly ep: CoapEndpoint,
    readonly peer: PeerAddress,
    readonly token: Uint8Array,
    readonly key: string,
    readonly resourceKey: string,
  ) {}

  notify(response: OutgoingResponse, confirmable = false): void {
    this.ep.notify(this, response, confirmable);
  }

  onCancel(listener: () => void): void {
    (this.listeners ??= []).push(listener);
  }

  cancel(): void {
    if (this.cancelled) return;
    this.finish(false);
  }

  /** @internal */
  finish(fire: boolean): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.ep.dropRelation(this);
    if (fire && this.listeners) {
      const ls = this.listeners;
      this.listeners = undefined;
      for (const l of ls) {
        try {
          l();
        } catch (err) {
          this.ep.logger.warn({ err }, 'coap: onCancel listener threw');
        }
      }
    }
  }

  /** @internal an RST answered one of our notifications */
  reset(): void {
    this.finish(true);
  }

  matchesToken(): boolean {
    return false;
  }

  onAck(t: Transmission): void {
    if (this.pending === t) this.pending = undefined;
  }

  onReset(t: Transmission): void {
    if (this.pending === t) this.pending = undefined;
    this.finish(true);
  }

  onTimeout(t: Transmission): void {
    if (this.pending === t) this.pending = undefined;
    // RFC 7641 §4.5: a CON notification that times out ends the relation
    this.finish(true);
  }
}
