/** The client against a minimal LwM2M server role on a real CoAP endpoint over UDP loopback. */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock, type CoapResponse } from '../coap/index.js';
import { codecFor, compositeCodecFor, ContentFormat, Lwm2mPath, ModelRegistry, type LwM2mNode } from '../lwm2m/index.js';
import { Lwm2mClient, type Lwm2mClientOptions } from './client.js';
import { DeviceObject, type DeviceInstance } from './objects/device.js';
import { ConnectivityObject } from './objects/connectivity.js';
import { simulatedPackage } from './objects/simulated-firmware.js';
import { contentFormatOf, locationOf, Method, TestServer, type Received } from './test-server.js';
import { int } from './value.js';

const model = new ModelRegistry();
const P = (s: string) => Lwm2mPath.parse(s);
const text = (res: CoapResponse) => Buffer.from(res.payload).toString('utf8');

interface Setup {
  server: TestServer;
  client: Lwm2mClient;
  clock: ManualClock;
}

async function setup(t: TestContext, opts: Partial<Lwm2mClientOptions> = {}): Promise<Setup> {
  const server = await TestServer.start();
  const clock = new ManualClock(0);
  const client = new Lwm2mClient({ endpoint: 'dev1', serverUri: server.uri, clock, valueUpdateInterval: 0, ...opts });
  t.after(async () => {
    await client.stop().catch(() => {});
    await server.close();
  });
  await client.start();
  return { server, client, clock };
}

/** Waits (bounded) until `cond` holds; the network is real, so give it a few event-loop turns. */
async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.fail(`timed out waiting for ${what}`);
}

function decode(res: CoapResponse, path: string): LwM2mNode {
  const format = contentFormatOf(res) ?? ContentFormat.TEXT;
  return codecFor(format)!.decode(res.payload, P(path), model);
}

function value(res: CoapResponse, path: string): unknown {
  const node = decode(res, path);
  assert.ok(node.kind === 'singleResource' || node.kind === 'resourceInstance', `single value at ${path}`);
  const v = node.value.value;
  return typeof v === 'bigint' ? Number(v) : v instanceof Date ? v.getTime() : v;
}

function device(client: Lwm2mClient): DeviceInstance {
  return (client.tree.enabler(3) as DeviceObject).device;
}

const isUpdate = (r: Received) => r.code === Method.POST && r.path.startsWith('/rd/');

test('register: exact query and object links, update cycle, lifetime change, re-register on 4.04, de-register', async (t) => {
  const { server, client, clock } = await setup(t);
  const reg = await server.next((r) => r.path === '/rd');
  assert.deepEqual(reg.query, ['ep=dev1', 'lt=300', 'lwm2m=1.1', 'b=U']);
  assert.equal(reg.contentFormat, ContentFormat.CORE_LINK);
  const v = (id: number) => model.object(id)!.version;
  const links = reg.payload.toString();
  assert.match(links, /^<\/>;rt="oma\.lwm2m";ct="[\d ]+",/);
  assert.ok(
    links.endsWith(`,</1>;ver=${v(1)},</1/0>,</2/0>,</2/1>,</2/2>,</2/3>,</2/4>,</2/5>,</3>;ver=${v(3)},</3/0>,</4>;ver=${v(4)},</4/0>,</5/0>,</6/0>`),
    links,
  );
  assert.deepEqual(client.registrationLocation, ['rd', 'r1']);

  // Update at lifetime - max(10 s, 10%) = 270 s, with nothing changed: no query, no payload.
  let from = server.received.length;
  const updated = new Promise((r) => client.once('updated', r));
  clock.advance(269_000);
  clock.advance(1_000);
  const upd = await server.next(isUpdate, from);
  await updated;
  assert.equal(upd.path, '/rd/r1');
  assert.deepEqual(upd.query, []);
  assert.equal(upd.payload.length, 0);

  // A lifetime write is answered, then announced in an Update carrying only lt.
  from = server.received.length;
  assert.equal((await server.request(Method.PUT, '/1/0/1', { contentFormat: ContentFormat.TEXT, payload: '120' })).code, 68);
  clock.advance(0);
  assert.deepEqual((await server.next(isUpdate, from)).query, ['lt=120']);

  // The server forgot us: 4.04 on Update makes the client register again.
  server.override = (req) => (req.code === Method.POST && req.path[0] === 'rd' && req.path.length === 2 ? { code: 132 } : undefined);
  from = server.received.length;
  const reRegistered = new Promise((r) => client.once('registered', r));
  void client.update().catch(() => {});
  const again = await server.next((r) => r.path === '/rd', from);
  await reRegistered;
  assert.ok(again.query.includes('lt=120'));
  server.override = undefined;
  assert.deepEqual(client.registrationLocation, ['rd', 'r2']);

  from = server.received.length;
  const gone = new Promise((r) => client.once('deregistered', r));
  await client.stop();
  await gone;
  const del = await server.next((r) => r.code === Method.DELETE, from);
  assert.equal(del.path, '/rd/r2');
});

