/**
 * Time to rotate N simulated devices (issue target: print it for 10,000): the real RotationManager, SecurityStore
 * (sealed PSKs), audit log and SQLite file (WAL), against SimulatedFleet devices (no sockets: this measures the
 * campaign engine and its persistence, not DTLS handshakes). Run alone with `node dist/bench/rotation.js [devices]`,
 * or through run.ts via benchRotation().
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RotationManager } from '../src/bootstrap/rotation.js';
import { seededRandom, SimulatedFleet } from '../src/bootstrap/rotation-sim.js';
import { AuditLog, SecretBox, SecurityStore, SqliteStore } from '../src/store/index.js';

export interface RotationBenchResult {
  devices: number;
  seconds: number;
  devicesPerSec: number;
  done: number;
  failed: number;
  /** Devices without a credential the server accepts at the end (must be 0). */
  lockedOut: number;
}

/** Rotates `devices` simulated devices with `loss` per exchange (default 0) and `concurrency` (default 256). */
export async function benchRotation(devices = 10_000, o: { loss?: number; concurrency?: number } = {}): Promise<RotationBenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'warden-bench-rot-'));
  const store = new SqliteStore(join(dir, 'warden.db'));
  try {
    const security = new SecurityStore(store, SecretBox.fromKey(randomBytes(32)));
    const audit = new AuditLog(store);
    const fleet = new SimulatedFleet({ loss: o.loss ?? 0, random: seededRandom(1) });
    store.transaction(() => {
      for (let i = 0; i < devices; i++) {
        const ep = `bench-${i}`;
        const key = new Uint8Array(randomBytes(32));
        security.add({ endpoint: ep, mode: 'psk', pskIdentity: ep, pskKey: key });
        fleet.add(ep, ep, key);
      }
    });
    for (const d of fleet.devices.values()) fleet.register(security, d);
    const m = new RotationManager({ store, security, audit, driver: fleet.driver(security), concurrency: o.concurrency ?? 256, retryDelay: 1, proofTimeout: 1000, maxAttempts: 10 });
    const start = performance.now();
    const c = m.start({ all: true });
    const s = await m.wait(c.id);
    const seconds = (performance.now() - start) / 1000;
    await m.close();
    let lockedOut = 0;
    for (const d of fleet.devices.values()) if (!SimulatedFleet.works(security, d)) lockedOut++;
    return { devices, seconds, devicesPerSec: devices / seconds, done: s.counts.done, failed: s.counts.failed, lockedOut };
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const n = Number(process.argv[2] ?? 10_000);
  const r = await benchRotation(n);
  console.log(`rotated ${r.done}/${r.devices} simulated devices in ${r.seconds.toFixed(2)} s (${Math.round(r.devicesPerSec)}/s), failed ${r.failed}, locked out ${r.lockedOut}`);
  const l = await benchRotation(n, { loss: 0.2 });
  console.log(`with 20% loss: ${r.devices} in ${l.seconds.toFixed(2)} s, done ${l.done}, failed ${l.failed}, locked out ${l.lockedOut}`);
}
