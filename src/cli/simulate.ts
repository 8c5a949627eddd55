/**
 * `warden simulate`: a fleet of simulated Warden clients spread over worker processes (simulate-worker.ts), so that
 * a fleet can exceed the per-process file limit (one UDP socket per device). The parent provisions what the server
 * must know through the REST API, starts the workers, shows progress, stops them and sums up.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { generateKeyPair, randomBytes, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError, Option } from 'commander';
import { readPublicKey } from './client-security.js';
import { emptyCounters, type ParentMessage, type SimDevice, type SimSecurity, type WorkerConfig, type WorkerCounters, type WorkerMessage } from './simulate-protocol.js';
import { ApiClient } from './api-client.js';
import { bootstrapConfig, inBatches, pskInfo, readFactoryList, rpkInfo } from './simulate-provision.js';

/** Options of a simulation (the `warden simulate` flags). */
export interface SimulateOptions {
  devices: number;
  /** Default nosec. */
  security?: SimSecurity;
  /** Devices start with factory bootstrap credentials only (needs `factoryList`). */
  bootstrap?: boolean;
  /** Factory list CSV (`warden keys factory-list`): the first `devices` rows are simulated. */
  factoryList?: string;
  /** Default coaps://127.0.0.1:5784. */
  bootstrapServer?: string;
  /** DM server; default coap://127.0.0.1:5683 (nosec) or coaps://127.0.0.1:5684. */
  server?: string;
  /** The DM server's public key (SubjectPublicKeyInfo DER), pinned by direct rpk devices. */
  serverPublicKey?: Uint8Array;
  /** REST API base URL; default http://127.0.0.1:8080. */
  api?: string;
  /** Admin API token (needed to provision psk, rpk and bootstrap devices). */
  token?: string;
  /** Endpoint name prefix of direct devices; default "sim-". */
  prefix?: string;
  /** Devices per worker process; default 5000. */
  perWorker?: number;
  /** Registration lifetime in seconds; default 300. */
  lifetime?: number;
  /** Share of devices in Queue Mode (0..1); default 0. */
  queue?: number;
  /** Queue Mode awake time in seconds; default 93 (MAX_TRANSMIT_WAIT). */
  awake?: number;
  /** A device's values change every this many seconds (0: never); default 10. */
  notify?: number;
  /** Probability that a datagram a device sends or receives is dropped (0..1); default 0. */
  loss?: number;
  /** Share of the fleet rebooted per minute; default 0. */
  churn?: number;
  /** Stop after this many seconds of running (default: when `signal` aborts). */
  duration?: number;
  /** Stop as soon as every device has registered once. */
  untilRegistered?: boolean;
  /** Device starts per second, whole fleet (default 0: unlimited, bounded by `inFlight`). */
  ramp?: number;
  /** Devices started and not yet registered, whole fleet; default 256. */
  inFlight?: number;
  /** CoAP ACK_TIMEOUT in ms (default 2000, RFC 7252 §4.8); also caps the DTLS initial retransmission timer (1000). */
  ackTimeout?: number;
  /**
   * Local addresses for the devices' sockets, one per worker in turn (default: any). An address has about 28,000
   * ephemeral UDP ports on Linux, so a larger fleet on one host needs several (e.g. 127.0.0.2, 127.0.0.3 ...).
   */
  bind?: string[];
  /** Stops the simulation (devices de-register). */
  signal?: AbortSignal;
}

/** Fleet-wide counters while running. */
export interface SimulationProgress {
  phase: 'provisioning' | 'running' | 'stopping';
  devices: number;
  /** Provisioning: items done of `provisionTotal`. */
  provisioned: number;
  provisionTotal: number;
  /** Seconds since the devices started. */
  elapsed: number;
  counters: WorkerCounters;
}

