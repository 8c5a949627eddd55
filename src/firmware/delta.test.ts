import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { brotliCompressSync } from 'node:zlib';
import { applyPatch, applyPatchSync, PatchApplier } from './delta-apply.js';
import { createPatch } from './delta-encode.js';
import { DELTA_HEADER_LENGTH, encodeDeltaHeader, MAX_BATCH_EXTRA, MAX_CODED, parseDeltaHeader, pushVarint, zigzag } from './delta-format.js';
import { DiffDecoder, DiffModel, encodeDiff, RangeEncoder } from './delta-model.js';
import { suffixArray } from './delta-suffix-array.js';
import { FirmwareError } from './error.js';
import { xorshift32 as rng } from './test-helpers.js';


function randomBytes(n: number, seed: number, alphabet = 256): Uint8Array {
  const r = rng(seed);
  return Uint8Array.from({ length: n }, () => r() % alphabet);
}

/** A "firmware-like" edit of `old`: inserted, deleted, moved and tweaked blocks. */
function edit(old: Uint8Array, seed: number): Uint8Array {
  const r = rng(seed);
  const parts: Uint8Array[] = [];
  let p = 0;
  while (p < old.length) {
    const len = Math.min(old.length - p, 200 + (r() % 3000));
    const block = old.slice(p, p + len);
    switch (r() % 6) {
      case 0:
        parts.push(randomBytes(1 + (r() % 300), r()));
        parts.push(block);
        break;
      case 1:
        break;
      case 2:
        for (let i = 0; i < block.length; i += 37) block[i] = (block[i]! + 4) & 0xff;
        parts.push(block);
        break;
      case 3: {
        const from = r() % old.length;
        parts.push(old.slice(from, from + 500));
        parts.push(block);
        break;
      }
      default:
        parts.push(block);
    }
    p += len;
  }
  return Buffer.concat(parts);
}

async function applyChunked(old: Uint8Array, patch: Uint8Array, chunk: number): Promise<Uint8Array> {
  return applyPatch(old, patch, chunk);
}

function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string> {
  const run = typeof p === 'function' ? Promise.resolve().then(p) : p;
  return run.then(
    () => 'OK',
    (e: unknown) => {
      assert.ok(e instanceof FirmwareError, `expected FirmwareError, got ${String(e)}`);
      return e.code;
    },
  );
}

test('suffix array matches a naive sort', () => {
  for (let seed = 1; seed < 200; seed++) {
    const d = randomBytes(seed % 50, seed, 1 + (seed % 4));
    const b = Buffer.from(d);
    const want = [...Array(d.length + 1).keys()].sort((x, y) => Buffer.compare(b.subarray(x), b.subarray(y)));
    assert.deepEqual([...suffixArray(d)], want);
  }
});

test('round trips: random, structured, empty, identical', async () => {
  const base = randomBytes(100_000, 7, 16);
  const cases: [string, Uint8Array, Uint8Array][] = [
    ['random', randomBytes(5000, 1), randomBytes(6000, 2)],
    ['structured', base, edit(base, 3)],
    ['identical', base, base],
    ['empty both', new Uint8Array(0), new Uint8Array(0)],
    ['empty old', new Uint8Array(0), randomBytes(1000, 4)],
    ['empty new', randomBytes(1000, 5), new Uint8Array(0)],
    ['one byte', Uint8Array.of(1), Uint8Array.of(2)],
    ['long identical run', new Uint8Array(3 * MAX_BATCH_EXTRA + 5), new Uint8Array(3 * MAX_BATCH_EXTRA + 9)],
    ['long new run', new Uint8Array(100), randomBytes(3 * MAX_BATCH_EXTRA + 7, 6)],
  ];
  for (const [name, old, neu] of cases) {
    const patch = createPatch(old, neu, { quality: 5 });
    assert.deepEqual(Buffer.from(applyPatchSync(old, patch)), Buffer.from(neu), `${name} (sync)`);
    assert.deepEqual(Buffer.from(await applyPatch(old, patch)), Buffer.from(neu), `${name} (stream)`);
  }
  const same = createPatch(base, base);
  assert.ok(same.length < 200, `identical 100 kB images give a ${same.length}-byte patch`);
  const edited = edit(base, 3);
  const p = createPatch(base, edited);
  assert.ok(p.length < edited.length / 4, `structured edit patch ${p.length} of ${edited.length}`);
});

