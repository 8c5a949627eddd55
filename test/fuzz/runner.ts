/**
 * Runs one fuzz target in a worker thread with a watchdog: a worker that stops reporting for
 * `hangMs` is terminated and the input it was running is a `hang` finding; one that exceeds its heap
 * limit is an `oom` finding. Findings are written to test/fuzz/crashes/<target>-<sha1>.bin.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { sha1, type Finding, type FuzzResult, type FuzzStats } from './engine.js';
import { CRASH_DIR, corpusDir, regressionsDir } from './files.js';
import type { WorkerInput, WorkerMessage } from './worker.js';

export interface RunOptions {
  seconds: number;
  seed?: number;
  maxExecs?: number;
  /** Send the corpus back for merging. */
  wantEntries?: boolean;
  /** No progress for this long is a hang (default 10 s). */
  hangMs?: number;
  /** One run slower than this is a finding (default 2 s). */
  slowMs?: number;
  /** Worker heap cap in MiB (default 512): above it the input is an `oom` finding. */
  heapMb?: number;
  /** Mutants per coverage read (default 16; 1 reads coverage after every run). */
  batch?: number;
  /** Share of the time spent reading coverage after every mutant (default 0.5). */
  singleShare?: number;
  /** Write findings to test/fuzz/crashes (default true). */
  saveCrashes?: boolean;
  minimize?: boolean;
  onProgress?: (stats: FuzzStats) => void;
}

/** A finding plus where it was saved. */
export interface SavedFinding extends Finding {
  file?: string;
}

export interface TargetReport extends Omit<FuzzResult, 'findings'> {
  target: string;
  seed: number;
  findings: SavedFinding[];
}

const CURRENT_BYTES = 1 << 20;

function save(target: string, f: Finding): string {
  mkdirSync(CRASH_DIR, { recursive: true });
  const file = join(CRASH_DIR, `${target}-${sha1(f.input)}.bin`);
  writeFileSync(file, f.input);
  return file;
}

function emptyResult(): FuzzResult {
  return { execs: 0, elapsedMs: 0, execsPerSec: 0, features: 0, blocks: 0, corpusSize: 0, newInputs: 0, rerunBatches: 0, findings: [], entries: [] };
}

/** Fuzzes `target` for `opts.seconds` in a worker; resolves with its stats and findings (never rejects on a finding). */
export function runTarget(target: string, opts: RunOptions): Promise<TargetReport> {
  const seed = opts.seed ?? 1;
  const current = new SharedArrayBuffer(4 + CURRENT_BYTES);
  const data: WorkerInput = {
    target,
    seed,
    timeMs: opts.seconds * 1000,
    corpusDir: corpusDir(target),
    regressionsDir: regressionsDir(target),
    wantEntries: opts.wantEntries ?? false,
    minimize: opts.minimize ?? true,
    current,
  };
  if (opts.maxExecs !== undefined) data.maxExecs = opts.maxExecs;
  if (opts.slowMs !== undefined) data.slowMs = opts.slowMs;
  if (opts.batch !== undefined) data.batch = opts.batch;
  if (opts.singleShare !== undefined) data.singleShare = opts.singleShare;
  const hangMs = opts.hangMs ?? 10_000;
  const worker = new Worker(new URL('./worker.js', import.meta.url), {
    workerData: data,
    resourceLimits: { maxOldGenerationSizeMb: opts.heapMb ?? 512 },
  });
  const currentInput = (): Uint8Array => {
    const n = new Int32Array(current, 0, 1)[0]!;
    return new Uint8Array(current, 4, n).slice();
  };
  return new Promise((resolve, reject) => {
    let result: FuzzResult | undefined;
    let lost: Finding | undefined;
    let lastSeen = Date.now();
    const timer = setInterval(() => {
      if (Date.now() - lastSeen < hangMs) return;
      lost = { kind: 'hang', signature: 'hang', message: `no progress for ${hangMs} ms`, input: currentInput(), source: 'fuzz' };
      void worker.terminate();
    }, 250);
    worker.on('message', (m: WorkerMessage) => {
      lastSeen = Date.now();
      if (m.type === 'progress' && m.stats) opts.onProgress?.(m.stats);
      if (m.type === 'done') result = m.result;
    });
    worker.on('error', (err: Error & { code?: string }) => {
      if (err.code === 'ERR_WORKER_OUT_OF_MEMORY') {
        lost = { kind: 'oom', signature: 'oom', message: err.message, input: currentInput(), source: 'fuzz' };
      } else if (!lost) {
        clearInterval(timer);
        reject(err);
      }
    });
    worker.on('exit', () => {
      clearInterval(timer);
      const r = result ?? emptyResult();
      if (lost) r.findings.push(lost);
      const findings: SavedFinding[] = r.findings.map((f) => ((opts.saveCrashes ?? true) ? { ...f, file: save(target, f) } : f));
      resolve({ ...r, target, seed, findings });
    });
  });
}

/** One line per finding, for test failures and the CLI. */
export function describeFinding(f: SavedFinding): string {
  const where = f.file ? ` -> ${f.file}` : '';
  const frame = f.stack?.split('\n').find((l) => l.includes('/dist/src/'))?.trim();
  return `[${f.kind}/${f.source}] ${f.message}${frame ? ` (${frame})` : ''}${where}`;
}
