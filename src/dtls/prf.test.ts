import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { extendedMasterSecret, finishedVerifyData, keyBlock, masterSecret, prf, pskPreMasterSecret } from './prf.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('TLS 1.2 PRF (RFC 5246 §5)', () => {
  it('matches the published P_SHA256 test vector (IETF TLS WG, "test label")', () => {
    const out = prf(hex('9bbe436ba940f017b17652849a71db35'), 'test label', hex('a0ba9f936cda311827a6f796ffd5198c'), 100);
    assert.equal(
      out.toString('hex'),
      'e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a6b301791e90d35c9c9a46b4e14baf9af0fa022f7077def17abfd3797c0564bab' +
        '4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff70187347b66',
    );
  });

  it('is a prefix-consistent stream', () => {
    const s = hex('0102');
    assert.deepEqual(prf(s, 'x', s, 20), prf(s, 'x', s, 70).subarray(0, 20));
  });

  it('derives master secret, extended master secret, key block and verify_data from the right inputs', () => {
    const pre = hex('11'.repeat(20));
    const cr = hex('22'.repeat(32));
    const sr = hex('33'.repeat(32));
    assert.deepEqual(masterSecret(pre, cr, sr), prf(pre, 'master secret', Buffer.concat([cr, sr]), 48));
    const sessionHash = createHash('sha256').update('transcript').digest();
    assert.deepEqual(extendedMasterSecret(pre, sessionHash), prf(pre, 'extended master secret', sessionHash, 48));
    assert.notDeepEqual(extendedMasterSecret(pre, sessionHash), masterSecret(pre, cr, sr));
    const ms = masterSecret(pre, cr, sr);
    // RFC 5246 §6.3: server_random first.
    assert.deepEqual(keyBlock(ms, sr, cr, 40), prf(ms, 'key expansion', Buffer.concat([sr, cr]), 40));
    assert.equal(finishedVerifyData(ms, 'client finished', sessionHash).length, 12);
  });

  it('builds the PSK premaster secrets of RFC 4279 §2 and RFC 5489 §2', () => {
    assert.equal(pskPreMasterSecret(hex('aabb')).toString('hex'), '00020000' + '0002aabb');
    assert.equal(pskPreMasterSecret(hex('aabb'), hex('010203')).toString('hex'), '0003010203' + '0002aabb');
  });
});
