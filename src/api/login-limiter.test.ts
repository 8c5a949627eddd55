import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LoginLimiter } from './login-limiter.js';

test('the address window, the user lockout and the concurrency cap', () => {
  let now = 0;
  const l = new LoginLimiter({ perAddress: 3, windowMs: 1000, maxFailures: 2, lockoutMs: 5000, maxConcurrent: 1 }, () => now);
  assert.equal(l.admit('a', 'u'), undefined);
  assert.deepEqual(l.admit('a', 'v'), { reason: 'busy', retryAfterMs: 1000 });
  l.done('u', false);
  assert.equal(l.admit('a', 'u'), undefined);
  l.done('u', false);
  assert.equal(l.isLocked('u'), true);
  assert.deepEqual(l.admit('a', 'w'), { reason: 'address', retryAfterMs: 1000 });
  now = 1000;
  assert.deepEqual(l.admit('a', 'u'), { reason: 'locked', retryAfterMs: 4000 });
  assert.equal(l.admit('b', 'w'), undefined);
  l.done('w', true);
  now = 5000;
  assert.equal(l.isLocked('u'), false);
  assert.equal(l.admit('c', 'u'), undefined);
  l.done('u', true);
  assert.equal(l.isLocked('u'), false);
});

test('failures far apart do not add up; tables stay bounded', () => {
  let now = 0;
  const l = new LoginLimiter({ perAddress: 1000, maxFailures: 2, lockoutMs: 100, maxEntries: 10 }, () => now);
  l.admit('a', 'u');
  l.done('u', false);
  now = 200;
  l.admit('a', 'u');
  l.done('u', false);
  assert.equal(l.isLocked('u'), false);
  for (let i = 0; i < 50; i++) {
    assert.equal(l.admit(`addr-${i}`, `user-${i}`), undefined);
    l.done(`user-${i}`, false);
  }
  const sizes = l as unknown as { addresses: Map<string, unknown>; users: Map<string, unknown> };
  assert.ok(sizes.addresses.size <= 10 && sizes.users.size <= 10);
});
