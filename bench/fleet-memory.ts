/**
 * A DTLS-PSK fleet registered with `warden server`'s wiring in a process of its own: the server's memory per device
 * at `first` and at `first + second` devices (resident set after a full GC, above the idle server), and the
 * registration rate of the whole run. The fleet is `warden simulate` (`runSimulation`): worker processes of at most
 * 12,500 devices, one UDP socket each, so no process nears the file limit.
 */
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { runSimulation, type SimulationProgress, type SimulationSummary } from '../src/cli/simulate.js';

const here = new URL('.', import.meta.url).pathname;

interface ServerMemory {
  rss: number;
  heap: number;
  registrations: number;
}

export interface FleetMemory {
  /** Server resident memory per registered device at `first` and at `first + second`. */
  perDeviceFirst: number;
  perDeviceTotal: number;
  /** Server resident memory with every device registered. */
  rssTotal: number;
  registered: number;
  /** Registrations/s of the first `first` devices, alone on the server (credential provisioning not counted). */
  registrationsPerSecond: number;
  failed: number;
}

/** Registers `first` devices, measures, registers `second` more, measures; the devices stay up until both are measured. */
export async function benchFleetMemory(first: number, second: number): Promise<FleetMemory> {
  const token = randomBytes(24).toString('hex');
  const server = fork(join(here, 'warden-server.js'), [], { execArgv: ['--expose-gc'], env: { ...process.env, WARDEN_API_TOKEN: token }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const ports = await new Promise<{ coapsPort: number; api: string }>((resolve, reject) => {
    server.once('message', (m) => resolve(m as { coapsPort: number; api: string }));
    server.once('exit', (code) => reject(new Error(`warden-server exited with ${code}`)));
  });
  const memory = () => new Promise<ServerMemory>((resolve) => {
    server.once('message', (m) => resolve(m as ServerMemory));
    server.send({ memory: true });
  });
  const idle = await memory();
  // Each loopback address has its own ~28,000 ephemeral ports: one per worker.
  const fleet = (devices: number, prefix: string, bind: string[], signal: AbortSignal, registered: () => void): Promise<SimulationSummary> => {
    let told = false;
    return runSimulation({
      devices, security: 'psk', prefix, server: `coaps://127.0.0.1:${ports.coapsPort}`, api: ports.api, token,
      perWorker: 12_500, lifetime: 3600, notify: 0, bind, signal,
    }, (p: SimulationProgress) => {
      if (!told && p.phase === 'running' && p.counters.everRegistered >= devices) {
        told = true;
        registered();
      }
    });
  };
  const stopA = new AbortController();
  const stopB = new AbortController();
  let aRegistered!: () => void;
  let bRegistered!: () => void;
  const a = fleet(first, 'mem-a-', ['127.0.0.2'], stopA.signal, () => aRegistered());
  await new Promise<void>((r) => (aRegistered = r));
  const atFirst = await memory();
  const b = fleet(second, 'mem-b-', ['127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6'], stopB.signal, () => bRegistered());
  await new Promise<void>((r) => (bRegistered = r));
  const atTotal = await memory();
  stopA.abort();
  stopB.abort();
  const [sa, sb] = await Promise.all([a, b]);
  server.send({ stop: true });
  await new Promise((r) => server.once('exit', r));
  if (atTotal.registrations !== first + second) console.error(`fleet memory: the server holds ${atTotal.registrations} registrations, expected ${first + second}`);
  return {
    perDeviceFirst: (atFirst.rss - idle.rss) / atFirst.registrations,
    perDeviceTotal: (atTotal.rss - idle.rss) / atTotal.registrations,
    rssTotal: atTotal.rss,
    registered: atTotal.registrations,
    registrationsPerSecond: sa.registrationsPerSecond ?? 0,
    failed: sa.failed + sb.failed,
  };
}
