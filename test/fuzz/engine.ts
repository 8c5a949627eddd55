/**
 * A small coverage-guided fuzzer on V8's precise block coverage (node:inspector Profiler domain).
 * Each execution is followed by Profiler.takePreciseCoverage, which also resets the counters, so its
 * answer is exactly the functions and blocks that one input ran. A feature is a (script, block range,
 * hit-count bucket) triple, counted only for scripts under dist/src; an input that adds a feature joins
 * the in-memory corpus and is mutated further.
 */
import { Session } from 'node:inspector';
import { createHash } from 'node:crypto';
import type { FuzzTarget } from './target.js';

// ---------------------------------------------------------------- PRNG

/** sfc32: a small, fast, seedable generator (deterministic runs for a given seed). */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    this.a = 0x9e3779b9;
    this.b = 0x243f6a88;
    this.c = 0xb7e15162;
    this.d = seed >>> 0;
    for (let i = 0; i < 16; i++) this.u32();
  }

  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform integer in [0, n). */
  below(n: number): number {
    return n <= 1 ? 0 : this.u32() % n;
  }

  chance(oneIn: number): boolean {
    return this.below(oneIn) === 0;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)]!;
  }
}

// ---------------------------------------------------------------- coverage

/** Source scripts whose blocks count as coverage. */
const COVERED_URL = /\/dist\/src\//;

interface CoverageRange {
  startOffset: number;
  endOffset: number;
  count: number;
}
interface CoverageResult {
  result: { url: string; functions: { ranges: CoverageRange[] }[] }[];
}

/** AFL-style hit-count buckets: 0, 1, 2, 3, 4-7, 8-15, 16-31, 32-127, 128+. */
function bucket(n: number): number {
  if (n < 4) return n;
  if (n < 8) return 4;
  if (n < 16) return 5;
  if (n < 32) return 6;
  if (n < 128) return 7;
  return 8;
}

/** Precise block coverage of this isolate, read and reset after every execution. */
export class Coverage {
  /** `covered` picks the scripts (by URL) whose blocks count; dist/src by default. */
  constructor(private readonly covered: RegExp = COVERED_URL) {}

  private readonly session = new Session();
  private readonly urls = new Map<string, number>();
  private reply: CoverageResult | undefined;
  private readonly onReply = (err: Error | null, res: CoverageResult): void => {
    if (err) throw err;
    this.reply = res;
  };

  start(): void {
    this.session.connect();
    this.post('Profiler.enable');
    this.post('Profiler.startPreciseCoverage', { callCount: true, detailed: true });
    this.take([], []);
  }

  stop(): void {
    this.post('Profiler.stopPreciseCoverage');
    this.session.disconnect();
  }

  private post(method: string, params?: object): void {
    let done = false;
    this.session.post(method, params ?? {}, (err) => {
      if (err) throw err;
      done = true;
    });
    // A session on the isolate's own thread answers synchronously.
    if (!done) throw new Error(`inspector did not answer ${method} synchronously`);
  }

  /**
   * The features since the previous call, appended to `features`; the executed block ranges
   * (without bucket) to `blocks`. Resets the counters.
   */
  take(features: number[], blocks: number[]): void {
    this.reply = undefined;
    this.session.post('Profiler.takePreciseCoverage', this.onReply);
    const res = this.reply as CoverageResult | undefined;
    if (!res) throw new Error('inspector did not answer takePreciseCoverage synchronously');
    for (const script of res.result) {
      if (!this.covered.test(script.url)) continue;
      let id = this.urls.get(script.url);
      if (id === undefined) this.urls.set(script.url, (id = this.urls.size + 1));
      for (const fn of script.functions) {
        for (const r of fn.ranges) {
          // 13 bits of script id, 18 + 18 bits of offsets: an exact key below 2^49 for files under 256 KiB.
          const range = (id * 262144 + (r.startOffset & 262143)) * 262144 + (r.endOffset & 262143);
          features.push(range * 16 + bucket(r.count));
          if (r.count > 0) blocks.push(range);
        }
      }
    }
  }
}

