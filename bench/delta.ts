/**
 * Firmware delta (issue 5): patch size as a percentage of the new image for consecutive releases of real binaries,
 * beside bsdiff and xdelta3 -9 (Debian packages bsdiff, xdelta3); patch generation time for the ~10 MiB pair;
 * streaming application throughput and the applier's peak memory above its baseline.
 * Binaries come from `npm pack` and are cached under bench/.cache. Run alone: `node dist/bench/delta.js`.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PatchApplier } from '../src/firmware/delta-apply.js';
import { createPatch } from '../src/firmware/delta-encode.js';
import { createInPlacePatch } from '../src/firmware/delta-inplace.js';

const here = new URL('.', import.meta.url).pathname;
/** bench/.cache in the source tree (this file runs from dist/bench). */
const CACHE = join(here, '..', '..', 'bench', '.cache');

/** A pair of consecutive releases: npm package, file inside the tarball, old and new version. */
export interface DeltaPair {
  readonly name: string;
  readonly pkg: string;
  readonly file: string;
  readonly old: string;
  readonly new: string;
}

/** The pairs measured: statically linked Go (esbuild) and a Rust N-API module (rollup; 4.24.1-4.24.3 are byte-identical). */
export const DELTA_PAIRS: readonly DeltaPair[] = [
  { name: 'esbuild 0.24.0→0.24.1', pkg: '@esbuild/linux-x64', file: 'package/bin/esbuild', old: '0.24.0', new: '0.24.1' },
  { name: 'esbuild 0.24.1→0.24.2', pkg: '@esbuild/linux-x64', file: 'package/bin/esbuild', old: '0.24.1', new: '0.24.2' },
  { name: 'rollup 4.24.0→4.24.1', pkg: '@rollup/rollup-linux-x64-gnu', file: 'package/rollup.linux-x64-gnu.node', old: '4.24.0', new: '4.24.1' },
  { name: 'rollup 4.24.3→4.24.4', pkg: '@rollup/rollup-linux-x64-gnu', file: 'package/rollup.linux-x64-gnu.node', old: '4.24.3', new: '4.24.4' },
];

/** The path of `file` from `pkg@version`, fetched once with `npm pack` into bench/.cache. */
export function fetchBinary(pkg: string, version: string, file: string): string {
  const tgz = join(CACHE, `${pkg.replace('@', '').replace('/', '-')}-${version}.tgz`);
  const dir = tgz.replace(/\.tgz$/, '');
  const path = join(dir, file);
  if (existsSync(path)) return path;
  mkdirSync(CACHE, { recursive: true });
  if (!existsSync(tgz)) execFileSync('npm', ['pack', `${pkg}@${version}`, '--silent', '--pack-destination', CACHE], { stdio: 'ignore' });
  mkdirSync(dir, { recursive: true });
  execFileSync('tar', ['xzf', tgz, '-C', dir]);
  return path;
}

function tool(bin: string, pkg: string): string {
  if (!existsSync(bin)) throw new Error(`${bin} is missing: apt-get install ${pkg}`);
  return bin;
}

/** One pair's figures: sizes in bytes. */
export interface DeltaPairResult {
  name: string;
  newSize: number;
  warden: number;
  bsdiff: number;
  xdelta3: number;
  /** In-place mode, 4 KiB pages. */
  inPlace: number;
  inPlaceMs: number;
  wardenMs: number;
  bsdiffMs: number;
}

/** Everything the bench reports. */
export interface DeltaBenchResult {
  pairs: DeltaPairResult[];
  /** Patch generation for the largest pair (esbuild, ~9.7 MiB). */
  genImageBytes: number;
  genSeconds: number;
  /** Streaming application (PatchApplier, 4 KiB pushes, old image in memory). */
  applyMBps: number;
  /** Peak growth over the pre-apply baseline while applying: JS heap + external + array buffers, and RSS. */
  applyPeakHeapBytes: number;
  applyPeakRssBytes: number;
}

