/**
 * The Warden client over CoAPs against the Warden server on UDP loopback: PSK, RPK and X.509 (certificate usages
 * 0-3) taken from its Security object, Connection ID across a NAT rebinding, identity bound to the endpoint name,
 * and recovery when the server loses the association.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lwm2mClient, type ClientSecurity, type Lwm2mClientOptions } from '../src/client/index.js';
import { securityAuthorizer } from '../src/cli/authorizer.js';
import { DtlsAlert, DtlsServer, type HandshakeEvent } from '../src/dtls/index.js';
import { createRawPublicKeyVerifier, spkiOf } from '../src/dtls/rpk.js';
import { createTestPki, newP256Key } from '../src/dtls/test-pki.js';
import { createCertificateVerifier } from '../src/dtls/x509.js';
import { Lwm2mError } from '../src/lwm2m/index.js';
import { Lwm2mPath } from '../src/lwm2m/path.js';
import type { Notification } from '../src/server/index.js';
import { SecretBox, SecurityStore } from '../src/store/index.js';
import { once, startTestServer, until, type TestServer } from './helpers.js';

const p = (s: string) => Lwm2mPath.parse(s);
const pki = createTestPki();
const serverKey: KeyObject = newP256Key().privateKey;
const PSK = new Uint8Array(Buffer.from('0123456789abcdef0123456789abcdef', 'hex'));

interface SecureServer {
  ts: TestServer;
  security: SecurityStore;
  dtls: DtlsServer;
  port: number;
  handshakes: HandshakeEvent[];
  uri: string;
}

/** A Warden server with CoAPs on loopback: every mode on, the security store on the test's SQLite file. */
async function startSecureServer(opts: { dir?: string; port?: number; boxKey?: Uint8Array; maxSessions?: number } = {}): Promise<SecureServer & { boxKey: Uint8Array }> {
  const boxKey = opts.boxKey ?? randomBytes(32);
  let security!: SecurityStore;
  const handshakes: HandshakeEvent[] = [];
  const dtls = await DtlsServer.bind(opts.port ?? 0, '127.0.0.1', {
    pskLookup: (id) => security.pskLookup()(id),
    verifyRawPublicKey: createRawPublicKeyVerifier((spki) => security.rawPublicKeyLookup()(spki)),
    verifyCertificate: createCertificateVerifier({ trustAnchors: [pki.root.cert] }),
    certificate: { chain: pki.server.chain, privateKey: pki.server.key },
    rawPublicKey: { privateKey: serverKey },
    retransmitInitial: 200,
    ...(opts.maxSessions !== undefined ? { maxSessions: opts.maxSessions } : {}),
    onHandshake: (e) => handshakes.push(e),
  });
  const ts = await startTestServer({
    ...(opts.dir ? { dir: opts.dir } : {}),
    secureTransport: dtls,
    authorize: (ep, id) => securityAuthorizer(security)(ep, id),
  });
  security = new SecurityStore(ts.store, SecretBox.fromKey(boxKey));
  const port = dtls.address().port;
  return { ts, security, dtls, port, handshakes, uri: `coaps://127.0.0.1:${port}`, boxKey };
}

async function secureServer(t: TestContext): Promise<SecureServer> {
  const s = await startSecureServer();
  t.after(() => s.ts.close());
  return s;
}

function newClient(t: TestContext, s: { uri: string }, endpoint: string, security: ClientSecurity, extra: Partial<Lwm2mClientOptions> = {}): Lwm2mClient {
  const client = new Lwm2mClient({
    endpoint,
    serverUri: s.uri,
    security,
    lifetime: 300,
    valueUpdateInterval: 0,
    retry: { initialDelay: 60_000 },
    requestTimeout: 3000,
    dtls: { retransmitInitial: 200 },
    ...extra,
  });
  t.after(() => client.stop({ deregister: false }));
  return client;
}

/** Starts a client that must fail: resolves with the first 'registration-failed' error. */
async function failedStart(client: Lwm2mClient): Promise<unknown> {
  const failed = once<unknown>(client, 'registration-failed');
  client.start().catch(() => {}); // rejected by stop()
  const err = await failed;
  await client.stop({ deregister: false });
  return err;
}

const pskOf = (identity: string): ClientSecurity => ({ mode: 'psk', identity, key: PSK });