/** The end-of-run figures. */
export interface SimulationSummary {
  devices: number;
  workers: number;
  security: SimSecurity;
  bootstrap: boolean;
  /** Devices that registered at least once. */
  registered: number;
  /** Registration attempts that failed (each was retried). */
  failed: number;
  /** The first few distinct error messages. */
  errors: string[];
  /** Seconds from the start until every device had registered (null when some never did). */
  timeToRegisterAll: number | null;
  registrationsPerSecond: number | null;
  /** First-registration latency in ms (start of the device to its Register answered; includes bootstrap and handshakes). */
  latency: { p50: number | null; p99: number | null; max: number | null };
  bootstraps: number;
  handshakes: number;
  updates: number;
  notifications: number;
  requestsServed: number;
  firmware: { accepted: number; applied: number };
  reboots: number;
  deregistered: number;
  dropped: number;
  provisionSeconds: number;
  durationSeconds: number;
  /** Worker memory above their empty baseline, per device, at its peak (bytes). */
  memory: { rssPerDevice: number | null; heapPerDevice: number | null };
}

const REPORT_MS = 500;
const STOP_TIMEOUT_MS = 120_000;
const WORKER = fileURLToPath(new URL('./simulate-worker.js', import.meta.url));

/** p-th percentile (0..100) of sorted values, nearest rank. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** Whether device `i` of the fleet is in Queue Mode: `share` of them, spread evenly. */
export function inQueueMode(i: number, share: number): boolean {
  return Math.floor((i + 1) * share) > Math.floor(i * share);
}

function sumCounters(all: readonly WorkerCounters[]): WorkerCounters {
  const out = emptyCounters();
  let allAt: number | undefined = 0;
  for (const c of all) {
    for (const k of Object.keys(out) as (keyof WorkerCounters)[]) {
      if (k !== 'allRegisteredAt') (out[k] as number) += c[k] as number;
    }
    allAt = c.allRegisteredAt === undefined || allAt === undefined ? undefined : Math.max(allAt, c.allRegisteredAt);
  }
  if (allAt !== undefined && all.length > 0) out.allRegisteredAt = allAt;
  return out;
}

function p256(): Promise<{ privateKey: KeyObject; publicKey: KeyObject }> {
  return new Promise((resolve, reject) =>
    generateKeyPair('ec', { namedCurve: 'P-256' }, (err, publicKey, privateKey) => (err ? reject(err) : resolve({ privateKey, publicKey }))));
}

