import assert from 'node:assert/strict';
import { createHmac, createPublicKey, generateKeyPairSync, verify } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { aesCmac } from './cmac.js';
import { KeyStoreError } from './key-store.js';
import { SoftwareKeyStore } from './software-store.js';

function tempFile(): { file: string; done: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'warden-keys-'));
  return { file: join(dir, 'keystore.json'), done: () => rmSync(dir, { recursive: true, force: true }) };
}

test('keys survive a reopen with the same passphrase; the file is 0600 and holds no plain key', async () => {
  const { file, done } = tempFile();
  try {
    const hmacKey = Buffer.from(Buffer.alloc(32, 0x5a).map((b, i) => b ^ i));
    const s = await SoftwareKeyStore.open(file, 'correct horse', { create: true });
    await s.importSecretKey('master', 'hmac-sha256', hmacKey);
    await s.generateSecretKey('cmac', { type: 'aes-128' });
    const data = Buffer.from('some input');
    const before = { hmac: await s.prf('master', data), cmac: await s.prf('cmac', data) };
    assert.deepEqual(Buffer.from(before.hmac), createHmac('sha256', hmacKey).update(data).digest());
    assert.equal(before.cmac.length, 16);
    await s.close();

    assert.equal(statSync(file).mode & 0o777, 0o600);
    const text = readFileSync(file, 'utf8');
    assert.ok(!text.includes(hmacKey.toString('hex')) && !text.includes(hmacKey.toString('base64')));

    const r = await SoftwareKeyStore.open(file, 'correct horse');
    assert.equal(await r.hasKey('master'), true);
    assert.equal(await r.keyType('cmac'), 'aes-128');
    assert.equal(await r.hasKey('other'), false);
    assert.deepEqual(await r.prf('master', data), before.hmac);
    assert.deepEqual(await r.prf('cmac', data), before.cmac);
    await r.close();
    await assert.rejects(r.prf('master', data), (e: KeyStoreError) => e.code === 'CLOSED');
  } finally {
    done();
  }
});

test('a wrong passphrase is a clear error and leaves the file byte for byte', async () => {
  const { file, done } = tempFile();
  try {
    const s = await SoftwareKeyStore.open(file, 'right', { create: true });
    await s.generateSecretKey('master', { type: 'hmac-sha256' });
    await s.close();
    const before = readFileSync(file);
    await assert.rejects(SoftwareKeyStore.open(file, 'wrong'), (e: KeyStoreError) => e.code === 'BAD_PASSPHRASE' && /wrong passphrase/.test(e.message));
    await assert.rejects(SoftwareKeyStore.open(file, 'wrong', { create: true }), (e: KeyStoreError) => e.code === 'BAD_PASSPHRASE');
    assert.deepEqual(readFileSync(file), before);
  } finally {
    done();
  }
});

test('a missing store, an altered key and an existing label are refused', async () => {
  const { file, done } = tempFile();
  try {
    await assert.rejects(SoftwareKeyStore.open(file, 'pw'), (e: KeyStoreError) => e.code === 'NO_KEY');
    const s = await SoftwareKeyStore.open(file, 'pw', { create: true });
    await s.generateSecretKey('master', { type: 'hmac-sha256' });
    await assert.rejects(s.generateSecretKey('master', { type: 'aes-256' }), (e: KeyStoreError) => e.code === 'KEY_EXISTS');
    await assert.rejects(s.generateSecretKey('bad label', { type: 'aes-256' }), (e: KeyStoreError) => e.code === 'INVALID');
    await assert.rejects(s.prf('nope', new Uint8Array(1)), (e: KeyStoreError) => e.code === 'NO_KEY');
    await s.close();
    const json = JSON.parse(readFileSync(file, 'utf8')) as { keys: Record<string, { data: string }> };
    const data = Buffer.from(json.keys.master!.data, 'base64');
    data[0] = data[0]! ^ 1;
    json.keys.master!.data = data.toString('base64');
    writeFileSync(file, JSON.stringify(json));
    await assert.rejects(SoftwareKeyStore.open(file, 'pw'), (e: KeyStoreError) => e.code === 'CORRUPT');
    writeFileSync(file, 'not json');
    await assert.rejects(SoftwareKeyStore.open(file, 'pw'), (e: KeyStoreError) => e.code === 'CORRUPT');
  } finally {
    done();
  }
});

