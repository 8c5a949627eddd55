/**
 * `warden simulate` as a user runs it (the built CLI in its own process, its workers in theirs) against a real
 * `startWarden` on ephemeral loopback ports: NoSec over three workers, PSK and raw public keys provisioned through the
 * API, factory devices through the bootstrap server (PSK and CA-issued certificates), loss, queue mode, notifications,
 * firmware updates and churn.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { simulatedPackage } from '../src/client/index.js';
import { startWarden, type Warden } from '../src/cli/warden.js';
import type { SimulationSummary } from '../src/cli/simulate.js';
import type { FactoryCredential } from '../src/keys/index.js';
import { Lwm2mPath } from '../src/lwm2m/path.js';
import type { Registration } from '../src/server/index.js';
import { silentLogger } from '../src/log.js';
import { once, until } from './helpers.js';
import { startWardenWithFactoryKeys } from './warden-fixtures.js';

const MAIN = new URL('../src/cli/main.js', import.meta.url).pathname;
const TOKEN = 'test-token-simulate';

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'warden-sim-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function warden(t: TestContext, extra: { keyFile?: string } = {}): Promise<Warden> {
  const w = await startWarden({
    dataDir: tempDir(t), coapPort: 0, coapsPort: 0, coapHost: '127.0.0.1', apiPort: 0, apiHost: '127.0.0.1', apiToken: TOKEN,
    ...(extra.keyFile ? { dtls: { keyFile: extra.keyFile } } : {}), logger: silentLogger,
  });
  t.after(() => w.close());
  return w;
}

function tokenFile(t: TestContext, token = TOKEN): string {
  const file = join(tempDir(t), 'token');
  writeFileSync(file, token + '\n', { mode: 0o600 });
  return file;
}

/** The simulator in its own process; `done` resolves with its exit code and output. */
function simulate(args: string[]) {
  const child = spawn(process.execPath, [MAIN, 'simulate', '--json', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  const timer = setTimeout(() => child.kill('SIGKILL'), 45_000);
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    }));
  return { child, done };
}

async function summaryOf(run: ReturnType<typeof simulate>): Promise<SimulationSummary> {
  const { code, stdout, stderr } = await run.done;
  assert.equal(code, 0, `simulate exited with ${code}: ${stderr}`);
  return JSON.parse(stdout) as SimulationSummary;
}

/** Registrations the server accepted, by endpoint, while the test runs. */
function recordRegistrations(w: Warden): Registration[] {
  const seen: Registration[] = [];
  w.server.on('registered', (reg: Registration) => seen.push(reg));
  return seen;
}

