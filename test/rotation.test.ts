/**
 * Rotation end to end with real clients over DTLS on loopback and a real SQLite file: the clients bootstrap from
 * their factory PSK, then a campaign rotates their DM PSK through Bootstrap-Request Trigger and the bootstrap server.
 * Old key refused afterwards, new key works, registrations intact; an offline device keeps its old key; the server
 * killed mid-campaign resumes on the same file; 20% datagram loss on both servers.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BootstrapServer, bootstrapPskLookup, type FactoryKeys } from '../src/bootstrap/index.js';
import { RotationManager } from '../src/bootstrap/rotation.js';
import { lwm2mRotationDriver } from '../src/bootstrap/rotation-driver.js';
import { securityAuthorizer } from '../src/cli/authorizer.js';
import { Lwm2mClient, SecurityResource } from '../src/client/index.js';
import type { PeerAddress, PeerIdentity, Transport } from '../src/coap/index.js';
import { DtlsServer } from '../src/dtls/index.js';
import { AuditLog, SecretBox, SecurityStore } from '../src/store/index.js';
import { once, startTestServer, until } from './helpers.js';

const N = 4;
const FACTORY = new Map<string, Uint8Array>(Array.from({ length: N }, (_, i) => [`rot${i}`, new Uint8Array(randomBytes(16))]));
const factoryKeys: FactoryKeys = { keyFor: async (id) => FACTORY.get(id) };
const BOX = SecretBox.fromKey(randomBytes(32));

/** Drops each datagram in either direction with probability `loss` (above DTLS: CoAP retransmits). */
function lossy(inner: Transport, loss: { p: number }): Transport {
  return {
    send(d: Uint8Array, peer: PeerAddress) {
      if (Math.random() >= loss.p) inner.send(d, peer);
    },
    onDatagram(h: (d: Uint8Array, peer: PeerAddress, identity?: PeerIdentity) => void) {
      inner.onDatagram((d, p, id) => {
        if (Math.random() >= loss.p) h(d, p, id);
      });
    },
    close: () => inner.close(),
  };
}

interface Rig {
  security: SecurityStore;
  audit: AuditLog;
  ts: Awaited<ReturnType<typeof startTestServer>>;
  bs: BootstrapServer;
  rotation: RotationManager;
  dmPort: number;
  bsPort: number;
  dir: string;
  /** Closes everything but the database file (a crash, as far as the devices can tell). */
  kill(): Promise<void>;
}

async function rig(t: TestContext, o: { dir?: string; dmPort?: number; bsPort?: number; loss?: { p: number } } = {}): Promise<Rig> {
  const dir = o.dir ?? mkdtempSync(join(tmpdir(), 'warden-rot-'));
  let security!: SecurityStore;
  const dmDtls = await DtlsServer.bind(o.dmPort ?? 0, '127.0.0.1', { pskLookup: (id) => security.pskLookup()(id), retransmitInitial: 200 });
  const authorize = securityAuthorizer({ get: (ep) => security.get(ep), getPending: (ep) => security.getPending(ep) });
  const ts = await startTestServer({ dir, secureTransport: o.loss ? lossy(dmDtls, o.loss) : dmDtls, authorize });
  security = new SecurityStore(ts.store, BOX);
  const audit = new AuditLog(ts.store);
  ts.server.on('registered', (reg: { endpoint: string; identity?: PeerIdentity }) => {
    if (reg.identity?.mode === 'psk') audit.usedFirst(reg.endpoint, reg.identity.name);
  });
  const bsDtls = await DtlsServer.bind(o.bsPort ?? 0, '127.0.0.1', { pskLookup: bootstrapPskLookup({ factoryKeys }), retransmitInitial: 200 });
  const dmPort = dmDtls.address().port;
  const bs = await BootstrapServer.start({
    secureTransport: o.loss ? lossy(bsDtls, o.loss) : bsDtls,
    store: ts.store,
    security,
    audit,
    model: ts.model,
    dmServerUri: `coaps://127.0.0.1:${dmPort}`,
    factoryKeys,
    requestTimeout: 5000,
    coap: { ackTimeout: 300, maxRetransmit: 4 },
  });
  for (const ep of FACTORY.keys()) bs.configs.putDevice(ep, { servers: { '0': { shortId: 1, lifetime: 300 } } });
  const rotation = new RotationManager({
    store: ts.store, security, audit, driver: lwm2mRotationDriver(ts.server, { requestTimeout: 3000 }),
    concurrency: 2, retryDelay: 300, proofTimeout: 15_000,
  });
  let dead = false;
  const kill = async () => {
    if (dead) return;
    dead = true;
    await rotation.close();
    await bs.close();
    await ts.stop();
  };
  t.after(async () => {
    await kill();
    if (!o.dir) rmSync(dir, { recursive: true, force: true });
  });
  return { security, audit, ts, bs, rotation, dmPort, bsPort: bsDtls.address().port, dir, kill };
}

