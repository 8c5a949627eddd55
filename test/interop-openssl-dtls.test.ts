/**
 * Interop with OpenSSL (Debian package openssl, `openssl s_client` / `openssl s_server -dtls1_2`):
 * s_client against our DtlsServer (a line out, its echo back) and our DtlsClient against s_server
 * (application data both ways), with PSK and with ECDHE-ECDSA and X.509 certificates on both sides.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { after, before, describe, test } from 'node:test';
import { CipherSuite, DtlsClient, DtlsServer, type HandshakeEvent } from '../src/dtls/index.js';
import { createTestPki, pinnedCertificateVerifier, type TestLeaf, type TestPki } from '../src/dtls/test-certs.js';

const PSK_HEX = '5ec2e7f3a1b04c8d9e6f0a1b2c3d4e5f';
const PSK = Buffer.from(PSK_HEX, 'hex');

function requireOpenssl(): void {
  const r = spawnSync('openssl', ['version']);
  if (r.error || r.status !== 0) assert.fail('the `openssl` command is missing: install Debian package openssl');
}

/** Collects a child's stdout; `waitFor` resolves when it contains `text` (rejects on exit or after 15 s). */
class Child {
  out = '';
  err = '';
  private waiters: { text: string; resolve: () => void; reject: (e: Error) => void }[] = [];
  exited = false;

  constructor(readonly proc: ChildProcess) {
    proc.stdout!.on('data', (d: Buffer) => {
      this.out += d.toString();
      this.check();
    });
    proc.stderr!.on('data', (d: Buffer) => (this.err += d.toString()));
    proc.on('exit', () => {
      this.exited = true;
      for (const w of this.waiters.splice(0)) w.reject(new Error(`openssl exited before printing ${JSON.stringify(w.text)}\nstdout: ${this.out}\nstderr: ${this.err}`));
    });
  }

  private check(): void {
    this.waiters = this.waiters.filter((w) => {
      if (!this.out.includes(w.text)) return true;
      w.resolve();
      return false;
    });
  }

  waitFor(text: string): Promise<void> {
    if (this.out.includes(text)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`timed out waiting for ${JSON.stringify(text)}\nstdout: ${this.out}\nstderr: ${this.err}`)), 15_000);
      this.waiters.push({ text, resolve: () => (clearTimeout(t), resolve()), reject: (e) => (clearTimeout(t), reject(e)) });
    });
  }

  write(line: string): void {
    this.proc.stdin!.write(line);
  }

  async kill(): Promise<void> {
    if (this.exited) return;
    const done = new Promise((r) => this.proc.once('exit', r));
    this.proc.kill('SIGKILL');
    await done;
  }
}

function openssl(args: string[]): Child {
  return new Child(spawn('openssl', args, { stdio: ['pipe', 'pipe', 'pipe'] }));
}

async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function nextDatagram(client: DtlsClient): Promise<string> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no datagram from openssl')), 15_000);
    client.onDatagram((d) => {
      clearTimeout(t);
      resolve(Buffer.from(d).toString());
    });
  });
}

