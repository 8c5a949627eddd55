/**
 * Firmware packages served by a running Warden to peers we did not write: libcoap's coap-client (Debian package
 * libcoap3-bin) fetches /fw/<id> block-wise over plain CoAP and over DTLS-PSK (OpenSSL and GnuTLS builds), from the
 * first block and starting at block k (a device resuming with nothing cached on the server); node's HTTP client fetches
 * the same package from the download listener and resumes it with Range + If-Range. Every result is byte-identical.
 */
import assert from 'node:assert/strict';
import { createHash, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startWarden, type Warden } from '../src/cli/warden.js';
import { classIdFor, imageRef, signPackage, vendorIdFor } from '../src/firmware/index.js';
import { silentLogger } from '../src/log.js';
import { runTool } from './helpers.js';

const PACKAGE = 'libcoap3-bin';
const PSK_IDENTITY = 'fw-device-1';
const PSK_KEY = 'warden-fw-psk-0123456789';

type Run = Awaited<ReturnType<typeof runTool>> & { command: string };

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

let dir: string;
let warden: Warden;
let pkg: Buffer;
let id: string;
let outputs = 0;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'warden-fw-interop-'));
  const { privateKey } = generateKeyPairSync('ed25519');
  // Trusted keys from the data directory's firmware-keys folder.
  mkdirSync(join(dir, 'data', 'firmware-keys'), { recursive: true });
  writeFileSync(join(dir, 'data', 'firmware-keys', 'release.pem'), createPublicKey(privateKey).export({ format: 'pem', type: 'spki' }));
  const image = Buffer.alloc(150_000);
  for (let i = 0; i < image.length; i++) image[i] = (i * 131 + (i >> 8)) & 0xff;
  const vendorId = vendorIdFor('example.com');
  pkg = Buffer.from(signPackage({ version: '3.0.0', vendorId, classId: classIdFor(vendorId, 'gw'), sequence: 3, payload: { kind: 'image', ...imageRef(image) } }, image, privateKey));
  warden = await startWarden({
    dataDir: join(dir, 'data'), coapPort: 0, coapsPort: 0, coapHost: '127.0.0.1', apiPort: 0, apiHost: '127.0.0.1', apiToken: 'fw-interop-token-0123',
    logger: silentLogger, firmware: { httpPort: 0 },
  });
  warden.security.add({ endpoint: PSK_IDENTITY, mode: 'psk', pskIdentity: PSK_IDENTITY, pskKey: Buffer.from(PSK_KEY) });
  const r = await warden.firmware.upload(pkg);
  id = r.package.id;
  assert.equal(id, sha(pkg));
});

after(async () => {
  await warden?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function coapGet(tool: string, args: string[]): Promise<{ run: Run; payload: Buffer }> {
  const out = join(dir, `out-${outputs++}.bin`);
  const path = `/usr/bin/${tool}`;
  if (!existsSync(path)) assert.fail(`${path} not found: install the Debian package ${PACKAGE}`);
  const argv = ['-o', out, '-B', '30', ...args];
  const run = { ...(await runTool(path, argv, PACKAGE, 60_000)), command: `${tool} ${argv.join(' ')}` };
  return { run, payload: existsSync(out) ? readFileSync(out) : Buffer.alloc(0) };
}

function explain(what: string, run: Run): string {
  return `${what}\n$ ${run.command}\nexit ${run.status}\n${run.stdout.slice(-1500)}\n${run.stderr.slice(-1500)}`;
}

/**
 * `-b k,size` makes coap-client's first request ask for block k. libcoap 4.3.1 then stops after that one block; a later
 * libcoap may go on to the end: either way the bytes are the package's from offset k * size.
 */
function assertFrom(r: { run: Run; payload: Buffer }, k: number, size: number, what: string): void {
  const expected = pkg.subarray(k * size);
  assert.ok(r.payload.length === size || r.payload.length === expected.length, explain(`${what}: block ${k} not received (${r.payload.length} bytes)`, r.run));
  assert.equal(sha(r.payload), sha(expected.subarray(0, r.payload.length)), explain(`${what}: block ${k} is not the package's`, r.run));
}

test('coap-client-notls fetches the package block-wise over plain CoAP, whole and from block k', async () => {
  const uri = warden.packageUri(id, 'coap');
  const whole = await coapGet('coap-client-notls', ['-m', 'get', '-b', '512', uri]);
  assert.equal(whole.payload.length, pkg.length, explain('plain CoAP download incomplete', whole.run));
  assert.equal(sha(whole.payload), id, 'plain CoAP download is byte-identical');
  // A device resuming at block 100 (of 512 bytes): the server has no cached representation for this peer.
  const resumed = await coapGet('coap-client-notls', ['-m', 'get', '-b', '100,512', uri]);
  assertFrom(resumed, 100, 512, 'plain CoAP');
});

for (const lib of ['openssl', 'gnutls'] as const) {
  test(`coap-client-${lib} fetches the package block-wise over DTLS-PSK`, async () => {
    const uri = warden.packageUri(id, 'coaps');
    assert.match(uri, /^coaps:\/\/127\.0\.0\.1:\d+\/fw\/[0-9a-f]{64}$/);
    const creds = ['-u', PSK_IDENTITY, '-k', PSK_KEY];
    const whole = await coapGet(`coap-client-${lib}`, [...creds, '-m', 'get', '-b', '1024', uri]);
    assert.equal(whole.payload.length, pkg.length, explain(`DTLS download with ${lib} incomplete`, whole.run));
    assert.equal(sha(whole.payload), id);
    const resumed = await coapGet(`coap-client-${lib}`, [...creds, '-m', 'get', '-b', '40,1024', uri]);
    assertFrom(resumed, 40, 1024, `DTLS with ${lib}`);
    const wrongKey = await coapGet(`coap-client-${lib}`, ['-u', PSK_IDENTITY, '-k', 'not-the-key', '-m', 'get', uri]);
    assert.equal(wrongKey.payload.length, 0, 'no package for a peer that fails the handshake');
  });
}

function httpGet(url: string, headers: Record<string, string>, stopAfter?: number): Promise<{ status: number; etag?: string; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers }, (res) => {
      const chunks: Buffer[] = [];
      let got = 0;
      const done = () => resolve({ status: res.statusCode!, etag: res.headers.etag, body: Buffer.concat(chunks) });
      res.on('data', (c: Buffer) => {
        chunks.push(c);
        got += c.length;
        if (stopAfter !== undefined && got >= stopAfter) {
          res.destroy();
          done();
        }
      });
      res.on('end', done);
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

test('HTTP download from the listener: cut off, resumed with Range and If-Range, identical bytes', async () => {
  assert.ok(warden.firmwareHttpPort);
  const uri = warden.packageUri(id, 'http');
  assert.equal(uri, `http://127.0.0.1:${warden.firmwareHttpPort}/fw/${id}`);
  const first = await httpGet(uri, {}, 40_000);
  assert.ok(first.body.length < pkg.length);
  const rest = await httpGet(uri, { range: `bytes=${first.body.length}-`, 'if-range': first.etag! });
  assert.equal(rest.status, 206);
  assert.equal(sha(Buffer.concat([first.body, rest.body])), id);
  assert.throws(() => warden.packageUri(id, 'https'), /not served over https/);
});
