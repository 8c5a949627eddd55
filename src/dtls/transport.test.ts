import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { DtlsAlert } from './alert.js';
import { DtlsClient, type DtlsClientOptions } from './client.js';
import { DtlsServer, type DtlsServerOptions, type HandshakeEvent } from './server.js';
import { createTestPki, pinnedCertificateVerifier, pinnedRawKeyVerifier, rawKeyPair, type TestLeaf, type TestPki } from './test-certs.js';
import { UdpProxy } from './test-proxy.js';
import { CipherSuite } from './types.js';

const KEY = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
const lookup = (id: string) => (id === 'dev1' ? KEY : undefined);
const ALL = Object.values(CipherSuite);

async function echoServer(opts: DtlsServerOptions): Promise<{ server: DtlsServer; port: number; events: HandshakeEvent[] }> {
  const events: HandshakeEvent[] = [];
  const server = await DtlsServer.bind(0, '127.0.0.1', { retransmitInitial: 200, ...opts, onHandshake: (e) => events.push(e) });
  server.onDatagram((d, peer, identity) => server.send(Buffer.concat([Buffer.from(`${identity?.mode}:${identity?.name}:`), d]), peer));
  return { server, port: server.address().port, events };
}

/** Sends `text` and waits for the answer (a guard rejects instead of hanging if none comes). */
function roundTrip(client: DtlsClient, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const guard = setTimeout(() => reject(new Error(`no answer to ${text}`)), 10_000);
    client.onDatagram((d) => {
      clearTimeout(guard);
      resolve(Buffer.from(d).toString());
    });
    client.send(Buffer.from(text));
  });
}

const connect = (port: number, opts: DtlsClientOptions) => DtlsClient.connect({ address: '127.0.0.1', port }, { retransmitInitial: 200, ...opts });

