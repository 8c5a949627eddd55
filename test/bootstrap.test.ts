/**
 * Bootstrap end to end on UDP/DTLS loopback with real SQLite: a device holding only its factory PSK bootstraps over
 * CoAPs, gets a fresh DM PSK and registers with the Warden server; the factory key no longer opens the DM server;
 * identity A asking as B is refused; rollback when the bootstrap server dies midway; supersede; groups; server-initiated.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { BootstrapServer, bootstrapPskLookup, type BootstrapFailedEvent, type FactoryKeys } from '../src/bootstrap/index.js';
import { securityAuthorizer } from '../src/cli/authorizer.js';
import { Lwm2mClient, SecurityResource, ServerInstance, ServerResource } from '../src/client/index.js';
import { Method, OptionNumber, UdpTransport, uriPathOptions, uriQueryOptions, type IncomingRequest } from '../src/coap/index.js';
import { DtlsServer } from '../src/dtls/index.js';
import { Lwm2mError, Lwm2mPath, ModelRegistry, ResponseCode } from '../src/lwm2m/index.js';
import { SecretBox, SecurityStore } from '../src/store/index.js';
import { UdpProxy } from '../src/dtls/test-proxy.js';
import { once, rawEndpoint, startTestServer, until } from './helpers.js';

const FACTORY = new Map<string, Uint8Array>([
  ['dev1', new Uint8Array(randomBytes(16))],
  ['dev2', new Uint8Array(randomBytes(16))],
  ['grp-7', new Uint8Array(randomBytes(16))],
]);
const factoryKeys: FactoryKeys = { keyFor: async (id) => FACTORY.get(id) };

interface Rig {
  dmUri: string;
  security: SecurityStore;
  ts: Awaited<ReturnType<typeof startTestServer>>;
  bs: BootstrapServer;
  bsUri: string;
  bsPlainUri: string;
}

async function rig(t: TestContext): Promise<Rig> {
  let security!: SecurityStore;
  const dmDtls = await DtlsServer.bind(0, '127.0.0.1', { pskLookup: (id) => security.pskLookup()(id), retransmitInitial: 200 });
  const ts = await startTestServer({ secureTransport: dmDtls, authorize: (ep, id) => securityAuthorizer(security)(ep, id) });
  security = new SecurityStore(ts.store, SecretBox.fromKey(randomBytes(32)));
  const dmUri = `coaps://127.0.0.1:${dmDtls.address().port}`;
  const bsDtls = await DtlsServer.bind(0, '127.0.0.1', { pskLookup: bootstrapPskLookup({ factoryKeys }), retransmitInitial: 200 });
  const plain = await UdpTransport.bind(0, '127.0.0.1');
  const bs = await BootstrapServer.start({
    secureTransport: bsDtls,
    transport: plain,
    store: ts.store,
    security,
    model: ts.model,
    dmServerUri: dmUri,
    factoryKeys,
    requestTimeout: 2000,
    coap: { ackTimeout: 200, maxRetransmit: 2 },
  });
  t.after(async () => {
    await bs.close();
    await ts.close();
  });
  return { dmUri, security, ts, bs, bsUri: `coaps://127.0.0.1:${bsDtls.address().port}`, bsPlainUri: `coap://127.0.0.1:${plain.address().port}` };
}

function device(t: TestContext, r: Rig, endpoint: string, identity = endpoint, extra: { timeout?: number } = {}): Lwm2mClient {
  const client = new Lwm2mClient({
    endpoint,
    model: r.ts.model,
    bootstrap: { serverUri: r.bsUri, security: { mode: 'psk', identity, key: FACTORY.get(identity)! }, timeout: extra.timeout ?? 5000 },
    valueUpdateInterval: 0,
    retry: { initialDelay: 60_000 },
    requestTimeout: 3000,
    dtls: { retransmitInitial: 200 },
  });
  t.after(() => client.stop({ deregister: false }));
  return client;
}

function dmKey(client: Lwm2mClient): Uint8Array | undefined {
  const sec = client.tree.enabler(0)!;
  for (const iid of sec.instanceIds()) {
    const inst = sec.instance(iid)!;
    const bs = inst.read(SecurityResource.BootstrapServer);
    if (bs?.kind === 'singleResource' && bs.value.value === false) {
      const k = inst.read(SecurityResource.SecretKey);
      return k?.kind === 'singleResource' ? (k.value.value as Uint8Array) : undefined;
    }
  }
  return undefined;
}

test('first contact: factory PSK bootstraps over DTLS, fresh PSK registers with the DM server, factory key refused there', async (t) => {
  const r = await rig(t);
  r.bs.configs.putDevice('dev1', { servers: { '0': { shortId: 1, lifetime: 300 } } });
  const events: string[] = [];
  r.bs.on('bootstrap-started', () => events.push('started'));
  r.bs.on('bootstrap-finished', () => events.push('finished'));
  r.bs.on('bootstrap-failed', (e: BootstrapFailedEvent) => events.push(`failed:${e.reason}`));
  assert.equal(r.security.get('dev1'), undefined);
  const client = device(t, r, 'dev1');
  await client.start();
  assert.ok(client.isRegistered);
  assert.deepEqual(events, ['started', 'finished']);
  const info = r.security.get('dev1')!;
  assert.equal(info.pskIdentity, 'dev1');
  assert.equal(info.pskKey!.length, 32);
  assert.notDeepEqual(Buffer.from(info.pskKey!), Buffer.from(FACTORY.get('dev1')!));
  assert.deepEqual(Buffer.from(dmKey(client)!), Buffer.from(info.pskKey!));
  assert.ok(r.ts.server.getRegistration('dev1'));

  // A DM server may not read the Security object (Core §7.1).
  const read = await r.ts.server.read('dev1', Lwm2mPath.parse('/0'));
  assert.equal(read.code, ResponseCode.Unauthorized);

  // The factory key does not open the DM server.
  const impostor = new Lwm2mClient({
    endpoint: 'dev1',
    serverUri: r.dmUri,
    security: { mode: 'psk', identity: 'dev1', key: FACTORY.get('dev1')! },
    valueUpdateInterval: 0,
    retry: { initialDelay: 60_000 },
    requestTimeout: 2000,
    dtls: { retransmitInitial: 100 },
  });
  t.after(() => impostor.stop({ deregister: false }));
  const failed = once<Error>(impostor, 'registration-failed', 10_000);
  void impostor.start().catch(() => {});
  await failed;
  assert.ok(!impostor.isRegistered);
});

test('a replayed bootstrap sequence starts nothing: every datagram of a finished one sent again changes no credential', async (t) => {
  const r = await rig(t);
  r.bs.configs.putDevice('dev2', { servers: { '0': { shortId: 1, lifetime: 300 } } });
  const bsPort = Number(new URL(r.bsUri).port);
  const proxy = await UdpProxy.start({ address: '127.0.0.1', port: bsPort });
  t.after(() => proxy.close());
  let started = 0;
  r.bs.on('bootstrap-started', () => started++);
  const client = device(t, { ...r, bsUri: `coaps://127.0.0.1:${proxy.port}` }, 'dev2');
  await client.start();
  assert.equal(started, 1);
  const key = Buffer.from(r.security.get('dev2', { withKey: true })!.pskKey!);
  // The handshake, the Bootstrap-Request and every answer of the device, replayed from the device's address.
  const recorded = [...proxy.up];
  assert.ok(recorded.length >= 5, 'the sequence was recorded');
  for (const d of recorded) proxy.inject(d);
  await new Promise((resolve) => setTimeout(resolve, 500));
  assert.equal(started, 1, 'no sequence started');
  assert.deepEqual(Buffer.from(r.security.get('dev2', { withKey: true })!.pskKey!), key, 'the DM credential is unchanged');
  assert.ok(r.ts.server.getRegistration('dev2'), 'the device stays registered');
});

test('identity A asking to bootstrap as endpoint B is refused with 4.03', async (t) => {
  const r = await rig(t);
  r.bs.configs.putDevice('dev2', { servers: { '0': { shortId: 1 } } });
  const client = device(t, r, 'dev2', 'dev1');
  await assert.rejects(client.start(), (err: unknown) => err instanceof Lwm2mError && err.code === ResponseCode.Forbidden);
  assert.equal(r.security.get('dev2'), undefined);
});

test('bootstrap server killed after the Delete: the client rolls back and registers with its previous configuration', async (t) => {
  const r = await rig(t);
  r.bs.configs.putDevice('dev1', { servers: { '0': { shortId: 1, lifetime: 300 } } });
  const client = device(t, r, 'dev1', 'dev1', { timeout: 1500 });
  await client.start();
  const before = Buffer.from(dmKey(client)!);
  r.bs.on('bootstrap-progress', (e: { state: string }) => {
    if (e.state === 'writing') void r.bs.close();
  });
  const rolledBack = once(client, 'bootstrap-failed', 10_000);
  await client.requestBootstrap();
  await rolledBack;
  assert.ok(client.isRegistered);
  assert.deepEqual(Buffer.from(dmKey(client)!), before);
  assert.deepEqual(Buffer.from(r.security.get('dev1')!.pskKey!), before);
});

test('per-group configuration applies to the endpoints of the group', async (t) => {
  const r = await rig(t);
  r.bs.configs.putGroup('fleet', { endpointPrefix: 'grp-', servers: { '0': { shortId: 1, lifetime: 123, binding: 'U' } } });
  const client = device(t, r, 'grp-7');
  await client.start();
  const server = client.tree.enabler(1)!.instance(0);
  assert.ok(server instanceof ServerInstance);
  assert.equal(server.number(ServerResource.Lifetime), 123);
  assert.equal(r.ts.server.getRegistration('grp-7')?.lifetime, 123);
});

/** A plain-CoAP device that answers every bootstrap operation with success. */
async function fakeDevice(t: TestContext) {
  const ep = await rawEndpoint();
  const seen: string[] = [];
  ep.onRequest((req: IncomingRequest) => {
    seen.push(`${req.code}:/${req.path.join('/')}`);
    if (req.code === Method.GET) return { code: ResponseCode.Content, payload: Buffer.from('</>;lwm2m=1.1,</0/0>;uri="coap://bs"') };
    if (req.code === Method.DELETE) return { code: ResponseCode.Deleted };
    return { code: ResponseCode.Changed };
  });
  t.after(() => ep.close());
  return { ep, seen };
}