test('PSK: register, read, write and observe over DTLS with a Connection ID; the secret key stays unreadable', async (t) => {
  const s = await secureServer(t);
  s.security.add({ endpoint: 'psk-dev', mode: 'psk', pskIdentity: 'psk-id', pskKey: PSK });
  const client = newClient(t, s, 'psk-dev', pskOf('psk-id'));
  const registered = once(s.ts.server, 'registered');
  await client.start();
  await registered;

  const reg = s.ts.server.getRegistration('psk-dev');
  assert.ok(reg);
  assert.equal(reg.secure, true);
  assert.deepEqual(reg.identity, { mode: 'psk', name: 'psk-id' });
  assert.equal(s.handshakes.length, 1);
  assert.ok(client.dtls?.connectionId, 'a Connection ID was negotiated');
  assert.ok(s.dtls.sessions()[0]?.connectionId, 'the server knows the CID');

  const manufacturer = await s.ts.server.read('psk-dev', p('/3/0/0'));
  assert.equal(manufacturer.code, 69);
  assert.equal(manufacturer.content?.kind, 'singleResource');
  const w = await s.ts.server.write('psk-dev', p('/3/0/14'), { kind: 'singleResource', id: 14, value: { type: 'string', value: '+01:00' } });
  assert.equal(w.code, 68);
  const obs = await s.ts.server.observe('psk-dev', p('/3/0/14'));
  assert.equal(obs.code, 69);
  const notified = once<Notification>(s.ts.server, 'notification');
  await s.ts.server.write('psk-dev', p('/3/0/14'), { kind: 'singleResource', id: 14, value: { type: 'string', value: '+02:00' } });
  const n = await notified;
  assert.equal(n.content?.kind, 'singleResource');
  assert.deepEqual(n.content.kind === 'singleResource' && n.content.value, { type: 'string', value: '+02:00' });

  // Core §7.1: the Security object (and the key in /0/0/5) is reserved to the Bootstrap-Server.
  assert.equal((await s.ts.server.read('psk-dev', p('/0/0/5'))).code, 129);
  assert.equal((await s.ts.server.read('psk-dev', p('/0'))).code, 129);

  const deregistered = once(s.ts.server, 'deregistered');
  await client.stop();
  await deregistered;
  assert.equal(s.ts.server.getRegistration('psk-dev'), undefined);
});

test('stop sends close_notify: the server ends the association', async (t) => {
  const s = await secureServer(t);
  s.security.add({ endpoint: 'bye-dev', mode: 'psk', pskIdentity: 'bye-id', pskKey: PSK });
  const client = newClient(t, s, 'bye-dev', pskOf('bye-id'));
  await client.start();
  assert.equal(s.dtls.sessions().length, 1);
  await client.stop();
  // The close_notify datagram must leave before the socket closes (RFC 5246 §7.2.1).
  await until(() => s.dtls.sessions().length === 0, 2000, 'close_notify ends the server-side association');
});

test('RPK both directions: the server knows the device key, the device pins the server key', async (t) => {
  const s = await secureServer(t);
  const deviceKey = newP256Key().privateKey;
  s.security.add({ endpoint: 'rpk-dev', mode: 'rpk', rpkPublicKey: spkiOf(deviceKey) });
  const client = newClient(t, s, 'rpk-dev', { mode: 'rpk', privateKey: deviceKey, serverPublicKey: spkiOf(serverKey) });
  await client.start();
  const reg = s.ts.server.getRegistration('rpk-dev');
  assert.deepEqual(reg?.identity, { mode: 'rpk', name: 'rpk-dev' });
  assert.deepEqual(client.dtls?.peerIdentity, { mode: 'rpk', name: '127.0.0.1' });
  assert.match(client.dtls?.cipherSuite ?? '', /ECDHE_ECDSA/);
  assert.equal((await s.ts.server.read('rpk-dev', p('/3/0/0'))).code, 69);

  // A device pinning another server key refuses this server.
  const other = newClient(t, s, 'rpk-dev', { mode: 'rpk', privateKey: deviceKey, serverPublicKey: spkiOf(newP256Key().privateKey) });
  const err = await failedStart(other);
  assert.ok(err instanceof DtlsAlert, `a DtlsAlert, got ${String(err)}`);
  assert.equal(err.code, 'bad_certificate');
  // An unknown device key is refused by the server.
  const stranger = newClient(t, s, 'rpk-dev', { mode: 'rpk', privateKey: newP256Key().privateKey, serverPublicKey: spkiOf(serverKey) });
  assert.ok((await failedStart(stranger)) instanceof DtlsAlert);
  assert.equal(s.handshakes.length, 1, 'no other handshake completed');
});

