import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createPublicKey, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { KeyStoreError, Pkcs11KeyStore, SoftwareKeyStore, type KeyStore } from '../keys/index.js';
import { softHsmToken } from '../keys/softhsm.js';
import { ALG_EDDSA, ALG_ES256, keyId, parseCose1, sigStructure, signCose1, signCose1Async, verifyCose1 } from './cose.js';
import { FirmwareError } from './error.js';
import { decodePackage, signPackageAsync } from './package.js';
import { keyObjectSigner, keyStoreSigner, type SigningKeyStore } from './signer.js';
import { bytes, CLASS, imageManifest, keyPair, VENDOR } from './test-helpers.js';
import { verifyPackage } from './verify.js';

function spkiKey(spki: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
}

function verifyOpts(trusted: KeyObject[]) {
  return { trustedKeys: trusted, vendorId: VENDOR, classId: CLASS, securityCounter: 0 };
}

function openssl(args: string[]): { status: number | null; out: string } {
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  if (r.error) assert.fail(`openssl is missing: install the Debian package "openssl" (${r.error.message})`);
  return { status: r.status, out: r.stdout + r.stderr };
}

/** An unsigned big-endian integer as a minimal DER INTEGER (X.690 §8.3). */
function derInteger(v: Uint8Array): number[] {
  let i = 0;
  while (i < v.length - 1 && v[i] === 0) i++;
  const body = v[i]! & 0x80 ? [0, ...v.subarray(i)] : [...v.subarray(i)];
  return [0x02, body.length, ...body];
}

/** ECDSA r || s (RFC 9053 §2.1) as the DER Ecdsa-Sig-Value openssl reads (RFC 3279 §2.2.3). */
function p1363ToDer(sig: Uint8Array): Uint8Array {
  const body = [...derInteger(sig.subarray(0, 32)), ...derInteger(sig.subarray(32))];
  return Uint8Array.from([0x30, body.length, ...body]);
}

