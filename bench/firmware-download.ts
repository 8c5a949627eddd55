/**
 * Fleet download throughput (issue 5): `devices` simulated devices pull one signed 1 MiB package from a Warden server
 * process (`warden server`'s wiring, bench/warden-server.ts) on loopback, all at once, first over CoAPs (DTLS-PSK, each
 * device its own association and socket, Block2 1024 B, one block in flight per device: createPackageFetcher), then
 * over HTTP from the server's download listener (one connection per device). The PSKs go in through
 * PUT /api/security/clients and the package through POST /api/firmware, signed with a key the server trusts.
 * The pullers run in worker processes of their own (bench/firmware-pull.ts); the server is pinned to core 0 and the
 * pullers to core 1 when taskset exists (WARDEN_BENCH_PIN=0: no pinning). Every device's bytes are checked (size and
 * SHA-256): a device that received anything else counts as wrong.
 */
import type { ChildProcess } from 'node:child_process';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiClient } from '../src/cli/api-client.js';
import { inBatches, pskInfo } from '../src/cli/simulate-provision.js';
import { classIdFor, imageRef, signPackage, vendorIdFor, type Manifest } from '../src/firmware/index.js';
import type { PullJob, PullReport } from './firmware-pull.js';
import { cpuSecondsOf, launch, nextMessage } from './proc.js';

const here = new URL('.', import.meta.url).pathname;

/** One protocol's figures. */
export interface DownloadFigure {
  /** Package bytes delivered correctly, all devices, per second of the whole run (first request to last byte). */
  bytesPerSecond: number;
  /** Ms from the start to the last device's last byte. */
  lastMs: number;
  /** Median device's download time, ms. */
  medianMs: number;
  ok: number;
  failed: number;
  wrong: number;
  /** CPU seconds per wall second during the run: server process, puller processes together. */
  serverCpu: number;
  pullerCpu: number;
  /** Datagrams the kernel dropped on the server's UDP sockets during the run (receive buffer full). */
  serverDrops: number;
  /** Server resident memory right after the run, bytes. */
  serverRss: number;
  errors: string[];
}

export interface DownloadResult {
  devices: number;
  packageBytes: number;
  coaps: DownloadFigure;
  http: DownloadFigure;
}

export interface DownloadOptions {
  /** Puller processes (default 1); the devices are split evenly. Each holds one socket per device. */
  workers?: number;
  /** Image size in bytes (default 1 MiB); the package is the image plus its signed manifest. */
  imageSize?: number;
}

/** Datagrams dropped so far on the UDP sockets `pid` holds (the `drops` column of /proc/net/udp{,6}). */
function udpDropsOf(pid: number): number {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      // closed meanwhile
    }
  }
  let drops = 0;
  for (const table of [`/proc/${pid}/net/udp`, `/proc/${pid}/net/udp6`]) {
    if (!existsSync(table)) continue;
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length >= 13 && inodes.has(f[9]!)) drops += Number(f[12]);
    }
  }
  return drops;
}

