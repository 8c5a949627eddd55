import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createPatch } from './delta-encode.js';
import { applyInPlace, applyInPlaceStream, createInPlacePatch, inPlacePageAt, inPlaceWriteOrder, parseInPlaceLayout, PATCH_PIECE, type InPlaceFlash, type PatchSource } from './delta-inplace.js';
import { FirmwareError } from './error.js';
import { xorshift32 as rng } from './test-helpers.js';


/** Old image and a new one made of moved, inserted and tweaked blocks of it (so copies point backwards and forwards). */
function pair(seed: number, size: number): [Uint8Array, Uint8Array] {
  const r = rng(seed);
  const old = Uint8Array.from({ length: size }, () => r() % 16);
  const parts: Uint8Array[] = [];
  let total = 0;
  while (total < size + 3000) {
    const from = r() % size;
    const block = old.slice(from, from + 100 + (r() % 4000));
    if (r() % 3 === 0) block[0] = (block[0]! + 1) & 0xff;
    parts.push(block);
    if (r() % 4 === 0) parts.push(Uint8Array.from({ length: r() % 50 }, () => r() & 0xff));
    total += block.length;
  }
  return [old, Buffer.concat(parts)];
}

class PowerCut extends Error {}

/** A single-slot flash: reads must not touch pages already rewritten in this run; can lose power after `cutAfter` pages. */
function flashOf(old: Uint8Array, newSize: number, pageSize: number) {
  const mem = new Uint8Array(Math.max(old.length, newSize));
  mem.set(old);
  const f = {
    mem,
    committed: 0,
    written: 0,
    dirty: new Set<number>(),
    cutAfter: Infinity,
    strict: true,
    read(o: number, n: number): Uint8Array {
      if (f.strict && f.dirty.size < Math.ceil(newSize / pageSize))
        for (let p = Math.floor(o / pageSize); p * pageSize < o + n; p++) assert.ok(!f.dirty.has(p), `read at ${o} of rewritten page ${p}`);
      return mem.slice(o, o + n);
    },
    writePage(page: number, data: Uint8Array): void {
      if (f.written === f.cutAfter) throw new PowerCut();
      assert.ok(!f.dirty.has(page));
      mem.set(data, page * pageSize);
      f.dirty.add(page);
      f.committed++;
      f.written++;
    },
  };
  return f;
}

/** A patch source over `patch` that records its reads (async, as a file read may be). */
function sourceOf(patch: Uint8Array, reads: [number, number][] = []): PatchSource {
  return {
    size: patch.length,
    read: async (o, n) => {
      reads.push([o, n]);
      await new Promise((r) => setImmediate(r));
      return patch.slice(o, o + n);
    },
  };
}

type Apply = (f: InPlaceFlash, patch: Uint8Array, committed?: number) => Promise<void>;
/** The two appliers: the streaming one a device uses and the synchronous one for tools. */
const appliers: [string, Apply][] = [
  ['stream', (f, patch, committed) => applyInPlaceStream(f, sourceOf(patch), committed)],
  ['sync', async (f, patch, committed) => applyInPlace(f, patch, committed)],
];

test('in-place result equals the out-of-place result and reads only pages not yet rewritten', async () => {
  for (const [seed, size, pageSize, direction] of [
    [1, 60_000, 4096, 'up'],
    [1, 60_000, 4096, 'down'],
    [2, 30_000, 1024, 'auto'],
    [3, 5_000, 4096, 'down'],
    [5, 20_000, 100, 'auto'],
  ] as const) {
    const [old, neu] = pair(seed, size);
    const patch = createInPlacePatch(old, neu, { pageSize, quality: 5, direction });
    for (const [name, apply] of appliers) {
      const f = flashOf(old, neu.length, pageSize);
      await apply(f, patch);
      assert.deepEqual(Buffer.from(f.mem.subarray(0, neu.length)), Buffer.from(neu), `${name}: seed ${seed}`);
    }
    const layout = parseInPlaceLayout(patch);
    const order = inPlaceWriteOrder(layout);
    assert.deepEqual([...order].sort((a, b) => a - b), Array.from({ length: Math.ceil(neu.length / pageSize) }, (_, i) => i));
    assert.deepEqual(order.map((_, k) => inPlacePageAt(layout, k)), order);
    assert.equal(inPlacePageAt(layout, order.length), -1);
  }
});

test('resume after a power cut at random pages gives the right image', async () => {
  const pageSize = 2048;
  const [old, neu] = pair(9, 40_000);
  const r = rng(10);
  for (let i = 0; i < 12; i++) {
    const patch = createInPlacePatch(old, neu, { pageSize, quality: 5, direction: (['up', 'down', 'auto'] as const)[i % 3] });
    const pages = Math.ceil(neu.length / pageSize);
    const cut = r() % pages;
    // cut under one applier, resume under either: both decode the same stream the same way
    const [, first] = appliers[i % 2]!;
    const [name, then] = appliers[(i >> 1) % 2]!;
    const f = flashOf(old, neu.length, pageSize);
    f.cutAfter = cut;
    // the flash's own error reaches the caller unchanged
    await assert.rejects(first(f, patch), PowerCut);
    assert.equal(f.committed, cut);
    // after reboot the journal says pages [0, cut) are committed: resume there
    f.cutAfter = Infinity;
    f.strict = false;
    await then(f, patch, f.committed);
    assert.equal(f.written, pages, 'the committed pages are not written again');
    assert.deepEqual(Buffer.from(f.mem.subarray(0, neu.length)), Buffer.from(neu), `${name}: cut after ${cut} pages`);
  }
});

