/**
 * `warden server` killed with SIGKILL under load and started again on the same data directory and ports: nothing it
 * acknowledged is lost or corrupted. Acknowledged means the peer saw the answer before the kill: a 2.01 Created to a
 * Register, a 2.05 to an Observe, a 200 to a credential write, a 201 to a rotation campaign. Every such answer is
 * given after the SQLite transaction commits (WAL), so a process crash cannot lose it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { keysInit, openKeyStore, FACTORY_MASTER_LABEL, type KeysCliIo } from '../src/cli/keys.js';
import { Lwm2mClient } from '../src/client/index.js';
import { FactoryKeyDeriver, type FactoryCredential } from '../src/keys/index.js';
import { registryDir } from './registry.js';

const MAIN = new URL('../src/cli/main.js', import.meta.url).pathname;
const TOKEN = 'crash-test-token-5b1c0f';
const PASS = 'crash test keystore passphrase';

interface Ports {
  coapPort: number;
  coapsPort: number;
  bootstrapsPort: number;
  api: string;
}

/** Starts `warden server` on `dir`; `ports` pins the listeners of an earlier run (all ephemeral otherwise). */
function startServer(dir: string, ports?: Ports): Promise<{ child: ChildProcess; ports: Ports }> {
  const apiPort = ports ? new URL(ports.api).port : '0';
  const child = spawn(process.execPath, [
    MAIN, 'server', '--data', dir, '--coap-host', '127.0.0.1', '--models', registryDir, '--log-level', 'info',
    '--coap-port', String(ports?.coapPort ?? 0), '--coaps-port', String(ports?.coapsPort ?? 0),
    '--bootstrap-port', '0', '--bootstraps-port', String(ports?.bootstrapsPort ?? 0), '--api-port', apiPort, '--no-firmware-http',
  ], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, WARDEN_API_TOKEN: TOKEN, WARDEN_KEYSTORE_PASS: PASS } });
  return new Promise((resolve, reject) => {
    let partial = '';
    const onData = (chunk: Buffer) => {
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop()!;
      for (const line of lines) {
        const l = JSON.parse(line) as Record<string, unknown>;
        if (l.msg === 'Warden server started') {
          child.stdout!.off('data', onData);
          child.stdout!.resume();
          resolve({ child, ports: { coapPort: l.coapPort as number, coapsPort: l.coapsPort as number, bootstrapsPort: l.bootstrapsPort as number, api: l.api as string } });
        }
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`warden server exited with ${code} before it started`)));
  });
}

