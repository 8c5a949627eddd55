/**
 * GET /api/devices at 100,000 known devices (issue 6): registrations, credentials and firmware facts written straight
 * into the stores, a real Lwm2mServer restoring the registrations, the DeviceInventory and the API (fastify inject),
 * then the median and p95 of one page of 50 plus the total for each filter. Run alone with
 * `node dist/bench/devices.js [devices]`, or through run.ts (`npm run bench --only=devices`).
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApi } from '../src/api/index.js';
import { UdpTransport } from '../src/coap/index.js';
import { spkiOf } from '../src/dtls/rpk.js';
import { ModelRegistry } from '../src/lwm2m/registry.js';
import { seededRandom } from '../src/bootstrap/rotation-sim.js';
import { DeviceInventory, Lwm2mServer } from '../src/server/index.js';
import { DeviceFactsStore, SecretBox, SecurityStore, SqliteStore } from '../src/store/index.js';

export interface DeviceQueryFigure {
  name: string;
  query: string;
  total: number;
  medianMs: number;
  p95Ms: number;
}

export interface DevicesBenchResult {
  devices: number;
  registered: number;
  setupSeconds: number;
  /** Time to build the inventory from the stores and the server at start. */
  inventoryLoadMs: number;
  /** JS heap the inventory holds per known device (bytes; NaN without --expose-gc). */
  inventoryHeapPerDevice: number;
  figures: DeviceQueryFigure[];
}

const DAY = 86_400_000;
const VERSIONS = ['1.0.0', '1.1.0', '1.2.0', '2.0.0', '2.1.0'];

export async function benchDevices(devices = 100_000, rounds = 60): Promise<DevicesBenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'warden-bench-devices-'));
  const store = new SqliteStore(join(dir, 'warden.db'));
  const t0 = performance.now();
  const now = Date.now();
  let clock = now;
  const security = new SecurityStore(store, SecretBox.fromKey(randomBytes(32)), { now: () => clock });
  const facts = new DeviceFactsStore(store, { now: () => now });
  // Deterministic: the same fleet every run.
  const rnd = seededRandom(6);
  // Distinct raw public keys are costly to make: a pool of real ones, the rest of the RPK devices get X.509.
  let registered = 0;
  store.transaction(() => {
    for (let i = 0; i < devices; i++) {
      const endpoint = `dev-${String(i).padStart(6, '0')}`;
      const r = rnd();
      const online = r < 0.7;
      const kind = rnd();
      // 55% PSK, 10% RPK, 25% X.509, 10% NoSec (registered over plain CoAP only).
      const mode = kind < 0.55 ? 'psk' : kind < 0.65 ? 'rpk' : kind < 0.9 ? 'x509' : online ? 'nosec' : 'psk';
      clock = now - Math.floor(rnd() * 365 * DAY);
      if (mode === 'psk') security.add({ endpoint, mode, pskIdentity: endpoint, pskKey: randomBytes(16) });
      else if (mode === 'rpk') security.add({ endpoint, mode, rpkPublicKey: spkiOf(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey) });
      else if (mode === 'x509') security.add({ endpoint, mode, x509: true });
      if (online) {
        registered++;
        store.saveRegistration({
          endpoint, registrationId: `r${i}`, address: '10.0.0.1', port: 10000 + (i % 50000), lifetime: 86400, lwm2mVersion: '1.1',
          bindingMode: 'U', queueMode: rnd() < 0.2, smsNumber: null, objectLinks: '</1/0>,</3/0>,</5/0>', registeredAt: now, lastUpdate: now,
          identity: mode === 'nosec' ? null : JSON.stringify({ mode, name: endpoint }), secure: mode !== 'nosec',
        });
      }
      if (rnd() < 0.95) facts.record(endpoint, { version: VERSIONS[Math.floor(rnd() * VERSIONS.length)]!, fwState: 0 });
    }
  });
  const transport = await UdpTransport.bind(0, '127.0.0.1');
  const server = await Lwm2mServer.start({ model: new ModelRegistry(), store, transport });
  const setupSeconds = (performance.now() - t0) / 1000;
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const h0 = process.memoryUsage().heapUsed;
  const l0 = performance.now();
  const inventory = new DeviceInventory({ server, security, facts });
  const inventoryLoadMs = performance.now() - l0;
  gc?.();
  const inventoryHeapPerDevice = gc ? (process.memoryUsage().heapUsed - h0) / devices : NaN;
  const token = 'bench-devices-token-0123';
  const app = await createApi({ server, model: new ModelRegistry(), apiToken: token, security, inventory });
  const queries: [string, string][] = [
    ['none', ''],
    ['search', 'search=4242'],
    ['online', 'online=false'],
    ['queueMode', 'queueMode=true'],
    ['firmwareVersion', 'firmwareVersion=2.0.0'],
    ['securityMode', 'securityMode=rpk'],
    ['credentialOlderThan', 'credentialOlderThan=300'],
    ['online+securityMode+firmwareVersion', 'online=true&securityMode=psk&firmwareVersion=1.1.0'],
    ['page deep in a filter', 'online=true&credentialNewerThan=180&offset=20000'],
  ];
  const figures: DeviceQueryFigure[] = [];
  try {
    for (const [name, query] of queries) {
      const url = `/api/devices?${query}${query ? '&' : ''}limit=50`;
      const times: number[] = [];
      let total = 0;
      for (let i = 0; i < rounds + 5; i++) {
        const s = performance.now();
        const res = await app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });
        const ms = performance.now() - s;
        if (res.statusCode !== 200) throw new Error(`${url}: ${res.statusCode} ${res.body}`);
        total = Number(res.headers['x-total-count']);
        if (i >= 5) times.push(ms);
      }
      times.sort((a, b) => a - b);
      figures.push({ name, query, total, medianMs: times[Math.floor(times.length / 2)]!, p95Ms: times[Math.ceil(times.length * 0.95) - 1]! });
    }
  } finally {
    await app.close();
    inventory.close();
    await server.close();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return { devices, registered, setupSeconds, inventoryLoadMs, inventoryHeapPerDevice, figures };
}

/** The printed lines. */
export function devicesLines(r: DevicesBenchResult): string[] {
  const out = [`devices: ${r.devices.toLocaleString('en')} known (${r.registered.toLocaleString('en')} registered), set up in ${r.setupSeconds.toFixed(1)} s, inventory loaded in ${r.inventoryLoadMs.toFixed(0)} ms, ${r.inventoryHeapPerDevice.toFixed(0)} B of heap per device`];
  for (const f of r.figures) {
    out.push(`devices: GET /api/devices?${f.query ? `${f.query}&` : ''}limit=50 [${f.name}]: median ${f.medianMs.toFixed(2)} ms, p95 ${f.p95Ms.toFixed(2)} ms, total ${f.total.toLocaleString('en')}`);
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await benchDevices(Number(process.argv[2] ?? 100_000));
  for (const line of devicesLines(r)) console.log(line);
}