function device(t: TestContext, bsPort: number, endpoint: string): Lwm2mClient {
  const client = new Lwm2mClient({
    endpoint,
    bootstrap: { serverUri: `coaps://127.0.0.1:${bsPort}`, security: { mode: 'psk', identity: endpoint, key: FACTORY.get(endpoint)! }, timeout: 10_000 },
    valueUpdateInterval: 0,
    retry: { initialDelay: 300, attempts: 50 },
    requestTimeout: 3000,
    dtls: { retransmitInitial: 200 },
    coap: { ackTimeout: 300, maxRetransmit: 4 },
  });
  t.after(() => client.stop({ deregister: false }));
  return client;
}

function dmAccount(client: Lwm2mClient): { identity: string; key: Buffer } {
  const sec = client.tree.enabler(0)!;
  for (const iid of sec.instanceIds()) {
    const inst = sec.instance(iid)!;
    const bs = inst.read(SecurityResource.BootstrapServer);
    if (bs?.kind === 'singleResource' && bs.value.value === false) {
      const id = inst.read(SecurityResource.PublicKeyOrIdentity);
      const k = inst.read(SecurityResource.SecretKey);
      if (id?.kind === 'singleResource' && k?.kind === 'singleResource') {
        return { identity: Buffer.from(id.value.value as Uint8Array).toString('utf8'), key: Buffer.from(k.value.value as Uint8Array) };
      }
    }
  }
  throw new Error('no DM account');
}

/** True if a fresh client holding exactly this account can register with the DM server. */
async function canRegister(t: TestContext, dmPort: number, endpoint: string, account: { identity: string; key: Buffer }): Promise<boolean> {
  const c = new Lwm2mClient({
    endpoint,
    serverUri: `coaps://127.0.0.1:${dmPort}`,
    security: { mode: 'psk', identity: account.identity, key: account.key },
    valueUpdateInterval: 0,
    retry: { initialDelay: 60_000 },
    requestTimeout: 2000,
    dtls: { retransmitInitial: 100 },
  });
  t.after(() => c.stop({ deregister: false }));
  const failed = once(c, 'registration-failed', 15_000).then(() => false);
  const ok = c.start().then(() => true, () => false);
  const r = await Promise.race([ok, failed]);
  await c.stop({ deregister: false });
  return r;
}

async function startFleet(t: TestContext, r: Rig): Promise<Lwm2mClient[]> {
  const clients = [...FACTORY.keys()].map((ep) => device(t, r.bsPort, ep));
  await Promise.all(clients.map((c) => c.start()));
  return clients;
}

