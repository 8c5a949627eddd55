/**
 * CoAP and CoAPs throughput of Warden beside its peers under the same load (issue 7): Warden's CoapEndpoint over
 * UdpTransport, libcoap's coap-server-notls (C) and the npm coap package's server for CoAP; Warden's DtlsServer +
 * CoapEndpoint and coap-server-openssl for CoAPs (PSK, TLS_PSK_WITH_AES_128_CCM_8). One server at a time, each in
 * its own process pinned to core 0 while the load generator (coap-load) runs on core 1.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { LoadConfig, LoadReport } from './coap-load.js';
import { cpuSecondsOf, launch, nextMessage } from './proc.js';

const here = new URL('.', import.meta.url).pathname;

/** One server's figure. */
export interface PeerFigure {
  server: string;
  perSecond: number;
  timeouts: number;
  errors: number;
  /** Server CPU seconds per wall second of the timed window (1 = one core busy). */
  serverCpu: number;
  /** Load generator CPU seconds per wall second of the timed window. */
  loadCpu: number;
  /** True when the load generator, not the server, was the busier process (the figure is then a floor). */
  loadBound: boolean;
}

export interface PeerOptions {
  sockets?: number;
  window?: number;
  warmupMs?: number;
  durationMs?: number;
  timeoutMs?: number;
  /** Rounds over all servers, in turn; each server keeps its best round (noise from other work only lowers a figure). */
  rounds?: number;
  /** Run only these servers (names as in PeerFigure.server). */
  servers?: readonly string[];
}

/** Two consecutive free UDP ports on loopback (libcoap listens on p for CoAP and p + 1 for CoAPs). */
async function freePorts(): Promise<number> {
  const bind = (port: number) =>
    new Promise<Socket>((resolve, reject) => {
      const s = createSocket('udp4');
      s.once('error', (err) => (s.close(), reject(err)));
      s.bind(port, '127.0.0.1', () => resolve(s));
    });
  for (let attempt = 0; attempt < 20; attempt++) {
    const first = await bind(0);
    const held = [first];
    try {
      held.push(await bind(first.address().port + 1));
      return first.address().port;
    } catch {
      // taken: another base
    } finally {
      await Promise.all(held.map((s) => new Promise<void>((r) => s.close(() => r()))));
    }
  }
  throw new Error('no two consecutive free UDP ports on 127.0.0.1');
}

/** Waits until something answers a CoAP ping (an Empty CON) on `port`. */
async function waitForCoap(port: number, proc: ChildProcess, what: string): Promise<void> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  try {
    for (let i = 0; i < 100; i++) {
      if (proc.exitCode !== null) throw new Error(`${what} exited with ${proc.exitCode}`);
      const answered = new Promise<boolean>((resolve) => {
        const t = setTimeout(() => resolve(false), 100);
        s.once('message', () => (clearTimeout(t), resolve(true)));
      });
      s.send(Buffer.from([0x40, 0, i >> 8, i & 0xff]), port, '127.0.0.1');
      if (await answered) return;
    }
    throw new Error(`${what} does not answer on port ${port}`);
  } finally {
    s.removeAllListeners('message');
    await new Promise<void>((r) => s.close(() => r()));
  }
}

async function stopProcess(proc: ChildProcess, viaIpc: boolean): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((r) => proc.once('exit', r));
  if (viaIpc && proc.connected) proc.send({ stop: true });
  else proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}

interface Started {
  proc: ChildProcess;
  /** Port the load generator targets. */
  port: number;
  viaIpc: boolean;
}

async function startServer(name: string, pskKey: Buffer): Promise<Started> {
  const base = await freePorts();
  if (name.startsWith('libcoap')) {
    const tls = name === 'libcoap-openssl';
    const tool = tls ? '/usr/bin/coap-server-openssl' : '/usr/bin/coap-server-notls';
    if (!existsSync(tool)) throw new Error(`${tool} not found: install the Debian package libcoap3-bin`);
    // -k takes the key as a string: the key is hex text on both sides.
    const args = ['-A', '127.0.0.1', '-p', String(base), '-v', '0', ...(tls ? ['-k', pskKey.toString('latin1'), '-h', 'warden-bench'] : [])];
    const proc = launch(0, [tool, ...args], false);
    await waitForCoap(base, proc, tool);
    return { proc, port: tls ? base + 1 : base, viaIpc: false };
  }
  const proc = launch(0, [process.execPath, join(here, 'coap-server.js'), name, String(base), pskKey.toString('hex')], true);
  const { port } = await nextMessage<{ port: number }>(proc, `coap-server ${name}`);
  return { proc, port, viaIpc: true };
}

/** Drives one server with the load generator and returns its figure. */
async function measure(name: string, o: Required<Omit<PeerOptions, 'servers' | 'rounds'>>): Promise<PeerFigure> {
  // libcoap's -k takes text, so the key is printable (32 hex digits = 16 bytes of key material as ASCII).
  const pskKey = Buffer.from(randomBytes(16).toString('hex'), 'latin1');
  const server = await startServer(name, pskKey);
  try {
    const cfg: LoadConfig = {
      port: server.port,
      path: ['time'],
      sockets: o.sockets,
      window: o.window,
      warmupMs: o.warmupMs,
      durationMs: o.durationMs,
      timeoutMs: o.timeoutMs,
      ...(name === 'warden-dtls' || name === 'libcoap-openssl' ? { pskKeyHex: pskKey.toString('hex') } : {}),
    };
    const load = launch(1, [process.execPath, join(here, 'coap-load.js'), JSON.stringify(cfg)], true);
    const exited = new Promise((r) => load.once('exit', r));
    // The server's CPU is sampled when the load generator opens and closes its timed window.
    await nextMessage<{ phase: string }>(load, 'coap-load');
    const cpu0 = cpuSecondsOf(server.proc.pid!);
    const wall0 = performance.now();
    const report = await nextMessage<LoadReport>(load, 'coap-load');
    const serverCpu = (cpuSecondsOf(server.proc.pid!) - cpu0) / ((performance.now() - wall0) / 1000);
    await exited;
    const loadCpu = report.cpuSeconds / report.seconds;
    if (report.maxMidsPerSocket > 65_536) console.error(`coap ${name}: a socket used ${report.maxMidsPerSocket} Message IDs (more sockets needed)`);
    return {
      server: name,
      perSecond: report.perSecond,
      timeouts: report.timeouts,
      errors: report.errors,
      serverCpu,
      loadCpu,
      loadBound: loadCpu > 0.9 && serverCpu < 0.9,
    };
  } finally {
    await stopProcess(server.proc, server.viaIpc);
  }
}

/** Every server (or `opts.servers`) under the same load, one after the other, `rounds` times; the best round of each. */
export async function benchCoapPeers(opts: PeerOptions = {}): Promise<PeerFigure[]> {
  const o = {
    sockets: opts.sockets ?? 32,
    window: opts.window ?? 64,
    warmupMs: opts.warmupMs ?? 1500,
    durationMs: opts.durationMs ?? 5000,
    timeoutMs: opts.timeoutMs ?? 250,
  };
  const names = opts.servers ?? ['warden', 'libcoap', 'npm-coap', 'warden-dtls', 'libcoap-openssl'];
  const best = new Map<string, PeerFigure>();
  for (let round = 0; round < (opts.rounds ?? 1); round++) {
    for (const name of names) {
      const f = await measure(name, o);
      if (f.perSecond > (best.get(name)?.perSecond ?? -1)) best.set(name, f);
    }
  }
  return names.map((n) => best.get(n)!);
}
