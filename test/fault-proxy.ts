/**
 * Test support: a UDP relay on loopback between a fleet of clients and one server that drops, delays, duplicates,
 * reorders and rebinds datagrams at given rates, from a seeded PRNG.
 *
 * Like a NAT, it gives each client address its own back socket toward the server, so the server sees one address
 * per device. Rebinding replaces a client's back socket (a new source port) and forgets the old mapping: what the
 * server sends to the old port is dropped (counted as `stale`), as when a NAT table entry expires.
 *
 * Every datagram draws the same four numbers from its client's stream for its direction (loss, duplicate, reorder,
 * delay jitter), so a client's k-th datagram in a direction meets the same fate for a given seed whatever the
 * outcome of the others. Which client is which stream follows the order in which clients are first heard.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { seededRandom } from '../src/bootstrap/rotation-sim.js';

export type FaultDirection = 'up' | 'down';

/** Fault rates of one direction. Probabilities are in [0, 1]. */
export interface FaultRates {
  /** Probability that a datagram is dropped. */
  loss?: number;
  /** Every datagram waits `ms` plus a uniform [0, jitter) ms; a delayed datagram never overtakes another. */
  delay?: { ms: number; jitter?: number };
  /** Probability that a datagram that passes is sent twice. */
  duplicate?: number;
  /**
   * Probability that a datagram that passes is held back and sent right after the client's next datagram in the
   * same direction (so that one overtakes it), or after `reorderHoldMs` if none comes.
   */
  reorder?: number;
}

export interface FaultProxyOptions extends FaultRates {
  /** The server. */
  target: { address: string; port: number };
  /** Rates toward the server, replacing the top-level ones field by field. */
  up?: FaultRates;
  /** Rates toward the clients, replacing the top-level ones field by field. */
  down?: FaultRates;
  /**
   * NAT rebinding: a probability per datagram from a client (its mapping is replaced before that datagram goes
   * on), or every `intervalMs` for every client.
   */
  rebind?: number | { intervalMs: number };
  /**
   * Loss spread evenly instead of independently: in each run of `lossWindow` datagrams of a client and direction,
   * exactly round(loss * lossWindow) are dropped, at random positions. The rate is the same; bursts are bounded
   * (at most twice that many in a row), so a test can prove that enough retransmissions always get through.
   */
  lossWindow?: number;
  /** Ms a datagram held for reordering waits for one to overtake it (default 20). */
  reorderHoldMs?: number;
  /** PRNG seed (default 1). */
  seed?: number;
  /** Local address of the front and back sockets (default 127.0.0.1). */
  host?: string;
}

/** What happened to the datagrams of one direction. */
export interface DirectionCounters {
  /** Datagrams accepted for delivery (duplicate copies not included). */
  passed: number;
  dropped: number;
  /** Extra copies sent. */
  duplicated: number;
  /** Datagrams sent after a later one of the same client and direction. */
  reordered: number;
}

export interface FaultCounters {
  up: DirectionCounters;
  down: DirectionCounters;
  /** Mappings replaced (rebinds). */
  rebound: number;
  /** Datagrams from the server to a forgotten (rebound) mapping, dropped. */
  stale: number;
}

/** An address/port pair. */
export interface Endpoint {
  address: string;
  port: number;
}

/** A client's NAT mapping: where it sends from, and the address the server sees it at. */
export interface Mapping {
  client: Endpoint;
  back: Endpoint;
}

/** A well-mixed seed for stream `index` of `seed` (splitmix32 finalizer). */
function streamSeed(seed: number, index: number): number {
  let z = (seed ^ Math.imul(index + 1, 0x9e3779b9)) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}

interface Resolved {
  loss: number;
  delayMs: number;
  jitter: number;
  duplicate: number;
  reorder: number;
}