async function stop(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((r) => proc.once('exit', r));
  if (proc.connected) proc.send({ stop: true });
  else proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/** A signed image package of `size` random bytes and a fresh Ed25519 key; the public key PEM goes to `keyFile`. */
function makePackage(size: number, keyFile: string): Uint8Array {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  writeFileSync(keyFile, publicKey.export({ format: 'pem', type: 'spki' }));
  const image = randomBytes(size);
  const vendorId = vendorIdFor('bench.warden.example');
  const manifest: Manifest = {
    version: '1.0.0', vendorId, classId: classIdFor(vendorId, 'fleet-download'), sequence: 1,
    payload: { kind: 'image', ...imageRef(image) },
  };
  return signPackage(manifest, image, privateKey);
}

/** Runs the CoAPs pull, then the HTTP pull, of one package by `devices` devices. */
export async function benchFirmwareDownload(devices: number, options: DownloadOptions = {}): Promise<DownloadResult> {
  const workers = Math.max(1, Math.min(options.workers ?? 1, devices));
  const dir = mkdtempSync(join(tmpdir(), 'warden-bench-download-'));
  const keyFile = join(dir, 'firmware-key.pem');
  const pkg = makePackage(options.imageSize ?? 1 << 20, keyFile);
  const sha256 = createHash('sha256').update(pkg).digest('hex');
  const token = randomBytes(24).toString('hex');
  const server = launch(0, [process.execPath, '--expose-gc', join(here, 'warden-server.js')], true, { ...process.env, WARDEN_API_TOKEN: token, WARDEN_BENCH_FIRMWARE_KEY: keyFile });
  const pullers: ChildProcess[] = [];
  try {
    const ports = await nextMessage<{ coapsPort: number; api: string; firmwareHttpPort?: number }>(server, 'warden-server');
    if (ports.firmwareHttpPort === undefined) throw new Error('warden-server started no firmware download listener');
    const api = new ApiClient(ports.api, token);

    const res = await fetch(new URL('/api/firmware', ports.api), {
      method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' }, body: Buffer.from(pkg),
    });
    const stored = (await res.json()) as { id?: string; message?: string };
    if (!res.ok || !stored.id) throw new Error(`POST /api/firmware answered ${res.status}: ${stored.message ?? ''}`);
    if (stored.id !== sha256) throw new Error(`the repository stored package ${stored.id}, expected ${sha256}`);

    const fleet = Array.from({ length: devices }, (_, i) => ({ identity: `dl-${i}`, key: randomBytes(16).toString('hex') }));
    await inBatches(fleet, 16, async (d) => void (await api.call('PUT', '/api/security/clients', pskInfo(d.identity, d.identity, Buffer.from(d.key, 'hex')))));

    for (let w = 0; w < workers; w++) pullers.push(launch(1, [process.execPath, join(here, 'firmware-pull.js')], true));
    await Promise.all(pullers.map((p) => nextMessage(p, 'firmware-pull')));

    const run = async (uri: string): Promise<DownloadFigure> => {
      const cpu0 = cpuSecondsOf(server.pid!);
      const drops0 = udpDropsOf(server.pid!);
      const pcpu0 = pullers.reduce((s, p) => s + cpuSecondsOf(p.pid!), 0);
      const start = performance.now();
      const reports = await Promise.all(pullers.map((p, w) => {
        const job: PullJob = { uri, devices: fleet.filter((_, i) => i % workers === w), size: pkg.length, sha256 };
        const reply = nextMessage<{ report: PullReport }>(p, 'firmware-pull');
        p.send({ job });
        return reply.then((m) => m.report);
      }));
      const wall = performance.now() - start;
      const serverCpu = (cpuSecondsOf(server.pid!) - cpu0) / (wall / 1000);
      const pullerCpu = (pullers.reduce((s, p) => s + cpuSecondsOf(p.pid!), 0) - pcpu0) / (wall / 1000);
      const serverDrops = udpDropsOf(server.pid!) - drops0;
      const memory = nextMessage<{ rss: number }>(server, 'warden-server');
      server.send({ memory: true });
      const serverRss = (await memory).rss;
      const finish = reports.flatMap((r) => r.finishMs).sort((a, b) => a - b);
      const bytes = reports.reduce((s, r) => s + r.bytes, 0);
      const lastMs = finish.length ? finish[finish.length - 1]! : wall;
      return {
        bytesPerSecond: bytes / (lastMs / 1000),
        lastMs,
        medianMs: finish.length ? finish[Math.floor(finish.length / 2)]! : 0,
        ok: reports.reduce((s, r) => s + r.ok, 0),
        failed: reports.reduce((s, r) => s + r.failed, 0),
        wrong: reports.reduce((s, r) => s + r.wrong, 0),
        serverCpu,
        pullerCpu,
        serverDrops,
        serverRss,
        errors: reports.flatMap((r) => r.errors).slice(0, 5),
      };
    };
    const coaps = await run(`coaps://127.0.0.1:${ports.coapsPort}/fw/${sha256}`);
    const http = await run(`http://127.0.0.1:${ports.firmwareHttpPort}/fw/${sha256}`);
    return { devices, packageBytes: pkg.length, coaps, http };
  } finally {
    await Promise.all([...pullers, server].map(stop));
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\/dist\//, '/dist/'))) {
  const devices = Number(process.argv[2] ?? 1000);
  const workers = Number(process.argv[3] ?? 1);
  const r = await benchFirmwareDownload(devices, { workers });
  const show = (name: string, f: DownloadFigure) =>
    console.log(
      `${name.padEnd(6)} ${(f.bytesPerSecond / 2 ** 20).toFixed(2)} MiB/s, last device ${(f.lastMs / 1000).toFixed(2)} s, median ${(f.medianMs / 1000).toFixed(2)} s, ` +
        `${f.ok} ok, ${f.failed} failed, ${f.wrong} wrong; server ${f.serverCpu.toFixed(2)} core, pullers ${f.pullerCpu.toFixed(2)} core; ` +
        `${f.serverDrops} datagrams dropped at the server; server RSS ${(f.serverRss / 2 ** 20).toFixed(0)} MiB after` +
        (f.errors.length ? `\n  ${f.errors.join('\n  ')}` : ''),
    );
  console.log(`${r.devices} devices, package ${r.packageBytes} bytes`);
  show('CoAPs', r.coaps);
  show('HTTP', r.http);
}