describe('DtlsServer and DtlsClient over UDP loopback', () => {
  let pki: TestPki;
  let srv: TestLeaf;
  let dev: TestLeaf;
  before(() => {
    pki = createTestPki();
    srv = pki.leaf('server');
    dev = pki.leaf('dev1');
  });
  after(() => pki.cleanup());

  for (const [name, suite] of [
    ['PSK CCM_8', CipherSuite.TLS_PSK_WITH_AES_128_CCM_8],
    ['PSK GCM', CipherSuite.TLS_PSK_WITH_AES_128_GCM_SHA256],
    ['ECDHE_PSK CBC', CipherSuite.TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256],
    ['PSK CBC (opt-in)', CipherSuite.TLS_PSK_WITH_AES_128_CBC_SHA256],
  ] as const) {
    it(`${name}: handshake and application data both ways`, async () => {
      const { server, port, events } = await echoServer({ pskLookup: lookup, cipherSuites: ALL });
      const client = await connect(port, { psk: { identity: 'dev1', key: KEY }, cipherSuites: [suite] });
      assert.equal(await roundTrip(client, 'hello'), 'psk:dev1:hello');
      assert.equal(await roundTrip(client, 'again'), 'psk:dev1:again');
      assert.equal(events[0]!.suite, client.cipherSuite);
      assert.equal(client.cipherSuite!.replace(/_/g, ''), Object.entries(CipherSuite).find(([, v]) => v === suite)![0].replace(/_/g, ''));
      assert.deepEqual(events[0]!.identity, { mode: 'psk', name: 'dev1' });
      await client.close();
      await server.close();
    });
  }

  it('PSK with an identity hint (ServerKeyExchange present)', async () => {
    const { server, port } = await echoServer({ pskLookup: lookup, pskIdentityHint: 'warden' });
    const client = await connect(port, { psk: { identity: 'dev1', key: KEY } });
    assert.equal(await roundTrip(client, 'h'), 'psk:dev1:h');
    await client.close();
    await server.close();
  });

  it('the CBC suites are off unless listed', async () => {
    const failures: string[] = [];
    const { server, port } = await echoServer({ pskLookup: lookup, onHandshakeFailure: (e) => failures.push(e.alert.message) });
    await assert.rejects(connect(port, { psk: { identity: 'dev1', key: KEY }, cipherSuites: [CipherSuite.TLS_PSK_WITH_AES_128_CBC_SHA256] }), (e: unknown) => e instanceof DtlsAlert && e.code === 'handshake_failure');
    await server.close();
  });

  for (const suite of [CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8, CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]) {
    it(`ECDHE_ECDSA 0x${suite.toString(16)} with X.509 certificates both ways`, async () => {
      const { server, port, events } = await echoServer({ certificate: srv, verifyCertificate: pinnedCertificateVerifier([dev.chain[0]!]) });
      const client = await connect(port, { certificate: dev, verifyCertificate: pinnedCertificateVerifier([srv.chain[0]!]), cipherSuites: [suite], serverName: 'server' });
      assert.deepEqual(client.peerIdentity, { mode: 'x509', name: 'server' });
      assert.equal(await roundTrip(client, 'x'), 'x509:dev1:x');
      assert.deepEqual(events[0]!.identity, { mode: 'x509', name: 'dev1' });
      await client.close();
      await server.close();
    });
  }

  it('ECDHE_ECDSA with raw public keys both ways (RFC 7250)', async () => {
    const sk = rawKeyPair();
    const ck = rawKeyPair();
    const { server, port } = await echoServer({ rawPublicKey: sk, verifyRawPublicKey: pinnedRawKeyVerifier(new Map([['rpk-dev', ck.spki]])) });
    const client = await connect(port, { rawPublicKey: ck, verifyRawPublicKey: pinnedRawKeyVerifier(new Map([['rpk-server', sk.spki]])) });
    assert.deepEqual(client.peerIdentity, { mode: 'rpk', name: 'rpk-server' });
    assert.equal(await roundTrip(client, 'k'), 'rpk:rpk-dev:k');
    await client.close();
    await server.close();
  });

  it('a server with both credentials serves PSK, X.509 and RPK clients at once', async () => {
    const sk = rawKeyPair();
    const ck = rawKeyPair();
    const { server, port } = await echoServer({
      pskLookup: lookup,
      certificate: srv,
      rawPublicKey: sk,
      verifyCertificate: pinnedCertificateVerifier([dev.chain[0]!]),
      verifyRawPublicKey: pinnedRawKeyVerifier(new Map([['rpk-dev', ck.spki]])),
    });
    const clients = await Promise.all([
      connect(port, { psk: { identity: 'dev1', key: KEY } }),
      connect(port, { certificate: dev, verifyCertificate: pinnedCertificateVerifier([srv.chain[0]!]) }),
      connect(port, { rawPublicKey: ck, verifyRawPublicKey: pinnedRawKeyVerifier(new Map([['s', sk.spki]])) }),
      ...Array.from({ length: 8 }, () => connect(port, { psk: { identity: 'dev1', key: KEY } })),
    ]);
    const replies = await Promise.all(clients.map((c, i) => roundTrip(c, String(i))));
    assert.deepEqual(replies.slice(0, 3), ['psk:dev1:0', 'x509:dev1:1', 'rpk:rpk-dev:2']);
    assert.equal(server.stats().associations, 11);
    assert.equal(server.stats().handshakes, 0);
    await Promise.all(clients.map((c) => c.close()));
    await server.close();
  });

  it('Connection ID: a client whose address changes keeps its association (RFC 9146)', async () => {
    const { server, port, events } = await echoServer({ pskLookup: lookup });
    const peers: number[] = [];
    server.onDatagram((d, peer, identity) => {
      peers.push(peer.port);
      server.send(Buffer.concat([Buffer.from(`${identity?.name}:`), d]), peer);
    });
    const client = await connect(port, { psk: { identity: 'dev1', key: KEY }, connectionId: true });
    assert.equal(client.connectionId?.length, 6);
    assert.equal(await roundTrip(client, 'before'), 'dev1:before');
    const oldPort = client.localAddress().port;
    await client.rebind();
    assert.notEqual(client.localAddress().port, oldPort);
    assert.equal(await roundTrip(client, 'after'), 'dev1:after');
    assert.deepEqual(peers, [oldPort, client.localAddress().port]);
    assert.equal(events.length, 1, 'no new handshake');
    assert.equal(server.sessions()[0]!.peer.port, client.localAddress().port);
    assert.equal(server.stats().associations, 1);
    await client.close();
    await server.close();
  });

  it('without a CID a rebound client is a stranger', async () => {
    const { server, port } = await echoServer({ pskLookup: lookup, connectionIdLength: 0 });
    const client = await connect(port, { psk: { identity: 'dev1', key: KEY }, connectionId: true });
    assert.equal(client.connectionId, undefined);
    await client.rebind();
    let got = false;
    client.onDatagram(() => (got = true));
    client.send(Buffer.from('lost'));
    const probe = await connect(port, { psk: { identity: 'dev1', key: KEY } });
    assert.equal(await roundTrip(probe, 'p'), 'psk:dev1:p');
    assert.equal(got, false);
    await Promise.all([client.close(), probe.close()]);
    await server.close();
  });

  it('resumes a session by session ID (abbreviated handshake)', async () => {
    const { server, port, events } = await echoServer({ pskLookup: lookup });
    const first = await connect(port, { psk: { identity: 'dev1', key: KEY } });
    const session = first.session();
    assert.ok(session);
    await first.close();
    const second = await connect(port, { psk: { identity: 'dev1', key: KEY }, session });
    assert.equal(second.resumed, true);
    assert.equal(await roundTrip(second, 'r'), 'psk:dev1:r');
    assert.deepEqual(events.map((e) => e.resumed), [false, true]);
    assert.deepEqual(events[1]!.identity, { mode: 'psk', name: 'dev1' });
    await second.close();
    const third = await connect(port, { psk: { identity: 'dev1', key: KEY }, session: { ...session!, id: new Uint8Array(32).fill(1) } });
    assert.equal(third.resumed, false, 'an unknown session ID gets a full handshake');
    await third.close();
    await server.close();
  });

  it('associations survive a server restart through exportSessions/importSessions', async () => {
    const a = await echoServer({ pskLookup: lookup });
    const client = await connect(a.port, { psk: { identity: 'dev1', key: KEY }, connectionId: true });
    assert.equal(await roundTrip(client, 'one'), 'psk:dev1:one');
    const saved = a.server.exportSessions();
    assert.equal(saved.length, 1);
    await a.server.close({ notify: false });
    const b = await DtlsServer.bind(a.port, '127.0.0.1', { pskLookup: lookup });
    b.onDatagram((d, peer, identity) => b.send(Buffer.concat([Buffer.from(`restored ${identity?.name}:`), d]), peer));
    assert.equal(b.importSessions(saved), 1);
    assert.equal(await roundTrip(client, 'two'), 'restored dev1:two');
    await client.rebind();
    assert.equal(await roundTrip(client, 'three'), 'restored dev1:three', 'the CID still routes after the restart');
    await client.close();
    await b.close();
  });

  it('a new ClientHello from an established peer address is a new handshake that replaces the association (RFC 6347 §4.2.8)', async () => {
    const { server, port, events } = await echoServer({ pskLookup: (id) => (id === 'dev1' || id === 'dev2' ? KEY : undefined) });
    const proxy = await UdpProxy.start({ address: '127.0.0.1', port });
    const first = await connect(proxy.port, { psk: { identity: 'dev1', key: KEY } });
    assert.equal(await roundTrip(first, 'a'), 'psk:dev1:a');
    // The device rebooted: same address (the relay's), fresh ClientHello in epoch 0.
    const second = await connect(proxy.port, { psk: { identity: 'dev2', key: KEY } });
    assert.equal(await roundTrip(second, 'b'), 'psk:dev2:b');
    assert.equal(events.length, 2);
    assert.equal(server.stats().associations, 1);
    assert.deepEqual(server.sessions()[0]!.identity, { mode: 'psk', name: 'dev2' });
    await Promise.all([first.close(), second.close()]);
    await proxy.close();
    await server.close();
  });

  it('close() sends close_notify: the client learns the association ended', async () => {
    const { server, port } = await echoServer({ pskLookup: lookup });
    const client = await connect(port, { psk: { identity: 'dev1', key: KEY } });
    await roundTrip(client, 'x');
    await server.close();
    for (let i = 0; i < 50 && client.established; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(client.established, false);
    await client.close();
  });
});