test('AES-CMAC prf equals the RFC 4493 construction for an imported key', async () => {
  const { file, done } = tempFile();
  try {
    const key = Buffer.from('2b7e151628aed2a6abf7158809cf4f3c', 'hex');
    const s = await SoftwareKeyStore.open(file, 'pw', { create: true });
    await s.importSecretKey('c', 'aes-128', key);
    assert.equal(Buffer.from(await s.prf('c', new Uint8Array(0))).toString('hex'), 'bb1d6929e95937287fa37d129b756746');
    assert.deepEqual(Buffer.from(await s.prf('c', Buffer.from('x'))), aesCmac(key, Buffer.from('x')));
    await s.close();
  } finally {
    done();
  }
});

test('seal/open round trip; another aad, a flipped bit or an HMAC key is refused', async () => {
  const { file, done } = tempFile();
  try {
    const s = await SoftwareKeyStore.open(file, 'pw', { create: true });
    await s.generateSecretKey('box', { type: 'aes-256' });
    await s.generateSecretKey('mac', { type: 'hmac-sha256' });
    const aad = Buffer.from('row 1');
    const sealed = await s.seal('box', Buffer.from('psk bytes'), aad);
    assert.equal(Buffer.from(await s.open('box', sealed, aad)).toString(), 'psk bytes');
    await assert.rejects(s.open('box', sealed, Buffer.from('row 2')), (e: KeyStoreError) => e.code === 'SEAL_FAILED');
    const bad = Buffer.from(sealed);
    bad[14] = bad[14]! ^ 1;
    await assert.rejects(s.open('box', bad, aad), (e: KeyStoreError) => e.code === 'SEAL_FAILED');
    await assert.rejects(s.seal('mac', Buffer.from('x')), (e: KeyStoreError) => e.code === 'WRONG_KEY_TYPE');
    await s.close();
  } finally {
    done();
  }
});