async function applyStats(old: Uint8Array, patch: Uint8Array): Promise<{ mbps: number; heap: number; rss: number; size: number }> {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const base = process.memoryUsage();
  const baseHeap = base.heapUsed + base.external;
  let peakHeap = 0;
  let peakRss = 0;
  let size = 0;
  let writes = 0;
  const a = new PatchApplier({
    verifyBase: true,
    readOld: (o, n) => old.subarray(o, o + n),
    write: (c) => {
      size += c.length;
      if ((writes++ & 63) === 0) {
        const m = process.memoryUsage();
        peakHeap = Math.max(peakHeap, m.heapUsed + m.external - baseHeap);
        peakRss = Math.max(peakRss, m.rss - base.rss);
      }
    },
  });
  const start = performance.now();
  for (let i = 0; i < patch.length; i += 4096) await a.push(patch.subarray(i, i + 4096));
  await a.finish();
  const s = (performance.now() - start) / 1000;
  return { mbps: size / 1e6 / s, heap: peakHeap, rss: peakRss, size };
}

/** Measures every pair; needs the network once (npm) and the bsdiff and xdelta3 Debian packages. */
export async function benchDelta(pairs: readonly DeltaPair[] = DELTA_PAIRS): Promise<DeltaBenchResult> {
  const bsdiff = tool('/usr/bin/bsdiff', 'bsdiff');
  const xdelta3 = tool('/usr/bin/xdelta3', 'xdelta3');
  const tmp = mkdtempSync(join(tmpdir(), 'warden-delta-'));
  const out: DeltaPairResult[] = [];
  let biggest: { old: Uint8Array; patch: Uint8Array; ms: number; size: number } | undefined;
  try {
    for (const p of pairs) {
      const oldPath = fetchBinary(p.pkg, p.old, p.file);
      const newPath = fetchBinary(p.pkg, p.new, p.file);
      const old = readFileSync(oldPath);
      const neu = readFileSync(newPath);
      let t = performance.now();
      const patch = createPatch(old, neu);
      const wardenMs = performance.now() - t;
      t = performance.now();
      execFileSync(bsdiff, [oldPath, newPath, join(tmp, 'p.bsdiff')]);
      const bsdiffMs = performance.now() - t;
      execFileSync(xdelta3, ['-9', '-f', '-e', '-s', oldPath, newPath, join(tmp, 'p.xd3')]);
      t = performance.now();
      const inPlace = createInPlacePatch(old, neu, { pageSize: 4096 }).length;
      const inPlaceMs = performance.now() - t;
      out.push({
        name: p.name,
        newSize: neu.length,
        warden: patch.length,
        bsdiff: statSync(join(tmp, 'p.bsdiff')).size,
        xdelta3: statSync(join(tmp, 'p.xd3')).size,
        inPlace,
        inPlaceMs,
        wardenMs,
        bsdiffMs,
      });
      if (!biggest || neu.length > biggest.size) biggest = { old, patch, ms: wardenMs, size: neu.length };
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  const a = await applyStats(biggest!.old, biggest!.patch);
  return {
    pairs: out,
    genImageBytes: biggest!.size,
    genSeconds: biggest!.ms / 1000,
    applyMBps: a.mbps,
    applyPeakHeapBytes: a.heap,
    applyPeakRssBytes: a.rss,
  };
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\/dist\//, '/dist/'))) {
  const r = await benchDelta();
  const pct = (n: number, d: number) => `${((100 * n) / d).toFixed(2)}%`;
  for (const p of r.pairs)
    console.log(
      `${p.name.padEnd(24)} new ${p.newSize}  warden ${p.warden} (${pct(p.warden, p.newSize)}, ${(p.wardenMs / 1000).toFixed(1)} s)  bsdiff ${p.bsdiff} (${pct(p.bsdiff, p.newSize)}, ${(p.bsdiffMs / 1000).toFixed(1)} s)  xdelta3 -9 ${p.xdelta3} (${pct(p.xdelta3, p.newSize)})  in-place ${p.inPlace} (${pct(p.inPlace, p.newSize)}, +${pct(p.inPlace - p.warden, p.warden)}, ${(p.inPlaceMs / 1000).toFixed(1)} s)`,
    );
  console.log(`generation: ${(r.genImageBytes / 2 ** 20).toFixed(2)} MiB image in ${r.genSeconds.toFixed(1)} s`);
  console.log(`apply: ${r.applyMBps.toFixed(1)} MB/s, peak heap+external +${(r.applyPeakHeapBytes / 1024).toFixed(0)} KiB, peak RSS +${(r.applyPeakRssBytes / 1024).toFixed(0)} KiB`);
}
