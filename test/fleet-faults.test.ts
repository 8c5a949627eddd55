/**
 * A fleet of real Lwm2mClients (NoSec and DTLS-PSK) against a real Warden through the fault proxy: loss, NAT
 * rebinding, duplication and reordering.
 *
 * Transmission parameters under 30% loss each way. An exchange (request up, response down) gets through on one
 * attempt with p = 0.7 * 0.7 = 0.49. With independent losses every retransmission scheme fails now and then (0.51^5
 * = 3.5% per exchange with RFC 7252's MAX_RETRANSMIT of 4, and since retransmissions double, the chance an exchange
 * outlasts a wait W stays about ACK_TIMEOUT / W however many are allowed), so a test built on them would be flaky.
 * The proxy instead drops exactly 3 datagrams in every 10 of a client and direction, at random positions
 * (`lossWindow`): the same 30%, with bursts bounded. Then 13 attempts in a row lose at most 6 requests (they span
 * three windows at most, the outer two in part: 3 + 3), so 7 arrive, and 7 answers in a row lose at most 6: one
 * gets through. Hence MAX_RETRANSMIT = 12, which cannot fail while a device has one exchange at a time in flight;
 * ACK_TIMEOUT = 2 ms (loopback) keeps the worst case, 12 doublings, near 16 s. DTLS handshake flights retransmit
 * the same way (RFC 6347 §4.2.4.1, doubling from 5 ms, 16 times).
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lwm2mClient, type Lwm2mClientOptions } from '../src/client/index.js';
import { startWarden, type Warden } from '../src/cli/warden.js';
import type { CoapEndpointOptions } from '../src/coap/index.js';
import type { HandshakeEvent } from '../src/dtls/index.js';
import { Lwm2mPath } from '../src/lwm2m/path.js';
import { silentLogger } from '../src/log.js';
import type { Notification, Registration, SendData } from '../src/server/index.js';
import { FaultProxy, type FaultProxyOptions } from './fault-proxy.js';
import { until } from './helpers.js';

const p = (s: string) => Lwm2mPath.parse(s);

const COAP: Omit<CoapEndpointOptions, 'logger'> = { ackTimeout: 2, maxRetransmit: 12 };
const TIMEOUT = 120_000;
const OP = { timeout: TIMEOUT };

interface Fleet {
  warden: Warden;
  /** Plain CoAP and CoAPs proxies. */
  coap: FaultProxy;
  coaps: FaultProxy;
  handshakes: HandshakeEvent[];
  registered: Map<string, Registration[]>;
  deregistered: Map<string, string[]>;
  notified: Map<string, Notification[]>;
  sends: Map<string, SendData[]>;
}

function push<T>(m: Map<string, T[]>, k: string, v: T): void {
  const list = m.get(k);
  if (list) list.push(v);
  else m.set(k, [v]);
}