test('nosec over 3 workers: all register, queue mode share, notifications and firmware updates, then SIGINT de-registers all', async (t) => {
  const w = await warden(t);
  const seen = recordRegistrations(w);
  const run = simulate([
    '--devices', '60', '--per-worker', '20', '--server', `coap://127.0.0.1:${w.coapPort}`, '--prefix', 'q-',
    '--queue', '0.5', '--notify', '1', '--bind', '127.0.0.2,127.0.0.3',
  ]);
  t.after(() => run.child.kill('SIGKILL'));
  await until(() => w.server.registrationCount() === 60, 30_000, '60 registrations');
  assert.equal(new Set(seen.map((r) => r.endpoint)).size, 60);
  assert.equal(w.server.listRegistrations({ limit: 100 }).filter((r) => r.queueMode).length, 30, 'half the fleet in queue mode');
  const addresses = w.server.listRegistrations({ limit: 100 }).map((r) => r.address);
  assert.deepEqual([...new Set(addresses)].sort(), ['127.0.0.2', '127.0.0.3'], '--bind: the workers take the local addresses in turn');
  assert.equal(addresses.filter((a) => a === '127.0.0.2').length, 40, 'workers 0 and 2 on the first address');

  // Observations on an always-awake device produce notifications as its values change.
  const awake = w.server.listRegistrations({ limit: 100 }).find((r) => !r.queueMode)!;
  const notified = once(w.server, 'notification', 10_000);
  assert.equal((await w.server.observe(awake.endpoint, Lwm2mPath.parse('/3/0'))).code, 69);
  await notified;

  // Firmware: a pushed package (Block1) on one device, a pulled one on another, each installed by Execute /5/0/2.
  const [push, pull] = w.server.listRegistrations({ limit: 100 }).filter((r) => !r.queueMode && r.endpoint !== awake.endpoint);
  const pkg = simulatedPackage('sim-fw', '3.0.0', 3000);
  const write = (ep: string, id: number, value: { type: 'opaque'; value: Uint8Array } | { type: 'string'; value: string }) =>
    w.server.write(ep, Lwm2mPath.parse(`/5/0/${id}`), { kind: 'singleResource', id, value });
  assert.equal((await write(push!.endpoint, 0, { type: 'opaque', value: pkg })).code, 68);
  assert.equal((await write(pull!.endpoint, 1, { type: 'string', value: 'coap://127.0.0.1/sim-fw/3.1.0' })).code, 68);
  const state = async (ep: string) => {
    const res = await w.server.read(ep, Lwm2mPath.parse('/5/0/3'));
    return res.content?.kind === 'singleResource' ? Number(res.content.value.value) : -1;
  };
  for (const ep of [push!.endpoint, pull!.endpoint]) {
    for (let i = 0; i < 100 && (await state(ep)) !== 2; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(await state(ep), 2, 'Downloaded');
    assert.equal((await w.server.execute(ep, Lwm2mPath.parse('/5/0/2'))).code, 68);
  }
  const version = async (ep: string) => {
    const res = await w.server.read(ep, Lwm2mPath.parse('/3/0/3'));
    return res.content?.kind === 'singleResource' ? res.content.value.value : undefined;
  };
  for (let i = 0; i < 100 && ((await version(push!.endpoint)) !== '3.0.0' || (await version(pull!.endpoint)) !== '3.1.0'); i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(await version(push!.endpoint), '3.0.0');
  assert.equal(await version(pull!.endpoint), '3.1.0');
  await new Promise((r) => setTimeout(r, 1100)); // one more counter report from the workers

  run.child.kill('SIGINT');
  const s = await summaryOf(run);
  assert.equal(w.server.registrationCount(), 0, 'every device de-registered');
  assert.equal(s.devices, 60);
  assert.equal(s.workers, 3);
  assert.equal(s.registered, 60);
  assert.equal(s.deregistered, 60);
  assert.equal(s.failed, 0);
  assert.equal(s.handshakes, 0);
  assert.ok(s.timeToRegisterAll !== null && s.registrationsPerSecond !== null && s.latency.p50 !== null && s.latency.p99 !== null);
  assert.ok(s.latency.p50 <= s.latency.p99);
  assert.ok(s.notifications >= 1, 'notifications counted');
  assert.ok(s.requestsServed >= 9, `observe, 2 writes, 2 executes, reads answered (${s.requestsServed})`);
  assert.deepEqual(s.firmware, { accepted: 2, applied: 2 });
});

test('psk: keys provisioned through the API, 30 devices over 2 workers register over DTLS; a wrong token provisions nothing', async (t) => {
  const w = await warden(t);
  const bad = await summaryOrFailure(simulate([
    '--devices', '5', '--security', 'psk', '--server', `coaps://127.0.0.1:${w.coapsPort}`, '--api', w.apiUrl,
    '--token-file', tokenFile(t, 'not-the-token'), '--prefix', 'bad-', '--until-registered',
  ]));
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /refused the token \(401\)/);
  assert.equal(w.security.list({ offset: 0, limit: 100 }).length, 0, 'nothing provisioned');

  const seen = recordRegistrations(w);
  const s = await summaryOf(simulate([
    '--devices', '30', '--per-worker', '15', '--security', 'psk', '--server', `coaps://127.0.0.1:${w.coapsPort}`, '--api', w.apiUrl,
    '--token-file', tokenFile(t), '--prefix', 'psk-', '--until-registered',
  ]));
  assert.equal(s.workers, 2);
  assert.equal(s.registered, 30);
  assert.ok(s.handshakes >= 30);
  assert.equal(w.security.list({ offset: 0, limit: 100 }).length, 30, 'one PSK per device');
  const eps = new Set(seen.filter((r) => r.secure && r.identity?.mode === 'psk').map((r) => r.endpoint));
  assert.equal(eps.size, 30, 'every device registered over DTLS with its PSK');
  assert.equal(w.server.registrationCount(), 0);
});

async function summaryOrFailure(run: ReturnType<typeof simulate>) {
  return run.done;
}

test('rpk: a P-256 pair per device, public keys provisioned, the server key pinned', async (t) => {
  const dir = tempDir(t);
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  writeFileSync(join(dir, 'server.key'), privateKey.export({ format: 'pem', type: 'pkcs8' }));
  writeFileSync(join(dir, 'server.pub'), publicKey.export({ format: 'pem', type: 'spki' }));
  const w = await warden(t, { keyFile: join(dir, 'server.key') });
  const seen = recordRegistrations(w);
  const s = await summaryOf(simulate([
    '--devices', '10', '--security', 'rpk', '--server', `coaps://127.0.0.1:${w.coapsPort}`, '--server-public-key', join(dir, 'server.pub'),
    '--api', w.apiUrl, '--token-file', tokenFile(t), '--until-registered',
  ]));
  assert.equal(s.registered, 10);
  assert.equal(new Set(seen.filter((r) => r.identity?.mode === 'rpk').map((r) => r.endpoint)).size, 10);
});

function factoryCsv(t: TestContext, rows: FactoryCredential[]): string {
  const file = join(tempDir(t), 'factory.csv');
  const lines = rows.map((f) => `${f.serial},${f.endpoint},${f.pskIdentity},${Buffer.from(f.pskKey).toString('hex')}`);
  writeFileSync(file, ['serial,endpoint,psk_identity,psk_hex', ...lines].join('\n') + '\n', { mode: 0o600 });
  return file;
}

test('--bootstrap with a factory list: 10 devices get DM PSKs, 5 more get certificates from Warden\'s CA (x509)', async (t) => {
  const serials = Array.from({ length: 15 }, (_, i) => `SIM-${i}`);
  const { warden: w, factory } = await startWardenWithFactoryKeys(t, serials, TOKEN);
  t.after(() => w.close());
  const seen = recordRegistrations(w);
  const common = ['--bootstrap-server', `coaps://127.0.0.1:${w.bootstrapsPort}`, '--api', w.apiUrl, '--token-file', tokenFile(t), '--until-registered'];
  const psk = await summaryOf(simulate(['--devices', '10', '--bootstrap', '--security', 'psk', '--factory-list', factoryCsv(t, factory.slice(0, 10)), ...common]));
  assert.equal(psk.registered, 10);
  assert.equal(psk.bootstraps, 10);
  for (const f of factory.slice(0, 10)) {
    const reg = seen.find((r) => r.endpoint === f.endpoint);
    assert.equal(reg?.identity?.mode, 'psk', `${f.endpoint} on the DM server with a PSK`);
    assert.notEqual(reg.identity.name, f.pskIdentity, 'not the factory identity');
  }
  const x509 = await summaryOf(simulate(['--devices', '5', '--bootstrap', '--security', 'x509', '--factory-list', factoryCsv(t, factory.slice(10)), ...common]));
  assert.equal(x509.registered, 5);
  for (const f of factory.slice(10)) {
    assert.deepEqual(seen.find((r) => r.endpoint === f.endpoint)?.identity, { mode: 'x509', name: f.endpoint });
    assert.equal(w.ca.certificates(f.endpoint).length, 1, 'certified by Warden\'s CA');
  }
});

test('--loss 0.2: DTLS and CoAP retransmissions get all 30 PSK devices registered', async (t) => {
  const w = await warden(t);
  // Short retransmission timers: loopback needs no 2 s ACK_TIMEOUT, and the test stays short.
  const s = await summaryOf(simulate([
    '--devices', '30', '--security', 'psk', '--server', `coaps://127.0.0.1:${w.coapsPort}`, '--api', w.apiUrl, '--token-file', tokenFile(t),
    '--loss', '0.2', '--ack-timeout', '200', '--until-registered',
  ]));
  assert.equal(s.registered, 30);
  assert.ok(s.dropped > 0, 'datagrams were dropped');
});

test('--churn: devices reboot and register again from a new port, replacing their registration', async (t) => {
  const w = await warden(t);
  const seen = recordRegistrations(w);
  const replaced: string[] = [];
  w.server.on('deregistered', (reg: Registration, reason: string) => {
    if (reason === 'replaced') replaced.push(reg.endpoint);
  });
  const s = await summaryOf(simulate(['--devices', '20', '--server', `coap://127.0.0.1:${w.coapPort}`, '--churn', '6', '--duration', '4']));
  assert.ok(s.reboots >= 1, `reboots: ${s.reboots}`);
  assert.ok(replaced.length >= 1, 'old registrations replaced');
  const ep = replaced[0]!;
  const ports = new Set(seen.filter((r) => r.endpoint === ep).map((r) => r.port));
  assert.ok(ports.size >= 2, 'the rebooted device came back on a new port');
  assert.equal(w.server.registrationCount(), 0);
});