test('registration failures are retried with back-off', async (t) => {
  const server = await TestServer.start();
  const clock = new ManualClock(0);
  let refuse = 2;
  server.override = (req) => (req.path.join('/') === 'rd' && refuse-- > 0 ? { code: 128 } : undefined);
  const client = new Lwm2mClient({ endpoint: 'dev2', serverUri: server.uri, clock, valueUpdateInterval: 0, retry: { initialDelay: 1000 } });
  t.after(async () => {
    await client.stop().catch(() => {});
    await server.close();
  });
  const failures: unknown[] = [];
  client.on('registration-failed', (e) => failures.push(e));
  const started = client.start();
  await until(() => failures.length === 1, 'first failure');
  clock.advance(999);
  assert.equal(server.received.length, 1, 'no retry before the delay');
  clock.advance(1);
  await until(() => failures.length === 2, 'second failure');
  clock.advance(2000);
  await started;
  assert.equal(server.received.filter((r) => r.path === '/rd').length, 3);
});

test('read: default SenML CBOR, Accept honoured, 4.04 / 4.05 / 4.06 / 4.01', async (t) => {
  const { server } = await setup(t);
  const manufacturer = await server.request(Method.GET, '/3/0/0');
  assert.equal(manufacturer.code, 69);
  assert.equal(contentFormatOf(manufacturer), ContentFormat.SENML_CBOR);
  assert.equal(value(manufacturer, '/3/0/0'), 'Warden');
  const asText = await server.request(Method.GET, '/3/0/9', { accept: ContentFormat.TEXT });
  assert.equal(text(asText), '100');
  for (const accept of [ContentFormat.TLV, ContentFormat.SENML_JSON, ContentFormat.LWM2M_CBOR]) {
    const inst = await server.request(Method.GET, '/3/0', { accept });
    assert.equal(contentFormatOf(inst), accept);
    const node = decode(inst, '/3/0');
    assert.equal(node.kind, 'instance');
    assert.ok(node.kind === 'instance' && node.resources.some((r) => r.id === 11 && r.kind === 'multipleResource'));
    assert.ok(node.kind === 'instance' && !node.resources.some((r) => r.id === 4), 'executables are not read');
  }
  const object = await server.request(Method.GET, '/2', { accept: ContentFormat.SENML_JSON });
  assert.equal(decode(object, '/2').kind, 'object');
  assert.equal((await server.request(Method.GET, '/3/0/11/0', { accept: ContentFormat.TEXT })).payload.toString(), '0');
  const codes: [string, number, number?][] = [
    ['/42', 132],
    ['/3/1', 132],
    ['/3/0/99', 132],
    ['/3/0/11/5', 132],
    ['/3/0/4', 133],
    ['/5/0/0', 133],
    ['/3/0', 134, ContentFormat.TEXT],
    ['/3/0/0', 134, 9999],
    ['/0/0', 129],
    ['/0/0/0', 129],
    ['/rd', 132],
  ];
  for (const [path, code, accept] of codes) {
    assert.equal((await server.request(Method.GET, path, accept === undefined ? {} : { accept })).code, code, `GET ${path}`);
  }
});

