// Coverage-guided fuzzing of the protocol parsers (test/fuzz). Run from the repo root after a build:
//   node scripts/fuzz.mjs [target...] [--seconds N] [--seed N] [--batch K] [--merge] [--list]
// Each target runs in its own worker thread, one after another. --batch K reads coverage once per K
// mutants (default 16) and re-runs a batch one input at a time only when its summed coverage is new. --merge writes the minimized corpus
// (checked-in corpus + seeds + what this run found) back to test/fuzz/corpus/<target>/.
import { existsSync } from 'node:fs';

if (!existsSync('dist/test/fuzz/runner.js')) {
  console.error('dist/test/fuzz/runner.js not found: run `npm run build` first (from the repository root)');
  process.exit(2);
}
const { runTarget, describeFinding } = await import('../dist/test/fuzz/runner.js');
const { targetNames } = await import('../dist/test/fuzz/targets/index.js');
const { mergeCorpus } = await import('../dist/test/fuzz/engine.js');
const { corpusDir, writeInputs } = await import('../dist/test/fuzz/files.js');

const args = process.argv.slice(2);
let seconds = 30;
let seed = Date.now() % 2 ** 31;
let merge = false;
let batch;
let singleShare;
const names = [];
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === '--seconds') seconds = Number(args[++i]);
  else if (a === '--seed') seed = Number(args[++i]);
  else if (a === '--merge') merge = true;
  else if (a === '--batch') batch = Number(args[++i]);
  else if (a === '--single-share') singleShare = Number(args[++i]);
  else if (a === '--list') {
    for (const n of targetNames) console.log(n);
    process.exit(0);
  } else if (a.startsWith('--')) {
    console.error(`unknown option ${a}`);
    process.exit(2);
  } else names.push(a);
}
if (!(seconds > 0)) {
  console.error('--seconds takes a positive number');
  process.exit(2);
}
for (const n of names) {
  if (!targetNames.includes(n)) {
    console.error(`unknown target ${n} (see --list)`);
    process.exit(2);
  }
}
const chosen = names.length ? names : targetNames;

console.log(`seed ${seed}, ${seconds} s per target${merge ? ', merging into test/fuzz/corpus' : ''}`);
const pad = (s, n) => String(s).padStart(n);
console.log(`${'target'.padEnd(16)} ${pad('execs', 9)} ${pad('execs/s', 8)} ${pad('features', 8)} ${pad('blocks', 7)} ${pad('corpus', 6)} ${pad('new', 5)} ${pad('crashes', 7)}`);
let total = 0;
for (const name of chosen) {
  const r = await runTarget(name, { seconds, seed, wantEntries: merge, ...(batch ? { batch } : {}), ...(singleShare !== undefined ? { singleShare } : {}) });
  let corpusNote = '';
  if (merge) {
    const kept = mergeCorpus(r.entries);
    writeInputs(corpusDir(name), kept);
    corpusNote = ` -> ${kept.length} files in corpus`;
  }
  console.log(
    `${name.padEnd(16)} ${pad(r.execs, 9)} ${pad(Math.round(r.execsPerSec), 8)} ${pad(r.features, 8)} ${pad(r.blocks, 7)} ${pad(r.corpusSize, 6)} ${pad(r.newInputs, 5)} ${pad(r.findings.length, 7)}${corpusNote}`,
  );
  for (const f of r.findings) console.log(`  ${describeFinding(f)}`);
  total += r.findings.length;
}
process.exit(total > 0 ? 1 : 0);