/** openssl checks the envelope's signature over the Sig_structure it rebuilds from the parts (RFC 9052 §4.4). */
function opensslVerifies(envelope: Uint8Array, publicKey: KeyObject): void {
  const dir = mkdtempSync(join(tmpdir(), 'warden-signer-interop-'));
  try {
    const p = (f: string) => join(dir, f);
    const c = parseCose1(envelope);
    writeFileSync(p('pub.pem'), publicKey.export({ format: 'pem', type: 'spki' }));
    writeFileSync(p('tbs.bin'), sigStructure(c.protectedHeader, c.payload));
    const r =
      c.alg === ALG_ES256
        ? (writeFileSync(p('sig.der'), p1363ToDer(c.signature)), openssl(['dgst', '-sha256', '-verify', p('pub.pem'), '-signature', p('sig.der'), p('tbs.bin')]))
        : (writeFileSync(p('sig.bin'), c.signature), openssl(['pkeyutl', '-verify', '-pubin', '-inkey', p('pub.pem'), '-rawin', '-in', p('tbs.bin'), '-sigfile', p('sig.bin')]));
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, /Verified OK|Signature Verified Successfully/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('keyObjectSigner: the async path makes what signCose1 makes (same alg, kid; Ed25519 byte for byte)', async () => {
  for (const alg of ['es256', 'ed25519'] as const) {
    const { privateKey, publicKey } = keyPair(alg);
    const signer = keyObjectSigner(privateKey);
    assert.equal(signer.alg, alg === 'es256' ? ALG_ES256 : ALG_EDDSA);
    assert.deepEqual(signer.kid, keyId(publicKey));
    const payload = bytes(200, 5);
    const env = await signCose1Async(payload, signer);
    assert.deepEqual(verifyCose1(env, [publicKey]), payload);
    const sync = signCose1(payload, privateKey);
    assert.deepEqual(parseCose1(env).kid, parseCose1(sync).kid);
    if (alg === 'ed25519') assert.deepEqual(env, sync);
    const image = bytes(500, 1);
    assert.equal(verifyPackage(await signPackageAsync(imageManifest(image, 9), image, signer), verifyOpts([publicKey])).manifest.sequence, 9);
  }
  assert.throws(() => keyObjectSigner(keyPair('es256').publicKey), TypeError);
});

test('keyStoreSigner on the software store: the kid is keyId() of the stored public key and the package verifies', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-signer-'));
  const store = await SoftwareKeyStore.open(join(dir, 'keystore.json'), 'pw', { create: true });
  try {
    const image = bytes(4000, 3);
    for (const alg of ['es256', 'ed25519'] as const) {
      const pub = spkiKey(await store.generateSigningKey(`fw-${alg}`, { alg }));
      const signer = await keyStoreSigner(store, `fw-${alg}`);
      assert.deepEqual(signer.kid, keyId(pub));
      assert.equal(signer.alg, alg === 'es256' ? ALG_ES256 : ALG_EDDSA);
      const pkg = await signPackageAsync(imageManifest(image, 7), image, signer);
      const { manifest } = verifyPackage(pkg, verifyOpts([keyPair(alg).publicKey, pub]));
      assert.equal(manifest.sequence, 7);
      assert.throws(() => verifyPackage(pkg, verifyOpts([keyPair(alg).publicKey])), (e: unknown) => e instanceof FirmwareError && e.code === 'UNKNOWN_KEY');
    }
    await store.generateSecretKey('secret', { type: 'hmac-sha256' });
    await assert.rejects(keyStoreSigner(store, 'secret'), (e: unknown) => e instanceof KeyStoreError && e.code === 'WRONG_KEY_TYPE');
    await assert.rejects(keyStoreSigner(store, 'none'), (e: unknown) => e instanceof KeyStoreError && e.code === 'NO_KEY');
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('keyStoreSigner refuses a signature that does not verify under the store\'s public key', async () => {
  const { publicKey } = keyPair('es256');
  const liar: SigningKeyStore = {
    publicKey: async () => new Uint8Array(publicKey.export({ format: 'der', type: 'spki' })),
    sign: async () => new Uint8Array(64).fill(1),
  };
  const signer = await keyStoreSigner(liar, 'fw');
  await assert.rejects(signCose1Async(bytes(10, 1), signer), (e: unknown) => e instanceof FirmwareError && e.code === 'BAD_SIGNATURE');
  const short: SigningKeyStore = { ...liar, sign: async () => new Uint8Array(70) };
  await assert.rejects(signCose1Async(bytes(10, 1), await keyStoreSigner(short, 'fw')), (e: unknown) => e instanceof FirmwareError && e.code === 'BAD_SIGNATURE');
});

test('a package signed through SoftHSM2 (ES256 and Ed25519) verifies with verifyPackage and with openssl', async () => {
  const t = softHsmToken();
  let store: KeyStore | undefined;
  try {
    store = await Pkcs11KeyStore.open({ module: t.module, tokenLabel: t.tokenLabel, pin: t.pin });
    const hsm = store as Pkcs11KeyStore;
    for (const alg of ['es256', 'ed25519'] as const) {
      const label = `firmware-${alg}`;
      const pub = spkiKey(await hsm.generateSigningKey(label, { alg }));
      assert.deepEqual(hsm.keyAttributes(label), { token: true, sensitive: true, extractable: false, neverExtractable: true });
      // Several signatures, so an ECDSA r or s with its top bit set (a DER leading zero for openssl) is likely among them.
      for (let i = 0; i < 4; i++) {
        const image = bytes(3000 + i, 20 + i);
        const pkg = await signPackageAsync(imageManifest(image, 100 + i), image, await keyStoreSigner(hsm, label));
        const { manifest, payload } = verifyPackage(pkg, verifyOpts([pub]));
        assert.equal(manifest.sequence, 100 + i);
        assert.deepEqual(payload, image);
        const { envelope } = decodePackage(pkg);
        assert.deepEqual(parseCose1(envelope).kid, keyId(pub));
        opensslVerifies(envelope, pub);
        const bad = Uint8Array.from(pkg);
        bad[bad.length - 1]! ^= 1;
        assert.throws(() => verifyPackage(bad, verifyOpts([pub])), (e: unknown) => e instanceof FirmwareError && e.code === 'DIGEST_MISMATCH');
      }
    }
  } finally {
    await store?.close();
    t.cleanup();
  }
});
