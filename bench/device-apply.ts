/**
 * Device-side patch application (issue 5): for each bench pair (bench/delta.ts), the patch is applied by
 * `measureApply` (src/device/apply-child.ts) in a Node process of its own: old image read 4 KiB at a time from its
 * file, patch fed 4 KiB at a time, new image hashed. Figures: throughput, the peak live memory of the apply (what a
 * device's RAM must hold) and the process's peak RSS growth, beside the same child applying a 4 KiB patch (the floor
 * of the harness). The child's SHA-256 of the new image must be the real new image's. Patches are cached under bench/.cache/patches, keyed by both images and the encoder's compiled code, so
 * a changed encoder makes new ones.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { measureApply } from '../src/device/apply-child.js';
import { createPatch } from '../src/firmware/index.js';
import { DELTA_PAIRS, fetchBinary, type DeltaPair } from './delta.js';

const here = new URL('.', import.meta.url).pathname;
const CACHE = join(here, '..', '..', 'bench', '.cache', 'patches');
/** The compiled encoder (dist/src/firmware): its code is part of a cached patch's key. */
const ENCODER = ['delta-encode.js', 'delta-format.js', 'delta-model.js', 'delta-suffix-array.js'].map((f) => join(here, '..', 'src', 'firmware', f));

/** One apply's figures. */
export interface ApplyFigure {
  name: string;
  newSize: number;
  patchSize: number;
  /** New-image bytes per second of apply (MB/s = 1e6 B/s). */
  mbps: number;
  /** Peak of the array buffers the apply held, bytes. */
  peakBuffers: number;
  /** Peak JavaScript heap growth of the apply, bytes. */
  peakHeap: number;
  /** Peak RSS above the RSS before the apply, bytes. */
  peakRssDelta: number;
  /** The child's RSS before the apply, bytes. */
  rssBefore: number;
}

export interface DeviceApplyResult {
  pairs: ApplyFigure[];
  /** The same child applying a 4 KiB patch. */
  floor: ApplyFigure;
}

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The patch file for old → new, created (and cached) when missing. */
function patchFile(old: Uint8Array, neu: Uint8Array): string {
  const key = createHash('sha256').update(old).update(neu);
  for (const f of ENCODER) key.update(readFileSync(f));
  const path = join(CACHE, `${key.digest('hex').slice(0, 32)}.patch`);
  if (!existsSync(path)) {
    mkdirSync(CACHE, { recursive: true });
    writeFileSync(`${path}.tmp`, createPatch(old, neu));
    renameSync(`${path}.tmp`, path);
  }
  return path;
}

async function measure(name: string, oldPath: string, neu: Uint8Array, patchPath: string): Promise<ApplyFigure> {
  const r = await measureApply(oldPath, patchPath);
  if (r.newSize !== neu.length || r.sha256 !== sha256(neu)) {
    throw new Error(`${name}: the device produced ${r.newSize} bytes with SHA-256 ${r.sha256}, not the new image`);
  }
  return {
    name, newSize: r.newSize, patchSize: readFileSync(patchPath).length,
    mbps: r.mbps, peakBuffers: r.peakBuffers, peakHeap: r.peakHeap, peakRssDelta: r.peakRssDelta, rssBefore: r.rssBefore,
  };
}

/** Applies each pair's patch in a child process; `pairs` defaults to the delta bench's pairs. */
export async function benchDeviceApply(pairs: readonly DeltaPair[] = DELTA_PAIRS): Promise<DeviceApplyResult> {
  const out: ApplyFigure[] = [];
  for (const p of pairs) {
    const oldPath = fetchBinary(p.pkg, p.old, p.file);
    const old = readFileSync(oldPath);
    const neu = readFileSync(fetchBinary(p.pkg, p.new, p.file));
    out.push(await measure(p.name, oldPath, neu, patchFile(old, neu)));
  }
  const tmp = mkdtempSync(join(tmpdir(), 'warden-apply-floor-'));
  try {
    const old = Buffer.alloc(4096, 0x5a);
    const neu = Buffer.from(old);
    neu.fill(0xa5, 1000, 1100);
    writeFileSync(join(tmp, 'old'), old);
    writeFileSync(join(tmp, 'patch'), createPatch(old, neu));
    const floor = await measure('4 KiB image', join(tmp, 'old'), neu, join(tmp, 'patch'));
    return { pairs: out, floor };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\/dist\//, '/dist/'))) {
  const r = await benchDeviceApply();
  const kib = (b: number) => `${(b / 1024).toFixed(0)} KiB`;
  for (const f of [...r.pairs, r.floor]) {
    console.log(`${f.name.padEnd(24)} new ${f.newSize} patch ${f.patchSize}: ${f.mbps.toFixed(1)} MB/s, buffers ${kib(f.peakBuffers)}, heap +${kib(f.peakHeap)}, peak RSS +${kib(f.peakRssDelta)} (RSS before ${kib(f.rssBefore)})`);
  }
}
