import assert from 'node:assert/strict';
import { createHmac, createPublicKey, randomBytes, verify } from 'node:crypto';
import { test } from 'node:test';
import { aesCmac } from './cmac.js';
import { FactoryKeyDeriver } from './factory.js';
import { kdfCounterFixed } from './kdf.js';
import { KeyStoreError } from './key-store.js';
import { Pkcs11KeyStore } from './pkcs11-store.js';
import { softHsmToken } from './softhsm.js';
import { tempSoftwareStore } from './test-helpers.js';

test('PKCS#11 on SoftHSM2: generated keys are non-extractable and survive a new session', async () => {
  const t = softHsmToken();
  try {
    await assert.rejects(Pkcs11KeyStore.open({ module: t.module, tokenLabel: t.tokenLabel, pin: '0000' }), (e: KeyStoreError) => e.code === 'BAD_PASSPHRASE');
    const s = await Pkcs11KeyStore.open({ module: t.module, tokenLabel: t.tokenLabel, pin: t.pin });
    await s.generateSecretKey('master', { type: 'hmac-sha256' });
    await s.generateSecretKey('cmac', { type: 'aes-128' });
    await assert.rejects(s.generateSecretKey('master', { type: 'hmac-sha256' }), (e: KeyStoreError) => e.code === 'KEY_EXISTS');
    for (const label of ['master', 'cmac']) {
      assert.throws(() => s.tryReadKeyValue(label), (e: KeyStoreError) => e.code === 'TOKEN' && /CKR_ATTRIBUTE_SENSITIVE/.test(e.message));
      assert.deepEqual(s.keyAttributes(label), { token: true, sensitive: true, extractable: false, neverExtractable: true });
    }
    const data = Buffer.from('input');
    const mac = await s.prf('master', data);
    const cmac = await s.prf('cmac', data);
    assert.equal(mac.length, 32);
    assert.equal(cmac.length, 16);
    await s.close();

    const again = await Pkcs11KeyStore.open({ module: t.module, tokenLabel: t.tokenLabel, pin: t.pin });
    assert.equal(await again.keyType('master'), 'hmac-sha256');
    assert.equal(await again.keyType('cmac'), 'aes-128');
    assert.equal(await again.hasKey('none'), false);
    assert.deepEqual(await again.prf('master', data), mac);
    assert.deepEqual(await again.prf('cmac', data), cmac);
    await assert.rejects(again.prf('none', data), (e: KeyStoreError) => e.code === 'NO_KEY');
    await again.close();
  } finally {
    t.cleanup();
  }
});

test('PKCS#11 PRFs equal node:crypto HMAC-SHA256 and RFC 4493 AES-CMAC for a known (imported) key', async () => {
  const t = softHsmToken();
  try {
    const s = await Pkcs11KeyStore.open({ module: t.module, tokenLabel: t.tokenLabel, pin: t.pin });
    const hk = Buffer.from('dd1d91b7d90b2bd3138533ce92b272fbf8a369316aefe242e659cc0ae238afe0', 'hex');
    await s.importSecretKey('h', 'hmac-sha256', hk);
    const ck = Buffer.from('2b7e151628aed2a6abf7158809cf4f3c', 'hex');
    await s.importSecretKey('c', 'aes-128', ck);
    assert.throws(() => s.tryReadKeyValue('h'), /CKR_ATTRIBUTE_SENSITIVE/);
    assert.deepEqual(Buffer.from(await s.prf('h', Buffer.from('abc'))), createHmac('sha256', hk).update('abc').digest());
    // RFC 4493 §4 example 2 (SoftHSM refuses an empty message with CKR_ARGUMENTS_BAD; the KDF never sends one).
    assert.equal(Buffer.from(await s.prf('c', Buffer.from('6bc1bee22e409f96e93d7e117393172a', 'hex'))).toString('hex'), '070a16b46b4d4144f79bdd9dd04a287c');
    assert.deepEqual(Buffer.from(await s.prf('c', Buffer.from('abc'))), aesCmac(ck, Buffer.from('abc')));
    // CAVP KDFCTR HMAC_SHA256 COUNT=0 through the token.
    const fixed = Buffer.from('01322b96b30acd197979444e468e1c5c6859bf1b1cf951b7e725303e237e46b864a145fab25e517b08f8683d0315bb2911d80a0e8aba17f3b413faac', 'hex');
    const ko = await kdfCounterFixed((d) => s.prf('h', d), fixed, 16);
    assert.equal(Buffer.from(ko).toString('hex'), '10621342bfb0fd40046c0e29f2cfdbf0');
    await s.close();
  } finally {
    t.cleanup();
  }
});