test('discover: object, instance, resource with dim, ver and attributes (inherited on a resource)', async (t) => {
  const { server } = await setup(t);
  const discover = async (path: string) => {
    const res = await server.request(Method.GET, path, { accept: ContentFormat.CORE_LINK });
    assert.equal(res.code, 69, path);
    assert.equal(contentFormatOf(res), ContentFormat.CORE_LINK);
    return text(res);
  };
  assert.equal((await server.request(Method.PUT, '/3', { query: ['pmin=10'] })).code, 68);
  assert.equal((await server.request(Method.PUT, '/3/0/7', { query: ['pmax=60', 'gt=50', 'lt=42.2'] })).code, 68);
  const obj = await discover('/3');
  assert.ok(obj.startsWith(`</3>;ver=${model.object(3)!.version};pmin=10,</3/0>,</3/0/0>,</3/0/1>`), obj);
  assert.ok(obj.includes(',</3/0/4>,'), 'executables are listed');
  assert.ok(obj.includes(',</3/0/6>;dim=2,</3/0/7>;dim=2;pmax=60;gt=50;lt=42.2,'), obj);
  assert.ok(!obj.includes('</3/0/12>') || obj.includes('</3/0/12>,'), obj);
  const inst = await discover('/3/0');
  assert.ok(inst.startsWith('</3/0>,</3/0/0>,'), inst);
  assert.equal(await discover('/3/0/7'), '</3/0/7>;dim=2;pmin=10;pmax=60;gt=50;lt=42.2,</3/0/7/0>,</3/0/7/1>');
  assert.equal(await discover('/5/0/3'), '</5/0/3>');
  assert.ok((await discover('/6')).startsWith('</6>,</6/0>,'), 'version 1.0 objects carry no ver');
  assert.equal((await server.request(Method.GET, '/', { accept: ContentFormat.CORE_LINK })).code, 133);
  assert.equal((await server.request(Method.GET, '/9', { accept: ContentFormat.CORE_LINK })).code, 132);
});

test('write: replace and partial update at every level, with the error codes of bad requests', async (t) => {
  const { server, client } = await setup(t);
  const put = (path: string, spec: Parameters<TestServer['request']>[2]) => server.request(Method.PUT, path, spec);
  const senml = (records: object[]) => ({ contentFormat: ContentFormat.SENML_JSON, payload: JSON.stringify(records) });
  assert.equal((await put('/3/0/15', { contentFormat: ContentFormat.TEXT, payload: 'Europe/Paris' })).code, 68);
  assert.equal(value(await server.request(Method.GET, '/3/0/15'), '/3/0/15'), 'Europe/Paris');
  // Partial update of the instance keeps other resources.
  assert.equal((await server.request(Method.POST, '/3/0', senml([{ bn: '/3/0/', n: '14', vs: '+02:00' }]))).code, 68);
  assert.equal(value(await server.request(Method.GET, '/3/0/15'), '/3/0/15'), 'Europe/Paris');
  // Replace of the instance removes the optional writable resources it leaves out.
  assert.equal((await put('/3/0', senml([{ bn: '/3/0/', n: '14', vs: '+03:00' }]))).code, 68);
  assert.equal((await server.request(Method.GET, '/3/0/15')).code, 132);
  assert.equal(value(await server.request(Method.GET, '/3/0/14'), '/3/0/14'), '+03:00');
  // Current Time is writable and then runs from the written value.
  assert.equal((await put('/3/0/13', { contentFormat: ContentFormat.TEXT, payload: '1000000' })).code, 68);
  assert.equal(value(await server.request(Method.GET, '/3/0/13'), '/3/0/13'), 1000000 * 1000 + Math.floor(0));
  // Multiple resource: partial update via POST adds an instance, PUT replaces all, resource-instance PUT changes one.
  const acl = '/2/0/2';
  assert.equal((await server.request(Method.POST, acl, senml([{ n: '/2/0/2/7', v: 1 }]))).code, 68);
  let node = decode(await server.request(Method.GET, acl), acl);
  assert.ok(node.kind === 'multipleResource' && node.instances.size === 2);
  assert.equal((await put(acl, senml([{ n: '/2/0/2/9', v: 3 }]))).code, 68);
  node = decode(await server.request(Method.GET, acl), acl);
  assert.ok(node.kind === 'multipleResource' && [...node.instances.keys()].join() === '9');
  assert.equal((await put('/2/0/2/9', { contentFormat: ContentFormat.TEXT, payload: '7' })).code, 68);
  assert.equal(value(await server.request(Method.GET, '/2/0/2/9'), '/2/0/2/9'), 7);
  // Errors.
  assert.equal((await put('/3/0/0', { contentFormat: ContentFormat.TEXT, payload: 'x' })).code, 133, 'read-only');
  assert.equal((await put('/3/0/4', { contentFormat: ContentFormat.TEXT, payload: 'x' })).code, 133, 'executable');
  assert.equal((await put('/3/0/15', { contentFormat: 9999, payload: 'x' })).code, 143, 'unknown format');
  assert.equal((await put('/3/0/15', { payload: 'x' })).code, 128, 'no Content-Format');
  assert.equal((await put('/3/0/9', { contentFormat: ContentFormat.TEXT, payload: 'abc' })).code, 133, 'read-only first');
  assert.equal((await put('/1/0/1', { contentFormat: ContentFormat.TEXT, payload: 'abc' })).code, 128, 'not an integer');
  assert.equal((await put('/1/0/1', { contentFormat: ContentFormat.TEXT, payload: '-5' })).code, 128, 'negative lifetime');
  assert.equal((await put('/1/0/7', { contentFormat: ContentFormat.TEXT, payload: 'XYZ' })).code, 128, 'bad binding');
  assert.equal((await put('/3/0', { contentFormat: ContentFormat.TLV, payload: Uint8Array.of(0xc8, 0x0e) })).code, 128, 'truncated TLV');
  assert.equal((await put('/3/0', senml([{ bn: '/3/0/', n: '0', vs: 'x' }]))).code, 133, 'instance write with a read-only resource');
  assert.equal((await put('/3/0/15', senml([{ n: '/3/0/14', vs: 'x' }]))).code, 128, 'payload for another path');
  assert.equal((await put('/3/9/15', { contentFormat: ContentFormat.TEXT, payload: 'x' })).code, 132, 'unknown instance');
  assert.equal((await put('/3', senml([]))).code, 133, 'object-level write');
  assert.equal((await put('/0/0/0', { contentFormat: ContentFormat.TEXT, payload: 'coap://evil' })).code, 129, 'Security is bootstrap-only');
  assert.equal(client.isRegistered, true);
});