test('X.509 with certificate usage 3: the server certificate is pinned', async (t) => {
  const s = await secureServer(t);
  s.security.add({ endpoint: 'dev1', mode: 'x509', x509: true });
  const x509 = { mode: 'x509', certificateChain: pki.client.chain, privateKey: pki.client.key } as const;
  const client = newClient(t, s, 'dev1', { ...x509, serverCertificate: pki.server.cert });
  await client.start();
  assert.deepEqual(s.ts.server.getRegistration('dev1')?.identity, { mode: 'x509', name: 'dev1' });
  assert.equal(client.dtls?.peerIdentity?.mode, 'x509');
  assert.equal((await s.ts.server.read('dev1', p('/3/0/0'))).code, 69);
  await client.stop({ deregister: true });

  const wrongPin = newClient(t, s, 'dev1', { ...x509, serverCertificate: pki.client2.cert });
  const err = await failedStart(wrongPin);
  assert.ok(err instanceof DtlsAlert);
  assert.equal(err.code, 'bad_certificate');
  assert.equal(s.ts.server.getRegistration('dev1'), undefined);
});

test('X.509 with certificate usages 0, 1 and 2 (PKIX against the trust store or the provisioned anchor)', async (t) => {
  const s = await secureServer(t);
  s.security.add({ endpoint: 'dev1', mode: 'x509', x509: true });
  const x509 = { mode: 'x509', certificateChain: pki.client.chain, privateKey: pki.client.key } as const;
  const good: [0 | 1 | 2, Uint8Array, Uint8Array[] | undefined][] = [
    [0, pki.intermediate.cert, [pki.root.cert]], // CA constraint: the intermediate is in the validated path
    [1, pki.server.cert, [pki.root.cert]], // service certificate constraint
    [2, pki.root.cert, undefined], // trust anchor assertion
  ];
  for (const [usage, serverCertificate, trustAnchors] of good) {
    const client = newClient(t, s, 'dev1', { ...x509, certificateUsage: usage, serverCertificate, ...(trustAnchors ? { trustAnchors } : {}) });
    const registered = once(s.ts.server, 'registered');
    await client.start();
    await registered;
    assert.equal((await s.ts.server.read('dev1', p('/3/0/0'))).code, 69, `usage ${usage}`);
    await client.stop();
  }
  // Usage 2 with another anchor, usage 0 with a CA outside the path: refused.
  const otherAnchor = newClient(t, s, 'dev1', { ...x509, certificateUsage: 2, serverCertificate: pki.otherRoot.cert });
  assert.ok((await failedStart(otherAnchor)) instanceof DtlsAlert);
  const otherCa = newClient(t, s, 'dev1', { ...x509, certificateUsage: 0, serverCertificate: pki.otherRoot.cert, trustAnchors: [pki.root.cert] });
  assert.ok((await failedStart(otherCa)) instanceof DtlsAlert);
  // Usage 1 needs a trust store: a configuration error at start.
  const noStore = newClient(t, s, 'dev1', { ...x509, certificateUsage: 1, serverCertificate: pki.server.cert });
  await assert.rejects(noStore.start(), /trust anchors/);
  assert.equal(s.handshakes.length, 3);
});

test('a wrong PSK fails the handshake: registration-failed with a DtlsAlert, nothing registered', async (t) => {
  const s = await secureServer(t);
  s.security.add({ endpoint: 'psk-dev', mode: 'psk', pskIdentity: 'psk-id', pskKey: PSK });
  const client = newClient(t, s, 'psk-dev', { mode: 'psk', identity: 'psk-id', key: new Uint8Array(16).fill(7) });
  const err = await failedStart(client);
  assert.ok(err instanceof DtlsAlert, `a DtlsAlert, got ${String(err)}`);
  assert.equal(s.ts.server.getRegistration('psk-dev'), undefined);
  assert.equal(s.handshakes.length, 0);
});

test('a device authenticated as A registering as B gets 4.03', async (t) => {
  const s = await secureServer(t);
  s.security.add({ endpoint: 'dev-a', mode: 'psk', pskIdentity: 'id-a', pskKey: PSK });
  s.security.add({ endpoint: 'dev-b', mode: 'psk', pskIdentity: 'id-b', pskKey: new Uint8Array(16).fill(9) });
  const client = newClient(t, s, 'dev-b', pskOf('id-a'));
  const err = await failedStart(client);
  assert.ok(err instanceof Lwm2mError, `an Lwm2mError, got ${String(err)}`);
  assert.equal(err.code, 131);
  assert.equal(s.handshakes.length, 1, 'the handshake itself succeeded');
  assert.equal(s.ts.server.getRegistration('dev-b'), undefined);
  assert.equal(s.ts.server.getRegistration('dev-a'), undefined);
});