function checkOptions(o: SimulateOptions): void {
  const security = o.security ?? 'nosec';
  if (!Number.isInteger(o.devices) || o.devices < 1) throw new Error('--devices must be a positive integer');
  if (security === 'x509' && !o.bootstrap) {
    throw new Error('--security x509 needs --bootstrap (and --factory-list): no API route issues a certificate, so Warden\'s CA certifies each device at its first bootstrap (dmCredential "certificate")');
  }
  if (o.bootstrap && !o.factoryList) throw new Error('--bootstrap needs --factory-list: the devices\' factory PSKs (warden keys factory-list)');
  if (security === 'rpk' && !o.bootstrap && !o.serverPublicKey) throw new Error('--security rpk needs --server-public-key: the DM server\'s public key, which the devices pin');
  const uri = o.server;
  if (uri !== undefined && !o.bootstrap) {
    if (security === 'nosec' && !uri.startsWith('coap://')) throw new Error('--security nosec takes a coap:// --server');
    if (security !== 'nosec' && !uri.startsWith('coaps://')) throw new Error(`--security ${security} takes a coaps:// --server`);
  }
  if (o.bootstrapServer !== undefined && !/^coaps?:\/\//.test(o.bootstrapServer)) throw new Error('--bootstrap-server is a coap:// or coaps:// URI');
  for (const [name, v] of [['queue', o.queue], ['loss', o.loss]] as const) {
    if (v !== undefined && !(v >= 0 && v <= 1)) throw new Error(`--${name} is a fraction from 0 to 1`);
  }
  if ((o.loss ?? 0) >= 1) throw new Error('--loss must be below 1');
}

/** The devices of the fleet and what the API must be told about them. */
interface Plan {
  devices: SimDevice[];
  /** Provisioning calls: [path, body]. */
  puts: [string, unknown][];
}

async function plan(o: SimulateOptions, onProgress: (done: number) => void): Promise<Plan> {
  const security = o.security ?? 'nosec';
  const queue = o.queue ?? 0;
  const devices: SimDevice[] = [];
  const puts: [string, unknown][] = [];
  if (o.bootstrap) {
    const nosecServer = o.server ?? 'coap://127.0.0.1:5683';
    const body = bootstrapConfig(security, o.lifetime ?? 300, nosecServer);
    const rows = readFactoryList(o.factoryList!, o.devices);
    rows.forEach((r, i) => {
      devices.push({ endpoint: r.endpoint, factory: { identity: r.pskIdentity, key: Buffer.from(r.pskKey).toString('hex') }, queue: inQueueMode(i, queue) });
      puts.push([`/api/bootstrap/${encodeURIComponent(r.endpoint)}`, body]);
    });
    return { devices, puts };
  }
  const prefix = o.prefix ?? 'sim-';
  for (let i = 0; i < o.devices; i++) {
    const endpoint = `${prefix}${i + 1}`;
    const d: SimDevice = { endpoint, queue: inQueueMode(i, queue) };
    if (security === 'psk') {
      const key = randomBytes(32);
      d.psk = { identity: endpoint, key: key.toString('hex') };
      puts.push(['/api/security/clients', pskInfo(endpoint, endpoint, key)]);
    } else if (security === 'rpk') {
      const { privateKey, publicKey } = await p256();
      d.rpkKey = privateKey.export({ format: 'der', type: 'pkcs8' }).toString('hex');
      puts.push(['/api/security/clients', rpkInfo(endpoint, publicKey.export({ format: 'der', type: 'spki' }))]);
      if (i % 500 === 499) onProgress(i + 1);
    }
    devices.push(d);
  }
  return { devices, puts };
}

/** A worker process and what it last reported. */
interface Worker {
  child: ChildProcess;
  counters: WorkerCounters;
  errors: string[];
  peakRss: number;
  peakHeap: number;
  final: boolean;
  latencies: number[];
  exited: Promise<void>;
}

/**
 * Runs a simulation to its end (duration, every device registered, or `signal`): provisions, forks
 * ceil(devices / perWorker) workers, reports progress every 500 ms, stops the fleet and resolves with the summary.
 * Rejects before any worker starts when provisioning fails (a refused token: nothing provisioned).
 */
export async function runSimulation(options: SimulateOptions, onProgress?: (p: SimulationProgress) => void): Promise<SimulationSummary> {
  checkOptions(options);
  const security = options.security ?? 'nosec';
  const n = options.devices;
  const progress = (p: Omit<SimulationProgress, 'devices'>) => onProgress?.({ devices: n, ...p });
  const provisionStart = performance.now();
  const needsApi = options.bootstrap || security === 'psk' || security === 'rpk';
  let api: ApiClient | undefined;
  if (needsApi) {
    if (!options.token) throw new Error(`provisioning ${options.bootstrap ? 'bootstrap configurations' : `${security} devices`} needs the admin API token: WARDEN_API_TOKEN or --token-file`);
    api = new ApiClient(options.api ?? 'http://127.0.0.1:8080', options.token);
    // Fails (naming the reason) unless the API answers and takes the token, before anything is provisioned.
    await api.call('GET', '/api/security/clients?limit=1');
  }
  const { devices, puts } = await plan(options, (done) => progress({ phase: 'provisioning', provisioned: done, provisionTotal: n * 2, elapsed: 0, counters: emptyCounters(n) }));
  if (api && puts.length > 0) {
    const offset = security === 'rpk' && !options.bootstrap ? n : 0;
    const total = offset + puts.length;
    await inBatches(puts, 16, async ([path, body]) => void (await api!.call('PUT', path, body)), (done) => {
      if (done % 100 === 0 || done === puts.length) progress({ phase: 'provisioning', provisioned: offset + done, provisionTotal: total, elapsed: 0, counters: emptyCounters(n) });
    });
  }
  const provisionSeconds = (performance.now() - provisionStart) / 1000;

  const perWorker = options.perWorker ?? 5000;
  const count = Math.ceil(n / perWorker);
  const defaultServer = security === 'nosec' ? 'coap://127.0.0.1:5683' : 'coaps://127.0.0.1:5684';
  const base: Omit<WorkerConfig, 'worker' | 'devices'> = {
    serverUri: options.server ?? defaultServer,
    bootstrapUri: options.bootstrapServer ?? 'coaps://127.0.0.1:5784',
    ...(options.serverPublicKey ? { serverPublicKey: Buffer.from(options.serverPublicKey).toString('hex') } : {}),
    lifetime: options.lifetime ?? 300,
    awakeMs: (options.awake ?? 93) * 1000,
    notifyMs: (options.notify ?? 10) * 1000,
    loss: options.loss ?? 0,
    churnPerMinute: options.churn ?? 0,
    rampPerSecond: (options.ramp ?? 0) / count,
    maxInFlight: Math.max(1, Math.ceil((options.inFlight ?? 256) / count)),
    reportMs: REPORT_MS,
    ...(options.ackTimeout !== undefined ? { ackTimeoutMs: options.ackTimeout } : {}),
  };

  const workers: Worker[] = [];
  const failures: string[] = [];
  let settle: () => void = () => {};
  const ended = new Promise<void>((resolve) => (settle = resolve));
  for (let w = 0; w < count; w++) {
    const share = devices.slice(w * perWorker, (w + 1) * perWorker);
    const child = fork(WORKER, [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], execArgv: [], serialization: 'json' });
    const worker: Worker = {
      child, counters: emptyCounters(share.length), errors: [], peakRss: 0, peakHeap: 0, final: false, latencies: [],
      exited: new Promise((resolve) => child.once('exit', () => resolve())),
    };
    child.on('message', (m: WorkerMessage) => {
      if (m.type === 'fatal') {
        failures.push(`worker ${w}: ${m.message}`);
        settle();
        return;
      }
      worker.counters = m.counters;
      worker.errors = m.errors;
      worker.peakRss = Math.max(worker.peakRss, m.counters.rss - m.counters.baseRss);
      worker.peakHeap = Math.max(worker.peakHeap, m.counters.heapUsed - m.counters.baseHeapUsed);
      if (m.type === 'final') {
        worker.final = true;
        worker.latencies = m.latencies;
      }
    });
    child.once('exit', (code, signal) => {
      if (!worker.final) {
        failures.push(`worker ${w} exited (${signal ?? `code ${code}`}) before its final report`);
        settle();
      }
    });
    const localAddress = options.bind?.length ? options.bind[w % options.bind.length] : undefined;
    child.send({ type: 'start', config: { ...base, worker: w, devices: share, ...(localAddress ? { localAddress } : {}) } } satisfies ParentMessage);
    workers.push(worker);
  }

  const started = performance.now();
  const startedAt = Date.now();
  const totals = () => sumCounters(workers.map((w) => w.counters));
  const ticker = setInterval(() => {
    const c = totals();
    progress({ phase: 'running', provisioned: 0, provisionTotal: 0, elapsed: (performance.now() - started) / 1000, counters: c });
    if (options.untilRegistered && c.everRegistered >= n) settle();
  }, REPORT_MS);
  const timer = options.duration !== undefined ? setTimeout(settle, options.duration * 1000) : undefined;
  const onAbort = () => settle();
  if (options.signal?.aborted) settle();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  await ended;
  clearInterval(ticker);
  if (timer) clearTimeout(timer);
  options.signal?.removeEventListener('abort', onAbort);
  const durationSeconds = (performance.now() - started) / 1000;

  progress({ phase: 'stopping', provisioned: 0, provisionTotal: 0, elapsed: durationSeconds, counters: totals() });
  for (const w of workers) if (w.child.connected) w.child.send({ type: 'stop', deregister: true } satisfies ParentMessage);
  const kill = setTimeout(() => {
    for (const w of workers) if (w.child.exitCode === null) w.child.kill('SIGKILL');
  }, STOP_TIMEOUT_MS);
  await Promise.all(workers.map((w) => w.exited));
  clearTimeout(kill);
  if (failures.length > 0 && workers.some((w) => !w.final)) throw new Error(failures.join('; '));

  const c = totals();
  const latencies = workers.flatMap((w) => w.latencies).sort((a, b) => a - b);
  const timeToRegisterAll = c.everRegistered >= n && c.allRegisteredAt !== undefined ? Math.max(0, (c.allRegisteredAt - startedAt) / 1000) : null;
  const errors = [...new Set([...failures, ...workers.flatMap((w) => w.errors)])].slice(0, 5);
  const round = (v: number | null) => (v === null ? null : Math.round(v * 10) / 10);
  return {
    devices: n,
    workers: count,
    security,
    bootstrap: options.bootstrap ?? false,
    registered: c.everRegistered,
    failed: c.failed,
    errors,
    timeToRegisterAll: round(timeToRegisterAll),
    registrationsPerSecond: timeToRegisterAll !== null ? Math.round(n / Math.max(timeToRegisterAll, 1e-3)) : null,
    latency: { p50: round(percentile(latencies, 50)), p99: round(percentile(latencies, 99)), max: round(latencies.at(-1) ?? null) },
    bootstraps: c.bootstrapped,
    handshakes: c.handshakes,
    updates: c.updates,
    notifications: c.notifications,
    requestsServed: c.requests,
    firmware: { accepted: c.firmwareAccepted, applied: c.firmwareApplied },
    reboots: c.reboots,
    deregistered: c.deregistered,
    dropped: c.dropped,
    provisionSeconds: round(provisionSeconds)!,
    durationSeconds: round(durationSeconds)!,
    memory: {
      rssPerDevice: n > 0 ? Math.round(workers.reduce((s, w) => s + w.peakRss, 0) / n) : null,
      heapPerDevice: n > 0 ? Math.round(workers.reduce((s, w) => s + w.peakHeap, 0) / n) : null,
    },
  };
}