function resolve(base: FaultRates, over: FaultRates | undefined): Resolved {
  const r = { ...base, ...over };
  for (const [name, p] of [['loss', r.loss], ['duplicate', r.duplicate], ['reorder', r.reorder]] as const) {
    if (p !== undefined && !(p >= 0 && p <= 1)) throw new RangeError(`${name} must be a probability, got ${p}`);
  }
  return { loss: r.loss ?? 0, delayMs: r.delay?.ms ?? 0, jitter: r.delay?.jitter ?? 0, duplicate: r.duplicate ?? 0, reorder: r.reorder ?? 0 };
}

/** Datagrams of one client and direction waiting for their time, in order. */
interface Lane {
  readonly dir: FaultDirection;
  readonly random: () => number;
  readonly queue: { msg: Buffer; at: number }[];
  timer: NodeJS.Timeout | undefined;
  /** The datagram held back for reordering, and its fallback timer. */
  held: Buffer | undefined;
  heldTimer: NodeJS.Timeout | undefined;
  /** Release time of the last queued datagram: delays never reorder. */
  lastAt: number;
  /** With `lossWindow`: which datagrams of the current window are dropped, and the position in it. */
  plan: Uint8Array | undefined;
  planPos: number;
}

interface Client {
  readonly key: string;
  readonly address: string;
  readonly port: number;
  back: Socket;
  /** Resolves once `back` is bound. */
  backBound: Promise<void>;
  readonly up: Lane;
  readonly down: Lane;
  readonly rebindRandom: () => number;
}

function bound(host: string): Promise<Socket> {
  const s = createSocket('udp4');
  return new Promise((ok, fail) => {
    s.once('error', fail);
    s.bind(0, host, () => {
      s.off('error', fail);
      s.on('error', () => {});
      ok(s);
    });
  });
}

const RETIRED_KEPT = 256;

/** A lossy, NAT-like UDP relay for fleet tests. Clients send to `address`; see the module comment. */
export class FaultProxy {
  readonly counters: FaultCounters = {
    up: { passed: 0, dropped: 0, duplicated: 0, reordered: 0 },
    down: { passed: 0, dropped: 0, duplicated: 0, reordered: 0 },
    rebound: 0,
    stale: 0,
  };
  private readonly clients = new Map<string, Client>();
  private readonly retired: Socket[] = [];
  private readonly rates: Record<FaultDirection, Resolved>;
  private rebindRate = 0;
  private rebindTimer: NodeJS.Timeout | undefined;
  private readonly holdMs: number;
  private readonly seed: number;
  private readonly lossWindow: number;
  private readonly host: string;
  private streams = 0;
  private closed = false;

  private constructor(
    private readonly front: Socket,
    private readonly options: FaultProxyOptions,
  ) {
    this.rates = { up: resolve(options, options.up), down: resolve(options, options.down) };
    this.seed = options.seed ?? 1;
    this.lossWindow = options.lossWindow ?? 0;
    if (!(Number.isInteger(this.lossWindow) && this.lossWindow >= 0)) throw new RangeError(`lossWindow must be a whole number, got ${this.lossWindow}`);
    this.host = options.host ?? '127.0.0.1';
    this.holdMs = options.reorderHoldMs ?? 20;
    this.setRebind(options.rebind);
    front.on('message', (msg, rinfo) => this.fromClient(msg, rinfo));
  }

  /** Binds the front socket on 127.0.0.1 (or `host`), port 0. */
  static async start(options: FaultProxyOptions): Promise<FaultProxy> {
    return new FaultProxy(await bound(options.host ?? '127.0.0.1'), options);
  }

  /** Where clients send. */
  get address(): Endpoint {
    const a = this.front.address();
    return { address: a.address, port: a.port };
  }

  get port(): number {
    return this.front.address().port;
  }

  /** The clients heard so far and the address the server sees each at (port 0 while a new mapping is binding). */
  mappings(): Mapping[] {
    return [...this.clients.values()].map((c) => ({ client: { address: c.address, port: c.port }, back: this.backOf(c) }));
  }

