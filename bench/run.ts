/**
 * `npm run bench`: measures the figures the issues name and prints them beside a baseline
 * measured in the same run. Results also go to bench/results/latest.json.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UdpTransport } from '../src/coap/index.js';
import { ModelRegistry } from '../src/lwm2m/registry.js';
import { Lwm2mPath } from '../src/lwm2m/path.js';
import { Lwm2mServer } from '../src/server/index.js';
import { SqliteStore } from '../src/store/index.js';
import { udpEcho } from './udp-echo.js';
import { benchBootstrap } from './bootstrap.js';
import { benchKeys } from './keys.js';
import { benchRotation } from './rotation.js';
import { benchHandshakes, benchRecords, benchSessionMemory, handshakeCryptoCeiling } from './dtls.js';

const here = new URL('.', import.meta.url).pathname;
const gc = (globalThis as { gc?: () => void }).gc;
const rows: { figure: string; value: string; baseline?: string; target?: string }[] = [];
const results: Record<string, number> = {};

function child(script: string, args: (string | number)[]): { proc: ChildProcess; message: Promise<Record<string, number>> } {
  const proc = fork(join(here, script), args.map(String), { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const message = new Promise<Record<string, number>>((resolve, reject) => {
    proc.once('message', (m) => resolve(m as Record<string, number>));
    proc.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
  });
  return { proc, message };
}

async function withServer<T>(fn: (server: Lwm2mServer, port: number) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'warden-bench-'));
  const store = new SqliteStore(join(dir, 'warden.db'));
  const transport = await UdpTransport.bind(0, '127.0.0.1');
  const server = await Lwm2mServer.start({ model: new ModelRegistry(), store, transport });
  try {
    return await fn(server, transport.address().port);
  } finally {
    await server.close();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function memory(): { rss: number; heap: number } {
  gc?.();
  gc?.();
  const m = process.memoryUsage();
  return { rss: m.rss, heap: m.heapUsed + m.external + m.arrayBuffers };
}

async function benchReads(clients: number, window: number, durationMs: number): Promise<number> {
  return withServer(async (server, port) => {
    const fleet = child('fleet.js', [port, clients, 'read-']);
    await fleet.message;
    const path = Lwm2mPath.parse('/3/0/9');
    let done = 0;
    let errors = 0;
    let stop = false;
    const start = performance.now();
    const worker = async (w: number) => {
      for (let i = w; !stop; i += window) {
        const res = await server.read(`read-${i % clients}`, path, { timeout: 10_000 }).catch(() => undefined);
        if (res?.code === 69) done++;
        else errors++;
      }
    };
    const workers = Array.from({ length: window }, (_, w) => worker(w));
    await new Promise((r) => setTimeout(r, durationMs));
    stop = true;
    const elapsed = performance.now() - start;
    await Promise.all(workers);
    fleet.proc.send({ stop: true });
    await new Promise((r) => fleet.proc.once('exit', r));
    if (errors) console.error(`reads: ${errors} failed`);
    return done / (elapsed / 1000);
  });
}

async function benchRegistrations(count: number): Promise<{ rate: number; bytesPerDevice: number; heapPerDevice: number }> {
  return withServer(async (server, port) => {
    const before = memory();
    const registrar = child('registrar.js', [port, count, 200, 'reg-']);
    const { rate, failed } = await registrar.message;
    await new Promise((r) => registrar.proc.once('exit', r));
    if (failed) console.error(`registrations: ${failed} failed`);
    if (server.registrationCount() !== count) throw new Error(`expected ${count} registrations, server has ${server.registrationCount()}`);
    const after = memory();
    return { rate: rate!, bytesPerDevice: (after.rss - before.rss) / count, heapPerDevice: (after.heap - before.heap) / count };
  });
}

const quick = process.argv.includes('--quick');
console.log('Warden benchmarks (loopback, this machine). --quick shortens the runs.');

const only = process.argv.find((a) => a.startsWith('--only='))?.slice(7);
const echo = only ? 0 : await udpEcho(quick ? 1000 : 3000, 256);
results.udpEchoPerSecond = echo;

const reads = only && only !== "reads" ? 0 : await benchReads(1000, 256, quick ? 2000 : 5000);
results.readsPerSecond = reads;
rows.push({ figure: 'LwM2M reads/s, 1,000 clients (library level)', value: reads.toFixed(0), baseline: `raw UDP echo ${echo.toFixed(0)}/s`, target: '>= 25,000/s' });

const reg = only && only !== 'registrations' ? { rate: 0, bytesPerDevice: 0, heapPerDevice: 0 } : await benchRegistrations(10_000);
results.registrationsPerSecond = reg.rate;
results.rssBytesPerRegistration = reg.bytesPerDevice;
results.heapBytesPerRegistration = reg.heapPerDevice;
rows.push({ figure: 'Registrations/s (10,000 devices, 200 sockets)', value: reg.rate.toFixed(0), baseline: `raw UDP echo ${echo.toFixed(0)}/s` });
rows.push({ figure: 'Resident memory per registration at 10,000', value: `${(reg.bytesPerDevice / 1024).toFixed(2)} KiB`, target: '< 2 KiB' });
rows.push({ figure: 'JS heap per registration at 10,000', value: `${(reg.heapPerDevice / 1024).toFixed(2)} KiB` });

if (!only || only === 'dtls') {
  for (const [mode, label, target] of [['psk', 'PSK', '>= 4,000/s'], ['ecdsa', 'mutual ECDHE-ECDSA', '>= 1,000/s']] as const) {
    // A production server is warm and loaded: a long untimed warm-up, then enough handshakes in flight to keep it busy.
    const hs = await benchHandshakes(mode, quick ? 1000 : 8000, 1, 64, quick ? 1000 : 2000);
    const ceiling = handshakeCryptoCeiling(mode, quick ? 1000 : 2000);
    results[`dtls_${mode}_handshakesPerServerCoreSecond`] = hs.perServerCoreSecond;
    results[`dtls_${mode}_handshakesPerSecondWall`] = hs.perSecond;
    results[`dtls_${mode}_cryptoCeilingPerSecond`] = ceiling;
    rows.push({ figure: `DTLS ${label} handshakes/s per server core`, value: hs.perServerCoreSecond.toFixed(0), baseline: `crypto alone ${ceiling.toFixed(0)}/s`, target });
    rows.push({ figure: `DTLS ${label} handshakes/s, wall (clients on core 2)`, value: hs.perSecond.toFixed(0) });
  }
  const records = await benchRecords(quick ? 1000 : 3000);
  results.dtlsRecordsPerSecond = records;
  rows.push({ figure: 'DTLS application records/s (CCM_8, 64 B, sealed+opened)', value: records.toFixed(0), baseline: `raw UDP echo ${(echo * 2).toFixed(0)} datagrams/s` });
  const sessions = quick ? 10_000 : 50_000;
  const perSession = await benchSessionMemory(sessions);
  results.dtlsBytesPerSession = perSession;
  rows.push({ figure: `Server memory per DTLS session at ${sessions.toLocaleString('en')}`, value: `${(perSession / 1024).toFixed(2)} KiB`, target: '< 4 KiB' });
}

if (!only || only === 'keys') {
  const k = await benchKeys(quick ? 100_000 : 1_000_000);
  Object.assign(results, { ...k });
  const perSec = (n: number | undefined) => (n === undefined ? 'n/a' : `${Math.round(n)}/s`);
  rows.push({ figure: 'Factory keys derived, software store (HMAC-SHA256)', value: perSec(k.softwareHmacKeysPerSec) });
  rows.push({ figure: 'Factory keys derived, software store (AES-CMAC)', value: perSec(k.softwareCmacKeysPerSec) });
  rows.push({ figure: 'Factory keys derived, SoftHSM2 (CKM_SHA256_HMAC)', value: perSec(k.softhsmHmacKeysPerSec) });
  rows.push({ figure: 'Factory keys derived, SoftHSM2 (CKM_AES_CMAC)', value: perSec(k.softhsmCmacKeysPerSec) });
  rows.push({ figure: `Factory list, ${k.factoryListDevices.toLocaleString('en')} devices (software)`, value: `${k.factoryListSeconds.toFixed(1)} s`, target: quick ? '' : '< 60 s' });
}

if (!only || only === 'bootstrap') {
  const b = await benchBootstrap(quick ? 300 : 2000);
  results.bootstrapSequencesPerSecond = b.perSecond;
  rows.push({ figure: `Bootstrap sequences/s over DTLS-PSK (${b.finished} devices)`, value: b.perSecond.toFixed(0) });
}

if (!only || only === 'rotation') {
  const n = quick ? 2_000 : 10_000;
  for (const loss of [0, 0.2]) {
    const r = await benchRotation(n, { loss });
    results[`rotation_${n}_loss${loss}_seconds`] = r.seconds;
    rows.push({
      figure: `Rotate ${n.toLocaleString('en')} simulated devices${loss ? `, ${loss * 100}% loss` : ''}`,
      value: `${r.seconds.toFixed(1)} s`,
      baseline: `${r.failed} failed, ${r.lockedOut} locked out`,
    });
  }
}

const width = [56, 14, 34, 12];
const line = (c: string[]) => c.map((s, i) => s.padEnd(width[i]!)).join(' ');
console.log(line(['figure', 'value', 'baseline (same run)', 'target']));
for (const r of rows) console.log(line([r.figure, r.value, r.baseline ?? '', r.target ?? '']));
const out = new URL('./results/', import.meta.url).pathname.replace('/dist/bench/', '/bench/');
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'latest.json'), JSON.stringify({ date: new Date().toISOString(), results }, null, 2) + '\n');
console.log(`written: ${join(out, 'latest.json')}`);
