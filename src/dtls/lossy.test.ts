import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { DtlsClient, type DtlsClientOptions } from './client.js';
import { decodeHandshakeFragments, HandshakeType } from './messages.js';
import { ContentType, decodeRecords } from './record.js';
import { DtlsServer, type DtlsServerOptions } from './server.js';
import { createTestPki, pinnedCertificateVerifier, type TestLeaf, type TestPki } from './test-certs.js';
import { UdpProxy, type Policy } from './test-proxy.js';

const KEY = Buffer.from('00112233445566778899aabbccddeeff', 'hex');

/** What a datagram carries: 'hs:<type>' for epoch-0 handshake fragments, 'ccs', 'enc' for protected records. */
function contents(d: Buffer): string[] {
  const out: string[] = [];
  for (const r of decodeRecords(d, 6)) {
    if (r.epoch > 0) out.push('enc');
    else if (r.type === ContentType.change_cipher_spec) out.push('ccs');
    else if (r.type === ContentType.handshake) for (const f of decodeHandshakeFragments(r.fragment)) out.push(`hs:${f.msgType}`);
    else out.push(`type:${r.type}`);
  }
  return out;
}

/** Drops the first datagram in `dir` that contains `what`. */
function dropOnce(dir: 'up' | 'down', what: string): Policy & { dropped: number } {
  const p = Object.assign(
    (d: 'up' | 'down', b: Buffer): 'pass' | 'drop' => {
      if (d === dir && p.dropped === 0 && contents(b).includes(what)) {
        p.dropped++;
        return 'drop';
      }
      return 'pass';
    },
    { dropped: 0 },
  );
  return p;
}

async function setup(serverOpts: DtlsServerOptions, policy: Policy) {
  const received: string[] = [];
  const server = await DtlsServer.bind(0, '127.0.0.1', { retransmitInitial: 100, ...serverOpts });
  server.onDatagram((d, peer) => {
    received.push(Buffer.from(d).toString());
    server.send(d, peer);
  });
  const proxy = await UdpProxy.start({ address: '127.0.0.1', port: server.address().port });
  proxy.policy = policy;
  return { server, proxy, received };
}

/** Sends `text` and waits for the echo (a guard rejects instead of hanging if it never comes). */
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

const pskClient = (port: number, extra: DtlsClientOptions = {}) =>
  DtlsClient.connect({ address: '127.0.0.1', port }, { psk: { identity: 'dev1', key: KEY }, retransmitInitial: 100, ...extra });

describe('lost, duplicated and reordered flights (RFC 6347 §4.2.4)', () => {
  let pki: TestPki;
  let srv: TestLeaf;
  let dev: TestLeaf;
  before(() => {
    pki = createTestPki();
    srv = pki.leaf('server');
    dev = pki.leaf('dev1');
  });
  after(() => pki.cleanup());

  for (const [what, dir, item] of [
    ['the HelloVerifyRequest', 'down', `hs:${HandshakeType.hello_verify_request}`],
    ['the ServerHello flight', 'down', `hs:${HandshakeType.server_hello}`],
    ["the client's key exchange flight", 'up', `hs:${HandshakeType.client_key_exchange}`],
    ["the server's final CCS + Finished", 'down', 'ccs'],
  ] as const) {
    it(`completes when ${what} is lost once`, async () => {
      const policy = dropOnce(dir, item);
      const { server, proxy, received } = await setup({ pskLookup: () => KEY }, policy);
      const client = await pskClient(proxy.port);
      assert.equal(policy.dropped, 1);
      assert.equal(await echo(client, 'ok'), 'ok');
      assert.deepEqual(received, ['ok']);
      await client.close();
      await proxy.close();
      await server.close();
    });
  }

  it("completes a resumption when the client's final flight is lost once", async () => {
    const { server, proxy } = await setup({ pskLookup: () => KEY }, () => 'pass');
    const first = await pskClient(proxy.port);
    const session = first.session();
    await first.close();
    let ccsSeen = 0;
    proxy.policy = (dir, b) => (dir === 'up' && contents(b).includes('ccs') && ccsSeen++ === 0 ? 'drop' : 'pass');
    const client = await pskClient(proxy.port, session ? { session } : {});
    assert.equal(client.resumed, true);
    assert.equal(await echo(client, 'resumed'), 'resumed');
    assert.ok(ccsSeen >= 2, 'the final flight was sent again');
    await client.close();
    await proxy.close();
    await server.close();
  });

  it('completes when every datagram is duplicated, and delivers application data once', async () => {
    const { server, proxy, received } = await setup({ pskLookup: () => KEY }, () => 'dup');
    const client = await pskClient(proxy.port);
    assert.equal(await echo(client, 'a'), 'a');
    assert.equal(await echo(client, 'b'), 'b');
    // The duplicated records were seen by the server and dropped by the replay window.
    const c = await pskClient(proxy.port);
    await c.close();
    assert.deepEqual(received, ['a', 'b']);
    await client.close();
    await proxy.close();
    await server.close();
  });

  it('completes with fragmented certificate flights delivered out of order (MTU 300)', async () => {
    const { server, proxy } = await setup(
      { certificate: srv, verifyCertificate: pinnedCertificateVerifier([dev.chain[0]!]), mtu: 300 },
      (_dir, _b, i) => (i % 2 === 0 ? 'hold' : 'pass'),
    );
    const client = await DtlsClient.connect(
      { address: '127.0.0.1', port: proxy.port },
      { certificate: dev, verifyCertificate: pinnedCertificateVerifier([srv.chain[0]!]), retransmitInitial: 100, mtu: 300 },
    );
    assert.ok(proxy.down.some((d) => d.length <= 300 && contents(d).filter((c) => c === `hs:${HandshakeType.certificate}`).length > 0));
    assert.ok(proxy.down.every((d) => d.length <= 300), 'every datagram within the MTU');
    assert.ok(proxy.down.filter((d) => contents(d).includes(`hs:${HandshakeType.certificate}`)).length >= 2, 'the Certificate was fragmented');
    proxy.policy = () => 'pass';
    assert.equal(await echo(client, 'frag'), 'frag');
    await client.close();
    await proxy.close();
    await server.close();
  });

  it('gives up after the configured retransmissions when the server never answers', async () => {
    const { server, proxy } = await setup({ pskLookup: () => KEY }, () => 'drop');
    await assert.rejects(
      DtlsClient.connect({ address: '127.0.0.1', port: proxy.port }, { psk: { identity: 'dev1', key: KEY }, retransmitInitial: 20, maxRetransmissions: 2 }),
      /timed out/,
    );
    assert.equal(proxy.up.length, 3);
    await proxy.close();
    await server.close();
  });
});
