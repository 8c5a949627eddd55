/** The fuzz engine on a planted bug: coverage guidance finds it, and the helpers keep their promises. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fuzz, mergeCorpus, mutate, Rng, sha1 } from './engine.js';
import { PlantedError, plantedParse } from './fixtures/planted.js';
import type { FuzzTarget } from './target.js';

const planted: FuzzTarget = {
  name: 'planted',
  seeds: () => [Uint8Array.from([0x41, 0x41, 0x41, 0x41, 0x41])],
  run: (d) => void plantedParse(d),
  expected: (err) => err instanceof PlantedError,
  maxLen: 16,
};

describe('fuzz engine', () => {
  it('finds a bug behind nested branches by keeping inputs that reach new blocks, and minimizes it', () => {
    const r = fuzz(planted, { seed: 3, timeMs: 60_000, maxExecs: 400_000, coverUrl: /\/fixtures\/planted\.js/, maxFindings: 1 });
    assert.equal(r.findings.length, 1, `no finding after ${r.execs} runs (features ${r.features})`);
    const f = r.findings[0]!;
    assert.equal(f.kind, 'crash');
    assert.match(f.message, /TypeError: planted bug/);
    assert.deepEqual([...f.input], [0x46, 0x55, 0x5a, 0x5a, 0x21]);
    assert.ok(r.corpusSize >= 4, `corpus of ${r.corpusSize}: the intermediate branches were not kept`);
  });

  it('without coverage of the parser it does not get there in the same budget', () => {
    const r = fuzz(planted, { seed: 3, timeMs: 60_000, maxExecs: 20_000, coverUrl: /nothing-matches-this/, maxFindings: 1 });
    assert.equal(r.findings.length, 0);
    assert.equal(r.features, 0);
  });

  it('replays regressions first and reports their findings as such', () => {
    const r = fuzz(planted, { seed: 1, timeMs: 10_000, maxExecs: 0, regressions: [Uint8Array.from(Buffer.from('FUZZ!'))], coverUrl: /planted/ });
    assert.deepEqual(r.findings.map((f) => f.source), ['regression']);
  });

  it('a run over the slow limit is a finding', () => {
    const slow: FuzzTarget = { ...planted, run: () => { const t = Date.now(); while (Date.now() - t < 30); } };
    const r = fuzz(slow, { seed: 1, timeMs: 5_000, maxExecs: 0, slowMs: 10, coverUrl: /planted/ });
    assert.equal(r.findings[0]?.kind, 'slow');
  });

  it('mutants respect maxLen and the PRNG is deterministic per seed', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const corpus = [new Uint8Array(10), new Uint8Array(30).fill(7)];
    for (let i = 0; i < 2000; i++) {
      const x = mutate(corpus[i & 1]!, a, corpus, [Uint8Array.of(1, 2, 3)], 24);
      const y = mutate(corpus[i & 1]!, b, corpus, [Uint8Array.of(1, 2, 3)], 24);
      assert.ok(x.length <= 24);
      assert.equal(sha1(x), sha1(y));
    }
  });

  it('mergeCorpus keeps every feature with the smallest inputs, and leaves pinned entries out', () => {
    const e = (n: number, features: number[], pinned = false) => ({ data: new Uint8Array(n).fill(n), features, ...(pinned ? { pinned } : {}) });
    const kept = mergeCorpus([e(1, [1], true), e(9, [1, 2, 3]), e(2, [2]), e(3, [3]), e(4, [2, 3])]);
    assert.deepEqual(kept.map((d) => d.length), [2, 3]);
    assert.deepEqual(mergeCorpus([e(5, [1]), e(6, [2])], 1).map((d) => d.length), [5]);
  });
});