test('write-attributes: set, clear, validation', async (t) => {
  const { server, client } = await setup(t);
  const wa = (path: string, ...query: string[]) => server.request(Method.PUT, path, { query });
  assert.equal((await wa('/3/0/9', 'pmin=5', 'pmax=60', 'st=2')).code, 68);
  assert.deepEqual(client.attributes.get(P('/3/0/9')), { pmin: 5, pmax: 60, st: 2 });
  assert.equal((await wa('/3/0/9', 'st')).code, 68, 'a bare name clears');
  assert.deepEqual(client.attributes.get(P('/3/0/9')), { pmin: 5, pmax: 60 });
  assert.equal((await wa('/3/0/9', 'pmax=2')).code, 128, 'pmax < pmin after merging');
  assert.equal((await wa('/3/0/9', 'gt=10', 'lt=50')).code, 128, 'lt >= gt');
  assert.equal((await wa('/3/0/9', 'gt=50', 'lt=10', 'st=30')).code, 128, 'lt + 2 st >= gt');
  assert.equal((await wa('/3/0/0', 'gt=5')).code, 128, 'gt on a string resource');
  assert.equal((await wa('/3/0', 'gt=5')).code, 128, 'gt on an instance');
  assert.equal((await wa('/3/0/9', 'dim=3')).code, 128, 'dim is read-only');
  assert.equal((await wa('/3/0/9', 'foo=1')).code, 128, 'unknown attribute');
  assert.equal((await wa('/3/0/9', 'pmin=abc')).code, 128);
  assert.equal((await wa('/3/7/9', 'pmin=1')).code, 132);
  assert.equal((await wa('/4', 'pmin=1')).code, 68, 'object level');
});

test('execute: arguments, Registration Update Trigger, refusals', async (t) => {
  const { server, clock } = await setup(t);
  const from = server.received.length;
  assert.equal((await server.request(Method.POST, '/1/0/8')).code, 68);
  clock.advance(0);
  await server.next(isUpdate, from);
  assert.equal((await server.request(Method.POST, '/3/0/12', { payload: "0='x',1" })).code, 68);
  assert.equal((await server.request(Method.POST, '/3/0/12', { payload: '0=x' })).code, 128, 'bad arguments');
  assert.equal((await server.request(Method.POST, '/3/0/0')).code, 133, 'not executable');
  assert.equal((await server.request(Method.POST, '/3/5/4')).code, 132, 'unknown instance');
  assert.equal((await server.request(Method.POST, '/3/0/99')).code, 132, 'unknown resource');
  assert.equal((await server.request(Method.POST, '/')).code, 133);
});