describe('interop with openssl s_client / s_server -dtls1_2', () => {
  let pki: TestPki;
  let srv: TestLeaf;
  let dev: TestLeaf;

  before(() => {
    requireOpenssl();
    pki = createTestPki();
    srv = pki.leaf('server');
    dev = pki.leaf('dev1');
  });
  after(() => pki?.cleanup());

  async function echoServer(): Promise<{ server: DtlsServer; port: number; handshakes: HandshakeEvent[] }> {
    const handshakes: HandshakeEvent[] = [];
    const server = await DtlsServer.bind(0, '127.0.0.1', {
      pskLookup: (id) => (id === 'dev1' ? PSK : undefined),
      certificate: srv,
      verifyCertificate: pinnedCertificateVerifier([dev.chain[0]!]),
      cipherSuites: Object.values(CipherSuite),
      onHandshake: (e) => handshakes.push(e),
    });
    server.onDatagram((d, peer, identity) => server.send(Buffer.concat([Buffer.from(`echo ${identity?.mode}:${identity?.name} `), d]), peer));
    return { server, port: server.address().port, handshakes };
  }

  for (const [cipher, suite] of [
    ['PSK-AES128-CCM8', 'TLS_PSK_WITH_AES_128_CCM_8'],
    ['PSK-AES128-GCM-SHA256', 'TLS_PSK_WITH_AES_128_GCM_SHA256'],
    ['ECDHE-PSK-AES128-CBC-SHA256', 'TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256'],
  ]) {
    test(`s_client ${cipher} against DtlsServer`, async () => {
      const { server, port, handshakes } = await echoServer();
      const c = openssl(['s_client', '-dtls1_2', '-connect', `127.0.0.1:${port}`, '-psk', PSK_HEX, '-psk_identity', 'dev1', '-cipher', cipher, '-quiet']);
      try {
        for (let i = 0; i < 150 && handshakes.length === 0 && !c.exited; i++) await new Promise((r) => setTimeout(r, 20));
        assert.equal(handshakes[0]?.suite, suite, `handshake with s_client: ${c.err}`);
        c.write('hello from s_client\n');
        await c.waitFor('echo psk:dev1 hello from s_client');
      } finally {
        await c.kill();
        await server.close();
      }
    });
  }

  for (const [cipher, suite] of [
    ['ECDHE-ECDSA-AES128-CCM8', 'TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8'],
    ['ECDHE-ECDSA-AES128-GCM-SHA256', 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256'],
  ]) {
    test(`s_client ${cipher} with X.509 client and server certificates against DtlsServer`, async () => {
      const { server, port, handshakes } = await echoServer();
      const c = openssl([
        's_client', '-dtls1_2', '-connect', `127.0.0.1:${port}`, '-cipher', cipher,
        '-cert', dev.certPath, '-key', dev.keyPath, '-CAfile', pki.caPath, '-verify_return_error', '-quiet',
      ]);
      try {
        for (let i = 0; i < 150 && handshakes.length === 0 && !c.exited; i++) await new Promise((r) => setTimeout(r, 20));
        assert.equal(handshakes[0]?.suite, suite, `handshake with s_client: ${c.err}`);
        assert.deepEqual(handshakes[0]?.identity, { mode: 'x509', name: 'dev1' });
        c.write('cert hello\n');
        await c.waitFor('echo x509:dev1 cert hello');
      } finally {
        await c.kill();
        await server.close();
      }
    });
  }

  test('DtlsClient PSK-AES128-CCM8 against s_server', async () => {
    const port = await freeUdpPort();
    const s = openssl(['s_server', '-dtls1_2', '-accept', String(port), '-nocert', '-psk', PSK_HEX, '-cipher', 'PSK-AES128-CCM8', '-naccept', '1']);
    let client: DtlsClient | undefined;
    try {
      await s.waitFor('ACCEPT');
      client = await DtlsClient.connect({ address: '127.0.0.1', port }, { psk: { identity: 'dev1', key: PSK }, cipherSuites: [CipherSuite.TLS_PSK_WITH_AES_128_CCM_8] });
      assert.equal(client.cipherSuite, 'TLS_PSK_WITH_AES_128_CCM_8');
      client.send(Buffer.from('from warden\n'));
      await s.waitFor('from warden');
      assert.match(s.out, /CIPHER is PSK-AES128-CCM8/);
      const got = nextDatagram(client);
      s.write('from openssl\n');
      assert.equal(await got, 'from openssl\n');
    } finally {
      await client?.close();
      await s.kill();
    }
  });

  for (const [cipher, suite] of [
    ['ECDHE-ECDSA-AES128-CCM8', CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8],
    ['ECDHE-ECDSA-AES128-GCM-SHA256', CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256],
  ] as const) {
    test(`DtlsClient ${cipher} with X.509 certificates against s_server (client certificate required)`, async () => {
      const port = await freeUdpPort();
      const s = openssl([
        's_server', '-dtls1_2', '-accept', String(port), '-cert', srv.certPath, '-key', srv.keyPath,
        '-CAfile', pki.caPath, '-Verify', '2', '-verify_return_error', '-cipher', cipher, '-naccept', '1',
      ]);
      let client: DtlsClient | undefined;
      try {
        await s.waitFor('ACCEPT');
        client = await DtlsClient.connect(
          { address: '127.0.0.1', port },
          { certificate: dev, verifyCertificate: pinnedCertificateVerifier([srv.chain[0]!]), cipherSuites: [suite], serverName: 'server' },
        );
        assert.deepEqual(client.peerIdentity, { mode: 'x509', name: 'server' });
        client.send(Buffer.from('cert data from warden\n'));
        await s.waitFor('cert data from warden');
        assert.match(s.out, new RegExp(`CIPHER is ${cipher}`));
        assert.match(s.err, /depth=0 CN = dev1/);
        const got = nextDatagram(client);
        s.write('cert data from openssl\n');
        assert.equal(await got, 'cert data from openssl\n');
      } finally {
        await client?.close();
        await s.kill();
      }
    });
  }
});
