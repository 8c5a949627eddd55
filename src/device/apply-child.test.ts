import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createInPlacePatch, createPatch } from '../firmware/index.js';
import { measureApply } from './apply-child.js';
import { imagePair } from './test-helpers.js';

test('a patch applied in a child process reports the new image and its peak memory', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-apply-'));
  try {
    const [old, neu] = imagePair(5, 100_000);
    writeFileSync(join(dir, 'old.bin'), old);
    writeFileSync(join(dir, 'patch.bin'), createPatch(old, neu, { quality: 5 }));
    const r = await measureApply(join(dir, 'old.bin'), join(dir, 'patch.bin'), join(dir, 'new.bin'));
    assert.equal(r.newSize, neu.length);
    assert.equal(r.sha256, createHash('sha256').update(neu).digest('hex'));
    assert.ok(readFileSync(join(dir, 'new.bin')).equals(neu));
    assert.ok(r.peakRss >= r.rssBefore && r.peakRssDelta >= 0);
    assert.ok(r.peakBuffers > 0 && r.peakBuffers <= 64 * 1024, `the apply held ${r.peakBuffers} bytes of buffers`);
    await assert.rejects(measureApply(join(dir, 'new.bin'), join(dir, 'patch.bin')), /WRONG_BASE/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an in-place apply of a 2 MiB image holds under 64 KiB of buffers (the slot is a file)', { timeout: 300_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-apply-'));
  try {
    const [old, neu] = imagePair(8, 2 * 1024 * 1024);
    const patch = createInPlacePatch(old, neu, { pageSize: 4096, quality: 5 });
    writeFileSync(join(dir, 'old.bin'), old);
    writeFileSync(join(dir, 'patch.bin'), patch);
    const r = await measureApply(join(dir, 'old.bin'), join(dir, 'patch.bin'), join(dir, 'new.bin'), { inPlace: true });
    assert.equal(r.newSize, neu.length);
    assert.equal(r.sha256, createHash('sha256').update(neu).digest('hex'));
    assert.ok(readFileSync(join(dir, 'new.bin')).equals(neu));
    assert.ok(r.peakBuffers > 0 && r.peakBuffers <= 64 * 1024, `the in-place apply held ${r.peakBuffers} bytes of buffers`);
    // the file-backed slot is rewritten in place: the result file is the old one, overwritten
    await assert.rejects(measureApply(join(dir, 'new.bin'), join(dir, 'patch.bin'), undefined, { inPlace: true }), /DIGEST_MISMATCH|MALFORMED|TRUNCATED/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