function api(base: string, path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${base}${path}`, { ...init, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' } });
}

/** Resolves with the first server-sent event `name` on /api/event?ep= whose data satisfies `pred`. */
async function nextEvent(base: string, ep: string, name: string, pred: (d: Record<string, unknown>) => boolean, trigger: () => Promise<unknown>): Promise<Record<string, unknown>> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), 15_000);
  try {
    const res = await fetch(`${base}/api/event?ep=${encodeURIComponent(ep)}`, { headers: { authorization: `Bearer ${TOKEN}` }, signal: ac.signal });
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let buffered = '';
    void trigger();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`event stream ended before ${name}`);
      buffered += decoder.decode(value, { stream: true });
      let end: number;
      while ((end = buffered.indexOf('\n\n')) >= 0) {
        const frame = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        const event = /^event: (.*)$/m.exec(frame)?.[1];
        const data = /^data: (.*)$/m.exec(frame)?.[1];
        if (event === name && data !== undefined) {
          const parsed = JSON.parse(data) as Record<string, unknown>;
          if (pred(parsed)) return parsed;
        }
      }
    }
  } finally {
    clearTimeout(timer);
    ac.abort();
  }
}

async function poll<T>(fn: () => Promise<T | undefined>, what: string, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('SIGKILL under load, restart on the same file: no acknowledged registration, observation, credential or campaign state is lost', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-crash-'));
  const clients: Lwm2mClient[] = [];
  const children: ChildProcess[] = [];
  t.after(async () => {
    for (const c of children) c.kill('SIGKILL');
    await Promise.all(clients.map((c) => c.stop({ deregister: false }).catch(() => {})));
    rmSync(dir, { recursive: true, force: true });
  });

  const io: KeysCliIo = { env: { WARDEN_KEYSTORE_PASS: PASS }, out: () => {}, err: () => {}, progress: () => {}, askSecret: () => Promise.reject(new Error('no prompt')) };
  await keysInit({ data: dir }, io);
  const keyStore = await openKeyStore({ data: dir }, io);
  const deriver = new FactoryKeyDeriver(keyStore, { masterLabel: FACTORY_MASTER_LABEL, keyVersion: 1 });
  const factory: FactoryCredential[] = await Promise.all(['SN-C1', 'SN-C2', 'SN-C3', 'SN-C4'].map((s) => deriver.credentialFor(s)));
  await keyStore.close();

  const first = await startServer(dir);
  children.push(first.child);
  const { ports } = first;

  // Devices that bootstrap from their factory key and register over DTLS: the rotation campaign's fleet.
  const factoryClients = factory.map((f) => new Lwm2mClient({
    endpoint: f.endpoint, lifetime: 600, requestTimeout: 4000,
    bootstrap: { serverUri: `coaps://127.0.0.1:${ports.bootstrapsPort}`, security: { mode: 'psk', identity: f.pskIdentity, key: f.pskKey } },
  }));
  clients.push(...factoryClients);
  await Promise.all(factoryClients.map((c) => c.start()));

  // NoSec devices, each observed on /3/0/14.
  const names = Array.from({ length: 16 }, (_, i) => `crash-obs-${i}`);
  const observed = names.map((endpoint) => new Lwm2mClient({ endpoint, serverUri: `coap://127.0.0.1:${ports.coapPort}`, lifetime: 600, requestTimeout: 4000 }));
  clients.push(...observed);
  await Promise.all(observed.map((c) => c.start()));
  for (const ep of names) {
    const r = await api(ports.api, `/api/clients/${ep}/3/0/14/observe`, { method: 'POST' });
    assert.equal(((await r.json()) as { success: boolean }).success, true);
  }
  // One device is off while the campaign runs, so the campaign is surely unfinished when the server dies.
  const offline = factoryClients[factory.length - 1]!;
  await offline.stop({ deregister: false });
  const campaign = await api(ports.api, '/api/credentials/rotations', { method: 'POST', body: JSON.stringify({ all: true, concurrency: factory.length }) });
  assert.equal(campaign.status, 201);
  const campaignId = ((await campaign.json()) as { id: number }).id;
  const campaignStatus = async () => (await (await api(ports.api, `/api/credentials/rotations/${campaignId}`)).json()) as { state: string; counts: Record<string, number> };

  // Load: credentials written through the API and devices registering, both as fast as they are answered.
  const ackedKeys = new Map<string, Buffer>();
  const ackedRegistrations = new Map<string, string>();
  let killed = false;
  const writer = (async () => {
    for (let i = 0; !killed; i++) {
      const endpoint = `crash-psk-${i}`;
      const key = randomBytes(32);
      const r = await api(ports.api, '/api/security/clients', {
        method: 'PUT', body: JSON.stringify({ endpoint, tls: { mode: 'psk', details: { identity: `id-${endpoint}`, key: key.toString('hex') } } }),
      }).catch(() => undefined);
      if (!killed && r?.status === 200) ackedKeys.set(endpoint, key);
    }
  })();
  const registrar = (async () => {
    for (let i = 0; !killed; i++) {
        const endpoint = `crash-late-${i}`;
      const c = new Lwm2mClient({ endpoint, serverUri: `coap://127.0.0.1:${ports.coapPort}`, lifetime: 600, requestTimeout: 4000 });
      clients.push(c);
      const ok = await Promise.race([c.start().then(() => true, () => false), new Promise<boolean>((r) => setTimeout(() => r(false), 3000))]);
      if (!killed && ok) ackedRegistrations.set(endpoint, c.registrationLocation!.join('/'));
    }
  })();
  const updater = (async () => {
    for (let i = 0; !killed; i++) await observed[i % observed.length]!.update().catch(() => {});
  })();
  await poll(async () => (ackedKeys.size >= 150 && ackedRegistrations.size >= 30 && (await campaignStatus()).counts.done! >= 1 ? true : undefined), 'load');
  killed = true;
  first.child.kill('SIGKILL');
  await new Promise((r) => first.child.once('exit', r));
  await Promise.all([writer, registrar]);
  void updater; // an Update in flight at the kill is retransmitted to the restarted server

  const db = new Database(join(dir, 'warden.db'));
  assert.deepEqual(db.pragma('integrity_check'), [{ integrity_check: 'ok' }], 'the database is intact');
  db.close();

  const second = await startServer(dir, ports);
  children.push(second.child);
  assert.deepEqual(second.ports, ports, 'restarted on the same ports');

  // Registrations: every acknowledged one is there with its registration id, and the devices' Updates are accepted.
  const listed = new Map(((await (await api(ports.api, '/api/clients?limit=1000')).json()) as { endpoint: string; registrationId: string }[]).map((r) => [r.endpoint, r.registrationId]));
  for (const [ep, location] of ackedRegistrations) assert.equal(`rd/${listed.get(ep)}`, location, `${ep} keeps its registration`);
  for (const ep of names) assert.ok(listed.has(ep), `${ep} is still registered`);
  await Promise.all(observed.map((c) => c.update()));

  // Observations: listed, and a change on the device reaches the restarted server as a notification of that observation.
  for (const ep of names) {
    const obs = (await (await api(ports.api, `/api/clients/${ep}/observations`)).json()) as { paths: string[] }[];
    assert.deepEqual(obs.map((o) => o.paths), [['/3/0/14']], `${ep} keeps its observation`);
  }
  for (const [i, ep] of names.slice(0, 3).entries()) {
    const n = await nextEvent(ports.api, ep, 'NOTIFICATION', (d) => d.res === '/3/0/14', () =>
      api(ports.api, `/api/clients/${ep}/3/0/14`, { method: 'PUT', body: JSON.stringify({ kind: 'singleResource', id: 14, type: 'string', value: `+0${i + 1}:00` }) }));
    assert.equal(n.ep, ep);
  }

  // Credentials: every acknowledged PSK is there, and a sample of them opens a DTLS session with the key that was sent.
  for (const ep of ackedKeys.keys()) {
    const r = await api(ports.api, `/api/security/clients/${ep}`);
    assert.equal(r.status, 200, `${ep} keeps its credential`);
    assert.deepEqual(((await r.json()) as { tls: unknown }).tls, { mode: 'psk', details: { identity: `id-${ep}` } });
  }
  for (const ep of [...ackedKeys.keys()].slice(-5)) {
    const c = new Lwm2mClient({ endpoint: ep, serverUri: `coaps://127.0.0.1:${ports.coapsPort}`, security: { mode: 'psk', identity: `id-${ep}`, key: ackedKeys.get(ep)! } });
    clients.push(c);
    await c.start();
    assert.ok(c.isRegistered, `${ep} registers with its stored key`);
  }

  // The rotation campaign resumes where it stood and finishes; no device is locked out.
  assert.equal((await campaignStatus()).state, 'running', 'the campaign was resumed');
  await offline.start();
  const summary = await poll(async () => {
    const s = await campaignStatus();
    return s.state === 'finished' ? s : undefined;
  }, 'the rotation campaign', 60_000);
  assert.equal(summary.counts.failed, 0, 'no device failed its rotation');
  assert.equal(summary.counts.done, factory.length);
  // Their DTLS associations died with the process: each device notices (no answer), handshakes again with its
  // rotated key and registers; the factory key plays no part.
  for (const [i, c] of factoryClients.entries()) {
    await poll(async () => (await c.update().then(() => true, () => undefined)), `${factory[i]!.endpoint} to reach the restarted server`);
    const reg = (await (await api(ports.api, `/api/clients/${factory[i]!.endpoint}`)).json()) as { tls?: { identity?: string } };
    assert.ok(reg, `${factory[i]!.endpoint} is registered`);
  }
});
