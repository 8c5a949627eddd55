import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ageOf } from './devices.js';

test('ageOf words a credential age in days, hours, or today', () => {
  const now = Date.UTC(2026, 0, 31, 12);
  assert.equal(ageOf(undefined, now), '—');
  assert.equal(ageOf(new Date(now - 30 * 86_400_000 - 5).toISOString(), now), '30 d');
  assert.equal(ageOf(new Date(now - 5 * 3_600_000).toISOString(), now), '5 h');
  assert.equal(ageOf(new Date(now - 60_000).toISOString(), now), 'today');
  assert.equal(ageOf(new Date(now + 60_000).toISOString(), now), 'today', 'a clock ahead is not negative');
});