const NOSEC = { servers: { '0': { shortId: 1 } }, security: { '1': { uri: 'coap://127.0.0.1:5683', securityMode: 'NO_SEC' as const, serverId: 1 } } };

test('a second Bootstrap-Request while a sequence runs supersedes it; server-initiated bootstrap reaches a known device', async (t) => {
  const r = await rig(t);
  r.bs.configs.putDevice('fake', NOSEC);
  const peer = { address: '127.0.0.1', port: Number(new URL(r.bsPlainUri).port) };
  const slow = await rawEndpoint();
  t.after(() => slow.close());
  // The first requester never answers: its sequence hangs in Discover until the second request supersedes it.
  slow.onRequest(() => new Promise(() => {}));
  const failed = once<BootstrapFailedEvent>(r.bs, 'bootstrap-failed');
  const bsReq = { code: Method.POST, options: [...uriPathOptions(['bs']), ...uriQueryOptions(['ep=fake'])] };
  assert.equal((await slow.request(peer, bsReq)).code, ResponseCode.Changed);
  await until(() => r.bs.running().includes('fake'));
  const { ep, seen } = await fakeDevice(t);
  const finished = once(r.bs, 'bootstrap-finished');
  assert.equal((await ep.request(peer, bsReq)).code, ResponseCode.Changed);
  assert.match((await failed).reason, /superseded/);
  await finished;
  assert.deepEqual(seen, [`${Method.GET}:/`, `${Method.DELETE}:/0`, `${Method.DELETE}:/1`, `${Method.PUT}:/0/1`, `${Method.PUT}:/1/0`, `${Method.POST}:/bs`]);
  seen.length = 0;
  assert.equal(await r.bs.bootstrap('fake'), true);
  assert.equal(seen.at(-1), `${Method.POST}:/bs`);
  // Plain CoAP never carries a generated PSK.
  r.bs.configs.putDevice('fake', { servers: { '0': { shortId: 1 } } });
  assert.equal(await r.bs.bootstrap('fake'), false);
});

