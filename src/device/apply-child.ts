/**
 * Device-side patch application in a process of its own, for the memory figures: `node apply-child.js OLD PATCH
 * [OUT]` applies a streaming patch with PatchApplier (old image read 4 KiB at a time from a file, patch fed 4 KiB at
 * a time, new image written to OUT or only hashed) and prints one JSON ApplyReport line; with `--in-place` first, an
 * in-place patch with applyInPlaceStream over a copy of OLD in a file (OUT, or a temporary one), the file standing
 * for the single slot's flash, so no image is held in memory. `measureApply` forks it.
 *
 * Three figures, because a Node process is not a device: the peak of the array buffers the apply holds (measured after
 * full collections every few pushes: the algorithm's buffers, the figure to compare with a device's RAM), the peak
 * growth of the JavaScript heap (objects a C implementation would not have), and the process's peak RSS growth (VmHWM, reset through
 * /proc/self/clear_refs so the parent's peak does not carry over), which also counts garbage not yet collected,
 * the Brotli decoder's native state and V8's own growth.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, copyFileSync, fstatSync, ftruncateSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { applyInPlaceStream, PatchApplier, readInPlaceLayout } from '../firmware/index.js';

/** What one apply measured. */
export interface ApplyReport {
  readonly newSize: number;
  /** SHA-256 of the new image, hex. */
  readonly sha256: string;
  readonly ms: number;
  /** RSS before the apply, bytes. */
  readonly rssBefore: number;
  /** The process's peak RSS during the apply (VmHWM), bytes. */
  readonly peakRss: number;
  /** Peak RSS above the RSS before the apply, bytes. */
  readonly peakRssDelta: number;
  /** Peak of the array buffers the apply held (after full collections, sampled every 16 pushes), bytes. */
  readonly peakBuffers: number;
  /** Peak growth of the JavaScript heap after full collections (objects, closures, promises), bytes. */
  readonly peakHeap: number;
  /** Peak growth of native memory reported to V8 outside array buffers (the Brotli decoder's state), bytes. */
  readonly peakNative: number;
  /** Throughput of the timed apply, MB/s. */
  readonly mbps: number;
}

const PIECE = 4096;

function readAt(fd: number, offset: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, out, done, length - done, offset + done);
    if (n === 0) break;
    done += n;
  }
  return done === length ? out : out.subarray(0, done);
}

const gc = (globalThis as { gc?: () => void }).gc;


function usage(): { heap: number; buffers: number; native: number } {
  const m = process.memoryUsage();
  return { heap: m.heapUsed, buffers: m.arrayBuffers, native: m.external - m.arrayBuffers };
}

/** Linux VmHWM (peak RSS) in bytes, after `reset` the current RSS; 0 where /proc is missing. */
function highWaterMark(reset: boolean): number {
  try {
    if (reset) writeFileSync('/proc/self/clear_refs', '5');
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

async function applyOnce(oldFd: number, patchFd: number, outFd: number, sample?: (pushes: number) => Promise<void>): Promise<{ written: number; sha256: string; ms: number }> {
  const t0 = performance.now();
  const hash = createHash('sha256');
  let written = 0;
  const applier = new PatchApplier({
    readOld: (o, n) => readAt(oldFd, o, n),
    write: (chunk) => {
      hash.update(chunk);
      if (outFd >= 0) writeSync(outFd, chunk, 0, chunk.length, written);
      written += chunk.length;
    },
  });
  const size = fstatSync(patchFd).size;
  let pushes = 0;
  for (let o = 0; o < size; o += PIECE) {
    await applier.push(readAt(patchFd, o, Math.min(PIECE, size - o)));
    await sample?.(++pushes);
  }
  await applier.finish();
  await sample?.(-1);
  return { written, sha256: hash.digest('hex'), ms: performance.now() - t0 };
}

/**
 * Full collections until the live figure stops falling: V8 releases swept array buffers off the main thread, and
 * thousands of 4 KiB reads take a while to be released after the collection that found them dead.
 */
async function collect(): Promise<void> {
  if (!gc) return;
  let last = Infinity;
  for (let i = 0; i < 40; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 20));
    const { heap, buffers } = usage();
    const now = heap + buffers;
    if (now > last - 1024) return;
    last = now;
  }
}

/** Peaks of live memory above a baseline, sampled after settled full collections. */
class Peaks {
  buffers = 0;
  heap = 0;
  native = 0;
  constructor(readonly before: { heap: number; buffers: number; native: number }) {}
  async sample(): Promise<void> {
    await collect();
    const now = usage();
    this.buffers = Math.max(this.buffers, now.buffers - this.before.buffers);
    this.heap = Math.max(this.heap, now.heap - this.before.heap);
    this.native = Math.max(this.native, now.native - this.before.native);
  }
}

/**
 * Applies the in-place patch in `patchFd` over the slot file `slotFd` (holding the old image); `sample` runs at every
 * patch read, with the piece read (the apply waits for it). Truncates the file to the new image and returns its size and SHA-256.
 */