for (const type of ['hmac-sha256', 'aes-128', 'aes-256'] as const) {
  test(`factory keys are the same from the software store and the HSM given the same master key (${type})`, async () => {
    const t = softHsmToken();
    const master = randomBytes(type === 'aes-128' ? 16 : 32);
    const sw = await tempSoftwareStore(type, master);
    try {
      const hsm = await Pkcs11KeyStore.open({ module: t.module, tokenLabel: t.tokenLabel, pin: t.pin });
      await hsm.importSecretKey('master', type, master);
      const a = new FactoryKeyDeriver(sw.store, { masterLabel: 'master', keyVersion: 1 });
      const b = new FactoryKeyDeriver(hsm, { masterLabel: 'master', keyVersion: 1 });
      for (const serial of ['A1', 'SN-000042', 'x.y_z']) {
        assert.deepEqual(await b.keyFor(a.identityFor(serial)), await a.keyFor(a.identityFor(serial)));
      }
      await hsm.close();
    } finally {
      await sw.cleanup();
      t.cleanup();
    }
  });
}

test('PKCS#11 seal/open with AES-GCM in the token', async () => {
  const t = softHsmToken();
  try {
    const s = await Pkcs11KeyStore.open({ module: t.module, tokenLabel: t.tokenLabel, pin: t.pin });
    await s.generateSecretKey('box', { type: 'aes-256' });
    await s.generateSecretKey('mac', { type: 'hmac-sha256' });
    const aad = Buffer.from('row 7');
    const sealed = await s.seal('box', Buffer.from('a secret'), aad);
    assert.equal(sealed.length, 12 + 8 + 16);
    assert.equal(Buffer.from(await s.open('box', sealed, aad)).toString(), 'a secret');
    await assert.rejects(s.open('box', sealed, Buffer.from('row 8')), (e: KeyStoreError) => e.code === 'SEAL_FAILED');
    await assert.rejects(s.seal('mac', Buffer.from('x')), (e: KeyStoreError) => e.code === 'WRONG_KEY_TYPE');
    await s.close();
  } finally {
    t.cleanup();
  }
});