test('NAT rebinding: a new source port keeps the session (CID) and the registration, with no new handshake', async (t) => {
  const s = await secureServer(t);
  s.security.add({ endpoint: 'nat-dev', mode: 'psk', pskIdentity: 'nat-id', pskKey: PSK });
  const client = newClient(t, s, 'nat-dev', pskOf('nat-id'));
  await client.start();
  const before = client.localAddress!.port;
  const registrationId = s.ts.server.getRegistration('nat-dev')!.registrationId;
  const updated = once(s.ts.server, 'updated');
  await client.rebind();
  await updated;
  const after = client.localAddress!.port;
  assert.notEqual(after, before);
  const reg = s.ts.server.getRegistration('nat-dev')!;
  assert.equal(reg.registrationId, registrationId, 'the same registration');
  assert.equal(reg.port, after, 'the server follows the new address');
  assert.equal((await s.ts.server.read('nat-dev', p('/3/0/0'))).code, 69);
  assert.equal(s.handshakes.length, 1, 'no new handshake');
  assert.equal(s.dtls.sessions().length, 1);
  assert.equal(s.dtls.sessions()[0]!.peer.port, after);
});

test('without a Connection ID the client still works (--no-cid)', async (t) => {
  const s = await secureServer(t);
  s.security.add({ endpoint: 'nocid', mode: 'psk', pskIdentity: 'nocid-id', pskKey: PSK });
  const client = newClient(t, s, 'nocid', pskOf('nocid-id'), { connectionId: false });
  await client.start();
  assert.equal(client.dtls?.connectionId, undefined);
  assert.equal(s.dtls.sessions()[0]?.connectionId, undefined);
  assert.equal((await s.ts.server.read('nocid', p('/3/0/0'))).code, 69);
});

test('the server restarts without its sessions: no answers, so the client handshakes and registers again', async (t) => {
  let s = await startSecureServer();
  const { dir, port, boxKey } = { dir: s.ts.dir, port: s.port, boxKey: s.boxKey };
  t.after(() => s.ts.close());
  s.security.add({ endpoint: 'rs-dev', mode: 'psk', pskIdentity: 'rs-id', pskKey: PSK });
  const client = newClient(t, s, 'rs-dev', pskOf('rs-id'), { requestTimeout: 1000, coap: { ackTimeout: 300 } });
  await client.start();

  await s.dtls.close({ notify: false });
  await s.ts.stop();
  s = await startSecureServer({ dir, port, boxKey });
  assert.ok(s.security.get('rs-dev'), 'the security info survived the restart');
  const registered = once(s.ts.server, 'registered');
  // The new server drops records with the old CID: this Update times out, and the client starts over.
  const update = client.update().then(() => 'answered', () => 'failed');
  await registered;
  assert.equal(await update, 'failed');
  assert.equal(s.handshakes.length, 1, 'one new handshake');
  await until(() => client.isRegistered, 2000, 'client registered again');
  assert.equal((await s.ts.server.read('rs-dev', p('/3/0/0'))).code, 69);
});

test('the server ends the association (close_notify): the client handshakes and registers again at its next send', async (t) => {
  const s = await startSecureServer({ maxSessions: 1 });
  t.after(() => s.ts.close());
  s.security.add({ endpoint: 'dev-a', mode: 'psk', pskIdentity: 'id-a', pskKey: PSK });
  s.security.add({ endpoint: 'dev-b', mode: 'psk', pskIdentity: 'id-b', pskKey: PSK });
  // A long request timeout: recovering within the test means the client did not wait for one.
  const a = newClient(t, s, 'dev-a', pskOf('id-a'), { requestTimeout: 60_000 });
  await a.start();
  const b = newClient(t, s, 'dev-b', pskOf('id-b'));
  await b.start(); // maxSessions 1: the server closes A's association with close_notify
  await until(() => a.dtls?.established === false, 2000, "A's association closed by the server");
  const registered = once<{ endpoint: string }>(s.ts.server, 'registered');
  void a.update().catch(() => {});
  assert.equal((await registered).endpoint, 'dev-a');
  await until(() => a.isRegistered && a.dtls?.established === true, 2000, 'A registered again');
  assert.equal(s.handshakes.length, 3);
  assert.equal((await s.ts.server.read('dev-a', p('/3/0/0'))).code, 69);
});