// ---------------------------------------------------------------- mutation

const INTERESTING_8 = [0, 1, 0x7f, 0x80, 0xff, 12, 13, 14, 15, 16, 32, 64, 100];
const INTERESTING_16 = [0, 0x7f, 0x80, 0xff, 0x100, 0x3ff, 0x400, 0x7fff, 0x8000, 0xfffe, 0xffff, 268, 269, 270];
const INTERESTING_32 = [0, 0x7fffffff, 0x80000000, 0xffffffff, 0x10000, 0xffffff, 0x1000000, 2 ** 28];
const INTERESTING_TEXT = ['0', '-1', '1', '65535', '65536', '4294967296', '9007199254740993', '1e308', '-0', '0.1', '1e-7', '18446744073709551616', '268435456', '-9223372036854775809', 'NaN', ''];

function clampLen(n: number, maxLen: number): number {
  return n > maxLen ? maxLen : n;
}

/** Produces a mutant of `base` (never longer than maxLen), stacking 1-8 havoc mutations. */
export function mutate(base: Uint8Array, rng: Rng, corpus: readonly Uint8Array[], dict: readonly Uint8Array[], maxLen: number): Uint8Array {
  let d: Uint8Array = new Uint8Array(base);
  const rounds = 1 << rng.below(4);
  for (let k = 0; k < rounds; k++) {
    d = mutateOnce(d, rng, corpus, dict, maxLen);
    if (d.length > maxLen) d = d.slice(0, maxLen);
  }
  return d;
}

function insertAt(d: Uint8Array, at: number, ins: Uint8Array): Uint8Array {
  const out = new Uint8Array(d.length + ins.length);
  out.set(d.subarray(0, at), 0);
  out.set(ins, at);
  out.set(d.subarray(at), at + ins.length);
  return out;
}

function deleteRange(d: Uint8Array, at: number, n: number): Uint8Array {
  const out = new Uint8Array(d.length - n);
  out.set(d.subarray(0, at), 0);
  out.set(d.subarray(at + n), at);
  return out;
}