test('chunks of 1, 7 and 4096 bytes give the same image', async () => {
  const old = randomBytes(40_000, 11, 8);
  const neu = edit(old, 12);
  const patch = createPatch(old, neu, { quality: 5 });
  for (const c of [1, 7, 4096]) assert.deepEqual(Buffer.from(await applyChunked(old, patch, c)), Buffer.from(neu), `chunk ${c}`);
});

test('async readOld and write, with bounded reads', async () => {
  const old = randomBytes(70_000, 21, 4);
  const neu = edit(old, 22);
  const patch = createPatch(old, neu, { quality: 5 });
  const parts: Uint8Array[] = [];
  let maxRead = 0;
  const a = new PatchApplier({
    readOld: async (o, n) => {
      assert.ok(o >= 0 && o + n <= old.length);
      maxRead = Math.max(maxRead, n);
      await new Promise((r) => setImmediate(r));
      return old.slice(o, o + n);
    },
    write: async (c) => {
      await new Promise((r) => setImmediate(r));
      parts.push(c);
    },
  });
  for (let i = 0; i < patch.length; i += 333) await a.push(patch.subarray(i, i + 333));
  await a.finish();
  assert.deepEqual(Buffer.concat(parts), Buffer.from(neu));
  assert.ok(maxRead <= 4096);
  assert.equal(a.header?.newSize, neu.length);
});

test('wrong base, truncated and corrupt patches are rejected with a code', async () => {
  const old = randomBytes(20_000, 31, 8);
  const neu = edit(old, 32);
  const patch = createPatch(old, neu, { quality: 5 });
  const other = old.slice();
  other[100]! ^= 1;
  assert.equal(await codeOf(applyPatch(other, patch)), 'WRONG_BASE');
  assert.equal(await codeOf(() => applyPatchSync(other, patch)), 'WRONG_BASE');
  for (const cut of [0, 10, DELTA_HEADER_LENGTH, DELTA_HEADER_LENGTH + 3, patch.length - 1]) {
    assert.equal(await codeOf(applyPatch(old, patch.subarray(0, cut))), 'TRUNCATED', `cut at ${cut} (stream)`);
    assert.equal(await codeOf(() => applyPatchSync(old, patch.subarray(0, cut))), 'TRUNCATED', `cut at ${cut} (sync)`);
  }
  const badMagic = patch.slice();
  badMagic[0] = 0;
  assert.equal(await codeOf(applyPatch(old, badMagic)), 'MALFORMED');
  const badDigest = patch.slice();
  badDigest[60]! ^= 1;
  assert.equal(await codeOf(applyPatch(old, badDigest)), 'DIGEST_MISMATCH');
  // flipped bits in the body: a FirmwareError, or (a bit Brotli ignores) exactly the right image
  const r = rng(33);
  let rejected = 0;
  for (let i = 0; i < 60; i++) {
    const bad = patch.slice();
    bad[DELTA_HEADER_LENGTH + (r() % (patch.length - DELTA_HEADER_LENGTH))]! ^= 1 << (r() % 8);
    const c1 = await codeOf(applyPatch(old, bad));
    const c2 = await codeOf(() => applyPatchSync(old, bad));
    assert.equal(c1 === 'OK', c2 === 'OK', `${c1} vs ${c2}`);
    if (c1 === 'OK') assert.deepEqual(Buffer.from(applyPatchSync(old, bad)), Buffer.from(neu));
    else rejected++;
  }
  assert.ok(rejected > 50, `${rejected} of 60 corrupted patches rejected`);
});

function handMade(old: Uint8Array, newSize: number, stream: number[]): Uint8Array {
  const sha = (b: Uint8Array) => createHash('sha256').update(b).digest();
  const h = encodeDeltaHeader({ flags: 0, oldSize: old.length, oldSha256: sha(old), newSize, newSha256: sha(new Uint8Array(newSize)) });
  return Buffer.concat([h, brotliCompressSync(Uint8Array.from(stream))]);
}

