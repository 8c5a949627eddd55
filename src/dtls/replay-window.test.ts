import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ReplayWindow } from './replay-window.js';

describe('ReplayWindow (RFC 6347 §4.1.2.6)', () => {
  it('accepts new numbers once, in any order inside the window', () => {
    const w = new ReplayWindow();
    for (const s of [0, 2, 1, 5, 3]) {
      assert.equal(w.check(s), true, `first ${s}`);
      w.accept(s);
      assert.equal(w.check(s), false, `replayed ${s}`);
    }
    assert.equal(w.check(4), true);
    assert.equal(w.highest, 5);
  });

  it('rejects numbers that fell out of the 64-record window', () => {
    const w = new ReplayWindow();
    w.accept(100);
    assert.equal(w.check(37), true); // 100 - 63
    assert.equal(w.check(36), false); // 100 - 64
    w.accept(37);
    assert.equal(w.check(37), false);
  });

  it('keeps bits across shifts of 1..64 and beyond', () => {
    for (const shift of [1, 5, 31, 32, 33, 63, 64, 65, 1000]) {
      const w = new ReplayWindow();
      w.accept(10);
      w.accept(8);
      w.accept(10 + shift);
      assert.equal(w.check(10), false, `shift ${shift}: 10`);
      assert.equal(w.check(8), false, `shift ${shift}: 8`);
      assert.equal(w.check(9), shift + 1 < 64, `shift ${shift}: 9`);
    }
  });

  it('does not move before accept (forged records cannot advance it)', () => {
    const w = new ReplayWindow();
    w.accept(0);
    assert.equal(w.check(1000), true);
    assert.equal(w.check(1), true);
    assert.equal(w.highest, 0);
  });

  it('survives serialization', () => {
    const w = new ReplayWindow();
    for (const s of [3, 40, 41, 70]) w.accept(s);
    const r = ReplayWindow.fromJSON(w.toJSON());
    for (let s = 0; s < 80; s++) assert.equal(r.check(s), w.check(s), `seq ${s}`);
  });
});
