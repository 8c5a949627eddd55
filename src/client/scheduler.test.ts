import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../coap/index.js';
import { Scheduler } from './scheduler.js';

test('tasks run in due order on one armed timer; cancel and close drop them', () => {
  const clock = new ManualClock();
  const s = new Scheduler(clock);
  const ran: string[] = [];
  s.schedule(300, () => ran.push('c'));
  s.schedule(100, () => ran.push('a'));
  const cancelB = s.schedule(200, () => ran.push('b'));
  s.schedule(100, () => ran.push('a2'));
  assert.equal(clock.pending, 1, 'one clock timer whatever the number of tasks');
  cancelB();
  clock.advance(250);
  assert.deepEqual(ran, ['a', 'a2']);
  s.schedule(10, () => ran.push('d'));
  clock.advance(100);
  assert.deepEqual(ran, ['a', 'a2', 'd', 'c']);
  s.schedule(10, () => ran.push('e'));
  s.close();
  clock.advance(100);
  assert.deepEqual(ran, ['a', 'a2', 'd', 'c']);
  assert.equal(clock.pending, 0);
});

test('a throwing task is reported and does not stop the others', () => {
  const clock = new ManualClock();
  const errors: unknown[] = [];
  const s = new Scheduler(clock, (e) => errors.push(e));
  let ok = false;
  s.schedule(1, () => {
    throw new Error('boom');
  });
  s.schedule(1, () => (ok = true));
  clock.advance(5);
  assert.equal(errors.length, 1);
  assert.equal(ok, true);
});