test('rotates a handful of real DTLS clients: new key works, old key refused, registrations intact, audited', async (t) => {
  const r = await rig(t);
  const clients = await startFleet(t, r);
  const old = clients.map(dmAccount);
  const c = r.rotation.start({ all: true }, { actor: 'test' });
  const s = await r.rotation.wait(c.id);
  assert.deepEqual(s.counts, { queued: 0, prepared: 0, delivered: 0, done: N, failed: 0 });
  for (const [i, client] of clients.entries()) {
    const ep = `rot${i}`;
    const now = dmAccount(client);
    assert.equal(now.identity, `${ep}~r${c.id}`);
    assert.notDeepEqual(now.key, old[i]!.key);
    assert.deepEqual(Buffer.from(r.security.get(ep)!.pskKey!), now.key);
    assert.equal(r.security.getPending(ep), undefined);
    const reg = r.ts.server.getRegistration(ep)!;
    assert.equal(reg.identity?.name, now.identity);
    await until(() => client.isRegistered, 10_000, `${ep} registered`);
  }
  assert.equal(await canRegister(t, r.dmPort, 'rot0', old[0]!), false, 'old key must be refused');
  await clients[1]!.stop({ deregister: false });
  assert.equal(await canRegister(t, r.dmPort, 'rot1', dmAccount(clients[1]!)), true, 'new key must work');
  const events = r.audit.query({ endpoint: 'rot0' }).map((e) => e.kind);
  assert.deepEqual(events.sort(), ['created', 'rotated', 'used-first', 'used-first']);
  assert.ok(!JSON.stringify(r.audit.query()).includes(old[0]!.key.toString('hex')));
});

test('an unreachable device keeps its working credential, is retried, and ends failed; it rotates once back', async (t) => {
  const r = await rig(t);
  const clients = await startFleet(t, r);
  const offline = clients[2]!;
  const before = dmAccount(offline);
  await offline.stop({ deregister: false }); // gone without a word: its registration is still on the server
  const c = r.rotation.start({ all: true }, { maxAttempts: 2 });
  const s = await r.rotation.wait(c.id);
  assert.equal(s.counts.done, N - 1);
  assert.equal(s.counts.failed, 1);
  const st = r.rotation.status(c.id)!.devices.find((d) => d.endpoint === 'rot2')!;
  assert.equal(st.attempts, 2);
  assert.match(st.lastError!, /delivery failed/);
  assert.equal(await canRegister(t, r.dmPort, 'rot2', before), true, 'old credential still works');
  const back = device(t, r.bsPort, 'rot2');
  // A fresh start with the same factory identity: it bootstraps again and gets the pending PSK.
  await back.start();
  const c2 = r.rotation.start({ endpoint: 'rot2' });
  assert.equal((await r.rotation.wait(c2.id)).counts.done, 1);
  assert.equal(dmAccount(back).identity, `rot2~r${c.id}`);
});

test('the server killed mid-campaign resumes on the same database and completes', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-rot-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const r1 = await rig(t, { dir });
  const clients = await startFleet(t, r1);
  const c = r1.rotation.start({ all: true });
  await new Promise<void>((resolve) => r1.rotation.on('device', (d: { state: string }) => d.state === 'delivered' && resolve()));
  await r1.kill();
  const r2 = await rig(t, { dir, dmPort: r1.dmPort, bsPort: r1.bsPort });
  assert.deepEqual(r2.rotation.resume(), [c.id]);
  // The new process has no DTLS association with the devices: they come back with their next Update (nudged here).
  for (const client of clients) client.update().catch(() => {});
  const s = await r2.rotation.wait(c.id);
  assert.equal(s.counts.done, N, JSON.stringify(r2.rotation.status(c.id)!.devices));
  for (const [i, client] of clients.entries()) {
    await until(() => client.isRegistered && r2.ts.server.getRegistration(`rot${i}`) !== undefined, 30_000, `rot${i} registered`);
    assert.equal(dmAccount(client).identity, r2.security.get(`rot${i}`)!.pskIdentity);
  }
});

test('20% datagram loss on the DM and bootstrap servers: every device rotates or keeps a working credential', async (t) => {
  const loss = { p: 0 };
  const r = await rig(t, { loss });
  const clients = await startFleet(t, r);
  loss.p = 0.2;
  const c = r.rotation.start({ all: true }, { maxAttempts: 8 });
  const s = await r.rotation.wait(c.id);
  assert.equal(s.counts.done + s.counts.failed, N);
  loss.p = 0;
  for (const [i, client] of clients.entries()) {
    const ep = `rot${i}`;
    await until(() => client.isRegistered, 60_000, `${ep} registered`);
    const acc = dmAccount(client);
    const accepted = r.security.findByPskIdentity(acc.identity);
    assert.equal(accepted?.endpoint, ep);
    assert.deepEqual(Buffer.from(accepted!.pskKey!), acc.key);
  }
  assert.ok(s.counts.done >= 1);
});