  /** The address the server sees `client` at (port 0 while a new mapping is binding), if it has been heard. */
  backAddress(client: Endpoint): Endpoint | undefined {
    const c = this.clients.get(`${client.address}:${client.port}`);
    return c && this.backOf(c);
  }

  /**
   * Replaces the mapping of `client` (default: every client) with a new source port; the old one is forgotten.
   * Resolves with the number of mappings replaced once the new sockets are bound.
   */
  async rebind(client?: Endpoint): Promise<number> {
    if (this.closed) return 0;
    let chosen: Client[];
    if (client) {
      const c = this.clients.get(`${client.address}:${client.port}`);
      if (!c) throw new Error(`no mapping for ${client.address}:${client.port}`);
      chosen = [c];
    } else {
      chosen = [...this.clients.values()];
    }
    for (const c of chosen) this.rebindClient(c);
    await Promise.all(chosen.map((c) => c.backBound));
    return chosen.length;
  }

  /** Changes the rebinding rate (see FaultProxyOptions.rebind); undefined stops it. */
  setRebind(rebind: FaultProxyOptions['rebind']): void {
    if (this.rebindTimer) clearInterval(this.rebindTimer);
    this.rebindTimer = undefined;
    if (typeof rebind === 'number' && !(rebind >= 0 && rebind <= 1)) throw new RangeError(`rebind must be a probability, got ${rebind}`);
    this.rebindRate = typeof rebind === 'number' ? rebind : 0;
    if (typeof rebind === 'object' && !this.closed) this.rebindTimer = setInterval(() => void this.rebind(), rebind.intervalMs);
  }

  /** Closes every socket and clears every timer; datagrams still waiting are dropped. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.rebindTimer) clearInterval(this.rebindTimer);
    const sockets: Socket[] = [this.front, ...this.retired.splice(0)];
    for (const c of this.clients.values()) {
      for (const lane of [c.up, c.down]) {
        if (lane.timer) clearTimeout(lane.timer);
        if (lane.heldTimer) clearTimeout(lane.heldTimer);
        lane.queue.length = 0;
        lane.held = undefined;
      }
      sockets.push(c.back);
    }
    this.clients.clear();
    await Promise.all(sockets.map((s) => new Promise<void>((ok) => s.close(() => ok()))));
  }

  private backOf(c: Client): Endpoint {
    try {
      const a = c.back.address();
      return { address: a.address, port: a.port };
    } catch {
      return { address: this.host, port: 0 };
    }
  }

  private newBack(c: { key: string; backBound?: Promise<void> }): Socket {
    const s = createSocket('udp4');
    s.on('error', () => {});
    // dgram queues sends made while the bind is in progress.
    c.backBound = new Promise<void>((ok) => s.bind(0, this.host, () => ok()));
    s.on('message', (msg: Buffer, rinfo: RemoteInfo) => {
      if (rinfo.port !== this.options.target.port || rinfo.address !== this.options.target.address) return;
      const client = this.clients.get(c.key);
      if (!client || client.back !== s) {
        this.counters.stale++;
        return;
      }
      this.accept(client, client.down, msg);
    });
    return s;
  }

  private rebindClient(c: Client): void {
    this.retired.push(c.back);
    if (this.retired.length > RETIRED_KEPT) this.retired.shift()!.close();
    c.back = this.newBack(c);
    this.counters.rebound++;
  }

  private lane(dir: FaultDirection, random: () => number): Lane {
    return { dir, random, queue: [], timer: undefined, held: undefined, heldTimer: undefined, lastAt: 0, plan: undefined, planPos: 0 };
  }

  private fromClient(msg: Buffer, rinfo: RemoteInfo): void {
    if (this.closed) return;
    const key = `${rinfo.address}:${rinfo.port}`;
    let c = this.clients.get(key);
    if (!c) {
      const n = this.streams++;
      const stub: { key: string; backBound?: Promise<void> } = { key };
      const back = this.newBack(stub);
      c = {
        key,
        address: rinfo.address,
        port: rinfo.port,
        back,
        backBound: stub.backBound!,
        up: this.lane('up', seededRandom(streamSeed(this.seed, 3 * n))),
        down: this.lane('down', seededRandom(streamSeed(this.seed, 3 * n + 1))),
        rebindRandom: seededRandom(streamSeed(this.seed, 3 * n + 2)),
      };
      this.clients.set(key, c);
    } else if (this.rebindRate > 0 && c.rebindRandom() < this.rebindRate) {
      this.rebindClient(c);
    }
    this.accept(c, c.up, msg);
  }

  /** With `lossWindow`: the next position of the lane's drop plan, a new plan every window. */
  private planned(lane: Lane, loss: number): boolean {
    let plan = lane.plan;
    if (plan === undefined || lane.planPos === plan.length) {
      plan = lane.plan ??= new Uint8Array(this.lossWindow);
      plan.fill(0);
      const order = Array.from(plan, (_, i) => i);
      for (let i = 0; i < Math.round(loss * plan.length); i++) {
        const j = i + Math.floor(lane.random() * (order.length - i));
        [order[i], order[j]] = [order[j]!, order[i]!];
        plan[order[i]!] = 1;
      }
      lane.planPos = 0;
    }
    return plan[lane.planPos++] === 1;
  }