test('reboot: the device registers again from scratch', async (t) => {
  const { server, client, clock } = await setup(t);
  const from = server.received.length;
  const rebooted = new Promise((r) => client.once('registered', r));
  assert.equal((await server.request(Method.POST, '/3/0/4')).code, 68);
  clock.advance(0);
  await server.next((r) => r.path === '/rd', from);
  await rebooted;
  assert.deepEqual(client.registrationLocation, ['rd', 'r2']);
});

test('create and delete: chosen and given ids, Location-Path, refused objects, Update with object links', async (t) => {
  const { server, clock } = await setup(t);
  const tlvAcl = Uint8Array.of(0xc1, 0x00, 0x03, 0xc1, 0x01, 0x00, 0xc1, 0x03, 0x01);
  let from = server.received.length;
  const created = await server.request(Method.POST, '/2', { contentFormat: ContentFormat.TLV, payload: tlvAcl });
  assert.equal(created.code, 65);
  assert.equal(locationOf(created), '/2/6', 'the smallest free id (0..5 hold the client-made ACLs)');
  clock.advance(0);
  const upd = await server.next(isUpdate, from);
  assert.equal(upd.contentFormat, ContentFormat.CORE_LINK);
  assert.ok(upd.payload.toString().includes('</2/6>'));
  const senml = JSON.stringify([{ bn: '/2/20/', n: '0', v: 3 }, { n: '1', v: 0 }, { n: '3', v: 1 }]);
  const given = await server.request(Method.POST, '/2', { contentFormat: ContentFormat.SENML_JSON, payload: senml });
  assert.equal(locationOf(given), '/2/20');
  assert.equal((await server.request(Method.POST, '/2', { contentFormat: ContentFormat.SENML_JSON, payload: senml })).code, 128, 'id taken');
  assert.equal((await server.request(Method.POST, '/2', { contentFormat: ContentFormat.TLV, payload: Uint8Array.of(0xc1, 0x00, 0x03) })).code, 128, 'mandatory owner missing');
  assert.equal((await server.request(Method.POST, '/3', { contentFormat: ContentFormat.TLV, payload: tlvAcl })).code, 133, 'Device cannot be created');
  assert.equal((await server.request(Method.POST, '/42', { contentFormat: ContentFormat.TLV, payload: tlvAcl })).code, 132);
  from = server.received.length;
  assert.equal((await server.request(Method.DELETE, '/2/20')).code, 66);
  assert.equal((await server.request(Method.GET, '/2/20')).code, 132);
  clock.advance(0);
  assert.ok(!(await server.next(isUpdate, from)).payload.toString().includes('</2/20>'));
  assert.equal((await server.request(Method.DELETE, '/2/20')).code, 132);
  assert.equal((await server.request(Method.DELETE, '/3/0')).code, 133, 'Device instance');
  assert.equal((await server.request(Method.DELETE, '/1/0')).code, 133, 'Server instance');
  assert.equal((await server.request(Method.DELETE, '/0/0')).code, 129, 'Security instance');
  assert.equal((await server.request(Method.DELETE, '/3')).code, 133, 'object');
  assert.equal((await server.request(Method.DELETE, '/3/0/14')).code, 133, 'resource');
});

