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

test('cookieValue reads one cookie of a Cookie header', async () => {
  const { cookieValue } = await import('./auth.js');
  assert.equal(cookieValue('a=1; warden_session=abc; b=2', 'warden_session'), 'abc');
  assert.equal(cookieValue('xwarden_session=abc', 'warden_session'), undefined);
  assert.equal(cookieValue(undefined, 'warden_session'), undefined);
  assert.equal(cookieValue('warden_session="q"', 'warden_session'), 'q');
});

test('the CSRF token depends on the session id and does not reveal it', async () => {
  const { csrfTokenFor } = await import('./auth.js');
  const a = csrfTokenFor('session-a');
  assert.equal(a, csrfTokenFor('session-a'));
  assert.notEqual(a, csrfTokenFor('session-b'));
  assert.equal(a.includes('session-a'), false);
});