async function startFleet(t: TestContext, faults: Omit<FaultProxyOptions, 'target'>): Promise<Fleet> {
  const dir = mkdtempSync(join(tmpdir(), 'warden-faults-'));
  const handshakes: HandshakeEvent[] = [];
  const warden = await startWarden({
    dataDir: dir, coapPort: 0, coapsPort: 0, coapHost: '127.0.0.1', apiPort: 0, apiHost: '127.0.0.1', apiToken: 'test-token-faults',
    logger: silentLogger, onDtlsHandshake: (e) => handshakes.push(e), coap: COAP,
  });
  const coap = await FaultProxy.start({ ...faults, target: { address: '127.0.0.1', port: warden.coapPort! } });
  const coaps = await FaultProxy.start({ ...faults, seed: (faults.seed ?? 1) + 1000, target: { address: '127.0.0.1', port: warden.coapsPort! } });
  const fleet: Fleet = { warden, coap, coaps, handshakes, registered: new Map(), deregistered: new Map(), notified: new Map(), sends: new Map() };
  const s = warden.server;
  s.on('registered', (reg: Registration) => push(fleet.registered, reg.endpoint, reg));
  s.on('deregistered', (reg: Registration, reason: string) => push(fleet.deregistered, reg.endpoint, reason));
  s.on('notification', (n: Notification) => push(fleet.notified, n.endpoint, n));
  s.on('send', (d: SendData) => push(fleet.sends, d.endpoint, d));
  t.after(async () => {
    await coap.close();
    await coaps.close();
    await warden.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return fleet;
}

type DeviceOptions = Partial<Lwm2mClientOptions> & { secure?: boolean };

/** A client through the proxy; DTLS-PSK when `secure` (its key registered in Warden). */
function device(t: TestContext, fleet: Fleet, endpoint: string, opts: DeviceOptions = {}): Lwm2mClient {
  const { secure, ...rest } = opts;
  let security: Lwm2mClientOptions['security'];
  if (secure) {
    const key = randomBytes(16);
    fleet.warden.security.add({ endpoint, mode: 'psk', pskIdentity: endpoint, pskKey: key });
    security = { mode: 'psk', identity: endpoint, key };
  }
  const client = new Lwm2mClient({
    endpoint,
    serverUri: secure ? `coaps://127.0.0.1:${fleet.coaps.port}` : `coap://127.0.0.1:${fleet.coap.port}`,
    ...(security ? { security } : {}),
    lifetime: 600,
    valueUpdateInterval: 0,
    coap: COAP,
    requestTimeout: TIMEOUT,
    retry: { initialDelay: 100, attempts: 10 },
    dtls: { retransmitInitial: 5, maxRetransmissions: 16 },
    logger: silentLogger,
    ...rest,
  });
  t.after(() => client.stop({ deregister: false }).catch(() => {}));
  return client;
}

/** Counts the Executes of /3/0/`resourceId` that reach the device's object. */
function countExecutes(client: Lwm2mClient, resourceId: number): () => number {
  const inst = client.tree.enabler(3)!.instance(0)!;
  const execute = inst.execute.bind(inst);
  let n = 0;
  inst.execute = (rid, args) => {
    if (rid === resourceId) n++;
    return execute(rid, args);
  };
  return () => n;
}

/**
 * Starts the clients one after another, each once its proxy has heard it (so that the proxy's PRNG streams go to the
 * same clients at every run), then waits for every registration.
 */
async function startAll(fleet: Fleet, clients: { client: Lwm2mClient; secure: boolean }[]): Promise<void> {
  const started: Promise<void>[] = [];
  for (const { client, secure } of clients) {
    const proxy = secure ? fleet.coaps : fleet.coap;
    const heard = proxy.mappings().length;
    started.push(client.start());
    await until(() => proxy.mappings().length > heard, 10_000, `${client.endpointName} heard by the proxy`);
  }
  await Promise.all(started);
}

function resourceValue(r: { content?: { kind: string } }): unknown {
  const c = r.content as { kind: string; value?: { value: unknown } } | undefined;
  return c?.kind === 'singleResource' ? c.value?.value : undefined;
}

/** Every Device Management and Information Reporting operation once, each asserted to succeed. */
async function everyOperation(fleet: Fleet, client: Lwm2mClient, executes: () => number, i: number): Promise<void> {
  const ep = client.endpointName;
  const s = fleet.warden.server;
  const read = await s.read(ep, p('/3/0/0'), OP);
  assert.equal(read.code, 69, `${ep} read`);
  const offset = `+0${i % 10}:00`;
  assert.equal((await s.write(ep, p('/3/0/14'), { kind: 'singleResource', id: 14, value: { type: 'string', value: offset } }, OP)).code, 68, `${ep} write`);
  assert.equal(resourceValue(await s.read(ep, p('/3/0/14'), OP)), offset, `${ep} reads its write back`);
  assert.equal((await s.execute(ep, p('/3/0/12'), undefined, OP)).code, 68, `${ep} execute`);
  assert.equal(executes(), 1, `${ep} executed once`);
  assert.equal((await s.writeAttributes(ep, p('/3/0/13'), { pmax: 1 }, OP)).code, 68, `${ep} write-attributes`);
  const discover = await s.discover(ep, p('/3/0'), OP);
  assert.equal(discover.code, 69, `${ep} discover`);
  assert.equal(discover.links?.find((l) => l.uri === '/3/0/13')?.attributes.pmax, '1', `${ep} discover shows the attribute`);
  // Notifications are NON (lost at 30% too): pmax = 1 s sends one every second until one arrives.
  const observe = await s.observe(ep, p('/3/0/13'), OP);
  assert.equal(observe.code, 69, `${ep} observe`);
  await until(() => (fleet.notified.get(ep)?.length ?? 0) > 0, 60_000, `${ep} notification`);
  assert.equal(await s.cancelObservation(ep, p('/3/0/13')), 1);
  const created = await s.create(ep, p('/2'), [{
    kind: 'instance', id: 7, resources: [
      { kind: 'singleResource', id: 0, value: { type: 'unsignedInteger', value: 3 } },
      { kind: 'singleResource', id: 1, value: { type: 'unsignedInteger', value: 0 } },
      { kind: 'singleResource', id: 3, value: { type: 'unsignedInteger', value: 1 } },
    ],
  }], OP);
  assert.equal(created.code, 65, `${ep} create`);
  assert.equal((await s.delete(ep, p('/2/7'), OP)).code, 66, `${ep} delete`);
  await client.update();
  await client.send(['/3/0/9']);
  assert.equal(fleet.sends.get(ep)?.length, 1, `${ep} Send delivered once`);
}

test('30% loss each way: every operation of 20 NoSec and 10 DTLS-PSK devices completes', async (t) => {
  const fleet = await startFleet(t, { loss: 0.3, lossWindow: 10, seed: 1 });
  const devices = Array.from({ length: 30 }, (_, i) => {
    const secure = i >= 20;
    const client = device(t, fleet, `${secure ? 'psk' : 'nosec'}-${i}`, { secure });
    return { client, secure, executes: countExecutes(client, 12) };
  });
  await startAll(fleet, devices);
  await Promise.all(devices.map(({ client, executes }, i) => everyOperation(fleet, client, executes, i)));
  await Promise.all(devices.map(({ client }) => client.stop()));
  for (const { client } of devices) {
    const ep = client.endpointName;
    assert.equal(fleet.registered.get(ep)?.length, 1, `${ep} registered once`);
    assert.deepEqual(fleet.deregistered.get(ep), ['deregister'], `${ep} de-registered`);
  }
  assert.equal(fleet.handshakes.length, 10, 'one handshake per DTLS device');
  assert.equal(fleet.warden.server.registrationCount(), 0);
  const { up, down } = fleet.coap.counters;
  assert.ok(up.dropped > 0.2 * (up.passed + up.dropped) && down.dropped > 0.2 * (down.passed + down.dropped), 'the loss happened');
});

/** The address the proxy (and so the server) sees `client` at. */
function seenAt(fleet: Fleet, client: Lwm2mClient): { address: string; port: number } {
  const back = fleet.coaps.backAddress({ address: '127.0.0.1', port: client.localAddress!.port });
  assert.ok(back, `${client.endpointName} has a mapping`);
  return back;
}

test('NAT rebinding: DTLS devices with a Connection ID keep their registration and are reached at the new address', async (t) => {
  const fleet = await startFleet(t, { seed: 3 });
  const s = fleet.warden.server;
  const clients = Array.from({ length: 6 }, (_, i) => device(t, fleet, `cid-${i}`, { secure: true }));
  await startAll(fleet, clients.map((client) => ({ client, secure: true })));
  for (const c of clients) assert.ok(c.dtls?.connectionId, `${c.endpointName} negotiated a Connection ID`);
  const ids = new Map(clients.map((c) => [c.endpointName, s.getRegistration(c.endpointName)!.registrationId]));
  const sendsOf = (ep: string) => fleet.sends.get(ep)?.length ?? 0;

  for (let round = 1; round <= 3; round++) {
    const before = new Map(clients.map((c) => [c.endpointName, seenAt(fleet, c).port]));
    assert.equal(await fleet.coaps.rebind(), clients.length, 'every mapping replaced');
    await Promise.all(clients.map(async (c) => {
      const ep = c.endpointName;
      const now = seenAt(fleet, c).port;
      assert.notEqual(now, before.get(ep), `${ep} has a new source port`);
      // The device does not know; its next message (with its CID) moves the association (RFC 9146 §6).
      const n = sendsOf(ep);
      await c.send(['/3/0/9']);
      assert.equal(sendsOf(ep), n + 1, `${ep} Send delivered`);
      const reg = s.getRegistration(ep)!;
      assert.equal(reg.registrationId, ids.get(ep), `${ep} keeps its registration`);
      assert.equal(reg.port, now, `${ep} registration follows the association`);
      assert.equal((await s.read(ep, p('/3/0/0'), OP)).code, 69, `${ep} read at the new address (round ${round})`);
    }));
  }

  // Rebinding at a rate while requests run both ways: a mapping may change under any datagram from a device.
  const rebound = fleet.coaps.counters.rebound;
  fleet.coaps.setRebind(0.2);
  await Promise.all(clients.map(async (c) => {
    const ep = c.endpointName;
    for (let i = 0; i < 10; i++) {
      const [read] = await Promise.all([s.read(ep, p('/3/0/0'), OP), c.send(['/3/0/9'])]);
      assert.equal(read.code, 69, `${ep} read ${i} during rebinding`);
    }
  }));
  fleet.coaps.setRebind(undefined);
  // A retransmission still on its way may have moved a mapping once more: the registration follows once it lands.
  await until(() => clients.every((c) => s.getRegistration(c.endpointName)?.port === seenAt(fleet, c).port), 5000, 'registrations at the current mappings');
  assert.ok(fleet.coaps.counters.rebound - rebound > 10, `mappings replaced during traffic (${fleet.coaps.counters.rebound - rebound})`);
  for (const c of clients) {
    const ep = c.endpointName;
    assert.equal(s.getRegistration(ep)?.registrationId, ids.get(ep), `${ep} keeps its registration`);
    assert.equal(fleet.registered.get(ep)?.length, 1, `${ep} never registered again`);
    assert.equal(sendsOf(ep), 3 + 10, `${ep} every Send delivered once`);
  }
  assert.equal(fleet.handshakes.length, clients.length, 'no handshake beyond the first of each device');
});

test('NAT rebinding without a Connection ID: the server loses the device until it handshakes and registers again', async (t) => {
  const fleet = await startFleet(t, { seed: 4 });
  const s = fleet.warden.server;
  // Default transmission parameters except a short ACK_TIMEOUT: the exchanges that fail here fail in ~0.3 s.
  const client = device(t, fleet, 'no-cid', { secure: true, connectionId: false, coap: { ackTimeout: 10 }, requestTimeout: 5000 });
  await startAll(fleet, [{ client, secure: true }]);
  assert.equal(client.dtls?.connectionId, undefined, 'no Connection ID negotiated');
  const first = s.getRegistration('no-cid')!;
  const oldPort = seenAt(fleet, client).port;
  await fleet.coaps.rebind();
  const newPort = seenAt(fleet, client).port;

  // The server's records go to the forgotten mapping: without a CID an association is its 5-tuple (RFC 9146 §1).
  const stale = fleet.coaps.counters.stale;
  await assert.rejects(s.read('no-cid', p('/3/0/0'), { timeout: 1000 }), { code: 'TIMEOUT' });
  assert.ok(fleet.coaps.counters.stale > stale, 'the read went to the old port and was dropped there');
  // The device's records from the new port carry no CID: the server has no association there and drops them.
  await assert.rejects(client.send(['/3/0/9']), { code: 'TIMEOUT' });
  assert.equal(fleet.sends.get('no-cid'), undefined, 'the Send never reached the LwM2M server');
  // The device takes its association for lost: a full handshake (a new socket, so a new mapping) and a new
  // registration, which replaces the old one (Core §6.2.1).
  await until(() => (fleet.registered.get('no-cid')?.length ?? 0) === 2, 10_000, 'registered again');
  const second = s.getRegistration('no-cid')!;
  assert.notEqual(second.registrationId, first.registrationId, 'a new registration');
  assert.deepEqual(fleet.deregistered.get('no-cid'), ['replaced'], 'the old one is replaced');
  // The new association has its own socket on the device, so its own mapping on the NAT.
  assert.equal(second.port, seenAt(fleet, client).port);
  assert.ok(second.port !== oldPort && second.port !== newPort);
  assert.equal(fleet.handshakes.length, 2, 'a second handshake');
  assert.equal((await s.read('no-cid', p('/3/0/0'), OP)).code, 69, 'reached at the new address');
});

test('20% duplication and 20% reordering each way: every operation completes, none runs twice', async (t) => {
  const fleet = await startFleet(t, { duplicate: 0.2, reorder: 0.2, seed: 5 });
  const s = fleet.warden.server;
  const devices = Array.from({ length: 12 }, (_, i) => {
    const secure = i >= 8;
    const client = device(t, fleet, `${secure ? 'dup-psk' : 'dup-nosec'}-${i}`, { secure });
    return { client, secure, executes: countExecutes(client, 12) };
  });
  await startAll(fleet, devices);
  await Promise.all(devices.map(async ({ client, executes }, i) => {
    await everyOperation(fleet, client, executes, i);
    const ep = client.endpointName;
    for (let n = 2; n <= 5; n++) {
      assert.equal((await s.execute(ep, p('/3/0/12'), undefined, OP)).code, 68);
      assert.equal(executes(), n, `${ep}: Execute ${n} ran once`);
    }
    for (let n = 2; n <= 4; n++) {
      await client.send(['/3/0/9']);
      assert.equal(fleet.sends.get(ep)?.length, n, `${ep}: Send ${n} delivered once`);
    }
  }));
  await Promise.all(devices.map(({ client }) => client.stop()));
  for (const { client } of devices) {
    const ep = client.endpointName;
    assert.equal(fleet.registered.get(ep)?.length, 1, `${ep} registered once`);
    assert.deepEqual(fleet.deregistered.get(ep), ['deregister'], `${ep} de-registered once`);
  }
  assert.equal(fleet.handshakes.length, 4, 'one handshake per DTLS device');
  for (const proxy of [fleet.coap, fleet.coaps]) {
    const { up, down } = proxy.counters;
    assert.ok(up.duplicated > 0 && down.duplicated > 0 && up.reordered > 0 && down.reordered > 0, 'duplicates and reordering happened both ways');
  }
});