test('read-composite and write-composite', async (t) => {
  const { server } = await setup(t);
  const paths = JSON.stringify([{ n: '/3/0/0' }, { n: '/3/0/9' }, { n: '/4/0' }, { n: '/9/0' }]);
  const res = await server.request(Method.FETCH, '/', { contentFormat: ContentFormat.SENML_JSON, accept: ContentFormat.SENML_CBOR, payload: paths });
  assert.equal(res.code, 69);
  assert.equal(contentFormatOf(res), ContentFormat.SENML_CBOR);
  const nodes = compositeCodecFor(ContentFormat.SENML_CBOR)!.decodeNodes(res.payload, model);
  const names = nodes.map((n) => n.path.toString());
  assert.ok(names.includes('/3/0/0') && names.includes('/3/0/9') && names.some((n) => n.startsWith('/4/0/2')), names.join());
  const missing = JSON.stringify([{ n: '/9/0' }]);
  assert.equal((await server.request(Method.FETCH, '/', { contentFormat: ContentFormat.SENML_JSON, payload: missing })).code, 132);
  assert.equal((await server.request(Method.FETCH, '/', { contentFormat: ContentFormat.TLV, payload: missing })).code, 143);
  assert.equal((await server.request(Method.FETCH, '/', { contentFormat: ContentFormat.SENML_JSON, payload: '[{"n":"/0/0"}]' })).code, 129);
  assert.equal((await server.request(Method.FETCH, '/3/0', { contentFormat: ContentFormat.SENML_JSON, payload: missing })).code, 133);
  const values = JSON.stringify([{ n: '/3/0/14', vs: '+05:00' }, { n: '/3/0/15', vs: 'Asia/Kolkata' }]);
  assert.equal((await server.request(Method.iPATCH, '/', { contentFormat: ContentFormat.SENML_JSON, payload: values })).code, 68);
  assert.equal(value(await server.request(Method.GET, '/3/0/15'), '/3/0/15'), 'Asia/Kolkata');
  const partlyBad = JSON.stringify([{ n: '/3/0/14', vs: '+06:00' }, { n: '/3/0/0', vs: 'x' }]);
  assert.equal((await server.request(Method.iPATCH, '/', { contentFormat: ContentFormat.SENML_JSON, payload: partlyBad })).code, 133);
  assert.equal(value(await server.request(Method.GET, '/3/0/14'), '/3/0/14'), '+05:00', 'nothing written when one target is refused');
  assert.equal((await server.request(Method.iPATCH, '/', { contentFormat: ContentFormat.SENML_JSON, payload: '{' })).code, 128);
});

test('observe: pmin holds back, st filters, pmax repeats, gt/lt crossings, inheritance and Server defaults', async (t) => {
  const { server, client, clock } = await setup(t);
  const dev = device(client);
  const notes: CoapResponse[] = [];
  const flush = () => server.request(Method.GET, '/3/0/0');
  assert.equal((await server.request(Method.PUT, '/3/0/9', { query: ['pmin=10', 'pmax=60', 'st=5'] })).code, 68);
  const obs = await server.observe(Method.GET, '/3/0/9', { accept: ContentFormat.TEXT }, (n) => notes.push(n));
  assert.equal(obs.response.code, 69);
  assert.equal(text(obs.response), '100');
  dev.set(9, int(98));
  await flush();
  assert.equal(notes.length, 0, 'a change smaller than st is not notified');
  dev.set(9, int(94));
  await flush();
  assert.equal(notes.length, 0, 'held back until pmin');
  clock.advance(10_000);
  await until(() => notes.length === 1, 'notification at pmin');
  assert.equal(text(notes[0]!), '94');
  clock.advance(59_000);
  await flush();
  assert.equal(notes.length, 1);
  clock.advance(1_000);
  await until(() => notes.length === 2, 'notification at pmax');
  assert.equal(text(notes[1]!), '94');
  await obs.cancel(true);

  // gt/lt crossings on the signal strength; pmin inherited from the object level.
  const conn = (client.tree.enabler(4) as ConnectivityObject).connectivity;
  const rssi: CoapResponse[] = [];
  assert.equal((await server.request(Method.PUT, '/4/0/2', { query: ['lt=-90'] })).code, 68);
  const o2 = await server.observe(Method.GET, '/4/0/2', { accept: ContentFormat.TEXT }, (n) => rssi.push(n));
  conn.set(2, int(-80));
  await flush();
  assert.equal(rssi.length, 0, 'no crossing');
  conn.set(2, int(-95));
  await until(() => rssi.length === 1, 'crossing below lt');
  assert.equal(text(rssi[0]!), '-95');
  assert.equal((await server.request(Method.PUT, '/4', { query: ['pmin=5'] })).code, 68);
  conn.set(2, int(-85));
  await flush();
  assert.equal(rssi.length, 1, 'crossing back up waits for the inherited pmin');
  clock.advance(5_000);
  await until(() => rssi.length === 2, 'crossing back at pmin');
  assert.equal(text(rssi[1]!), '-85');
  await o2.cancel(true);

  // Server object default pmax (/1/0/3) applies when no level sets one.
  const loc: CoapResponse[] = [];
  assert.equal((await server.request(Method.PUT, '/1/0/3', { contentFormat: ContentFormat.TEXT, payload: '30' })).code, 68);
  const o3 = await server.observe(Method.GET, '/6/0/0', {}, (n) => loc.push(n));
  assert.equal(contentFormatOf(o3.response), ContentFormat.SENML_CBOR);
  clock.advance(30_000);
  await until(() => loc.length === 1, 'default pmax');
  assert.equal(contentFormatOf(loc[0]!), ContentFormat.SENML_CBOR);
  await o3.cancel(true);
  await flush();
  assert.equal(client.observations.size, 0, 'cancelled observations are dropped');
});