test('the streaming applier reads the patch in order, a piece at a time, and reads a long write order in pieces', async () => {
  const [old, neu] = pair(11, 120_000);
  // 64-byte pages in a content-chosen order: a write-order table longer than the first read
  const patch = createInPlacePatch(old, neu, { pageSize: 64, quality: 5 });
  const layout = parseInPlaceLayout(patch);
  assert.ok(layout.streamOffset > 1024, `table ends at ${layout.streamOffset}`);
  const reads: [number, number][] = [];
  const f = flashOf(old, neu.length, 64);
  await applyInPlaceStream(f, sourceOf(patch, reads));
  assert.deepEqual(Buffer.from(f.mem.subarray(0, neu.length)), Buffer.from(neu));
  const stream = reads.filter(([o]) => o >= layout.streamOffset);
  assert.ok(stream.length >= Math.floor((patch.length - layout.streamOffset) / PATCH_PIECE));
  let at = layout.streamOffset;
  for (const [o, n] of stream) {
    assert.equal(o, at, 'in order, each byte once');
    assert.ok(n <= PATCH_PIECE);
    at += n;
  }
  assert.equal(at, patch.length);
  for (const [o, n] of reads.filter(([o]) => o < layout.streamOffset)) assert.ok(o === 0 && n <= 2 * (layout.streamOffset + 256), `layout read [${o}, ${o + n})`);
});

function applyAndRead(old: Uint8Array, newSize: number, patch: Uint8Array): Uint8Array {
  const f = flashOf(old, newSize, 1024);
  applyInPlace(f, patch);
  return f.mem.subarray(0, newSize);
}

test('in-place edge cases and rejection', async () => {
  const empty = new Uint8Array(0);
  const [old, neu] = pair(4, 10_000);
  const patch = createInPlacePatch(old, neu, { pageSize: 1024, quality: 5 });
  for (const [name, apply] of appliers) {
    await apply(flashOf(empty, 0, 4096), createInPlacePatch(empty, empty));
    const code = async (p: Uint8Array): Promise<string> => {
      try {
        await apply(flashOf(old, neu.length, 1024), p);
        return 'OK';
      } catch (e) {
        assert.ok(e instanceof FirmwareError, `${name}: ${String(e)}`);
        return e.code;
      }
    };
    assert.equal(await code(patch.subarray(0, patch.length - 1)), 'TRUNCATED', name);
    assert.equal(await code(patch.subarray(0, 95)), 'TRUNCATED', name);
    assert.equal(await code(createPatch(old, neu, { quality: 5 })), 'MALFORMED', name);
    const r = rng(5);
    for (let i = 0; i < 30; i++) {
      const bad = patch.slice();
      const at = parseInPlaceLayout(patch).streamOffset;
      bad[at + (r() % (bad.length - at))]! ^= 1 << (r() % 8);
      const c = await code(bad);
      if (c === 'OK') assert.deepEqual(Buffer.from(applyAndRead(old, neu.length, bad)), Buffer.from(neu));
    }
    const wrong = patch.slice();
    wrong[60]! ^= 1;
    assert.equal(await code(wrong), 'DIGEST_MISMATCH', name);
    await assert.rejects(apply(flashOf(old, neu.length, 1024), patch, Math.ceil(neu.length / 1024) + 1), RangeError, `${name}: more committed pages than the image has`);
  }
});

test('content that moved up is written in descending order at about the A/B size', async () => {
  const r = rng(21);
  const old = Uint8Array.from({ length: 96_000 }, () => r() & 0xff);
  const neu = Buffer.concat([Uint8Array.from({ length: 700 }, () => r() & 0xff), old.subarray(0, 50_000), Uint8Array.of(1, 2, 3), old.subarray(50_000)]);
  const patch = createInPlacePatch(old, neu, { pageSize: 4096, quality: 9 });
  const layout = parseInPlaceLayout(patch);
  assert.deepEqual(layout.runs, [{ first: 0, count: Math.ceil(neu.length / 4096), descending: true }]);
  const ab = createPatch(old, neu, { quality: 9 });
  assert.ok(patch.length < ab.length + 200, `in place ${patch.length} vs A/B ${ab.length}`);
  const f = flashOf(old, neu.length, 4096);
  await applyInPlaceStream(f, sourceOf(patch));
  assert.deepEqual(Buffer.from(f.mem.subarray(0, neu.length)), Buffer.from(neu));
});

test('a write order that is not a permutation of the pages is rejected', () => {
  const [old, neu] = pair(6, 9_000);
  const patch = createInPlacePatch(old, neu, { pageSize: 1024, quality: 5, direction: 'up' });
  // one ascending run of 9 pages: count varint at 92, first page at 93, pages × 2 at 94
  assert.equal(patch[92], 1);
  const bad = patch.slice();
  bad[93] = 1;
  assert.throws(() => parseInPlaceLayout(bad), (e: unknown) => e instanceof FirmwareError && e.code === 'MALFORMED');
});
