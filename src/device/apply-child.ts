/**
 * Device-side patch application in a process of its own, for the memory figures: `node apply-child.js OLD PATCH
 * [OUT]` applies a streaming patch with PatchApplier (old image read 4 KiB at a time from a file, patch fed 4 KiB at
 * a time, new image written to OUT or only hashed) and prints one JSON ApplyReport line. `measureApply` forks it.
 *
 * Three figures, because a Node process is not a device: the peak of the array buffers the apply holds (measured after
 * full collections every few pushes: the algorithm's buffers, the figure to compare with a device's RAM), the peak
 * growth of the JavaScript heap (objects a C implementation would not have), and the process's peak RSS growth (VmHWM, reset through
 * /proc/self/clear_refs so the parent's peak does not carry over), which also counts garbage not yet collected,
 * the Brotli decoder's native state and V8's own growth.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readFileSync, readSync, writeFileSync, writeSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { PatchApplier } from '../firmware/index.js';

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


function usage(): { heap: number; buffers: number } {
  const m = process.memoryUsage();
  return { heap: m.heapUsed, buffers: m.arrayBuffers };
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
    let peakBuffers = 0;
    let peakHeap = 0;
    const sampled = await applyOnce(oldFd, patchFd, -1, async (pushes) => {
      if (!gc || (pushes !== -1 && pushes % 16 !== 0)) return;
      await collect();
      const now = usage();
      peakBuffers = Math.max(peakBuffers, now.buffers - before.buffers);
      peakHeap = Math.max(peakHeap, now.heap - before.heap);
    });
    if (timed.sha256 !== sampled.sha256) throw new Error('the two applies disagree');
    return {
      newSize: timed.written, sha256: timed.sha256, ms: timed.ms, rssBefore, peakRss, peakRssDelta: Math.max(0, peakRss - rssBefore),
      peakBuffers, peakHeap, mbps: timed.written / 1e6 / (timed.ms / 1000),
    };
  } finally {
    closeSync(oldFd);
    closeSync(patchFd);
    if (outFd >= 0) closeSync(outFd);
  }
}

/** Runs `applyFromFiles` in a child Node process (with --expose-gc) and returns its report. */
export function measureApply(oldPath: string, patchPath: string, outPath?: string): Promise<ApplyReport> {
  const script = fileURLToPath(import.meta.url);
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--expose-gc', script, oldPath, patchPath, ...(outPath ? [outPath] : [])], (err, stdout, stderr) => {
      if (err) reject(new Error(`apply child failed: ${stderr || err.message}`));
      else resolve(JSON.parse(stdout) as ApplyReport);
    });
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [oldPath, patchPath, outPath] = process.argv.slice(2);
  if (!oldPath || !patchPath) {
    process.stderr.write('usage: apply-child OLD PATCH [OUT]\n');
    process.exit(2);
  }
  applyFromFiles(oldPath, patchPath, outPath).then(
    (r) => process.stdout.write(`${JSON.stringify(r)}\n`),
    (err: unknown) => {
      process.stderr.write(`${String(err)}\n`);
      process.exit(1);
    },
  );
}