test('hostile instruction streams: out-of-bounds reads, overlong writes, oversize batches', async () => {
  const old = new Uint8Array(100);
  const varint = (v: number): number[] => {
    const o: number[] = [];
    pushVarint(o, v);
    return o;
  };
  const tri = (d: number, e: number, s: number): number[] => {
    const o: number[] = [];
    pushVarint(o, d);
    pushVarint(o, e);
    pushVarint(o, zigzag(s));
    return o;
  };
  const cases: [string, number, number[], string][] = [
    ['read past old', 20, [1, ...tri(10, 0, 85), 0, 1, ...tri(10, 0, 0), 0, 0], 'MALFORMED'],
    ['read before old', 10, [1, ...tri(0, 0, -5), 0, 1, ...tri(10, 0, 0), 0, 0], 'MALFORMED'],
    ['seek then read inside', 10, [1, ...tri(0, 0, 90), 0, 1, ...tri(10, 0, 0), 0, 0], 'OK'],
    ['write past new', 10, [1, ...tri(11, 0, 0), 0, 0], 'SIZE_MISMATCH'],
    ['short output', 10, [1, ...tri(5, 0, 0), 0, 0], 'SIZE_MISMATCH'],
    ['coded section over the limit', 1000, [1, ...tri(1000, 0, 0), ...varint(MAX_CODED + 1)], 'MALFORMED'],
    ['coded section longer than its diff bytes need', 10, [1, ...tri(1, 0, 0), 22, ...new Array<number>(22).fill(1), 0], 'MALFORMED'],
    ['coded section past the stream', 10, [1, ...tri(10, 0, 0), 5, 1, 2], 'TRUNCATED'],
    ['nonzero coded diff', 10, [1, ...tri(10, 0, 0), 4, 0xff, 0xff, 0xff, 0xff, 0], 'DIGEST_MISMATCH'],
    ['batch data over limit', MAX_BATCH_EXTRA + 1, [1, ...tri(0, MAX_BATCH_EXTRA + 1, 0)], 'MALFORMED'],
    ['too many triples', 10, [0x81, 0x08], 'MALFORMED'],
    ['empty triple not first', 10, [2, ...tri(5, 0, 0), ...tri(0, 0, 0), 0, 0], 'MALFORMED'],
    ['data after end', 0, [0, 0], 'MALFORMED'],
    ['no end batch', 10, [1, ...tri(10, 0, 0), 0], 'TRUNCATED'],
    ['bad varint', 10, [0x80, 0x80, 0x80, 0x80, 0x80, 0x01], 'MALFORMED'],
    ['exact', 10, [1, ...tri(10, 0, 0), 0, 0], 'OK'],
  ];
  for (const [name, newSize, stream, code] of cases) {
    const p = handMade(old, newSize, stream);
    assert.equal(await codeOf(applyPatch(old, p, 5)), code, `${name} (stream)`);
    assert.equal(await codeOf(() => applyPatchSync(old, p)), code, `${name} (sync)`);
  }
});

test('header round trip and rejection', () => {
  const h = { flags: 0, oldSize: 5, oldSha256: new Uint8Array(32).fill(1), newSize: 2 ** 32 - 1, newSha256: new Uint8Array(32).fill(2) };
  assert.deepEqual(parseDeltaHeader(encodeDeltaHeader(h)), h);
  const b = encodeDeltaHeader(h);
  b[8] = 1;
  assert.throws(() => parseDeltaHeader(b), (e: unknown) => e instanceof FirmwareError && e.code === 'MALFORMED');
  const v = encodeDeltaHeader(h);
  v[4] = 2;
  assert.throws(() => parseDeltaHeader(v), (e: unknown) => e instanceof FirmwareError && e.code === 'MALFORMED');
});

test('diff decoder replay: subInto turns new bytes back into old ones with the same model state', () => {
  const r = rng(33);
  const n = 20_000;
  const old = Uint8Array.from({ length: n }, () => r() % 7);
  const diff = Uint8Array.from({ length: n }, (_, i) => (i % 3000 < 2000 ? 0 : r() % 5 === 0 ? r() & 0xff : 0));
  const m = new DiffModel();
  const enc = new RangeEncoder();
  encodeDiff(m, enc, old, diff, n);
  encodeDiff(m, enc, old, diff, n);
  const coded = enc.finish();
  const neu = old.map((o, i) => (o + diff[i]!) & 0xff);
  // first half replayed from the new bytes, second half applied to old ones: the state must carry over
  const dec = new DiffDecoder();
  const dm = new DiffModel();
  dec.begin(coded, 0, coded.length);
  const a = neu.slice();
  dec.subInto(dm, a, 0, n);
  assert.deepEqual(a, old);
  const b = old.slice();
  dec.addInto(dm, b, 0, n);
  assert.deepEqual(b, neu);
});
