import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { DtlsAlert } from './alert.js';
import { ecdhSharedSecret, ecdsaSignatureWellFormed, generateEcdhKeyPair, publicKeyOfSpki, signEcdsa, verifyEcdsa } from './kex.js';

const isAlert = (code: string) => (e: unknown) => e instanceof DtlsAlert && e.code === code;

describe('key exchange and signatures', () => {
  it('ECDHE on secp256r1 agrees', () => {
    const a = generateEcdhKeyPair();
    const b = generateEcdhKeyPair();
    assert.deepEqual(ecdhSharedSecret(a, b.publicPoint), ecdhSharedSecret(b, a.publicPoint));
  });

  it('refuses points not on the curve, compressed or short points with illegal_parameter', () => {
    const a = generateEcdhKeyPair();
    const off = Buffer.from(generateEcdhKeyPair().publicPoint);
    off[64]! ^= 1;
    assert.throws(() => ecdhSharedSecret(a, off), isAlert('illegal_parameter'));
    const zero = new Uint8Array(65);
    zero[0] = 4;
    assert.throws(() => ecdhSharedSecret(a, zero), isAlert('illegal_parameter'));
    assert.throws(() => ecdhSharedSecret(a, a.publicPoint.subarray(0, 33)), isAlert('illegal_parameter'));
  });

  it('refuses an ECDSA signature with r = s = 0 and malformed DER', () => {
    const zero = Uint8Array.of(0x30, 6, 2, 1, 0, 2, 1, 0);
    assert.equal(ecdsaSignatureWellFormed(zero), false);
    assert.equal(ecdsaSignatureWellFormed(Uint8Array.of(0x30, 6, 2, 1, 1, 2, 1, 0)), false);
    assert.equal(ecdsaSignatureWellFormed(Uint8Array.of(0x30, 6, 2, 1, 1, 2, 1, 1)), true);
    assert.equal(ecdsaSignatureWellFormed(Uint8Array.of(0x30, 6, 2, 1, 0x81, 2, 1, 1)), false, 'negative');
    assert.equal(ecdsaSignatureWellFormed(Uint8Array.of(0x30, 7, 2, 1, 1, 2, 1, 1, 0)), false, 'trailing');
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    assert.throws(() => verifyEcdsa(publicKey, Buffer.from('x'), zero), isAlert('decrypt_error'));
    const sig = signEcdsa(privateKey, [Buffer.from('a'), Buffer.from('b')]);
    assert.equal(ecdsaSignatureWellFormed(sig), true);
    verifyEcdsa(publicKey, Buffer.from('ab'), sig);
    assert.throws(() => verifyEcdsa(publicKey, Buffer.from('ac'), sig), isAlert('decrypt_error'));
  });

  it('accepts only P-256 peer keys', () => {
    const rsa = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'der' });
    assert.throws(() => publicKeyOfSpki(rsa), isAlert('unsupported_certificate'));
    assert.throws(() => publicKeyOfSpki(Uint8Array.of(1, 2, 3)), isAlert('bad_certificate'));
  });
});
