/**
 * CI fuzzing: every target runs for a bounded time (WARDEN_FUZZ_SECONDS, default 4 s) from its seeds and
 * checked-in corpus, after replaying every input under test/fuzz/regressions/<target>/; any finding
 * fails the test and is saved to test/fuzz/crashes/. A fixed seed keeps runs comparable.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { FUZZ_DIR, readInputs, regressionsDir } from './files.js';
import { describeFinding, runTarget } from './runner.js';
import { targetNames } from './targets/index.js';

const seconds = Number(process.env['WARDEN_FUZZ_SECONDS'] ?? 4);
const seed = Number(process.env['WARDEN_FUZZ_SEED'] ?? 1);

describe('fuzz targets', () => {
  it('every regressions/ folder names a target', () => {
    const dir = join(FUZZ_DIR, 'regressions');
    const folders = existsSync(dir) ? readdirSync(dir).filter((n) => !n.startsWith('.')) : [];
    for (const f of folders) assert.ok(targetNames.includes(f), `test/fuzz/regressions/${f} names no fuzz target`);
  });

  for (const name of targetNames) {
    it(`${name}: regressions replay clean and ${seconds} s of fuzzing find nothing`, async () => {
      assert.ok(Number.isFinite(seconds) && seconds >= 0, 'WARDEN_FUZZ_SECONDS must be a number');
      const r = await runTarget(name, { seconds, seed });
      const regressions = readInputs(regressionsDir(name)).length;
      assert.ok(r.execs >= regressions, `${name}: ran ${r.execs} inputs, fewer than its ${regressions} regressions`);
      assert.ok(r.corpusSize > 0 && r.features > 0, `${name}: no coverage collected`);
      const fromRegressions = r.findings.filter((f) => f.source === 'regression');
      assert.deepEqual(fromRegressions.map(describeFinding), [], `${name}: a regression input fails again`);
      assert.deepEqual(r.findings.map(describeFinding), [], `${name}: fuzzing found inputs that break the parser`);
    });
  }
});
