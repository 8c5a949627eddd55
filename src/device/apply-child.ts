/**
 * Device-side patch application in a process of its own, for the peak-memory figure: `node apply-child.js OLD PATCH
 * [OUT]` applies a streaming patch with PatchApplier (old image read 4 KiB at a time from a file, patch fed 4 KiB at
 * a time, new image written to OUT or only hashed) and prints one JSON ApplyReport line. `measureApply` forks it.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';
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
  /** The process's peak RSS (getrusage ru_maxrss), bytes. */
  readonly peakRss: number;
  /** Peak RSS above the RSS before the apply, bytes (0 when the peak came before). */
  readonly peakRssDelta: number;
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

/** Applies the patch at `patchPath` to the image at `oldPath`, streaming; writes the result to `outPath` if given. */
export async function applyFromFiles(oldPath: string, patchPath: string, outPath?: string): Promise<ApplyReport> {
  const oldFd = openSync(oldPath, 'r');
  const patchFd = openSync(patchPath, 'r');
  const outFd = outPath ? openSync(outPath, 'w') : -1;
  try {
    (globalThis as { gc?: () => void }).gc?.();
    const rssBefore = process.memoryUsage().rss;
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
    for (let o = 0; o < size; o += PIECE) await applier.push(readAt(patchFd, o, Math.min(PIECE, size - o)));
    await applier.finish();
    const ms = performance.now() - t0;
    const peakRss = process.resourceUsage().maxRSS * 1024;
    return { newSize: written, sha256: hash.digest('hex'), ms, rssBefore, peakRss, peakRssDelta: Math.max(0, peakRss - rssBefore) };
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