test('PKCS#11 signing keys on SoftHSM2: ES256 and Ed25519 made in the token verify under publicKey(); the private key never leaves', async () => {
  const t = softHsmToken();
  try {
    const s = await Pkcs11KeyStore.open({ module: t.module, tokenLabel: t.tokenLabel, pin: t.pin });
    const spki = { es: await s.generateSigningKey('fw-es', { alg: 'es256' }), ed: await s.generateSigningKey('fw-ed', { alg: 'ed25519' }) };
    const esPub = createPublicKey({ key: Buffer.from(spki.es), format: 'der', type: 'spki' });
    const edPub = createPublicKey({ key: Buffer.from(spki.ed), format: 'der', type: 'spki' });
    assert.equal(esPub.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.equal(edPub.asymmetricKeyType, 'ed25519');
    // The SPKI is what node:crypto itself writes for these keys (so keyId() of it is the usual kid).
    assert.deepEqual(Buffer.from(spki.es), esPub.export({ format: 'der', type: 'spki' }));
    assert.deepEqual(Buffer.from(spki.ed), edPub.export({ format: 'der', type: 'spki' }));
    assert.equal(await s.keyType('fw-es'), 'es256');
    assert.equal(await s.keyType('fw-ed'), 'ed25519');
    for (const label of ['fw-es', 'fw-ed']) {
      assert.deepEqual(s.keyAttributes(label), { token: true, sensitive: true, extractable: false, neverExtractable: true });
      assert.throws(() => s.tryReadKeyValue(label), (e: KeyStoreError) => e.code === 'TOKEN' && /CKR_ATTRIBUTE_SENSITIVE/.test(e.message));
    }
    const data = Buffer.from('the Sig_structure of a manifest');
    const es = await s.sign('fw-es', data);
    const ed = await s.sign('fw-ed', data);
    assert.equal(es.length, 64);
    assert.ok(verify('sha256', data, { key: esPub, dsaEncoding: 'ieee-p1363' }, es), 'CKM_ECDSA output is r || s over the SHA-256 digest');
    assert.ok(verify(null, data, edPub, ed), 'CKM_EDDSA without parameters is pure Ed25519');
    assert.ok(!verify(null, Buffer.from('other data'), edPub, ed));
    await s.close();

    const again = await Pkcs11KeyStore.open({ module: t.module, tokenLabel: t.tokenLabel, pin: t.pin });
    assert.equal(await again.keyType('fw-ed'), 'ed25519');
    assert.deepEqual(await again.publicKey('fw-es'), spki.es);
    assert.ok(verify('sha256', data, { key: esPub, dsaEncoding: 'ieee-p1363' }, await again.sign('fw-es', data)));
    assert.deepEqual(await again.sign('fw-ed', data), ed, 'Ed25519 is deterministic: the same key in a new session');
    await again.close();
  } finally {
    t.cleanup();
  }
});

test('PKCS#11: secret and signing keys share one label space and refuse each other\'s operations', async () => {
  const t = softHsmToken();
  try {
    const s = await Pkcs11KeyStore.open({ module: t.module, tokenLabel: t.tokenLabel, pin: t.pin });
    await s.generateSecretKey('secret', { type: 'aes-256' });
    await s.generateSigningKey('signer', { alg: 'es256' });
    await s.generateEcKeyPair('ca');
    await assert.rejects(s.generateSigningKey('secret', { alg: 'es256' }), (e: KeyStoreError) => e.code === 'KEY_EXISTS');
    await assert.rejects(s.generateSigningKey('ca', { alg: 'ed25519' }), (e: KeyStoreError) => e.code === 'KEY_EXISTS');
    await assert.rejects(s.generateSecretKey('signer', { type: 'hmac-sha256' }), (e: KeyStoreError) => e.code === 'KEY_EXISTS');
    await assert.rejects(s.importSecretKey('signer', 'aes-128', new Uint8Array(16)), (e: KeyStoreError) => e.code === 'KEY_EXISTS');
    await assert.rejects(s.generateEcKeyPair('secret'), (e: KeyStoreError) => e.code === 'KEY_EXISTS');
    await assert.rejects(s.generateSigningKey('x', { alg: 'rs256' as 'es256' }), (e: KeyStoreError) => e.code === 'INVALID');
    assert.equal(await s.keyType('ca'), 'es256', 'a key pair made for the CA is a signing key too');
    await assert.rejects(s.sign('secret', Buffer.from('x')), (e: KeyStoreError) => e.code === 'WRONG_KEY_TYPE');
    await assert.rejects(s.publicKey('secret'), (e: KeyStoreError) => e.code === 'WRONG_KEY_TYPE');
    await assert.rejects(s.sign('none', Buffer.from('x')), (e: KeyStoreError) => e.code === 'NO_KEY');
    await assert.rejects(s.prf('signer', Buffer.from('x')), (e: KeyStoreError) => e.code === 'WRONG_KEY_TYPE');
    await assert.rejects(s.seal('signer', Buffer.from('x')), (e: KeyStoreError) => e.code === 'WRONG_KEY_TYPE');
    // The CA's DER signatures and the key store's r || s come from the same token key.
    const der = s.signEcdsaSha256('signer', Buffer.from('x'));
    assert.ok(verify('sha256', Buffer.from('x'), createPublicKey({ key: Buffer.from(await s.publicKey('signer')), format: 'der', type: 'spki' }), der));
    await s.close();
  } finally {
    t.cleanup();
  }
});