  /** Decides the fate of one datagram: always four draws, in the same order. */
  private accept(c: Client, lane: Lane, msg: Buffer): void {
    if (this.closed) return;
    const r = this.rates[lane.dir];
    const counters = this.counters[lane.dir];
    const lost = this.lossWindow > 0 ? this.planned(lane, r.loss) : lane.random() < r.loss;
    const dup = lane.random() < r.duplicate;
    const hold = lane.random() < r.reorder;
    const delay = r.delayMs + lane.random() * r.jitter;
    if (lost) {
      counters.dropped++;
      return;
    }
    counters.passed++;
    if (hold && lane.held === undefined) {
      lane.held = msg;
      lane.heldTimer = setTimeout(() => {
        lane.heldTimer = undefined;
        const h = lane.held;
        lane.held = undefined;
        // Behind what is still delayed: nothing overtook it, and it overtakes nothing.
        if (h) this.enqueue(c, lane, h, 0);
      }, this.holdMs + delay);
      return;
    }
    this.enqueue(c, lane, msg, delay);
    if (dup) {
      counters.duplicated++;
      this.enqueue(c, lane, msg, delay);
    }
  }

  private enqueue(c: Client, lane: Lane, msg: Buffer, delay: number): void {
    if (delay <= 0 && lane.queue.length === 0) {
      this.emit(c, lane, msg);
      return;
    }
    const at = Math.max(Date.now() + delay, lane.lastAt);
    lane.lastAt = at;
    lane.queue.push({ msg, at });
    if (!lane.timer) this.arm(c, lane);
  }

  private arm(c: Client, lane: Lane): void {
    const head = lane.queue[0];
    if (!head) return;
    lane.timer = setTimeout(() => {
      lane.timer = undefined;
      const now = Date.now();
      while (lane.queue.length && lane.queue[0]!.at <= now) this.emit(c, lane, lane.queue.shift()!.msg);
      this.arm(c, lane);
    }, Math.max(0, head.at - Date.now()));
  }

  /** Sends `msg`, then the held datagram it overtook, if any. */
  private emit(c: Client, lane: Lane, msg: Buffer): void {
    this.transmit(c, lane.dir, msg);
    const h = lane.held;
    if (h !== undefined && h !== msg) {
      lane.held = undefined;
      if (lane.heldTimer) clearTimeout(lane.heldTimer);
      lane.heldTimer = undefined;
      this.counters[lane.dir].reordered++;
      this.transmit(c, lane.dir, h);
    }
  }

  private transmit(c: Client, dir: FaultDirection, msg: Buffer): void {
    if (this.closed) return;
    if (dir === 'up') c.back.send(msg, this.options.target.port, this.options.target.address);
    else this.front.send(msg, c.port, c.address);
  }
}
