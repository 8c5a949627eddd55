/**
 * A `warden simulate` worker: a child process (child_process.fork, so it has its own file-descriptor limit) that runs
 * its share of the simulated fleet, one Lwm2mClient and one UDP socket per device, reports counters to the parent
 * every `reportMs`, and stops (de-registering or not) when told to. Key material arrives over IPC, never in argv.
 */
import { createPrivateKey } from 'node:crypto';
import { Lwm2mClient, type Lwm2mClientOptions } from '../client/index.js';
import { ModelRegistry } from '../lwm2m/index.js';
import { CountingFirmwareUpdater } from './simulate-firmware.js';
import { emptyCounters, type ParentMessage, type SimDevice, type WorkerConfig, type WorkerCounters, type WorkerMessage } from './simulate-protocol.js';
import { instrumentWire } from './simulate-wire.js';

/** One device's bookkeeping: its client is made when it starts. */
interface Device {
  readonly spec: SimDevice;
  client: Lwm2mClient | undefined;
  startedAt: number;
  everRegistered: boolean;
  /** Retry delay after a start that failed outright (a bootstrap that did not finish). */
  backoff: number;
}

const MAX_ERRORS = 5;
const STOP_CONCURRENCY = 32;

const counters: WorkerCounters = emptyCounters();
const errors: string[] = [];
const latencies: number[] = [];
const devices: Device[] = [];
const byClient = new Map<Lwm2mClient, Device>();
const timers = new Set<NodeJS.Timeout>();
let config: WorkerConfig;
let model: ModelRegistry;
let next = 0;
let inFlight = 0;
let tokens = 0;
let stopping = false;

function send(message: WorkerMessage, then?: () => void): void {
  if (!process.connected) return;
  process.send!(message, undefined, undefined, () => then?.());
}

function noteError(err: unknown): void {
  if (errors.length >= MAX_ERRORS) return;
  const message = err instanceof Error ? err.message : String(err);
  if (!errors.includes(message)) errors.push(message);
}

function every(ms: number, fn: () => void): void {
  timers.add(setInterval(fn, ms));
}

// ---- client events (one listener function each for the whole fleet; `this` is the emitting client) ----

function onRegistered(this: Lwm2mClient): void {
  const d = byClient.get(this);
  if (!d || d.everRegistered) return;
  d.everRegistered = true;
  latencies.push(performance.now() - d.startedAt);
  counters.everRegistered++;
  if (counters.everRegistered === devices.length) counters.allRegisteredAt = Date.now();
  inFlight--;
  pump();
}

function onRegistrationFailed(this: Lwm2mClient, err: unknown): void {
  counters.failed++;
  noteError(err);
}

function onBootstrapFailed(this: Lwm2mClient, err: unknown): void {
  counters.failed++;
  noteError(err instanceof Error ? new Error(`bootstrap: ${err.message}`) : err);
}

function onBootstrapped(): void {
  counters.bootstrapped++;
}

function onUpdated(): void {
  counters.updates++;
}

function onDeregistered(): void {
  counters.deregistered++;
}

function onReboot(): void {
  counters.reboots++;
}

function clientOptions(spec: SimDevice): Lwm2mClientOptions {
  const o: Lwm2mClientOptions = {
    endpoint: spec.endpoint,
    model,
    lifetime: config.lifetime,
    queueMode: spec.queue,
    queueModeAwakeTime: config.awakeMs,
    valueUpdateInterval: config.notifyMs,
    standard: { firmwareUpdater: new CountingFirmwareUpdater(counters) },
    // Core §6.2.1.1 defaults (60 s, doubling; 24 h between sequences) would leave a simulated device idle for long.
    retry: { initialDelay: 2000, attempts: 6, sequenceDelay: 60_000 },
  };
  if (config.localAddress !== undefined) o.localAddress = config.localAddress;
  if (config.ackTimeoutMs !== undefined) {
    o.coap = { ackTimeout: config.ackTimeoutMs };
    o.dtls = { retransmitInitial: Math.min(1000, config.ackTimeoutMs) };
  }
  if (spec.factory) {
    o.bootstrap = {
      serverUri: config.bootstrapUri!,
      security: { mode: 'psk', identity: spec.factory.identity, key: Buffer.from(spec.factory.key, 'hex') },
    };
  } else if (spec.psk) {
    o.serverUri = config.serverUri;
    o.security = { mode: 'psk', identity: spec.psk.identity, key: Buffer.from(spec.psk.key, 'hex') };
  } else if (spec.rpkKey) {
    o.serverUri = config.serverUri;
    o.security = {
      mode: 'rpk',
      privateKey: createPrivateKey({ key: Buffer.from(spec.rpkKey, 'hex'), format: 'der', type: 'pkcs8' }),
      serverPublicKey: Buffer.from(config.serverPublicKey ?? '', 'hex'),
    };
  } else {
    o.serverUri = config.serverUri;
  }
  return o;
}