function mutateOnce(d: Uint8Array, rng: Rng, corpus: readonly Uint8Array[], dict: readonly Uint8Array[], maxLen: number): Uint8Array {
  const n = d.length;
  const op = rng.below(dict.length > 0 ? 18 : 15);
  if (n === 0 && op < 12) return Uint8Array.of(rng.below(256));
  switch (op) {
    case 0: {
      const i = rng.below(n);
      d[i] ^= 1 << rng.below(8);
      return d;
    }
    case 1:
      d[rng.below(n)] = rng.below(256);
      return d;
    case 2:
      d[rng.below(n)] = rng.pick(INTERESTING_8);
      return d;
    case 3: {
      if (n < 2) return d;
      const i = rng.below(n - 1);
      const v = rng.pick(INTERESTING_16);
      if (rng.chance(2)) (d[i] = v >>> 8), (d[i + 1] = v & 0xff);
      else (d[i] = v & 0xff), (d[i + 1] = v >>> 8);
      return d;
    }
    case 4: {
      if (n < 4) return d;
      const i = rng.below(n - 3);
      const v = rng.pick(INTERESTING_32);
      const be = rng.chance(2);
      for (let j = 0; j < 4; j++) d[i + j] = (v >>> (be ? 24 - 8 * j : 8 * j)) & 0xff;
      return d;
    }
    case 5: {
      const i = rng.below(n);
      d[i] = (d[i]! + (rng.below(35) - 17)) & 0xff;
      return d;
    }
    case 6: {
      if (n < 2) return d;
      const i = rng.below(n - 1);
      const v = (((d[i]! << 8) | d[i + 1]!) + rng.below(65) - 32) & 0xffff;
      d[i] = v >>> 8;
      d[i + 1] = v & 0xff;
      return d;
    }
    case 7: {
      // delete a range
      const len = 1 + rng.below(Math.min(n, rng.chance(4) ? 64 : 8));
      return deleteRange(d, rng.below(n - len + 1), len);
    }
    case 8: {
      // insert random bytes, or a run of one byte
      const len = 1 + rng.below(8);
      const ins = new Uint8Array(len);
      if (rng.chance(2)) ins.fill(rng.below(256));
      else for (let j = 0; j < len; j++) ins[j] = rng.below(256);
      return insertAt(d, rng.below(n + 1), ins);
    }
    case 9: {
      // duplicate a range of this input somewhere else
      const len = 1 + rng.below(Math.min(n, 32));
      const from = rng.below(n - len + 1);
      return insertAt(d, rng.below(n + 1), d.slice(from, from + len));
    }
    case 10: {
      // copy a range over another place of the same input
      const len = 1 + rng.below(Math.min(n, 16));
      const from = rng.below(n - len + 1);
      const to = rng.below(n - len + 1);
      d.copyWithin(to, from, from + len);
      return d;
    }
    case 11: {
      // truncate
      return d.slice(0, rng.below(n));
    }
    case 12:
    case 13: {
      // splice with another corpus entry: a prefix of this one and a suffix of the other, or a chunk inserted
      const other = rng.pick(corpus);
      if (!other || other.length === 0) return d;
      if (op === 12) {
        const cut = rng.below(n + 1);
        const from = rng.below(other.length);
        const out = new Uint8Array(clampLen(cut + other.length - from, maxLen));
        out.set(d.subarray(0, Math.min(cut, out.length)), 0);
        if (cut < out.length) out.set(other.subarray(from, from + out.length - cut), cut);
        return out;
      }
      const len = 1 + rng.below(Math.min(other.length, 64));
      const from = rng.below(other.length - len + 1);
      return insertAt(d, rng.below(n + 1), other.subarray(from, from + len));
    }
    case 14: {
      // replace a run of ASCII digits (or insert) with an interesting number
      const num = new Uint8Array(Buffer.from(rng.pick(INTERESTING_TEXT), 'latin1'));
      const starts: number[] = [];
      for (let i = 0; i < n; i++) if (d[i]! >= 0x30 && d[i]! <= 0x39 && (i === 0 || !(d[i - 1]! >= 0x30 && d[i - 1]! <= 0x39))) starts.push(i);
      if (starts.length === 0) return insertAt(d, rng.below(n + 1), num);
      const s = rng.pick(starts);
      let e = s;
      while (e < n && d[e]! >= 0x30 && d[e]! <= 0x39) e++;
      return insertAt(deleteRange(d, s, e - s), s, num);
    }
    case 15:
    case 16: {
      // insert a dictionary token
      return insertAt(d, rng.below(n + 1), rng.pick(dict));
    }
    default: {
      // overwrite with a dictionary token
      const tok = rng.pick(dict);
      if (tok.length > n) return insertAt(d, rng.below(n + 1), tok);
      d.set(tok, rng.below(n - tok.length + 1));
      return d;
    }
  }
}

// ---------------------------------------------------------------- the loop

/** What went wrong with one input. */
export interface Finding {
  /** crash: an unexpected error or failed oracle; slow: one run over the slow limit; hang/oom: set by the runner. */
  kind: 'crash' | 'slow' | 'memory' | 'hang' | 'oom';
  /** Dedup key: kind, error name and the innermost dist/src frame. */
  signature: string;
  message: string;
  stack?: string;
  input: Uint8Array;
  /** Which input set it came from. */
  source: 'regression' | 'corpus' | 'fuzz';
}

