import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { SqliteStore } from '../store/index.js';
import { FirmwareError, type FirmwareErrorCode } from './error.js';
import { uuidString } from './manifest.js';
import { parsePackageHeader, signPackage } from './package.js';
import { FirmwareRepository, FirmwareRepositoryError, resolveTargetIds, type FirmwareRepositoryOptions } from './repository.js';
import { bytes, CLASS, deltaManifest, imageManifest, keyPair, VENDOR } from './test-helpers.js';
import { keyId } from './cose.js';

const signer = keyPair('es256');
const image = bytes(20_000, 3);
const pkg = signPackage(imageManifest(image, 100, '1.0.0'), image, signer.privateKey);
const pkgId = createHash('sha256').update(pkg).digest('hex');

function setup(t: TestContext, o: Partial<FirmwareRepositoryOptions> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'warden-fwrepo-'));
  let store = new SqliteStore(join(dir, 'warden.db'));
  const make = () => new FirmwareRepository({ dataDir: dir, store, trustedKeys: [signer.publicKey], now: () => 1_700_000_000_000, ...o });
  t.after(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    dir,
    repo: make(),
    reopen() {
      store.close();
      store = new SqliteStore(join(dir, 'warden.db'));
      return make();
    },
  };
}

async function refused(p: Promise<unknown>, code: FirmwareErrorCode): Promise<void> {
  await assert.rejects(p, (e: unknown) => e instanceof FirmwareError && e.code === code, `expected ${code}`);
}

test('a package is stored under its SHA-256, fsynced into place, with its manifest in the record', async (t) => {
  const { dir, repo } = setup(t);
  const r = await repo.upload(pkg, { name: 'first', notes: 'for the canary' });
  assert.equal(r.created, true);
  const p = r.package;
  assert.equal(p.id, pkgId);
  const file = join(dir, 'firmware', 'sha256', pkgId.slice(0, 2), pkgId.slice(2));
  assert.equal(repo.pathOf(pkgId), file);
  assert.deepEqual(new Uint8Array(readFileSync(file)), pkg);
  assert.equal(p.vendor, uuidString(VENDOR));
  assert.equal(p.class, uuidString(CLASS));
  assert.equal(p.version, '1.0.0');
  assert.equal(p.sequence, 100);
  assert.equal(p.kind, 'image');
  assert.equal(p.baseDigest, undefined);
  assert.equal(p.imageDigest, createHash('sha256').update(image).digest('hex'));
  assert.equal(p.imageSize, image.byteLength);
  assert.equal(p.payloadSize, image.byteLength);
  assert.equal(p.packageSize, pkg.byteLength);
  assert.equal(p.keyId, Buffer.from(keyId(signer.publicKey)).toString('hex'));
  assert.equal(p.uploadedAt, 1_700_000_000_000);
  assert.equal(p.name, 'first');
  assert.equal(p.notes, 'for the canary');
  assert.deepEqual(repo.get(pkgId), p);
  assert.deepEqual(readdirSync(join(dir, 'firmware', 'tmp')), [], 'no temporary file left');
  const m = await repo.manifest(pkgId);
  assert.equal(m!.manifest.sequence, 100);
  assert.equal(m!.keyId, p.keyId);
});

test('the same file twice returns the existing record and writes nothing; concurrent uploads store one', async (t) => {
  const { repo } = setup(t, { now: (() => { let n = 0; return () => ++n; })() });
  const [a, b] = await Promise.all([repo.upload(pkg), repo.upload(pkg)]);
  assert.equal([a, b].filter((r) => r.created).length, 1);
  assert.deepEqual(a.package, b.package);
  const mtime = statSync(repo.pathOf(pkgId)).mtimeMs;
  const again = await repo.upload(Uint8Array.from(pkg), { name: 'ignored' });
  assert.equal(again.created, false);
  assert.deepEqual(again.package, a.package);
  assert.equal(again.package.name, undefined);
  assert.equal(statSync(repo.pathOf(pkgId)).mtimeMs, mtime);
  assert.equal(repo.list().length, 1);
});

test('refuses malformed, cut, unknown-key, badly signed and mismatched packages, storing nothing', async (t) => {
  const { dir, repo } = setup(t);
  await refused(repo.upload(Buffer.from('not a package at all')), 'MALFORMED');
  await refused(repo.upload(pkg.subarray(0, 20)), 'TRUNCATED');
  const stranger = keyPair('ed25519');
  const unknown = signPackage(imageManifest(image), image, stranger.privateKey);
  await assert.rejects(repo.upload(unknown), (e: unknown) => e instanceof FirmwareError && e.code === 'UNKNOWN_KEY' && !e.message.includes('BEGIN'));
  const envEnd = (parsePackageHeader(pkg) as { payloadOffset: number }).payloadOffset;
  const badSig = Uint8Array.from(pkg);
  badSig[envEnd - 1]! ^= 1;
  await refused(repo.upload(badSig), 'BAD_SIGNATURE');
  const badPayload = Uint8Array.from(pkg);
  badPayload[envEnd + 10]! ^= 1;
  await refused(repo.upload(badPayload), 'DIGEST_MISMATCH');
  await refused(repo.upload(pkg.subarray(0, pkg.byteLength - 1)), 'TRUNCATED');
  await refused(repo.upload(Buffer.concat([pkg, Buffer.of(0)])), 'SIZE_MISMATCH');
  const small = setup(t, { maxPackageSize: 100 }).repo;
  await assert.rejects(small.upload(pkg), (e: unknown) => e instanceof FirmwareRepositoryError && e.code === 'TOO_LARGE');
  const noKeys = setup(t, { trustedKeys: [] }).repo;
  await assert.rejects(noKeys.upload(pkg), /UNKNOWN_KEY: no trusted firmware keys are configured/);
  assert.equal(repo.list().length, 0);
  assert.deepEqual(readdirSync(join(dir, 'firmware', 'sha256')), []);
});