test('observe: instance-level observation, deleted target ends it with 4.04, refusals', async (t) => {
  const { server, client } = await setup(t);
  const notes: CoapResponse[] = [];
  const obs = await server.observe(Method.GET, '/2/1', { accept: ContentFormat.SENML_JSON }, (n) => notes.push(n));
  assert.equal(obs.response.code, 69);
  assert.equal((await server.request(Method.PUT, '/2/1/3', { contentFormat: ContentFormat.TEXT, payload: '5' })).code, 68);
  await until(() => notes.length === 1, 'notification of the written instance');
  assert.equal(notes[0]!.code, 69);
  assert.equal((await server.request(Method.DELETE, '/2/1')).code, 66);
  await until(() => notes.length === 2, 'error notification');
  assert.equal(notes[1]!.code, 132);
  assert.equal(client.observations.size, 0);
  const refused = await server.observe(Method.GET, '/3/0/4', {}, () => {});
  assert.equal(refused.response.code, 133);
  assert.equal((await server.observe(Method.GET, '/3/3', {}, () => {})).response.code, 132);
});

test('observe-composite: FETCH with Observe, notification carries every path', async (t) => {
  const { server, client } = await setup(t);
  const notes: CoapResponse[] = [];
  const paths = JSON.stringify([{ n: '/3/0/9' }, { n: '/4/0/2' }]);
  const obs = await server.observe(Method.FETCH, '/', { contentFormat: ContentFormat.SENML_JSON, payload: paths }, (n) => notes.push(n));
  assert.equal(obs.response.code, 69);
  assert.equal(contentFormatOf(obs.response), ContentFormat.SENML_JSON);
  device(client).set(9, int(50));
  await until(() => notes.length === 1, 'composite notification');
  const nodes = compositeCodecFor(ContentFormat.SENML_JSON)!.decodeNodes(notes[0]!.payload, model);
  const byPath = new Map(nodes.map((n) => [n.path.toString(), n.node]));
  const battery = byPath.get('/3/0/9');
  assert.ok(battery?.kind === 'singleResource' && Number(battery.value.value) === 50);
  assert.ok(byPath.has('/4/0/2'));
});

test('send: POST /dp with timestamped SenML CBOR', async (t) => {
  const wall = 1_700_000_000_000;
  const { server, client } = await setup(t, { wallClock: () => wall });
  const from = server.received.length;
  await client.send(['/3/0/9', P('/4/0/2')]);
  const dp = await server.next((r) => r.path === '/dp', from);
  assert.equal(dp.code, Method.POST);
  assert.equal(dp.contentFormat, ContentFormat.SENML_CBOR);
  const nodes = compositeCodecFor(ContentFormat.SENML_CBOR)!.decodeNodes(dp.payload, model);
  assert.deepEqual(nodes.map((n) => n.path.toString()), ['/3/0/9', '/4/0/2']);
  assert.equal(nodes[0]!.time?.getTime(), wall);
  server.override = (req) => (req.path[0] === 'dp' ? { code: 133 } : undefined);
  await assert.rejects(client.send(['/3/0/9']), { code: 133 });
  await assert.rejects(client.send(['/3/0/4']), { code: 133 }, 'an executable has no value to send');
});