// ---- the command ------------------------------------------------------------------------------

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

function nonNegative(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || value.trim() === '') throw new InvalidArgumentError('expected a number >= 0');
  return n;
}

function fraction(value: string): number {
  const n = nonNegative(value);
  if (n > 1) throw new InvalidArgumentError('expected a fraction from 0 to 1');
  return n;
}

interface SimulateFlags {
  devices: number;
  security: SimSecurity;
  bootstrap: boolean;
  factoryList?: string;
  bootstrapServer: string;
  server?: string;
  serverPublicKey?: string;
  api: string;
  tokenFile?: string;
  prefix: string;
  perWorker: number;
  lifetime: number;
  queue: number;
  awake: number;
  notify: number;
  loss: number;
  churn: number;
  duration?: number;
  untilRegistered: boolean;
  ramp: number;
  inFlight: number;
  ackTimeout?: number;
  bind?: string[];
  json: boolean;
}

function kib(bytes: number | null): string {
  return bytes === null ? '-' : `${(bytes / 1024).toFixed(1)} KiB`;
}

/** The summary as text lines. */
export function formatSummary(s: SimulationSummary): string {
  const lines = [
    `devices              ${s.devices} (${s.security}${s.bootstrap ? ', bootstrap' : ''}, ${s.workers} worker${s.workers === 1 ? '' : 's'})`,
    `registered           ${s.registered}`,
    `failed attempts      ${s.failed}`,
    ...s.errors.map((e) => `  error: ${e}`),
    `time to register all ${s.timeToRegisterAll === null ? '- (not every device registered)' : `${s.timeToRegisterAll} s`}`,
    `registrations/s      ${s.registrationsPerSecond ?? '-'}`,
    `latency p50 / p99    ${s.latency.p50 ?? '-'} ms / ${s.latency.p99 ?? '-'} ms`,
    `bootstraps           ${s.bootstraps}`,
    `DTLS handshakes      ${s.handshakes}`,
    `updates              ${s.updates}`,
    `notifications        ${s.notifications}`,
    `requests served      ${s.requestsServed}`,
    `firmware updates     ${s.firmware.accepted} accepted, ${s.firmware.applied} applied`,
    `reboots              ${s.reboots}`,
    `de-registered        ${s.deregistered}`,
    `datagrams dropped    ${s.dropped}`,
    `memory per device    ${kib(s.memory.rssPerDevice)} RSS, ${kib(s.memory.heapPerDevice)} heap`,
    `provisioning         ${s.provisionSeconds} s; ran ${s.durationSeconds} s`,
  ];
  return lines.join('\n') + '\n';
}

