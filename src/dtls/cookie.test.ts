import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../coap/clock.js';
import { COOKIE_LENGTH, CookieJar } from './cookie.js';
import type { ClientHello } from './messages.js';

const hello = (cookie: Uint8Array, random = 1): ClientHello => ({
  clientVersion: 0xfefd,
  random: new Uint8Array(32).fill(random),
  sessionId: new Uint8Array(0),
  cookie,
  cipherSuites: [0xc0a8],
  compressionMethods: [0],
  extensions: {},
});

describe('HelloVerifyRequest cookies', () => {
  it('verifies only for the same address, port and ClientHello', () => {
    const jar = new CookieJar({ rotateEvery: 0 });
    const c = jar.generate('10.0.0.1', 5684, hello(new Uint8Array(0)));
    assert.equal(c.length, COOKIE_LENGTH);
    assert.equal(jar.verify('10.0.0.1', 5684, hello(c)), true);
    assert.equal(jar.verify('10.0.0.2', 5684, hello(c)), false);
    assert.equal(jar.verify('10.0.0.1', 5685, hello(c)), false);
    assert.equal(jar.verify('10.0.0.1', 5684, hello(c, 2)), false);
    assert.equal(jar.verify('10.0.0.1', 5684, hello(new Uint8Array(0))), false);
    assert.equal(new CookieJar({ rotateEvery: 0 }).verify('10.0.0.1', 5684, hello(c)), false);
  });

  it('accepts the previous secret after one rotation, not after two; rotates on the clock', () => {
    const clock = new ManualClock();
    const jar = new CookieJar({ rotateEvery: 1000, clock });
    const c = jar.generate('::1', 1, hello(new Uint8Array(0)));
    clock.advance(1000);
    assert.equal(jar.verify('::1', 1, hello(c)), true);
    clock.advance(1000);
    assert.equal(jar.verify('::1', 1, hello(c)), false);
    jar.close();
    assert.equal(clock.pending, 0);
  });
});