async function inPlaceOnce(slotFd: number, patchFd: number, sample?: (reads: number) => Promise<void>): Promise<{ written: number; sha256: string; ms: number }> {
  const t0 = performance.now();
  const size = fstatSync(patchFd).size;
  const { header, pageSize } = readInPlaceLayout(size, (o, n) => readAt(patchFd, o, n));
  let reads = 0;
  await applyInPlaceStream(
    { read: (o, n) => readAt(slotFd, o, n), writePage: (page, data) => void writeSync(slotFd, data, 0, data.length, page * pageSize) },
    {
      size,
      read: async (o, n) => {
        // sampled with the piece in hand, as the decoder is about to take it
        const piece = readAt(patchFd, o, n);
        await sample?.(++reads);
        return piece;
      },
    },
  );
  await sample?.(-1);
  const ms = performance.now() - t0;
  ftruncateSync(slotFd, header.newSize);
  const hash = createHash('sha256');
  for (let o = 0; o < header.newSize; o += 65536) hash.update(readAt(slotFd, o, Math.min(65536, header.newSize - o)));
  return { written: header.newSize, sha256: hash.digest('hex'), ms };
}

/**
 * Applies the in-place patch at `patchPath` over a copy of the image at `oldPath` in a file (`outPath`, or a
 * temporary file removed afterwards), as applyFromFiles does: once timed, once sampling live memory at every patch
 * read, after a baseline taken with the code compiled.
 */
export async function applyInPlaceFromFiles(oldPath: string, patchPath: string, outPath?: string): Promise<ApplyReport> {
  const dir = outPath ? undefined : mkdtempSync(join(tmpdir(), 'warden-inplace-'));
  const slotPath = outPath ?? join(dir!, 'slot.bin');
  const patchFd = openSync(patchPath, 'r');
  try {
    const run = async (sample?: (reads: number) => Promise<void>): Promise<{ written: number; sha256: string; ms: number }> => {
      copyFileSync(oldPath, slotPath);
      const slotFd = openSync(slotPath, 'r+');
      try {
        return await inPlaceOnce(slotFd, patchFd, sample);
      } finally {
        closeSync(slotFd);
      }
    };
    await collect();
    const rssBefore = process.memoryUsage().rss;
    highWaterMark(true);
    const timed = await run();
    const peakRss = highWaterMark(false);
    await collect();
    const peak = new Peaks(usage());
    const sampled = await run(async () => {
      if (gc) await peak.sample();
    });
    if (timed.sha256 !== sampled.sha256) throw new Error('the two applies disagree');
    return {
      newSize: timed.written, sha256: timed.sha256, ms: timed.ms, rssBefore, peakRss, peakRssDelta: Math.max(0, peakRss - rssBefore),
      peakBuffers: peak.buffers, peakHeap: peak.heap, peakNative: peak.native, mbps: timed.written / 1e6 / (timed.ms / 1000),
    };
  } finally {
    closeSync(patchFd);
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Applies the patch at `patchPath` to the image at `oldPath`, streaming; writes the result to `outPath` if given.
 * A first apply is timed (and compiles the code); the second samples live memory, after a baseline taken with the
 * code compiled, so the figure is what the apply holds rather than what V8 compiled for it.
 */
export async function applyFromFiles(oldPath: string, patchPath: string, outPath?: string): Promise<ApplyReport> {
  const oldFd = openSync(oldPath, 'r');
  const patchFd = openSync(patchPath, 'r');
  const outFd = outPath ? openSync(outPath, 'w') : -1;
  try {
    await collect();
    const rssBefore = process.memoryUsage().rss;
    highWaterMark(true);
    const timed = await applyOnce(oldFd, patchFd, outFd);
    const peakRss = highWaterMark(false);
    await collect();
    const before = usage();
    const peak = new Peaks(before);
    const sampled = await applyOnce(oldFd, patchFd, -1, async (pushes) => {
      if (!gc || (pushes !== -1 && pushes % 16 !== 0)) return;
      await peak.sample();
    });
    if (timed.sha256 !== sampled.sha256) throw new Error('the two applies disagree');
    return {
      newSize: timed.written, sha256: timed.sha256, ms: timed.ms, rssBefore, peakRss, peakRssDelta: Math.max(0, peakRss - rssBefore),
      peakBuffers: peak.buffers, peakHeap: peak.heap, peakNative: peak.native, mbps: timed.written / 1e6 / (timed.ms / 1000),
    };
  } finally {
    closeSync(oldFd);
    closeSync(patchFd);
    if (outFd >= 0) closeSync(outFd);
  }
}

/**
 * Runs `applyFromFiles` (or, with `inPlace`, `applyInPlaceFromFiles`) in a child Node process (with --expose-gc) and
 * returns its report.
 */
export function measureApply(oldPath: string, patchPath: string, outPath?: string, options: { inPlace?: boolean } = {}): Promise<ApplyReport> {
  const script = fileURLToPath(import.meta.url);
  const args = ['--expose-gc', script, ...(options.inPlace ? ['--in-place'] : []), oldPath, patchPath, ...(outPath ? [outPath] : [])];
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, (err, stdout, stderr) => {
      if (err) reject(new Error(`apply child failed: ${stderr || err.message}`));
      else resolve(JSON.parse(stdout) as ApplyReport);
    });
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const argv = process.argv.slice(2);
  const inPlace = argv[0] === '--in-place';
  const [oldPath, patchPath, outPath] = inPlace ? argv.slice(1) : argv;
  if (!oldPath || !patchPath) {
    process.stderr.write('usage: apply-child [--in-place] OLD PATCH [OUT]\n');
    process.exit(2);
  }
  (inPlace ? applyInPlaceFromFiles : applyFromFiles)(oldPath, patchPath, outPath).then(
    (r) => process.stdout.write(`${JSON.stringify(r)}\n`),
    (err: unknown) => {
      process.stderr.write(`${String(err)}\n`);
      process.exit(1);
    },
  );
}