test('signing keys: ES256 (r||s over SHA-256) and Ed25519 signatures verify under publicKey(), also after a reopen', async () => {
  const { file, done } = tempFile();
  try {
    const s = await SoftwareKeyStore.open(file, 'pw', { create: true });
    const spki = { es: await s.generateSigningKey('fw-es', { alg: 'es256' }), ed: await s.generateSigningKey('fw-ed', { alg: 'ed25519' }) };
    assert.equal(await s.keyType('fw-es'), 'es256');
    assert.equal(await s.keyType('fw-ed'), 'ed25519');
    assert.deepEqual(await s.publicKey('fw-es'), spki.es);
    const esPub = createPublicKey({ key: Buffer.from(spki.es), format: 'der', type: 'spki' });
    const edPub = createPublicKey({ key: Buffer.from(spki.ed), format: 'der', type: 'spki' });
    assert.equal(esPub.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.equal(edPub.asymmetricKeyType, 'ed25519');
    const data = Buffer.from('the Sig_structure of a manifest');
    const es = await s.sign('fw-es', data);
    const ed = await s.sign('fw-ed', data);
    assert.equal(es.length, 64);
    assert.equal(ed.length, 64);
    assert.ok(verify('sha256', data, { key: esPub, dsaEncoding: 'ieee-p1363' }, es));
    assert.ok(verify(null, data, edPub, ed));
    assert.ok(!verify('sha256', Buffer.from('other data'), { key: esPub, dsaEncoding: 'ieee-p1363' }, es));
    await s.close();

    const r = await SoftwareKeyStore.open(file, 'pw');
    assert.equal(await r.keyType('fw-ed'), 'ed25519');
    assert.deepEqual(await r.publicKey('fw-es'), spki.es);
    assert.deepEqual(await r.publicKey('fw-ed'), spki.ed);
    assert.ok(verify('sha256', data, { key: esPub, dsaEncoding: 'ieee-p1363' }, await r.sign('fw-es', data)));
    assert.deepEqual(await r.sign('fw-ed', data), ed, 'Ed25519 is deterministic (RFC 8032 §5.1.6): the same key came back');
    await r.close();
    await assert.rejects(r.sign('fw-es', data), (e: KeyStoreError) => e.code === 'CLOSED');
  } finally {
    done();
  }
});

test('a signing key is sealed at rest like a secret key: no PKCS#8 in the file, an altered record or type is CORRUPT', async () => {
  const { file, done } = tempFile();
  try {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const s = await SoftwareKeyStore.open(file, 'pw', { create: true });
    const spki = await s.importSigningKey('fw', privateKey);
    assert.deepEqual(Buffer.from(spki), createPublicKey(privateKey).export({ format: 'der', type: 'spki' }));
    await assert.rejects(s.importSigningKey('pub', createPublicKey(privateKey)), (e: KeyStoreError) => e.code === 'INVALID');
    await assert.rejects(s.importSigningKey('p384', generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey), (e: KeyStoreError) => e.code === 'INVALID');
    await s.close();

    const text = readFileSync(file, 'utf8');
    const pkcs8 = privateKey.export({ format: 'der', type: 'pkcs8' });
    const d = Buffer.from(privateKey.export({ format: 'jwk' }).d!, 'base64url');
    for (const secret of [pkcs8.toString('base64'), pkcs8.toString('hex'), d.toString('hex'), d.toString('base64'), d.toString('base64url')]) {
      assert.ok(!text.includes(secret), 'the private key appears in the file');
    }
    const json = JSON.parse(text) as { keys: Record<string, { type: string; data: string }> };
    assert.equal(json.keys.fw!.type, 'es256');

    const retyped = structuredClone(json);
    retyped.keys.fw!.type = 'ed25519';
    writeFileSync(file, JSON.stringify(retyped));
    await assert.rejects(SoftwareKeyStore.open(file, 'pw'), (e: KeyStoreError) => e.code === 'CORRUPT');
    const flipped = structuredClone(json);
    const data = Buffer.from(flipped.keys.fw!.data, 'base64');
    data[5] = data[5]! ^ 0x10;
    flipped.keys.fw!.data = data.toString('base64');
    writeFileSync(file, JSON.stringify(flipped));
    await assert.rejects(SoftwareKeyStore.open(file, 'pw'), (e: KeyStoreError) => e.code === 'CORRUPT');
    writeFileSync(file, text);
    const again = await SoftwareKeyStore.open(file, 'pw');
    assert.deepEqual(await again.publicKey('fw'), spki);
    await again.close();
  } finally {
    done();
  }
});

test('secret and signing keys share one label space, and each refuses the other\'s operations', async () => {
  const { file, done } = tempFile();
  try {
    const s = await SoftwareKeyStore.open(file, 'pw', { create: true });
    await s.generateSecretKey('secret', { type: 'aes-256' });
    await s.generateSigningKey('signer', { alg: 'ed25519' });
    await assert.rejects(s.generateSigningKey('secret', { alg: 'es256' }), (e: KeyStoreError) => e.code === 'KEY_EXISTS');
    await assert.rejects(s.generateSecretKey('signer', { type: 'hmac-sha256' }), (e: KeyStoreError) => e.code === 'KEY_EXISTS');
    await assert.rejects(s.generateSigningKey('signer', { alg: 'ed25519' }), (e: KeyStoreError) => e.code === 'KEY_EXISTS');
    await assert.rejects(s.generateSigningKey('bad label', { alg: 'es256' }), (e: KeyStoreError) => e.code === 'INVALID');
    await assert.rejects(s.generateSigningKey('rsa', { alg: 'rs256' as 'es256' }), (e: KeyStoreError) => e.code === 'INVALID');
    await assert.rejects(s.sign('secret', Buffer.from('x')), (e: KeyStoreError) => e.code === 'WRONG_KEY_TYPE');
    await assert.rejects(s.publicKey('secret'), (e: KeyStoreError) => e.code === 'WRONG_KEY_TYPE');
    await assert.rejects(s.sign('none', Buffer.from('x')), (e: KeyStoreError) => e.code === 'NO_KEY');
    await assert.rejects(s.prf('signer', Buffer.from('x')), (e: KeyStoreError) => e.code === 'WRONG_KEY_TYPE');
    await assert.rejects(s.seal('signer', Buffer.from('x')), (e: KeyStoreError) => e.code === 'WRONG_KEY_TYPE');
    await s.close();
  } finally {
    done();
  }
});