test('deltas record their base; list filters by vendor and class (names or IDs), version and kind', async (t) => {
  const { repo } = setup(t);
  const base = bytes(4000, 7);
  const patch = bytes(300, 8);
  const delta = signPackage(deltaManifest(patch, image, base, 101), patch, signer.privateKey);
  const other = signPackage({ ...imageManifest(image, 5, '0.9'), classId: VENDOR }, image, signer.privateKey);
  const d = (await repo.upload(delta)).package;
  await repo.upload(pkg);
  await repo.upload(other);
  assert.equal(d.kind, 'delta');
  assert.equal(d.baseDigest, createHash('sha256').update(base).digest('hex'));
  assert.equal(d.baseSize, base.byteLength);
  assert.equal(d.imageDigest, createHash('sha256').update(image).digest('hex'));
  assert.equal(d.payloadSize, patch.byteLength);
  assert.equal(repo.list().length, 3);
  const byName = repo.list({ vendor: 'example.com', class: 'sensor-v2' });
  assert.deepEqual(byName.map((p) => p.sequence), [101, 100], 'newest sequence first');
  assert.deepEqual(repo.list({ vendor: uuidString(VENDOR).toUpperCase(), class: uuidString(CLASS) }).length, 2);
  assert.deepEqual(repo.list({ version: '0.9' }).map((p) => p.sequence), [5]);
  assert.deepEqual(repo.list({ kind: 'delta' }).map((p) => p.id), [d.id]);
  assert.deepEqual(repo.list({ vendor: 'example.org' }), []);
  assert.throws(() => repo.list({ class: 'sensor-v2' }), (e: unknown) => e instanceof FirmwareRepositoryError && e.code === 'BAD_FILTER');
  assert.deepEqual(resolveTargetIds('example.com', 'sensor-v2'), { vendor: uuidString(VENDOR), class: uuidString(CLASS) });
});

test('remove is refused while in use, then deletes row, file and cached buffer', async (t) => {
  const used = new Set([pkgId]);
  const { repo } = setup(t, { inUse: (id) => used.has(id) });
  await repo.upload(pkg);
  assert.ok(await repo.open(pkgId));
  await assert.rejects(repo.remove(pkgId), (e: unknown) => e instanceof FirmwareRepositoryError && e.code === 'IN_USE');
  assert.ok(repo.get(pkgId));
  used.clear();
  const removed = await repo.remove(pkgId);
  assert.equal(removed.id, pkgId);
  assert.equal(repo.get(pkgId), undefined);
  assert.equal(existsSync(repo.pathOf(pkgId)), false);
  assert.equal(repo.cached(pkgId), undefined);
  assert.equal(await repo.open(pkgId), undefined);
  await assert.rejects(repo.remove(pkgId), (e: unknown) => e instanceof FirmwareRepositoryError && e.code === 'NOT_FOUND');
  // uploading it again works (nothing stale left)
  assert.equal((await repo.upload(pkg)).created, true);
});

test('open shares one buffer between concurrent readers, evicts least recently used, and detects a corrupted file', async (t) => {
  const pkgs = [1, 2, 3].map((s) => {
    const img = bytes(10_000, 100 + s);
    return signPackage(imageManifest(img, s), img, signer.privateKey);
  });
  const { repo } = setup(t, { cacheEntries: 2 });
  const ids: string[] = [];
  for (const p of pkgs) ids.push((await repo.upload(p)).package.id);
  const many = await Promise.all(Array.from({ length: 50 }, () => repo.open(ids[0]!)));
  assert.ok(many.every((b) => b === many[0]), 'one buffer for every concurrent reader');
  assert.deepEqual(new Uint8Array(many[0]!), pkgs[0]);
  await repo.open(ids[1]!);
  await repo.open(ids[0]!); // 0 is now the most recent
  await repo.open(ids[2]!); // evicts 1
  assert.ok(repo.cached(ids[0]!));
  assert.equal(repo.cached(ids[1]!), undefined);
  assert.ok(repo.cached(ids[2]!));
  assert.equal(await repo.open('0'.repeat(64)), undefined);
  assert.equal(await repo.open('../../etc/passwd'), undefined);
  const f = repo.pathOf(ids[1]!);
  const bad = readFileSync(f);
  bad[bad.length - 1]! ^= 1;
  writeFileSync(f, bad);
  await assert.rejects(repo.open(ids[1]!), (e: unknown) => e instanceof FirmwareRepositoryError && e.code === 'CORRUPT');
});

test('packages survive closing and reopening the store; leftover temporary files are cleared', async (t) => {
  const s = setup(t);
  await s.repo.upload(pkg, { name: 'kept' });
  writeFileSync(join(s.dir, 'firmware', 'tmp', 'half-written'), 'x');
  const repo = s.reopen();
  assert.deepEqual(readdirSync(join(s.dir, 'firmware', 'tmp')), []);
  assert.equal(repo.get(pkgId)?.name, 'kept');
  assert.deepEqual(new Uint8Array((await repo.open(pkgId))!), pkg);
  assert.equal((await repo.upload(pkg)).created, false);
});
