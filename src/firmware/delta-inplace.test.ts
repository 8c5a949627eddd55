import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createPatch } from './delta-encode.js';
import { applyInPlace, createInPlacePatch, inPlaceWriteOrder, parseInPlaceLayout } from './delta-inplace.js';
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

test('in-place result equals the out-of-place result and reads only pages not yet rewritten', () => {
  for (const [seed, size, pageSize, direction] of [
    [1, 60_000, 4096, 'up'],
    [1, 60_000, 4096, 'down'],
    [2, 30_000, 1024, 'auto'],
    [3, 5_000, 4096, 'down'],
    [5, 20_000, 100, 'auto'],
  ] as const) {
    const [old, neu] = pair(seed, size);
    const patch = createInPlacePatch(old, neu, { pageSize, quality: 5, direction });
    const f = flashOf(old, neu.length, pageSize);
    applyInPlace(f, patch);
    assert.deepEqual(Buffer.from(f.mem.subarray(0, neu.length)), Buffer.from(neu), `seed ${seed}`);
    const order = inPlaceWriteOrder(parseInPlaceLayout(patch));
    assert.deepEqual([...order].sort((a, b) => a - b), Array.from({ length: Math.ceil(neu.length / pageSize) }, (_, i) => i));
  }
});

test('resume after a power cut at random pages gives the right image', () => {
  const pageSize = 2048;
  const [old, neu] = pair(9, 40_000);
  const r = rng(10);
  for (let i = 0; i < 12; i++) {
    const patch = createInPlacePatch(old, neu, { pageSize, quality: 5, direction: (['up', 'down', 'auto'] as const)[i % 3] });
    const pages = Math.ceil(neu.length / pageSize);
    const cut = r() % pages;
    const f = flashOf(old, neu.length, pageSize);
    f.cutAfter = cut;
    assert.throws(() => applyInPlace(f, patch), PowerCut);
    assert.equal(f.committed, cut);
    // after reboot the journal says pages [0, cut) are committed: resume there
    f.cutAfter = Infinity;
    f.strict = false;
    applyInPlace(f, patch, f.committed);
    assert.deepEqual(Buffer.from(f.mem.subarray(0, neu.length)), Buffer.from(neu), `cut after ${cut} pages`);
  }
});

function applyAndRead(old: Uint8Array, newSize: number, patch: Uint8Array): Uint8Array {
  const f = flashOf(old, newSize, 1024);
  applyInPlace(f, patch);
  return f.mem.subarray(0, newSize);
}

test('in-place edge cases and rejection', () => {
  const empty = new Uint8Array(0);
  const f0 = flashOf(empty, 0, 4096);
  applyInPlace(f0, createInPlacePatch(empty, empty));
  const [old, neu] = pair(4, 10_000);
  const patch = createInPlacePatch(old, neu, { pageSize: 1024, quality: 5 });
  const code = (p: Uint8Array): string => {
    try {
      applyInPlace(flashOf(old, neu.length, 1024), p);
      return 'OK';
    } catch (e) {
      assert.ok(e instanceof FirmwareError, String(e));
      return e.code;
    }
  };
  assert.equal(code(patch.subarray(0, patch.length - 1)), 'TRUNCATED');
  assert.equal(code(createPatch(old, neu, { quality: 5 })), 'MALFORMED');
  const r = rng(5);
  for (let i = 0; i < 30; i++) {
    const bad = patch.slice();
    const at = parseInPlaceLayout(patch).streamOffset;
    bad[at + (r() % (bad.length - at))]! ^= 1 << (r() % 8);
    const c = code(bad);
    if (c === 'OK') assert.deepEqual(Buffer.from(applyAndRead(old, neu.length, bad)), Buffer.from(neu));
  }
  const wrong = patch.slice();
  wrong[60]! ^= 1;
  assert.equal(code(wrong), 'DIGEST_MISMATCH');
});

test('content that moved up is written in descending order at about the A/B size', () => {
  const r = rng(21);
  const old = Uint8Array.from({ length: 96_000 }, () => r() & 0xff);
  const neu = Buffer.concat([Uint8Array.from({ length: 700 }, () => r() & 0xff), old.subarray(0, 50_000), Uint8Array.of(1, 2, 3), old.subarray(50_000)]);
  const patch = createInPlacePatch(old, neu, { pageSize: 4096, quality: 9 });
  const layout = parseInPlaceLayout(patch);
  assert.deepEqual(layout.runs, [{ first: 0, count: Math.ceil(neu.length / 4096), descending: true }]);
  const ab = createPatch(old, neu, { quality: 9 });
  assert.ok(patch.length < ab.length + 200, `in place ${patch.length} vs A/B ${ab.length}`);
  const f = flashOf(old, neu.length, 4096);
  applyInPlace(f, patch);
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
