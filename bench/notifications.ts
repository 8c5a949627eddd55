/**
 * Notifications per second (issue 7): the Warden LwM2M server observes Battery Level (/3/0/9, pmin 0) on `clients`
 * clients in a child fleet whose values change as fast as the fleet can change them; the figure is notifications
 * the server delivers to its 'notification' listeners per second.
 */
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UdpTransport } from '../src/coap/index.js';
import { Lwm2mPath } from '../src/lwm2m/path.js';
import { ModelRegistry } from '../src/lwm2m/registry.js';
import { Lwm2mServer } from '../src/server/index.js';
import { SqliteStore } from '../src/store/index.js';

const here = new URL('.', import.meta.url).pathname;

export interface NotificationFigure {
  perSecond: number;
  /** Observations established (of `clients`). */
  observed: number;
  /** Server (this process) CPU seconds per wall second of the best window. */
  serverCpu: number;
  /** Fleet CPU seconds (all its processes) per wall second (go to stop, warm-up included). */
  fleetCpu: number;
  /** Value changes the fleet made per second (each is one notification sent). */
  changesPerSecond: number;
  /** Notifications per second of server CPU: what one server core would deliver if the fleet kept up. */
  perServerCoreSecond: number;
}

/**
 * Observes /3/0/9 on `clients` fleet clients (in `children` processes), lets values change for `warmupMs`, then
 * counts `windows` windows of `durationMs` and keeps the best (other work on the machine only lowers a window).
 */
export async function benchNotifications(clients: number, durationMs: number, opts: { warmupMs?: number; windows?: number; children?: number } = {}): Promise<NotificationFigure> {
  const { warmupMs = 1000, windows = 3, children = 1 } = opts;
  const dir = mkdtempSync(join(tmpdir(), 'warden-bench-notify-'));
  const store = new SqliteStore(join(dir, 'warden.db'));
  const transport = await UdpTransport.bind(0, '127.0.0.1');
  const server = await Lwm2mServer.start({ model: new ModelRegistry(), store, transport });
  const per = Math.ceil(clients / children);
  const fleets = Array.from({ length: children }, (_, c) =>
    fork(join(here, 'notify-fleet.js'), [String(transport.address().port), String(Math.min(per, clients - c * per)), 'notify-', String(c * per)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      execArgv: [],
    }));
  const next = <T>() =>
    Promise.all(fleets.map((fleet) => new Promise<T>((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`notify-fleet exited with ${code}`));
      fleet.once('exit', onExit);
      fleet.once('message', (m) => (fleet.off('exit', onExit), resolve(m as T)));
    })));
  try {
    await next<{ ready: number }>();
    const path = Lwm2mPath.parse('/3/0/9');
    let observed = 0;
    let nextClient = 0;
    await Promise.all(
      Array.from({ length: 50 }, async () => {
        for (let i = nextClient++; i < clients; i = nextClient++) {
          const ep = `notify-${i}`;
          await server.writeAttributes(ep, path, { pmin: 0 }, { timeout: 10_000 });
          const r = await server.observe(ep, path, { timeout: 10_000 });
          if (r.observationId) observed++;
        }
      }),
    );
    let count = 0;
    server.on('notification', () => count++);
    const t0 = performance.now();
    for (const f of fleets) f.send({ go: true });
    await new Promise((r) => setTimeout(r, warmupMs));
    let best = { counted: 0, seconds: 1, cpuSeconds: 1 };
    for (let w = 0; w < windows; w++) {
      count = 0;
      const cpu0 = process.cpuUsage();
      const start = performance.now();
      await new Promise((r) => setTimeout(r, durationMs));
      const seconds = (performance.now() - start) / 1000;
      const counted = count;
      const cpu = process.cpuUsage(cpu0);
      if (counted / seconds > best.counted / best.seconds) best = { counted, seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
    }
    const reports = next<{ cpuSeconds: number; changes: number }>();
    for (const f of fleets) f.send({ stop: true });
    const fleetSeconds = (performance.now() - t0) / 1000;
    const cpuSeconds = (await reports).reduce((a, r) => a + r.cpuSeconds, 0);
    const changes = (await reports).reduce((a, r) => a + r.changes, 0);
    await Promise.all(fleets.map((f) => new Promise((r) => (f.exitCode !== null ? r(undefined) : f.once('exit', r)))));
    return {
      perSecond: best.counted / best.seconds,
      observed,
      serverCpu: best.cpuSeconds / best.seconds,
      fleetCpu: cpuSeconds / fleetSeconds,
      changesPerSecond: changes / fleetSeconds,
      perServerCoreSecond: best.counted / best.cpuSeconds,
    };
  } finally {
    for (const f of fleets) if (f.exitCode === null) f.kill();
    await server.close();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