function newClient(d: Device): Lwm2mClient {
  const client = new Lwm2mClient(clientOptions(d.spec));
  client.on('registered', onRegistered);
  client.on('registration-failed', onRegistrationFailed);
  client.on('bootstrap-failed', onBootstrapFailed);
  client.on('bootstrap-finished', onBootstrapped);
  client.on('updated', onUpdated);
  client.on('deregistered', onDeregistered);
  client.on('reboot', onReboot);
  byClient.set(client, d);
  return client;
}

/** Starts (or restarts) a device's client; a start that fails outright is retried with back-off. */
function run(d: Device): void {
  const client = d.client!;
  client.start().catch((err: unknown) => {
    if (stopping || d.client !== client) return;
    if (!(err instanceof Error && err.message === 'client stopped')) {
      // A failed bootstrap was already counted by its event; anything else is counted here.
      if (!d.spec.factory) {
        counters.failed++;
        noteError(err);
      }
    }
    const delay = d.backoff;
    d.backoff = Math.min(d.backoff * 2, 60_000);
    const t = setTimeout(() => {
      timers.delete(t);
      if (!stopping && d.client === client) run(d);
    }, delay * (0.5 + Math.random()));
    timers.add(t);
  });
}

/** Starts devices while fewer than `maxInFlight` wait for their first registration (and the ramp allows). */
function pump(): void {
  while (!stopping && next < devices.length && inFlight < config.maxInFlight && tokens >= 1) {
    if (config.rampPerSecond > 0) tokens--;
    const d = devices[next++]!;
    d.client = newClient(d);
    d.startedAt = performance.now();
    inFlight++;
    run(d);
  }
}

/** A reboot (churn): stop without de-registering, start again on a new socket (new port, new DTLS handshake). */
function reboot(d: Device): void {
  const client = d.client!;
  counters.reboots++;
  client.stop({ deregister: false }).then(
    () => {
      if (!stopping) run(d);
    },
    (err: unknown) => noteError(err),
  );
}

function churnTick(acc: { owed: number }): void {
  acc.owed += (config.churnPerMinute * devices.length) / 60;
  let n = Math.floor(acc.owed);
  acc.owed -= n;
  for (let tries = 0; n > 0 && tries < 4 * n + 8; tries++) {
    const d = devices[Math.floor(Math.random() * next)];
    if (!d?.client?.isRegistered) continue;
    reboot(d);
    n--;
  }
}

function snapshot(): WorkerCounters {
  let registered = 0;
  let started = 0;
  for (let i = 0; i < next; i++) {
    const c = devices[i]!.client;
    if (!c) continue;
    started++;
    if (c.isRegistered) registered++;
  }
  counters.registered = registered;
  counters.registering = stopping ? 0 : started - registered;
  Object.assign(counters, wire);
  const mem = process.memoryUsage();
  counters.rss = mem.rss;
  counters.heapUsed = mem.heapUsed;
  return { ...counters };
}

const wire = { dropped: 0, requests: 0, notifications: 0, handshakes: 0 };

function start(c: WorkerConfig): void {
  config = c;
  model = new ModelRegistry();
  instrumentWire(c.loss, Math.random, wire);
  counters.devices = c.devices.length;
  const base = process.memoryUsage();
  counters.baseRss = base.rss;
  counters.baseHeapUsed = base.heapUsed;
  for (const spec of c.devices) devices.push({ spec, client: undefined, startedAt: 0, everRegistered: false, backoff: 2000 });
  if (devices.length === 0) counters.allRegisteredAt = Date.now();
  tokens = c.rampPerSecond > 0 ? 1 : Infinity;
  if (c.rampPerSecond > 0) {
    let last = performance.now();
    every(20, () => {
      const now = performance.now();
      tokens = Math.min(tokens + ((now - last) * c.rampPerSecond) / 1000, Math.max(1, c.rampPerSecond / 10));
      last = now;
      pump();
    });
  }
  if (c.churnPerMinute > 0) {
    const acc = { owed: 0 };
    every(1000, () => churnTick(acc));
  }
  every(c.reportMs, () => send({ type: 'report', counters: snapshot(), errors: [...errors] }));
  pump();
}

async function stop(deregister: boolean): Promise<void> {
  if (stopping) return;
  stopping = true;
  for (const t of timers) clearTimeout(t);
  timers.clear();
  const started = devices.filter((d) => d.client);
  let i = 0;
  const lane = async () => {
    while (i < started.length) {
      const d = started[i++]!;
      await d.client!.stop({ deregister }).catch((err: unknown) => noteError(err));
    }
  };
  await Promise.all(Array.from({ length: STOP_CONCURRENCY }, lane));
  send({ type: 'final', counters: snapshot(), errors, latencies }, () => {
    process.disconnect();
    process.exit(0);
  });
}

process.on('message', (m: ParentMessage) => {
  try {
    if (m.type === 'start') start(m.config);
    else if (m.type === 'stop') void stop(m.deregister);
  } catch (err) {
    send({ type: 'fatal', message: err instanceof Error ? err.message : String(err) }, () => process.exit(1));
  }
});
// The parent's Ctrl-C reaches the whole process group: the parent decides when and how to stop.
process.on('SIGINT', () => {});
process.on('SIGTERM', () => void stop(false));
process.on('disconnect', () => {
  if (!stopping) void stop(false).finally(() => process.exit(0));
});
