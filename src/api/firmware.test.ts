import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { FirmwareRepository, packageUri, parsePackageHeader, signPackage, uuidString } from '../firmware/index.js';
import { bytes, CLASS, imageManifest, keyPair, VENDOR } from '../firmware/test-helpers.js';
import { SqliteStore } from '../store/index.js';
import { FakeServer, testModel } from './fake-server.js';
import { createApi } from './index.js';

const TOKEN = 'test-token-firmware-0123456';
const signer = keyPair('ed25519');
const image = bytes(3000, 1);
const pkg = Buffer.from(signPackage(imageManifest(image, 42, '2.0.0'), image, signer.privateKey));
const pkgId = createHash('sha256').update(pkg).digest('hex');

async function setup(t: TestContext) {
  const dir = mkdtempSync(join(tmpdir(), 'warden-fwapi-'));
  const store = new SqliteStore(join(dir, 'warden.db'));
  const used = new Set<string>();
  const repository = new FirmwareRepository({ dataDir: dir, store, trustedKeys: [signer.publicKey], inUse: (id) => used.has(id) });
  const app = await createApi({
    server: new FakeServer(), model: testModel(), apiToken: TOKEN,
    firmware: { repository, uris: (id) => ({ coaps: packageUri({ host: 'fw.example', coapsPort: 5684 }, id, 'coaps') }) },
  });
  t.after(async () => {
    await app.close();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { app, used };
}

async function call(app: FastifyInstance, opts: InjectOptions, auth = true) {
  const res = await app.inject({ ...opts, headers: { ...(auth ? { authorization: `Bearer ${TOKEN}` } : {}), ...opts.headers } });
  return { status: res.statusCode, headers: res.headers, raw: res.body, body: res.body === '' ? undefined : JSON.parse(res.body) };
}

const upload = (app: FastifyInstance, body: Uint8Array, query = '', auth = true) =>
  call(app, { method: 'POST', url: `/api/firmware${query}`, payload: Buffer.from(body), headers: { 'content-type': 'application/octet-stream' } }, auth);

describe('/api/firmware', () => {
  it('every route needs the token', async (t) => {
    const { app } = await setup(t);
    assert.equal((await upload(app, pkg, '', false)).status, 401);
    for (const [method, url] of [['GET', '/api/firmware'], ['GET', `/api/firmware/${pkgId}`], ['DELETE', `/api/firmware/${pkgId}`]] as const) {
      assert.equal((await call(app, { method, url }, false)).status, 401, `${method} ${url}`);
    }
  });

  it('uploads, lists with filters, shows with the manifest, refuses removal in use, removes', async (t) => {
    const { app, used } = await setup(t);
    const up = await upload(app, pkg, '?name=release%202&notes=canary%20first');
    assert.equal(up.status, 201);
    assert.equal(up.headers.location, `/api/firmware/${pkgId}`);
    assert.equal(up.body.id, pkgId);
    assert.equal(up.body.version, '2.0.0');
    assert.equal(up.body.name, 'release 2');
    assert.match(up.body.uploadedAt, /^\d{4}-\d\d-\d\dT/);
    const again = await upload(app, pkg);
    assert.equal(again.status, 200, 'the same file again is not an error');
    assert.deepEqual(again.body, up.body);

    assert.deepEqual((await call(app, { method: 'GET', url: '/api/firmware' })).body.map((p: { id: string }) => p.id), [pkgId]);
    assert.equal((await call(app, { method: 'GET', url: '/api/firmware?vendor=example.com&class=sensor-v2&version=2.0.0' })).body.length, 1);
    assert.equal((await call(app, { method: 'GET', url: `/api/firmware?vendor=${uuidString(VENDOR)}&class=${uuidString(CLASS)}` })).body.length, 1);
    assert.equal((await call(app, { method: 'GET', url: '/api/firmware?version=9' })).body.length, 0);
    assert.equal((await call(app, { method: 'GET', url: '/api/firmware?kind=delta' })).body.length, 0);
    assert.equal((await call(app, { method: 'GET', url: '/api/firmware?kind=other' })).status, 400);
    assert.equal((await call(app, { method: 'GET', url: '/api/firmware?class=sensor-v2' })).status, 400);

    const show = await call(app, { method: 'GET', url: `/api/firmware/${pkgId}` });
    assert.equal(show.status, 200);
    assert.equal(show.body.alg, 'EdDSA');
    assert.equal(show.body.manifest.sequence, 42);
    assert.equal(show.body.manifest.payload.kind, 'image');
    assert.equal(show.body.manifest.payload.digest, createHash('sha256').update(image).digest('hex'));
    assert.equal(show.body.uris.coaps, `coaps://fw.example:5684/fw/${pkgId}`);

    used.add(pkgId);
    const inUse = await call(app, { method: 'DELETE', url: `/api/firmware/${pkgId}` });
    assert.equal(inUse.status, 409);
    assert.match(inUse.body.message, /used by a campaign/);
    used.clear();
    assert.equal((await call(app, { method: 'DELETE', url: `/api/firmware/${pkgId}` })).status, 204);
    assert.equal((await call(app, { method: 'GET', url: `/api/firmware/${pkgId}` })).status, 404);
    assert.equal((await call(app, { method: 'DELETE', url: `/api/firmware/${pkgId}` })).status, 404);
    assert.equal((await call(app, { method: 'GET', url: '/api/firmware/nothex' })).status, 404);
  });

  it('answers 400 for malformed packages and 422 naming the reason for signature and payload refusals', async (t) => {
    const { app } = await setup(t);
    const malformed = await upload(app, Buffer.from('hello'));
    assert.equal(malformed.status, 400);
    assert.match(malformed.body.message, /MALFORMED/);
    assert.equal((await upload(app, pkg.subarray(0, 12))).status, 400);
    assert.equal((await upload(app, new Uint8Array(0))).status, 400);

    const stranger = keyPair('es256');
    const unknown = await upload(app, signPackage(imageManifest(image), image, stranger.privateKey));
    assert.equal(unknown.status, 422);
    assert.match(unknown.body.message, /UNKNOWN_KEY/);
    const spki = (k: typeof stranger.publicKey) => k.export({ format: 'der', type: 'spki' }).toString('base64');
    for (const k of [stranger.publicKey, signer.publicKey]) assert.ok(!unknown.raw.includes(spki(k).slice(-40)), 'no key material in the answer');

    const envEnd = (parsePackageHeader(pkg) as { payloadOffset: number }).payloadOffset;
    const badSig = Buffer.from(pkg);
    badSig[envEnd - 1]! ^= 1;
    const bad = await upload(app, badSig);
    assert.equal(bad.status, 422);
    assert.match(bad.body.message, /BAD_SIGNATURE/);
    const badPayload = Buffer.from(pkg);
    badPayload[envEnd + 1]! ^= 1;
    const digest = await upload(app, badPayload);
    assert.equal(digest.status, 422);
    assert.match(digest.body.message, /DIGEST_MISMATCH/);

    const json = await call(app, { method: 'POST', url: '/api/firmware', payload: { not: 'a package' } });
    assert.equal(json.status, 415);
    const text = await call(app, { method: 'POST', url: '/api/firmware', payload: 'x', headers: { 'content-type': 'text/plain' } });
    assert.equal(text.status, 415);
    assert.equal((await call(app, { method: 'GET', url: '/api/firmware' })).body.length, 0);
  });

  it('takes packages above the API-wide 1 MiB body limit on this route only', async (t) => {
    const { app } = await setup(t);
    const big = bytes(3 * 1024 * 1024, 9);
    const up = await upload(app, signPackage(imageManifest(big, 1), big, signer.privateKey));
    assert.equal(up.status, 201);
    assert.equal(up.body.imageSize, big.byteLength);
    const other = await call(app, { method: 'POST', url: '/api/clients/x/3/0/1', payload: Buffer.alloc(2 * 1024 * 1024), headers: { 'content-type': 'application/octet-stream' } });
    assert.ok(other.status === 413 || other.status === 415, `other routes keep their limit and parsers (got ${other.status})`);
  });
});