/** One progress line: registered/N, rate, failures, notifications/s. */
function progressLine(p: SimulationProgress, rate: number, notifyRate: number): string {
  if (p.phase === 'provisioning') return `provisioning ${p.provisioned}/${p.provisionTotal}`;
  const c = p.counters;
  return `${p.phase === 'stopping' ? 'stopping: ' : ''}registered ${c.registered}/${p.devices} (${c.everRegistered} once), ${rate.toFixed(0)}/s, ` +
    `failures ${c.failed}, notifications ${notifyRate.toFixed(0)}/s, ${p.elapsed.toFixed(0)} s`;
}

const CHURN_HELP =
  'share of the fleet that reboots per minute (0.1: every minute, 10% of the devices, picked at random among the ' +
  'registered ones once a second): a rebooting device stops without de-registering, comes back on a new UDP port ' +
  '(a new DTLS handshake over coaps) and registers again, replacing its registration at the server';

/** Adds `warden simulate` to the program. */
export function registerSimulateCommand(program: Command): void {
  program
    .command('simulate')
    .description(
      'run a fleet of simulated devices over worker processes: they bootstrap, register, update, sleep in queue mode, ' +
        'answer requests, send notifications and accept firmware updates; a summary at the end.\n' +
        'What each mode needs: nosec nothing; psk the API token (random 256-bit keys are put in with PUT /api/security/clients); ' +
        'rpk the token and --server-public-key (a P-256 pair per device, the public key put in); x509 --bootstrap. ' +
        '--bootstrap needs the token and --factory-list: each device gets a bootstrap configuration (PUT /api/bootstrap/{ep}) ' +
        'whose dmCredential follows --security (psk, rpk, certificate: Warden\'s CA certifies it; nosec: a NoSec account to --server).',
    )
    .requiredOption('--devices <n>', 'number of devices', positiveInt)
    .addOption(new Option('--security <mode>', 'DM security').choices(['nosec', 'psk', 'rpk', 'x509']).default('nosec'))
    .option('--bootstrap', 'devices start with factory bootstrap credentials only and get their DM credentials from the bootstrap server', false)
    .option('--factory-list <csv>', 'factory list (warden keys factory-list): the first N rows are the devices (their endpoints replace --prefix)')
    .option('--bootstrap-server <uri>', 'bootstrap server', 'coaps://127.0.0.1:5784')
    .option('--server <uri>', 'DM server (default coap://127.0.0.1:5683 for nosec, else coaps://127.0.0.1:5684)')
    .option('--server-public-key <file>', 'rpk: the DM server\'s public key (PEM, certificate or DER SPKI), pinned by every device')
    .option('--api <url>', 'Warden REST API, to provision credentials', 'http://127.0.0.1:8080')
    .option('--token-file <file>', 'file holding the admin API token (default: the WARDEN_API_TOKEN environment variable)')
    .option('--prefix <prefix>', 'endpoint name prefix (devices are <prefix>1 ... <prefix>N)', 'sim-')
    .option('--per-worker <n>', 'devices per worker process (one UDP socket each: keep it under the file limit)', positiveInt, 5000)
    .option('--lifetime <seconds>', 'registration lifetime', positiveInt, 300)
    .option('--queue <fraction>', 'share of the devices in queue mode', fraction, 0)
    .option('--awake <seconds>', 'queue mode: seconds without traffic before a device sleeps', nonNegative, 93)
    .option('--notify <seconds>', 'how often a device\'s values change, so observations produce notifications (0: never)', nonNegative, 10)
    .option('--loss <p>', 'each device drops this fraction of the datagrams it sends and receives', fraction, 0)
    .option('--churn <per-minute>', CHURN_HELP, nonNegative, 0)
    .option('--duration <seconds>', 'run this long, then de-register everyone (default: until SIGINT or SIGTERM)', nonNegative)
    .option('--until-registered', 'stop once every device has registered', false)
    .option('--ramp <devices/s>', 'device start rate (default unlimited, with a bounded number of registrations in flight)', nonNegative, 0)
    .option('--in-flight <n>', 'at most this many devices started and not yet registered', positiveInt, 256)
    .option('--ack-timeout <ms>', 'CoAP ACK_TIMEOUT (default 2000, RFC 7252) and at most the DTLS initial retransmission timer (default 1000)', positiveInt)
    .option('--bind <addresses>', 'local addresses of the devices\' sockets, comma-separated, one per worker in turn (an address has ~28,000 ephemeral ports: e.g. 127.0.0.2,127.0.0.3 for a larger fleet on loopback)', (v: string) => v.split(',').map((a) => a.trim()).filter((a) => a !== ''))
    .option('--json', 'print the summary as JSON', false)
    .action(async (flags: SimulateFlags) => {
      let token = process.env.WARDEN_API_TOKEN;
      if (flags.tokenFile) token = readFileSync(flags.tokenFile, 'utf8').trim();
      const abort = new AbortController();
      let signals = 0;
      const onSignal = () => {
        if (++signals > 1) process.exit(130);
        abort.abort();
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      const tty = process.stderr.isTTY === true;
      let last = { at: performance.now(), registered: 0, notifications: 0, printed: -Infinity };
      const summary = await runSimulation(
        {
          devices: flags.devices, security: flags.security, bootstrap: flags.bootstrap, factoryList: flags.factoryList,
          bootstrapServer: flags.bootstrapServer, server: flags.server,
          serverPublicKey: flags.serverPublicKey ? readPublicKey(flags.serverPublicKey) : undefined,
          api: flags.api, token, prefix: flags.prefix, perWorker: flags.perWorker, lifetime: flags.lifetime, queue: flags.queue,
          awake: flags.awake, notify: flags.notify, loss: flags.loss, churn: flags.churn, duration: flags.duration,
          untilRegistered: flags.untilRegistered, ramp: flags.ramp, inFlight: flags.inFlight,
          ...(flags.ackTimeout !== undefined ? { ackTimeout: flags.ackTimeout } : {}), ...(flags.bind ? { bind: flags.bind } : {}), signal: abort.signal,
        },
        (p) => {
          const now = performance.now();
          if (!tty && now - last.printed < 5000 && p.phase !== 'stopping') return;
          const dt = Math.max((now - last.at) / 1000, 1e-3);
          const line = progressLine(p, (p.counters.everRegistered - last.registered) / dt, (p.counters.notifications - last.notifications) / dt);
          last = { at: now, registered: p.counters.everRegistered, notifications: p.counters.notifications, printed: now };
          process.stderr.write(tty ? `\r\x1b[K${line}` : `${line}\n`);
        },
      );
      if (tty) process.stderr.write('\n');
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      process.stdout.write(flags.json ? JSON.stringify(summary, null, 2) + '\n' : formatSummary(summary));
    });
}