export interface FuzzOptions {
  seed: number;
  /** Wall-clock budget in ms (the initial corpus pass counts). */
  timeMs: number;
  /** Stop after this many mutated executions (default unlimited). */
  maxExecs?: number;
  /** Regression inputs, run first. */
  regressions?: readonly Uint8Array[];
  /** Checked-in corpus inputs. */
  corpus?: readonly Uint8Array[];
  /** One run longer than this is a finding (default 2000 ms). */
  slowMs?: number;
  /** Set by the worker: called with each input before it runs (the runner keeps it for hang/OOM reports). */
  onInput?: (data: Uint8Array) => void;
  /** Called about once a second. */
  onProgress?: (stats: FuzzStats) => void;
  /** Shrink each distinct finding before reporting it (default true). */
  minimize?: boolean;
  /** Scripts whose blocks count as coverage (default: URLs containing /dist/src/). */
  coverUrl?: RegExp;
  /** Stop after this many distinct findings (default 8). */
  maxFindings?: number;
  /**
   * Mutants run in batches of this many with one coverage read per batch (default 16; 1 reads after
   * every run). Only a batch whose summed coverage shows a new feature is re-run one input at a time
   * to find the inputs worth keeping: reading coverage costs far more than running most inputs.
   */
  batch?: number;
  /**
   * Share of the time spent reading coverage after every mutant (default 0.5). Batched reads see
   * sums over a batch, which hide hit-count changes of single inputs; single reads see them but cost
   * about 20 runs each. Half and half keeps both the coverage growth and the crash-finding throughput.
   */
  singleShare?: number;
}

export interface FuzzStats {
  execs: number;
  elapsedMs: number;
  execsPerSec: number;
  /** Distinct (block range, hit-count bucket) pairs seen. */
  features: number;
  /** Distinct block ranges seen executed (V8 folds a block into its parent when the counts agree). */
  blocks: number;
  corpusSize: number;
  /** Inputs added to the corpus by this run. */
  newInputs: number;
  /** Batches whose summed coverage was new, so their inputs were re-run one by one. */
  rerunBatches: number;
}

/** An input kept for the features it reaches; `pinned` ones (seeds, regressions) load anyway and are not written to the corpus. */
export interface CorpusEntry {
  data: Uint8Array;
  features: number[];
  pinned?: boolean;
}

export interface FuzzResult extends FuzzStats {
  findings: Finding[];
  /** The corpus after the run, each entry with the features it reaches (for merging). */
  entries: CorpusEntry[];
}

/** sha1 hex of an input (the crash and corpus file name). */
export function sha1(data: Uint8Array): string {
  return createHash('sha1').update(data).digest('hex');
}

