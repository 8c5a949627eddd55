/**
 * DTLS figures for `npm run bench` (issue 3): full handshakes per second (PSK and mutual ECDHE-ECDSA) beside the
 * cost of the same handshake's server-side crypto alone, application records per second, and memory per session.
 */
import { fork } from 'node:child_process';
import { createCipheriv, createDecipheriv, createECDH, createHmac, createPublicKey, randomBytes, sign, verify, X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { DtlsClient, DtlsServer } from '../src/dtls/index.js';
import { extendedMasterSecret, finishedVerifyData, keyBlock, pskPreMasterSecret, transcriptHash } from '../src/dtls/prf.js';
import { createTestPki, type TestPki } from '../src/dtls/test-pki.js';
import { createCertificateVerifier } from '../src/dtls/x509.js';

const here = new URL('.', import.meta.url).pathname;
const PSK = randomBytes(16);
const pskLookup = (identity: string) => (identity.startsWith('bench-') ? PSK : undefined);

/** The DTLS credential kinds the benchmark measures: PSK, raw public keys (RFC 7250), mutual X.509. */
export type HandshakeMode = 'psk' | 'rpk' | 'ecdsa';

function credsFor(mode: HandshakeMode, pki: TestPki): string {
  if (mode === 'psk') return JSON.stringify({ mode, pskKey: PSK.toString('hex') });
  if (mode === 'rpk') {
    return JSON.stringify({
      mode,
      key: pki.client.key.export({ format: 'der', type: 'pkcs8' }).toString('base64'),
      serverKey: createPublicKey(pki.server.key).export({ format: 'der', type: 'spki' }).toString('base64'),
    });
  }
  return JSON.stringify({
    mode,
    chain: pki.client.chain.map((c) => Buffer.from(c).toString('base64')),
    key: pki.client.key.export({ format: 'der', type: 'pkcs8' }).toString('base64'),
    serverCert: Buffer.from(pki.server.cert).toString('base64'),
  });
}

async function serverFor(mode: HandshakeMode, pki: TestPki): Promise<DtlsServer> {
  if (mode === 'rpk') {
    const known = createPublicKey(pki.client.key).export({ format: 'der', type: 'spki' });
    return DtlsServer.bind(0, '127.0.0.1', {
      rawPublicKey: { privateKey: pki.server.key },
      verifyRawPublicKey: (spki) => {
        if (!known.equals(spki)) throw new Error('unknown key');
        return { mode: 'rpk', name: 'bench-rpk' };
      },
      connectionIdLength: 0,
    });
  }
  return DtlsServer.bind(0, '127.0.0.1', mode === 'psk'
    ? { pskLookup, connectionIdLength: 0 }
    : {
        certificate: { chain: pki.server.chain, privateKey: pki.server.key },
        verifyCertificate: createCertificateVerifier({ trustAnchors: [pki.root.cert] }),
        connectionIdLength: 0,
      });
}

/** Opens `count` associations from `children` processes; returns wall rate, server-core rate and the server. */
/** Runs `count` handshakes from `children` processes against `server`; returns associations opened, failures, wall s, server CPU s. */
async function handshakeRound(server: DtlsServer, mode: HandshakeMode, pki: TestPki, count: number, children: number, window: number) {
  const port = server.address().port;
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  const procs = Array.from({ length: children }, () =>
    fork(join(here, 'dtls-clients.js'), [String(port), String(Math.ceil(count / children)), String(window), credsFor(mode, pki)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  const reports = await Promise.all(procs.map((p) => new Promise<{ open: number; failed: number }>((resolve, reject) => {
    p.once('message', (m) => resolve(m as { open: number; failed: number }));
    p.once('exit', (code) => reject(new Error(`dtls-clients exited with ${code}`)));
  })));
  const wall = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpu0);
  for (const p of procs) p.send({ stop: true });
  await Promise.all(procs.map((p) => new Promise((r) => p.once('exit', r))));
  return {
    open: reports.reduce((a, r) => a + r.open, 0),
    failed: reports.reduce((a, r) => a + r.failed, 0),
    wall,
    cpu: (cpu.user + cpu.system) / 1e6,
  };
}

/**
 * Full handshakes per second. A long-running server is warm, so an untimed round of `warmup` handshakes lets the
 * JIT settle first; the figure per server core is handshakes over the server process's CPU seconds.
 */
export async function benchHandshakes(mode: HandshakeMode, count: number, children = 1, window = 32, warmup = 1000): Promise<{ perSecond: number; perServerCoreSecond: number }> {
  const pki = createTestPki();
  const server = await serverFor(mode, pki);
  if (warmup > 0) await handshakeRound(server, mode, pki, warmup, children, window);
  const r = await handshakeRound(server, mode, pki, count, children, window);
  if (r.failed) console.error(`${mode}: ${r.failed} handshakes failed`);
  await server.close();
  return { perSecond: r.open / r.wall, perServerCoreSecond: r.open / r.cpu };
}

/** The server's share of one handshake's cryptography, in a loop: the ceiling for handshakes per core. */
export function handshakeCryptoCeiling(mode: HandshakeMode, durationMs: number): number {
  const pki = createTestPki();
  const cookieSecret = randomBytes(32);
  const hello = randomBytes(120);
  const messages = [randomBytes(120), randomBytes(90), randomBytes(40), randomBytes(60)];
  const leaf = new X509Certificate(Buffer.from(pki.client.cert));
  const inter = new X509Certificate(Buffer.from(pki.intermediate.cert));
  const root = new X509Certificate(Buffer.from(pki.root.cert));
  const clientSig = sign('sha256', Buffer.from('transcript'), pki.client.key);
  const clientPub = createPublicKey(pki.client.key);
  const peerEcdh = createECDH('prime256v1');
  peerEcdh.generateKeys();
  const peerPoint = peerEcdh.getPublicKey();
  let n = 0;
  const end = performance.now() + durationMs;
  while (performance.now() < end) {
    // Cookie computed for the HelloVerifyRequest and again to check the second ClientHello.
    createHmac('sha256', cookieSecret).update(hello).digest();
    createHmac('sha256', cookieSecret).update(hello).digest();
    let premaster: Uint8Array;
    if (mode !== 'psk') {
      const ecdh = createECDH('prime256v1');
      ecdh.generateKeys();
      sign('sha256', Buffer.from(messages[0]!), pki.server.key); // ServerKeyExchange
      premaster = ecdh.computeSecret(peerPoint);
      if (mode === 'ecdsa') {
        leaf.verify(inter.publicKey);
        inter.verify(root.publicKey);
      }
      verify('sha256', Buffer.from('transcript'), clientPub, clientSig); // CertificateVerify
    } else {
      premaster = pskPreMasterSecret(PSK);
    }
    const master = extendedMasterSecret(premaster, transcriptHash(messages));
    const kb = keyBlock(master, messages[0]!, messages[1]!, 40);
    finishedVerifyData(master, 'client finished', transcriptHash(messages));
    finishedVerifyData(master, 'server finished', transcriptHash(messages));
    const nonce = randomBytes(12);
    const enc = createCipheriv('aes-128-ccm', kb.subarray(0, 16), nonce, { authTagLength: 8 });
    enc.setAAD(Buffer.alloc(13), { plaintextLength: 24 });
    const ct = Buffer.concat([enc.update(Buffer.alloc(24)), enc.final()]);
    const dec = createDecipheriv('aes-128-ccm', kb.subarray(0, 16), nonce, { authTagLength: 8 });
    dec.setAuthTag(enc.getAuthTag());
    dec.setAAD(Buffer.alloc(13), { plaintextLength: 24 });
    dec.update(ct);
    n++;
  }
  return n / (durationMs / 1000);
}

/** Application-data round trips through one association (each is two records sealed and two opened). */
export async function benchRecords(durationMs: number, window = 64): Promise<number> {
  const server = await DtlsServer.bind(0, '127.0.0.1', { pskLookup });
  server.onDatagram((d, peer) => server.send(d, peer));
  const client = await DtlsClient.connect({ address: '127.0.0.1', port: server.address().port }, { psk: { identity: 'bench-rec', key: PSK } });
  const payload = randomBytes(64);
  let roundTrips = 0;
  let stop = false;
  client.onDatagram(() => {
    roundTrips++;
    if (!stop) client.send(payload);
  });
  for (let i = 0; i < window; i++) client.send(payload);
  const start = performance.now();
  await new Promise((r) => setTimeout(r, durationMs));
  stop = true;
  const seconds = (performance.now() - start) / 1000;
  await client.close();
  await server.close();
  return (roundTrips * 2) / seconds;
}

/** Server memory per established PSK session with `count` sessions (clients spread over processes for the fd limit). */
export async function benchSessionMemory(count: number): Promise<number> {
  const gc = (globalThis as { gc?: () => void }).gc;
  const pki = createTestPki();
  const server = await serverFor('psk', pki);
  gc?.();
  const before = process.memoryUsage();
  const children = Math.ceil(count / 12_500);
  const procs = Array.from({ length: children }, () =>
    fork(join(here, 'dtls-clients.js'), [String(server.address().port), String(Math.ceil(count / children)), '32', credsFor('psk', pki)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  const open = (await Promise.all(procs.map((p) => new Promise<{ open: number }>((resolve, reject) => {
    p.once('message', (m) => resolve(m as { open: number }));
    p.once('exit', (code) => reject(new Error(`dtls-clients exited with ${code}`)));
  })))).reduce((a, r) => a + r.open, 0);
  gc?.();
  const after = process.memoryUsage();
  const established = server.sessions().length;
  for (const p of procs) p.send({ stop: true });
  await Promise.all(procs.map((p) => new Promise((r) => p.once('exit', r))));
  await server.close();
  if (established < open) console.error(`sessions: ${open} opened, ${established} held by the server`);
  return (after.rss - before.rss) / established;
}
