import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { BootStateStore, crc32 } from './boot-state.js';
import { FileFlash, MemoryFlash, PowerCut, PowerLoss } from './flash.js';
import { defineLayout } from './layout.js';

test('NOR semantics: erase sets 0xFF, a write only clears bits', () => {
  const f = new MemoryFlash(1024, { pageSize: 256 });
  assert.deepEqual([...f.read(0, 2)], [0xff, 0xff]);
  f.write(0, Uint8Array.of(0xf0, 0x0f));
  f.write(0, Uint8Array.of(0x3c, 0xff));
  assert.deepEqual([...f.read(0, 2)], [0x30, 0x0f]);
  f.erase(0);
  assert.deepEqual([...f.read(0, 2)], [0xff, 0xff]);
  assert.throws(() => f.read(1000, 100), RangeError);
  assert.throws(() => f.erase(4), RangeError);
});

test('a power cut tears the write in progress at the byte and keeps the power off until restored', () => {
  const power = new PowerCut();
  const f = new MemoryFlash(1024, { pageSize: 256, power });
  power.arm(300);
  f.write(0, new Uint8Array(200));
  assert.throws(() => f.write(200, new Uint8Array(200)), PowerLoss);
  assert.equal(power.off, true);
  const after = f.read(0, 400);
  assert.ok(after.subarray(0, 300).every((b) => b === 0));
  assert.ok(after.subarray(300).every((b) => b === 0xff));
  assert.throws(() => f.erase(0), PowerLoss);
  assert.equal(f.read(0, 1)[0], 0, 'nothing lands while the power is off');
  power.restore();
  power.arm(100);
  assert.throws(() => f.erase(0), PowerLoss); // a torn erase: first 100 bytes erased
  assert.equal(f.read(99, 1)[0], 0xff);
  assert.equal(f.read(100, 1)[0], 0);
  assert.equal(power.written, 400);
});

test('FileFlash keeps its bytes in one file across reopen', () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-flash-'));
  try {
    const path = join(dir, 'flash.bin');
    const a = FileFlash.create(path, 4096, { pageSize: 1024, fsync: true });
    a.write(1020, Uint8Array.of(1, 2, 3, 4, 5));
    a.erase(1);
    a.close();
    const b = FileFlash.open(path, { pageSize: 1024 });
    assert.equal(b.size, 4096);
    assert.deepEqual([...b.read(1020, 5)], [1, 2, 3, 4, 0xff]);
    b.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('crc32 matches the IEEE check value', () => {
  assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926);
});

test('boot state: the newest valid copy wins and a torn save at any byte keeps the previous state', () => {
  const layout = defineLayout({ pageSize: 512, slotSize: 8192 });
  const power = new PowerCut();
  const flash = new MemoryFlash(layout.size, { pageSize: 512, power });
  const store = new BootStateStore(flash, layout.state);
  assert.deepEqual(store.load(), { counter: 0, pending: false });
  store.save({ counter: 1, pending: false });
  store.save({ counter: 2, pending: true });
  assert.deepEqual(new BootStateStore(flash, layout.state).load(), { counter: 2, pending: true });
  power.resetCount();
  store.save({ counter: 3, pending: false });
  const cost = power.written;
  for (let cut = 0; cut < cost; cut += 7) {
    const f = new MemoryFlash(flash.bytes, { pageSize: 512, power });
    const s = new BootStateStore(f, layout.state);
    const before = s.load();
    power.arm(cut);
    assert.throws(() => s.save({ counter: before.counter + 1, pending: false }), PowerLoss);
    power.restore();
    assert.deepEqual(new BootStateStore(f, layout.state).load(), before, `cut at ${cut}`);
  }
});
