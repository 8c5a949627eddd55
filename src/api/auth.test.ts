import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TokenChecker } from './auth.js';

test('TokenChecker accepts only the exact bearer token', () => {
  const c = new TokenChecker('s3cret-token');
  assert.equal(c.check('Bearer s3cret-token'), true);
  assert.equal(c.check('bearer s3cret-token'), true);
  assert.equal(c.check(undefined), false);
  assert.equal(c.check(''), false);
  assert.equal(c.check('Bearer'), false);
  assert.equal(c.check('Bearer s3cret-toke'), false);
  assert.equal(c.check('Bearer s3cret-token2'), false);
  assert.equal(c.check('Basic s3cret-token'), false);
  assert.equal(c.check('s3cret-token'), false);
  assert.equal(c.check('Bearer s3cret-token extra'), false);
});

test('an empty API token is refused at construction', () => {
  assert.throws(() => new TokenChecker(''), /must not be empty/);
});
