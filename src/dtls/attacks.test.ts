import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { DtlsAlert } from './alert.js';
import { DtlsClient } from './client.js';
import { encodeClientHello, encodeHandshake, HandshakeType } from './messages.js';
import { ContentType, decodeRecords, encodeRecord, MAX_RECORD_LENGTH } from './record.js';
import { DtlsServer, type HandshakeFailureEvent } from './server.js';
import { createTestPki, pinnedCertificateVerifier, type TestLeaf, type TestPki } from './test-certs.js';
import { UdpProxy } from './test-proxy.js';
import { CipherSuite } from './types.js';

const KEY = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
const isAlert = (code: string) => (e: unknown) => e instanceof DtlsAlert && e.code === code;

function echo(client: DtlsClient, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const guard = setTimeout(() => reject(new Error(`no echo of ${text}`)), 10_000);
    client.onDatagram((d) => {
      clearTimeout(guard);
      resolve(Buffer.from(d).toString());
    });
    client.send(Buffer.from(text));
  });
}

async function rawSocket(): Promise<{ socket: Socket; received: Buffer[] }> {
  const socket = createSocket('udp4');
  const received: Buffer[] = [];
  socket.on('message', (m) => received.push(m));
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
  return { socket, received };
}

const settle = () => new Promise((r) => setTimeout(r, 300));

function clientHello(cookie: Uint8Array = new Uint8Array(0)): Uint8Array {
  const body = encodeClientHello({
    clientVersion: 0xfefd,
    random: randomBytes(32),
    sessionId: new Uint8Array(0),
    cookie,
    cipherSuites: [CipherSuite.TLS_PSK_WITH_AES_128_CCM_8],
    compressionMethods: [0],
    extensions: { extendedMasterSecret: true },
  });
  return encodeRecord(ContentType.handshake, 0, 0, encodeHandshake(HandshakeType.client_hello, 0, body));
}

