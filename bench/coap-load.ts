/**
 * Child process: the CoAP load generator every server in the CoAP throughput comparison is driven with.
 * Sends confirmable GETs of one path from `sockets` sockets (plain UDP, or one DTLS-PSK session each) with
 * `window` requests outstanding in total, matches piggybacked responses by token and Message ID, never
 * retransmits (a request unanswered after `timeoutMs` is a loss, and its slot sends a new one), and after
 * `warmupMs` counts responses for `durationMs`. Config as JSON in argv[2]; over IPC it sends { phase: 'timed' }
 * when the timed window opens and the LoadReport when it closes.
 */
import { createSocket, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { CipherSuite, DtlsClient } from '../src/dtls/index.js';

/** What the parent passes in argv[2]. */
export interface LoadConfig {
  port: number;
  /** Uri-Path segments of the resource, e.g. ["time"]. */
  path: string[];
  sockets: number;
  window: number;
  warmupMs: number;
  durationMs: number;
  timeoutMs: number;
  /** Speak DTLS 1.2 PSK (TLS_PSK_WITH_AES_128_CCM_8) with this key (hex); handshakes happen before the warm-up. */
  pskKeyHex?: string;
}

/** What the child reports. */
export interface LoadReport {
  responses: number;
  perSecond: number;
  /** Requests unanswered within timeoutMs during the timed window. */
  timeouts: number;
  /** Responses with a code other than 2.05. */
  errors: number;
  /** Load generator CPU seconds (user + system) during the timed window. */
  cpuSeconds: number;
  seconds: number;
  /** Wall seconds the DTLS handshakes took (0 over plain UDP). */
  handshakeSeconds: number;
  /** Highest number of Message IDs one socket used: above 65,536 the server may see a MID again. */
  maxMidsPerSocket: number;
}

const cfg = JSON.parse(process.argv[2]!) as LoadConfig;
const TKL = 4;
const ACK = 2;

/** A CON GET with a 4-byte token and the Uri-Path options; MID at 2..3, token at 4..7. */
function template(path: readonly string[]): Buffer {
  const parts: Buffer[] = [Buffer.from([0x40 | TKL, 0x01, 0, 0, 0, 0, 0, 0])];
  let last = 0;
  for (const seg of path) {
    const v = Buffer.from(seg, 'utf8');
    const delta = 11 - last;
    last = 11;
    if (v.length < 13) parts.push(Buffer.from([(delta << 4) | v.length]));
    else parts.push(Buffer.from([(delta << 4) | 13, v.length - 13]));
    parts.push(v);
  }
  return Buffer.concat(parts);
}

interface Channel {
  send(b: Buffer): void;
  close(): Promise<void>;
  mid: number;
  mids: number;
}

interface Slot {
  readonly buf: Buffer;
  readonly channel: Channel;
  mid: number;
  gen: number;
  sentAt: number;
  outstanding: boolean;
}

const tpl = template(cfg.path);
const channels: Channel[] = [];
const slots: Slot[] = [];
let responses = 0;
let timeouts = 0;
let errors = 0;
let running = true;
let now = performance.now();

function issue(slot: Slot): void {
  const ch = slot.channel;
  const mid = (ch.mid = (ch.mid + 1) & 0xffff);
  ch.mids++;
  slot.mid = mid;
  slot.gen = (slot.gen + 1) & 0xffff;
  const b = slot.buf;
  b[2] = mid >> 8;
  b[3] = mid & 0xff;
  b[6] = slot.gen >> 8;
  b[7] = slot.gen & 0xff;
  slot.sentAt = now;
  slot.outstanding = true;
  ch.send(b);
}

function receive(msg: Uint8Array): void {
  if (msg.length < 4 + TKL || (msg[0]! & 0x0f) !== TKL || ((msg[0]! >> 4) & 3) !== ACK) return;
  const slot = slots[(msg[4]! << 8) | msg[5]!];
  if (!slot || !slot.outstanding) return;
  if (((msg[6]! << 8) | msg[7]!) !== slot.gen || ((msg[2]! << 8) | msg[3]!) !== slot.mid) return;
  slot.outstanding = false;
  responses++;
  if (msg[1] !== 0x45) errors++;
  if (running) issue(slot);
}

async function udpChannel(): Promise<Channel> {
  const s: Socket = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  // A connected socket sends without the per-datagram address lookup (a nextTick each) that send(port, host) does.
  await new Promise<void>((r) => s.connect(cfg.port, '127.0.0.1', r));
  s.on('message', receive);
  s.on('error', () => {});
  const r = randomBytes(2);
  return {
    mid: (r[0]! << 8) | r[1]!,
    mids: 0,
    send: (b) => s.send(b),
    close: () => new Promise<void>((res) => s.close(() => res())),
  };
}

async function dtlsChannel(i: number, key: Buffer): Promise<Channel> {
  const client = await DtlsClient.connect(
    { address: '127.0.0.1', port: cfg.port },
    { psk: { identity: `load-${i}`, key }, cipherSuites: [CipherSuite.TLS_PSK_WITH_AES_128_CCM_8], connectionId: false, retransmitInitial: 2000 },
  );
  const r = randomBytes(2);
  const mid = (r[0]! << 8) | r[1]!;
  client.onDatagram(receive);
  return { mid, mids: 0, send: (b) => client.send(b), close: () => client.close() };
}

let handshakeSeconds = 0;
if (cfg.pskKeyHex) {
  const key = Buffer.from(cfg.pskKeyHex, 'hex');
  const t0 = performance.now();
  for (let i = 0; i < cfg.sockets; i += 8) {
    const batch = await Promise.all(Array.from({ length: Math.min(8, cfg.sockets - i) }, (_, j) => dtlsChannel(i + j, key)));
    channels.push(...batch);
  }
  handshakeSeconds = (performance.now() - t0) / 1000;
} else {
  for (let i = 0; i < cfg.sockets; i++) channels.push(await udpChannel());
}

for (let i = 0; i < cfg.window; i++) {
  const buf = Buffer.from(tpl);
  buf[4] = i >> 8;
  buf[5] = i & 0xff;
  slots.push({ buf, channel: channels[i % channels.length]!, mid: 0, gen: 0, sentAt: 0, outstanding: false });
}

// One timer, not one per request: a request older than timeoutMs is counted lost and its slot sends a new one.
const sweep = setInterval(() => {
  now = performance.now();
  for (const s of slots) {
    if (s.outstanding && now - s.sentAt > cfg.timeoutMs) {
      s.outstanding = false;
      timeouts++;
      if (running) issue(s);
    }
  }
}, 20);
// performance.now() per send would cost more than the request; a coarse clock is enough for timeouts.
const tick = setInterval(() => (now = performance.now()), 5);

for (const s of slots) issue(s);
await new Promise((r) => setTimeout(r, cfg.warmupMs));
responses = 0;
timeouts = 0;
errors = 0;
process.send!({ phase: 'timed' });
const cpu0 = process.cpuUsage();
const start = performance.now();
await new Promise((r) => setTimeout(r, cfg.durationMs));
const seconds = (performance.now() - start) / 1000;
const cpu = process.cpuUsage(cpu0);
running = false;
const report: LoadReport = {
  responses,
  timeouts,
  errors,
  perSecond: responses / seconds,
  cpuSeconds: (cpu.user + cpu.system) / 1e6,
  seconds,
  handshakeSeconds,
  maxMidsPerSocket: Math.max(...channels.map((c) => c.mids)),
};
process.send!(report);
clearInterval(sweep);
clearInterval(tick);
await new Promise((r) => setTimeout(r, 100));
await Promise.all(channels.map((c) => c.close().catch(() => {})));
process.disconnect();
process.exit(0);