function errorSignature(kind: string, err: unknown): { signature: string; message: string; stack?: string } {
  if (!(err instanceof Error)) return { signature: `${kind}:non-error`, message: String(err) };
  const frames = (err.stack ?? '').split('\n').filter((l) => l.includes('/dist/src/'));
  const top = frames[0]?.replace(/^.*\/dist\/src\//, '').replace(/:\d+\)?$/, '') ?? '';
  const out: { signature: string; message: string; stack?: string } = { signature: `${kind}:${err.name}:${top}`, message: `${err.name}: ${err.message}` };
  if (err.stack) out.stack = err.stack;
  return out;
}

/** Runs one input; returns the finding or undefined. */
function execute(target: FuzzTarget, data: Uint8Array, slowMs: number, source: Finding['source']): Finding | undefined {
  const t0 = performance.now();
  let finding: Finding | undefined;
  try {
    target.run(data);
  } catch (err) {
    if (!target.expected(err)) finding = { kind: 'crash', ...errorSignature('crash', err), input: data, source };
  }
  const dt = performance.now() - t0;
  if (!finding && dt > slowMs) {
    finding = { kind: 'slow', signature: 'slow', message: `one run took ${dt.toFixed(0)} ms (limit ${slowMs} ms)`, input: data, source };
  }
  return finding;
}

/** Shrinks `data` while it still gives a finding with the same signature (bounded work). */
function minimize(target: FuzzTarget, finding: Finding, slowMs: number, budgetMs: number): Uint8Array {
  if (finding.kind === 'slow') return finding.input;
  let best = finding.input;
  const deadline = performance.now() + budgetMs;
  for (let chunk = best.length >> 1; chunk >= 1 && performance.now() < deadline; chunk >>= 1) {
    for (let at = 0; at + chunk <= best.length && performance.now() < deadline; ) {
      const cand = deleteRange(best, at, chunk);
      const f = execute(target, cand, slowMs, finding.source);
      if (f && f.signature === finding.signature) best = cand;
      else at += chunk;
    }
  }
  return best;
}

/** Encodes the dictionary once. */
function dictionaryOf(target: FuzzTarget): Uint8Array[] {
  return (target.dictionary ?? []).map((t) => (typeof t === 'string' ? new Uint8Array(Buffer.from(t, 'utf8')) : t));
}

/**
 * Fuzzes `target` in this thread: regressions, seeds and the checked-in corpus first (each once), then
 * mutations of corpus entries until the time or exec budget runs out.
 */
export function fuzz(target: FuzzTarget, opts: FuzzOptions): FuzzResult {
  const started = performance.now();
  const deadline = started + opts.timeMs;
  const slowMs = opts.slowMs ?? 2000;
  const maxLen = target.maxLen ?? 4096;
  const maxFindings = opts.maxFindings ?? 8;
  const rng = new Rng(opts.seed);
  const dict = dictionaryOf(target);
  const cov = new Coverage(opts.coverUrl);
  const seen = new Set<number>();
  const blocks = new Set<number>();
  const corpus: Uint8Array[] = [];
  const entries: CorpusEntry[] = [];
  const findings: Finding[] = [];
  const signatures = new Set<string>();
  const features: number[] = [];
  const executed: number[] = [];
  const batchSeen = new Set<number>();
  const batchSize = Math.max(1, opts.batch ?? 16);
  const batch: Uint8Array[] = [];
  let execs = 0;
  let newInputs = 0;
  let rerunBatches = 0;
  let lastProgress = started;

  const stats = (): FuzzStats => {
    const elapsedMs = performance.now() - started;
    return {
      execs,
      elapsedMs,
      execsPerSec: elapsedMs > 0 ? (execs * 1000) / elapsedMs : 0,
      features: seen.size,
      blocks: blocks.size,
      corpusSize: corpus.length,
      newInputs,
      rerunBatches,
    };
  };

  /** Keeps the first finding of each signature (minimized); resets the coverage counters it ran. */
  const record = (finding: Finding): void => {
    if (!signatures.has(finding.signature)) {
      signatures.add(finding.signature);
      if (opts.minimize !== false) finding.input = minimize(target, finding, slowMs, 2000);
      findings.push(finding);
    }
    cov.take(features, executed);
    features.length = 0;
    executed.length = 0;
  };

  /** Reads the batch's summed coverage; re-runs its inputs one by one when it holds a new feature. */
  const flush = (): void => {
    if (batch.length === 0) return;
    features.length = 0;
    executed.length = 0;
    cov.take(features, executed);
    for (let i = 0; i < executed.length; i++) blocks.add(executed[i]!);
    let fresh = false;
    for (let i = 0; i < features.length; i++) {
      const f = features[i]!;
      if (!batchSeen.has(f)) {
        batchSeen.add(f);
        fresh = true;
      }
    }
    const inputs = batch.splice(0);
    if (!fresh) return;
    rerunBatches++;
    for (const d of inputs) {
      if (findings.length >= maxFindings) break;
      one(d, 'fuzz', false);
    }
  };

  /** Runs one mutant as part of a batch (no coverage read unless the batch is full). */
  const batched = (data: Uint8Array): void => {
    opts.onInput?.(data);
    const finding = execute(target, data, slowMs, 'fuzz');
    execs++;
    if (finding) {
      batch.length = 0;
      record(finding);
      return;
    }
    batch.push(data);
    if (batch.length >= batchSize) flush();
  };

  /** Runs one input; records a finding or, when it reaches new features, keeps it. */
  const one = (data: Uint8Array, source: Finding['source'], pinned: boolean): void => {
    opts.onInput?.(data);
    const finding = execute(target, data, slowMs, source);
    execs++;
    features.length = 0;
    executed.length = 0;
    cov.take(features, executed);
    for (let i = 0; i < executed.length; i++) blocks.add(executed[i]!);
    if (finding) {
      record(finding);
      return;
    }
    let fresh = false;
    for (let i = 0; i < features.length; i++) {
      const f = features[i]!;
      if (!seen.has(f)) {
        seen.add(f);
        fresh = true;
      }
    }
    if (fresh) {
      corpus.push(data);
      entries.push(pinned ? { data, features: features.slice(), pinned } : { data, features: features.slice() });
      if (source === 'fuzz') newInputs++;
    }
  };

  cov.start();
  try {
    for (const d of opts.regressions ?? []) one(d, 'regression', true);
    for (const d of target.seeds()) one(d.length > maxLen ? d.subarray(0, maxLen) : d, 'corpus', true);
    for (const d of opts.corpus ?? []) {
      if (findings.length >= maxFindings) break;
      one(d.length > maxLen ? d.subarray(0, maxLen) : d, 'corpus', false);
    }
    if (corpus.length === 0) {
      corpus.push(new Uint8Array(0));
      entries.push({ data: corpus[0]!, features: [] });
    }
    const maxExecs = opts.maxExecs ?? Infinity;
    const singleShare = opts.singleShare ?? 0.5;
    const loopStart = performance.now();
    let singleMs = 0;
    let fuzzExecs = 0;
    while (fuzzExecs < maxExecs && findings.length < maxFindings) {
      if ((fuzzExecs & 15) === 0) {
        const now = performance.now();
        if (now >= deadline) break;
        if (opts.onProgress && now - lastProgress >= 1000) {
          lastProgress = now;
          opts.onProgress(stats());
        }
      }
      // Prefer recent and small entries a little: half the picks come from the newest quarter.
      const base = rng.chance(2) ? corpus[corpus.length - 1 - rng.below(Math.max(1, corpus.length >> 2))]! : rng.pick(corpus);
      const mutant = mutate(base, rng, corpus, dict, maxLen);
      if (batchSize === 1 || (batch.length === 0 && singleMs < singleShare * (performance.now() - loopStart))) {
        const t0 = performance.now();
        one(mutant, 'fuzz', false);
        singleMs += performance.now() - t0;
      } else batched(mutant);
      fuzzExecs++;
    }
    flush();
  } finally {
    cov.stop();
  }
  return { ...stats(), findings, entries };
}

/**
 * Picks a small subset of the non-pinned `entries` that, with the seeds and regressions, keeps every
 * feature (smallest inputs first), within `maxFiles` and `maxBytes`: what `--merge` writes back as the
 * checked-in corpus.
 */
export function mergeCorpus(entries: readonly CorpusEntry[], maxFiles = 200, maxBytes = 200 * 1024): Uint8Array[] {
  const have = new Set<number>();
  // Seeds and regressions run in every session anyway: what they reach needs no corpus file.
  for (const e of entries) if (e.pinned) for (const f of e.features) have.add(f);
  const sorted = entries.filter((e) => !e.pinned).sort((a, b) => a.data.length - b.data.length || a.features.length - b.features.length);
  const out: Uint8Array[] = [];
  let bytes = 0;
  const seen = new Set<string>();
  for (const e of sorted) {
    if (out.length >= maxFiles) break;
    if (bytes + e.data.length > maxBytes) continue;
    let adds = false;
    for (const f of e.features) if (!have.has(f)) adds = true;
    if (!adds) continue;
    const key = sha1(e.data);
    if (seen.has(key)) continue;
    seen.add(key);
    for (const f of e.features) have.add(f);
    out.push(e.data);
    bytes += e.data.length;
  }
  return out;
}