describe('bad input and attacks, while the server keeps serving another peer', () => {
  let pki: TestPki;
  let srv: TestLeaf;
  let dev: TestLeaf;
  let server: DtlsServer;
  let port: number;
  let bystander: DtlsClient;
  const failures: HandshakeFailureEvent[] = [];
  const received: string[] = [];

  before(async () => {
    pki = createTestPki();
    srv = pki.leaf('server');
    dev = pki.leaf('dev1');
    server = await DtlsServer.bind(0, '127.0.0.1', {
      pskLookup: (id) => (id === 'dev1' ? KEY : undefined),
      certificate: srv,
      verifyCertificate: (chain, ctx) => {
        if (ctx.serverName === 'revoked') throw new DtlsAlert(44, 'revoked for the test');
        return pinnedCertificateVerifier([dev.chain[0]!])(chain, ctx);
      },
      retransmitInitial: 100,
      maxFailedDecryptions: 5,
      onHandshakeFailure: (e) => failures.push(e),
    });
    server.onDatagram((d, peer) => {
      received.push(Buffer.from(d).toString());
      server.send(d, peer);
    });
    port = server.address().port;
    bystander = await DtlsClient.connect({ address: '127.0.0.1', port }, { psk: { identity: 'dev1', key: KEY }, connectionId: true });
  });

  after(async () => {
    assert.equal(await echo(bystander, 'still served'), 'still served');
    await bystander.close();
    await server.close();
    pki.cleanup();
  });

  it('wrong PSK and unknown identity fail with the same alert (no oracle)', async () => {
    failures.length = 0;
    const codes: string[] = [];
    for (const psk of [{ identity: 'dev1', key: Buffer.alloc(16, 1) }, { identity: 'nobody', key: KEY }]) {
      await assert.rejects(DtlsClient.connect({ address: '127.0.0.1', port }, { psk, retransmitInitial: 100 }), (e: unknown) => {
        codes.push((e as DtlsAlert).code);
        return e instanceof DtlsAlert && e.remote;
      });
      assert.equal(await echo(bystander, 'between'), 'between');
    }
    assert.deepEqual(codes, ['bad_record_mac', 'bad_record_mac']);
    assert.deepEqual(
      failures.map((f) => (f.alert as DtlsAlert).code),
      ['bad_record_mac', 'bad_record_mac'],
    );
    assert.equal(server.stats().handshakes, 0);
  });

  it('a ClientHello without a valid cookie gets one small HelloVerifyRequest and leaves no state', async () => {
    const { socket, received: got } = await rawSocket();
    const before = server.stats();
    const hellos = [clientHello(), clientHello(randomBytes(16)), clientHello(new Uint8Array(0))];
    for (const h of hellos) socket.send(h, port, '127.0.0.1');
    await settle();
    assert.equal(got.length, 3, 'exactly one answer per ClientHello');
    for (const [i, d] of got.entries()) {
      const [rec] = decodeRecords(d);
      assert.equal(rec!.fragment[0], HandshakeType.hello_verify_request);
      assert.ok(d.length <= hellos[i]!.length, 'no amplification');
    }
    assert.deepEqual(server.stats(), before);
    socket.close();
  });

  it('refuses records over 2^14 + 2048 bytes, truncated records and garbage', async () => {
    const { socket, received: got } = await rawSocket();
    socket.send(encodeRecord(ContentType.handshake, 0, 0, new Uint8Array(MAX_RECORD_LENGTH + 1)), port, '127.0.0.1');
    socket.send(clientHello().subarray(0, 40), port, '127.0.0.1');
    socket.send(randomBytes(200), port, '127.0.0.1');
    socket.send(Buffer.alloc(0), port, '127.0.0.1');
    await settle();
    assert.equal(got.length, 0);
    socket.close();
  });

  it('drops a record with an unknown CID', async () => {
    const { socket, received: got } = await rawSocket();
    const rec = encodeRecord(ContentType.tls12_cid, 1, 5, randomBytes(40), randomBytes(6));
    socket.send(rec, port, '127.0.0.1');
    await settle();
    assert.equal(got.length, 0);
    socket.close();
  });

  it('drops replayed records and epoch-0 records after the switch', async () => {
    const proxy = await UdpProxy.start({ address: '127.0.0.1', port });
    const client = await DtlsClient.connect({ address: '127.0.0.1', port: proxy.port }, { psk: { identity: 'dev1', key: KEY } });
    received.length = 0;
    assert.equal(await echo(client, 'once'), 'once');
    const appData = proxy.up[proxy.up.length - 1]!;
    proxy.inject(appData);
    proxy.inject(appData);
    // Epoch 0 after the switch: plaintext application data, a plaintext Finished, a ChangeCipherSpec.
    proxy.inject(encodeRecord(ContentType.application_data, 0, 99, Buffer.from('plaintext')));
    proxy.inject(encodeRecord(ContentType.handshake, 0, 100, encodeHandshake(HandshakeType.finished, 5, new Uint8Array(12))));
    proxy.inject(encodeRecord(ContentType.change_cipher_spec, 0, 101, Uint8Array.of(1)));
    assert.equal(await echo(client, 'twice'), 'twice');
    assert.deepEqual(received, ['once', 'twice']);
    assert.equal(client.established, true);
    await client.close();
    await proxy.close();
  });

  it('closes an association after too many records fail authentication', async () => {
    const proxy = await UdpProxy.start({ address: '127.0.0.1', port });
    const client = await DtlsClient.connect({ address: '127.0.0.1', port: proxy.port }, { psk: { identity: 'dev1', key: KEY } });
    assert.equal(await echo(client, 'x'), 'x');
    const n = server.stats().associations;
    const [rec] = decodeRecords(proxy.up[proxy.up.length - 1]!);
    for (let i = 0; i < 6; i++) proxy.inject(encodeRecord(ContentType.application_data, 1, rec!.sequenceNumber + 10 + i, randomBytes(rec!.fragment.length)));
    await settle();
    assert.equal(server.stats().associations, n - 1);
    await client.close();
    await proxy.close();
  });

  it('an empty Certificate when client authentication is required fails with handshake_failure', async () => {
    await assert.rejects(
      DtlsClient.connect({ address: '127.0.0.1', port }, { verifyCertificate: pinnedCertificateVerifier([srv.chain[0]!]), retransmitInitial: 100 }),
      isAlert('handshake_failure'),
    );
  });

  it('a certificate the verifier revokes fails with certificate_revoked', async () => {
    await assert.rejects(
      DtlsClient.connect({ address: '127.0.0.1', port }, { certificate: dev, verifyCertificate: pinnedCertificateVerifier([srv.chain[0]!]), serverName: 'revoked', retransmitInitial: 100 }),
      isAlert('certificate_revoked'),
    );
  });

  it('a client refuses a server certificate it does not trust (bad_certificate) and tells the server', async () => {
    failures.length = 0;
    await assert.rejects(
      DtlsClient.connect({ address: '127.0.0.1', port }, { certificate: dev, verifyCertificate: pinnedCertificateVerifier([dev.chain[0]!]), retransmitInitial: 100 }),
      isAlert('bad_certificate'),
    );
    await settle();
    assert.equal((failures[0]?.alert as DtlsAlert | undefined)?.code, 'bad_certificate');
    assert.equal(server.stats().handshakes, 0);
  });
});