test('firmware update over the wire: pull, install, illegal transitions, bad URI, push', async (t) => {
  const { server, client, clock } = await setup(t);
  const state = async () => value(await server.request(Method.GET, '/5/0/3', { accept: ContentFormat.TEXT }), '/5/0/3');
  const result = async () => value(await server.request(Method.GET, '/5/0/5', { accept: ContentFormat.TEXT }), '/5/0/5');
  const putText = (path: string, payload: string) => server.request(Method.PUT, path, { contentFormat: ContentFormat.TEXT, payload });
  const states: unknown[] = [];
  await server.observe(Method.GET, '/5/0/3', { accept: ContentFormat.TEXT }, (n) => states.push(Number(text(n))));

  assert.equal((await server.request(Method.POST, '/5/0/2')).code, 133, 'Update in Idle');
  assert.equal((await putText('/5/0/1', 'coap://fw.example/pkg/2.1.0')).code, 68);
  assert.equal(await state(), 1);
  assert.equal((await putText('/5/0/1', 'coap://fw.example/other')).code, 128, 'new URI while downloading');
  assert.equal((await server.request(Method.POST, '/5/0/2')).code, 133, 'Update while downloading');
  clock.advance(100);
  await until(() => states.includes(2), 'Downloaded');
  assert.equal(value(await server.request(Method.GET, '/5/0/7'), '/5/0/7'), '2.1.0');
  assert.equal((await server.request(Method.POST, '/5/0/2')).code, 68);
  assert.equal(await state(), 3);
  assert.equal((await putText('/5/0/1', '')).code, 128, 'reset while updating');
  clock.advance(100);
  await until(() => states.includes(0) && states.length >= 4, 'Idle after install');
  assert.equal(await result(), 1);
  assert.equal(value(await server.request(Method.GET, '/3/0/3'), '/3/0/3'), '2.1.0', 'the Device object shows the new firmware');

  assert.equal((await putText('/5/0/1', 'not a uri')).code, 68, 'the write succeeds; the result tells');
  await until(() => states.length >= 6, 'back to Idle');
  assert.equal(await state(), 0);
  assert.equal(await result(), 7);
  assert.equal((await putText('/5/0/1', 'ftp://fw.example/x')).code, 68);
  await until(() => states.length >= 8, 'unsupported protocol');
  assert.equal(await result(), 9);
  assert.equal((await putText('/5/0/1', 'coap://fw.example/fail-download')).code, 68);
  clock.advance(100);
  await until(() => states.length >= 10, 'connection lost');
  assert.equal(await result(), 4);

  const pkg = simulatedPackage('fw', '3.0.0-fail', 4096);
  assert.equal((await server.request(Method.PUT, '/5/0/0', { contentFormat: ContentFormat.OPAQUE, payload: pkg })).code, 68);
  await until(() => states.at(-1) === 2, 'pushed package Downloaded');
  assert.equal((await server.request(Method.POST, '/5/0/2')).code, 68);
  clock.advance(100);
  await until(() => states.at(-1) === 2 && states.length >= 14, 'failed install back to Downloaded');
  assert.equal(await result(), 8);
  assert.equal((await server.request(Method.PUT, '/5/0/0', { contentFormat: ContentFormat.OPAQUE, payload: new Uint8Array(0) })).code, 68);
  assert.equal(await state(), 0);
  assert.equal(await result(), 0);
  assert.equal((await server.request(Method.PUT, '/5/0/0', { contentFormat: ContentFormat.OPAQUE, payload: Buffer.from('garbage') })).code, 68);
  await until(() => states.length >= 17, 'unsupported package');
  assert.equal(await result(), 6);
  assert.equal(client.isRegistered, true);
});

test('queue mode: Q in Register, sleeps after the awake time, drops requests, wakes with an Update', async (t) => {
  const { server, client, clock } = await setup(t, { queueMode: true, queueModeAwakeTime: 1000 });
  const reg = await server.next((r) => r.path === '/rd');
  assert.deepEqual(reg.query, ['ep=dev1', 'lt=300', 'lwm2m=1.1', 'b=U', 'Q']);
  assert.equal((await server.request(Method.GET, '/3/0/0')).code, 69, 'awake after registering');
  const slept = new Promise((r) => client.once('sleeping', r));
  clock.advance(1000);
  await slept;
  assert.equal(client.isSleeping, true);
  await assert.rejects(
    server.endpoint.request(server.client!, { code: Method.GET, options: [] }, { timeout: 150 }),
    { code: 'TIMEOUT' },
    'requests are not answered while sleeping',
  );
  const from = server.received.length;
  const awake = new Promise((r) => client.once('awake', r));
  await client.update();
  await awake;
  assert.equal((await server.next(isUpdate, from)).path, '/rd/r1');
  assert.equal((await server.request(Method.GET, '/3/0/0')).code, 69, 'answered again after the Update');
  // A notification due while asleep wakes the client, which announces itself with an Update first.
  const notes: CoapResponse[] = [];
  await server.observe(Method.GET, '/3/0/9', { accept: ContentFormat.TEXT }, (n) => notes.push(n));
  clock.advance(1000);
  assert.equal(client.isSleeping, true);
  const from2 = server.received.length;
  device(client).set(9, int(42));
  await until(() => notes.length === 1, 'notification after waking');
  await server.next(isUpdate, from2);
  assert.equal(client.isSleeping, false);
});