test('configuration errors: coap:// with credentials, coaps:// with NoSec, coaps:// with a given transport', async () => {
  assert.throws(() => new Lwm2mClient({ endpoint: 'x', serverUri: 'coap://127.0.0.1:5683', security: pskOf('x') }), /coap:\/\/.*PSK.*coaps:\/\//);
  assert.throws(() => new Lwm2mClient({ endpoint: 'x', serverUri: 'coaps://127.0.0.1:5684' }), /coaps:\/\/.*NoSec/);
  assert.throws(() => new Lwm2mClient({ endpoint: 'x', serverUri: 'coaps://127.0.0.1:5684', security: { mode: 'nosec' } }), /NoSec/);
  const { UdpTransport } = await import('../src/coap/index.js');
  const transport = await UdpTransport.bind(0, '127.0.0.1');
  try {
    const c = new Lwm2mClient({ endpoint: 'x', serverUri: 'coaps://127.0.0.1:5684', security: pskOf('x'), transport });
    await assert.rejects(c.start(), /transport/);
  } finally {
    await transport.close();
  }
});

const MAIN = new URL('../src/cli/main.js', import.meta.url).pathname;

/** Resolves when `child` prints a stdout line containing `text`. */
function printed(child: ChildProcess, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`"${text}" not printed; output:\n${out}`)), 15_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString('utf8');
      if (out.includes(text)) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

function exitOf(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

test('warden client: PSK with the key from stdin, RPK from PEM files; a coap:// URI with credentials is refused', async (t) => {
  const s = await secureServer(t);
  const files = mkdtempSync(join(tmpdir(), 'warden-client-dtls-'));
  const children: ChildProcess[] = [];
  t.after(() => {
    for (const c of children) c.kill('SIGKILL');
    rmSync(files, { recursive: true, force: true });
  });
  s.security.add({ endpoint: 'cli-psk', mode: 'psk', pskIdentity: 'cli-id', pskKey: PSK });
  let registered = once<{ endpoint: string }>(s.ts.server, 'registered', 15_000);
  const psk = spawn(process.execPath, [MAIN, 'client', '--endpoint', 'cli-psk', '--server', s.uri, '--psk-identity', 'cli-id', '--psk-key', '-'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  children.push(psk);
  const pskUp = printed(psk, 'client registered');
  psk.stdin!.end(Buffer.from(PSK).toString('hex') + '\n');
  assert.equal((await registered).endpoint, 'cli-psk');
  await pskUp;
  assert.deepEqual(s.ts.server.getRegistration('cli-psk')?.identity, { mode: 'psk', name: 'cli-id' });
  const deregistered = once(s.ts.server, 'deregistered', 15_000);
  psk.kill('SIGTERM');
  assert.equal(await exitOf(psk), 0);
  await deregistered;

  const deviceKey = newP256Key().privateKey;
  s.security.add({ endpoint: 'cli-rpk', mode: 'rpk', rpkPublicKey: spkiOf(deviceKey) });
  writeFileSync(join(files, 'device.pem'), deviceKey.export({ format: 'pem', type: 'pkcs8' }));
  writeFileSync(join(files, 'server.pub.der'), spkiOf(serverKey));
  registered = once<{ endpoint: string }>(s.ts.server, 'registered', 15_000);
  const rpk = spawn(process.execPath, [MAIN, 'client', '--endpoint', 'cli-rpk', '--server', s.uri, '--rpk-key', join(files, 'device.pem'),
    '--server-public-key', join(files, 'server.pub.der'), '--no-cid'], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(rpk);
  const rpkUp = printed(rpk, 'client registered');
  assert.equal((await registered).endpoint, 'cli-rpk');
  await rpkUp;
  assert.equal(s.dtls.sessions().find((x) => x.identity?.name === 'cli-rpk')?.connectionId, undefined, '--no-cid');
  rpk.kill('SIGTERM');
  assert.equal(await exitOf(rpk), 0);

  const bad = spawnSync(process.execPath, [MAIN, 'client', '--endpoint', 'x', '--server', 'coap://127.0.0.1:5683', '--psk-identity', 'x', '--psk-key', '00112233'], {
    encoding: 'utf8', timeout: 15_000,
  });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /warden: server URI coap:\/\/127\.0\.0\.1:5683 is plain coap:\/\/ but the Security Mode is PSK/);
});
