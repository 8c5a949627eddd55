import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createPatch } from '../firmware/index.js';
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