test('Bootstrap-Request for an unknown endpoint gets 4.00', async (t) => {
  const r = await rig(t);
  const ep = await rawEndpoint();
  t.after(() => ep.close());
  const res = await ep.request({ address: '127.0.0.1', port: Number(new URL(r.bsPlainUri).port) }, { code: Method.POST, options: [...uriPathOptions(['bs']), ...uriQueryOptions(['ep=nobody'])] });
  assert.equal(res.code, ResponseCode.BadRequest);
});

test('interop: libcoap coap-client-notls POSTs /bs and gets 2.04; the sequence then fails cleanly', async (t) => {
  const probe = spawnSync('coap-client-notls', ['-h'], { encoding: 'utf8' });
  assert.ok(!probe.error, 'coap-client-notls not found: install the Debian package libcoap3-bin');
  const r = await rig(t);
  r.bs.configs.putDevice('x', NOSEC);
  const failed = once<BootstrapFailedEvent>(r.bs, 'bootstrap-failed', 15_000);
  const { spawn } = await import('node:child_process');
  const child = spawn('coap-client-notls', ['-m', 'post', '-B', '1', '-v', '7', `${r.bsPlainUri}/bs?ep=x`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise((resolve) => child.on('exit', resolve));
  assert.match(out, /c:2\.04/);
  const e = await failed;
  assert.equal(e.endpoint, 'x');
  assert.deepEqual(r.bs.running(), []);
});
