/** Where the fuzz harness keeps its files, and reading/writing input folders. */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sha1 } from './engine.js';

/** The repository root (this file runs as dist/test/fuzz/files.js). */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** test/fuzz in the source tree (corpus, regressions and crashes live there, not under dist). */
export const FUZZ_DIR = join(REPO_ROOT, 'test', 'fuzz');

export function corpusDir(target: string): string {
  return join(FUZZ_DIR, 'corpus', target);
}

export function regressionsDir(target: string): string {
  return join(FUZZ_DIR, 'regressions', target);
}

export const CRASH_DIR = join(FUZZ_DIR, 'crashes');

/** Every regular file of `dir` (sorted by name), or [] when it does not exist. */
export function readInputs(dir: string): Uint8Array[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((n) => !n.startsWith('.') && statSync(join(dir, n)).isFile())
    .sort()
    .map((n) => new Uint8Array(readFileSync(join(dir, n))));
}

/** Replaces the contents of `dir` with `inputs`, each named by its sha1. */
export function writeInputs(dir: string, inputs: readonly Uint8Array[]): void {
  mkdirSync(dir, { recursive: true });
  const keep = new Set(inputs.map((d) => sha1(d)));
  for (const n of readdirSync(dir)) if (!n.startsWith('.') && !keep.has(n)) rmSync(join(dir, n));
  for (const d of inputs) writeFileSync(join(dir, sha1(d)), d);
}
