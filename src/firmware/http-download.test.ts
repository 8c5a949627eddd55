import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { createTestPki } from '../dtls/test-pki.js';
import { SqliteStore } from '../store/index.js';
import { FirmwareHttpServer, httpEtag, parseRange } from './http-download.js';
import { signPackage } from './package.js';
import { packageUri } from './package-uri.js';
import { FirmwareRepository } from './repository.js';
import { bytes, imageManifest, keyPair } from './test-helpers.js';

const signer = keyPair('es256');
const image = bytes(100_000, 17);
const pkg = Buffer.from(signPackage(imageManifest(image), image, signer.privateKey));
const pkgId = createHash('sha256').update(pkg).digest('hex');

const pem = (label: string, der: Uint8Array) => `-----BEGIN ${label}-----\n${Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END ${label}-----\n`;

async function setup(t: TestContext, tls?: { cert: string; key: string }) {
  const dir = mkdtempSync(join(tmpdir(), 'warden-fwhttp-'));
  const store = new SqliteStore(join(dir, 'warden.db'));
  const repository = new FirmwareRepository({ dataDir: dir, store, trustedKeys: [signer.publicKey] });
  await repository.upload(pkg);
  const lines: object[] = [];
  const logger = { debug: (o: object | string) => void lines.push(o as object), info() {}, warn() {}, error() {}, child: () => logger };
  const server = await FirmwareHttpServer.listen({ repository, port: 0, host: '127.0.0.1', logger, ...(tls ? { tls } : {}) });
  t.after(async () => {
    await server.close();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { server, port: server.port, lines };
}

interface Res {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

function fetchRaw(url: string, opts: { method?: string; headers?: Record<string, string>; ca?: string; abortAfter?: number } = {}): Promise<Res> {
  const u = new URL(url);
  const request = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(u, { method: opts.method ?? 'GET', headers: opts.headers, ...(opts.ca ? { ca: opts.ca } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      let got = 0;
      res.on('data', (c: Buffer) => {
        chunks.push(c);
        got += c.byteLength;
        // a device losing its connection mid-download
        if (opts.abortAfter !== undefined && got >= opts.abortAfter) {
          res.destroy();
          resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) });
        }
      });
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

test('GET and HEAD /fw/<id>: the package, its length, strong ETag and Accept-Ranges; other paths and methods refused', async (t) => {
  const { port, lines } = await setup(t);
  const uri = packageUri({ host: '127.0.0.1', httpPort: port }, pkgId, 'http');
  const full = await fetchRaw(uri);
  assert.equal(full.status, 200);
  assert.ok(full.body.equals(pkg));
  assert.equal(full.headers['content-type'], 'application/octet-stream');
  assert.equal(full.headers['content-length'], String(pkg.byteLength));
  assert.equal(full.headers['accept-ranges'], 'bytes');
  assert.equal(full.headers.etag, `"${pkgId.slice(0, 16)}"`);
  const head = await fetchRaw(uri, { method: 'HEAD', headers: { range: 'bytes=10-' } });
  assert.equal(head.status, 200, 'Range applies to GET only');
  assert.equal(head.headers['content-length'], String(pkg.byteLength));
  assert.equal(head.body.byteLength, 0);
  assert.equal((await fetchRaw(`http://127.0.0.1:${port}/fw/${'0'.repeat(64)}`)).status, 404);
  assert.equal((await fetchRaw(`http://127.0.0.1:${port}/fw/../warden.db`)).status, 404);
  assert.equal((await fetchRaw(`http://127.0.0.1:${port}/api/firmware`)).status, 404);
  const post = await fetchRaw(uri, { method: 'POST' });
  assert.equal(post.status, 405);
  assert.equal(post.headers.allow, 'GET, HEAD');
  assert.equal((await fetchRaw(uri, { headers: { 'if-none-match': httpEtag(pkgId) } })).status, 304);
  const logged = lines.map((l) => Object.keys(l).sort().join(','));
  assert.ok(logged.length >= 6 && logged.every((k) => k === 'method,path,status'), `log lines carry method, path and status only: ${logged.join(' | ')}`);
});

test('a download cut off midway resumes with Range and If-Range into identical bytes', async (t) => {
  const { port } = await setup(t);
  const uri = `http://127.0.0.1:${port}/fw/${pkgId}`;
  const first = await fetchRaw(uri, { abortAfter: 30_000 });
  assert.ok(first.body.byteLength >= 30_000 && first.body.byteLength < pkg.byteLength);
  const etag = first.headers.etag!;
  const rest = await fetchRaw(uri, { headers: { range: `bytes=${first.body.byteLength}-`, 'if-range': etag } });
  assert.equal(rest.status, 206);
  assert.equal(rest.headers['content-range'], `bytes ${first.body.byteLength}-${pkg.byteLength - 1}/${pkg.byteLength}`);
  assert.equal(rest.headers['content-length'], String(pkg.byteLength - first.body.byteLength));
  assert.ok(Buffer.concat([first.body, rest.body]).equals(pkg), 'resumed bytes are identical to the package');

  const middle = await fetchRaw(uri, { headers: { range: 'bytes=100-199' } });
  assert.equal(middle.status, 206);
  assert.ok(middle.body.equals(pkg.subarray(100, 200)));
  const tail = await fetchRaw(uri, { headers: { range: 'bytes=-10' } });
  assert.ok(tail.body.equals(pkg.subarray(pkg.byteLength - 10)));
  const stale = await fetchRaw(uri, { headers: { range: 'bytes=5000-', 'if-range': '"0123456789abcdef"' } });
  assert.equal(stale.status, 200, 'If-Range with another ETag: the whole package');
  assert.ok(stale.body.equals(pkg));
  const unsat = await fetchRaw(uri, { headers: { range: `bytes=${pkg.byteLength}-` } });
  assert.equal(unsat.status, 416);
  assert.equal(unsat.headers['content-range'], `bytes */${pkg.byteLength}`);
  const multi = await fetchRaw(uri, { headers: { range: 'bytes=0-1,5-6' } });
  assert.equal(multi.status, 200, 'several ranges are ignored');
});

test('HTTPS with a certificate chain the device trusts', async (t) => {
  const pki = createTestPki();
  const { port, server } = await setup(t, {
    cert: pki.server.chain.map((c) => pem('CERTIFICATE', c)).join(''),
    key: pki.server.key.export({ format: 'pem', type: 'pkcs8' }) as string,
  });
  assert.equal(server.secure, true);
  const uri = packageUri({ host: 'localhost', httpsPort: port }, pkgId, 'https');
  const res = await fetchRaw(uri, { ca: pem('CERTIFICATE', pki.root.cert), headers: { range: 'bytes=1000-' } });
  assert.equal(res.status, 206);
  assert.ok(res.body.equals(pkg.subarray(1000)));
});

test('parseRange follows RFC 9110 §14.1.2', () => {
  assert.deepEqual(parseRange('bytes=0-', 10), { start: 0, end: 9 });
  assert.deepEqual(parseRange('bytes=3-100', 10), { start: 3, end: 9 });
  assert.deepEqual(parseRange('bytes=-3', 10), { start: 7, end: 9 });
  assert.deepEqual(parseRange('bytes=-30', 10), { start: 0, end: 9 });
  assert.equal(parseRange('bytes=10-', 10), 'unsatisfiable');
  assert.equal(parseRange('bytes=-0', 10), 'unsatisfiable');
  assert.equal(parseRange('bytes=5-3', 10), undefined);
  assert.equal(parseRange('items=0-1', 10), undefined);
  assert.equal(parseRange('bytes=-', 10), undefined);
  assert.equal(parseRange(undefined, 10), undefined);
});

test('packageUri builds the URIs of each served scheme, brackets IPv6, refuses others', () => {
  const cfg = { host: 'fw.example.com', coapPort: 5683, coapsPort: 5684, httpPort: 8081 };
  assert.equal(packageUri(cfg, pkgId, 'coap'), `coap://fw.example.com:5683/fw/${pkgId}`);
  assert.equal(packageUri(cfg, pkgId, 'coaps'), `coaps://fw.example.com:5684/fw/${pkgId}`);
  assert.equal(packageUri(cfg, pkgId, 'http'), `http://fw.example.com:8081/fw/${pkgId}`);
  assert.throws(() => packageUri(cfg, pkgId, 'https'), /not served over https/);
  assert.equal(packageUri({ host: '2001:db8::1', coapsPort: 5684 }, 'ab', 'coaps'), 'coaps://[2001:db8::1]:5684/fw/ab');
});
