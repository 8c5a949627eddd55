import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { AlertDescription, DtlsAlert } from './alert.js';
import { P256_SPKI_LENGTH, createPinnedRawPublicKeyVerifier, createRawPublicKeyVerifier, fingerprint, isP256Spki, spkiOf } from './rpk.js';
import type { RawPublicKeyVerifier } from './types.js';

const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const p256b = generateKeyPairSync('ec', { namedCurve: 'P-256' });

async function refused(v: RawPublicKeyVerifier, spki: Uint8Array, alert: keyof typeof AlertDescription): Promise<void> {
  await assert.rejects(
    async () => v(spki),
    (e: unknown) => e instanceof DtlsAlert && e.description === AlertDescription[alert],
  );
}

describe('spkiOf and fingerprint', () => {
  it('gives the same DER SPKI for a private key and its public key', () => {
    const a = spkiOf(p256.privateKey);
    assert.deepEqual(a, spkiOf(p256.publicKey));
    assert.equal(a.length, P256_SPKI_LENGTH);
    assert.equal(fingerprint(a), createHash('sha256').update(a).digest('hex'));
    assert.match(fingerprint(a), /^[0-9a-f]{64}$/);
  });
});

describe('isP256Spki', () => {
  it('accepts P-256 and refuses other curves, RSA, Ed25519, compressed points and off-curve points', () => {
    assert.equal(isP256Spki(spkiOf(p256.publicKey)), true);
    assert.equal(isP256Spki(spkiOf(generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey)), false);
    assert.equal(isP256Spki(spkiOf(generateKeyPairSync('ed25519').publicKey)), false);
    assert.equal(isP256Spki(spkiOf(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey)), false);
    const compressed = new Uint8Array(p256.publicKey.export({ type: 'spki', format: 'der' }));
    const offCurve = new Uint8Array(compressed);
    offCurve[offCurve.length - 1]! ^= 0x01;
    assert.equal(isP256Spki(offCurve), false);
    assert.equal(isP256Spki(new Uint8Array(0)), false);
    assert.equal(isP256Spki(compressed.subarray(0, 40)), false);
  });
});

describe('createRawPublicKeyVerifier', () => {
  const known = spkiOf(p256.publicKey);
  const verify = createRawPublicKeyVerifier((spki) => (Buffer.from(spki).equals(known) ? 'dev1' : undefined));

  it('names the endpoint a stored key belongs to', async () => {
    assert.deepEqual(await verify(known), { mode: 'rpk', name: 'dev1' });
  });

  it('refuses an unknown key with certificate_unknown, a non-P-256 key with unsupported_certificate, nothing with bad_certificate', async () => {
    await refused(verify, spkiOf(p256b.publicKey), 'certificate_unknown');
    await refused(verify, spkiOf(generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey), 'unsupported_certificate');
    await refused(verify, Uint8Array.of(1, 2, 3), 'unsupported_certificate');
    await refused(verify, new Uint8Array(0), 'bad_certificate');
  });
});

describe('createPinnedRawPublicKeyVerifier', () => {
  it('accepts only the provisioned server key', async () => {
    const v = createPinnedRawPublicKeyVerifier(spkiOf(p256.publicKey), 'server');
    assert.deepEqual(await v(spkiOf(p256.publicKey)), { mode: 'rpk', name: 'server' });
    await refused(v, spkiOf(p256b.publicKey), 'bad_certificate');
    await refused(v, spkiOf(generateKeyPairSync('ed25519').publicKey), 'unsupported_certificate');
  });

  it('refuses to pin something that is not a P-256 key', () => {
    assert.throws(() => createPinnedRawPublicKeyVerifier(Uint8Array.of(1), 'server'), TypeError);
  });
});
