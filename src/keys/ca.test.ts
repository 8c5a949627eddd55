import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, generateKeyPairSync, randomBytes, sign, verify } from 'node:crypto';
import { ecdsaRawToDer } from './der.js';
import { AsnConvert } from '@peculiar/asn1-schema';
import { CertificateList } from '@peculiar/asn1-x509';
import { SqliteStore } from '../store/sqlite.js';
import { SecretBox } from '../store/secret-box.js';
import { CA_COMMON_NAME, CaError, CertificateAuthority } from './ca.js';
import { createCsr, parseCsr, CsrError } from './pkcs10.js';
import { certsOnly, parseCertsOnly } from './pkcs7.js';
import { tempSoftwareStore } from './test-helpers.js';
import { Pkcs11KeyStore } from './pkcs11-store.js';
import { softHsmToken } from './softhsm.js';

const p256 = () => generateKeyPairSync('ec', { namedCurve: 'P-256' });

function csrFor(cn: string, pair = p256()): Uint8Array {
  return createCsr({ commonName: cn, ...pair });
}

async function newCa(now = () => new Date()) {
  const store = new SqliteStore(':memory:');
  const box = SecretBox.fromKey(randomBytes(32));
  const ca = await CertificateAuthority.create({ store, box, now });
  return { store, box, ca };
}

test('PKCS#10: a built request parses and verifies; a tampered one does not', () => {
  const pair = p256();
  const der = csrFor('dev1', pair);
  const csr = parseCsr(der);
  assert.equal(csr.commonName, 'dev1');
  assert.deepEqual(Buffer.from(csr.spki), pair.publicKey.export({ type: 'spki', format: 'der' }));
  const tampered = Uint8Array.from(der);
  const at = Buffer.from(tampered).indexOf('dev1');
  tampered[at] = 'x'.charCodeAt(0);
  assert.throws(() => parseCsr(tampered), (e: unknown) => e instanceof CsrError && e.code === 'BAD_SIGNATURE');
  assert.throws(() => parseCsr(der.subarray(0, der.length - 3)), (e: unknown) => e instanceof CsrError && e.code === 'MALFORMED');
  assert.throws(() => parseCsr(Uint8Array.of(0x30, 0x00)), (e: unknown) => e instanceof CsrError && e.code === 'MALFORMED');
});

test('PKCS#7 certs-only: round trip of two certificates', async () => {
  const { ca } = await newCa();
  const leaf = ca.issue(csrFor('dev1'), { endpoint: 'dev1' }).certificate;
  const bag = certsOnly([leaf, ca.caCertificate()]);
  assert.deepEqual(parseCertsOnly(bag), [leaf, ca.caCertificate()]);
  assert.throws(() => parseCertsOnly(leaf));
});

test('CA: self-signed CA certificate, leaf issued for the authenticated endpoint and recorded', async () => {
  const now = new Date('2026-03-01T12:00:00Z');
  const { ca } = await newCa(() => now);
  const caX = new X509Certificate(ca.caCertificate());
  assert.equal(caX.subject, `CN=${CA_COMMON_NAME}`);
  assert.equal(caX.ca, true);
  assert.ok(caX.verify(caX.publicKey));

  const pair = p256();
  const issued = ca.issue(csrFor('dev1', pair), { endpoint: 'dev1', days: 30 });
  const leaf = new X509Certificate(issued.certificate);
  assert.equal(leaf.subject, 'CN=dev1');
  assert.equal(leaf.issuer, `CN=${CA_COMMON_NAME}`);
  assert.ok(leaf.verify(caX.publicKey), 'signed by the CA');
  assert.ok(leaf.checkIssued(caX));
  assert.equal(leaf.ca, false);
  assert.deepEqual(leaf.keyUsage, ['1.3.6.1.5.5.7.3.2']);
  assert.ok(leaf.publicKey.equals(pair.publicKey));
  assert.equal(leaf.serialNumber.toLowerCase(), issued.serial);
  assert.equal(issued.serial.length, 32);
  assert.equal(new Date(leaf.validTo).getTime(), now.getTime() + 30 * 86_400_000);
  assert.deepEqual(ca.certificates('dev1').map((c) => c.serial), [issued.serial]);
  assert.equal(ca.certificate(issued.serial)?.endpoint, 'dev1');
  const second = ca.issue(csrFor('dev1'), { endpoint: 'dev1' });
  assert.notEqual(second.serial, issued.serial);
});

test('CA: refuses a request naming another endpoint, a tampered request, and a non-P-256 key', async () => {
  const { ca } = await newCa();
  assert.throws(() => ca.issue(csrFor('dev2'), { endpoint: 'dev1' }), (e: unknown) => e instanceof CaError && e.code === 'NAME_MISMATCH');
  const der = csrFor('dev1');
  const tampered = Uint8Array.from(der);
  tampered[tampered.length - 5]! ^= 0x01;
  assert.throws(() => ca.issue(tampered, { endpoint: 'dev1' }), (e: unknown) => e instanceof CaError && e.code === 'BAD_CSR');
  const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
  assert.throws(() => ca.issue(csrFor('dev1', p384), { endpoint: 'dev1' }), (e: unknown) => e instanceof CaError && e.code === 'UNSUPPORTED_KEY');
  assert.deepEqual(ca.certificates('dev1'), []);
});

test('CA: revocation by serial and by endpoint lands in a CRL signed by the CA', async () => {
  let now = new Date('2026-03-01T12:00:00Z');
  const { ca } = await newCa(() => now);
  const a = ca.issue(csrFor('dev1'), { endpoint: 'dev1' });
  const b = ca.issue(csrFor('dev2'), { endpoint: 'dev2' });
  const c = ca.issue(csrFor('dev2'), { endpoint: 'dev2' });
  const empty = ca.crl();
  assert.equal(ca.crl(), empty, 'unchanged CRL is the same array');
  assert.equal(ca.revoke({ serial: a.serial }), 1);
  assert.equal(ca.revoke({ serial: a.serial }), 0, 'already revoked');
  assert.equal(ca.revoke({ endpoint: 'dev2' }), 2);
  const der = ca.crl();
  assert.notEqual(der, empty);
  const crl = AsnConvert.parse(der, CertificateList);
  const listed = (crl.tbsCertList.revokedCertificates ?? []).map((r) => Buffer.from(r.userCertificate).toString('hex')).sort();
  assert.deepEqual(listed, [a.serial, b.serial, c.serial].sort());
  const caPub = new X509Certificate(ca.caCertificate()).publicKey;
  assert.ok(verify('sha256', Buffer.from(AsnConvert.serialize(crl.tbsCertList)), caPub, Buffer.from(crl.signature)));
  assert.equal(crl.tbsCertList.nextUpdate?.getTime().getTime(), now.getTime() + 7 * 86_400_000);
  assert.ok(ca.certificate(a.serial)?.revokedAt);
  // Past a's expiry (365 days), its entry leaves the CRL.
  now = new Date(now.getTime() + 400 * 86_400_000);
  assert.equal(AsnConvert.parse(ca.crl(), CertificateList).tbsCertList.revokedCertificates, undefined);
});

test('CA: list gives issued certificates newest first, all or one endpoint\'s, bounded by limit', async () => {
  let now = new Date('2026-03-01T12:00:00Z');
  const { ca } = await newCa(() => now);
  const issued = [];
  for (const ep of ['dev1', 'dev2', 'dev1']) {
    issued.push(ca.issue(csrFor(ep), { endpoint: ep }));
    now = new Date(now.getTime() + 1000);
  }
  const [a, b, c] = issued as [typeof issued[0], typeof issued[0], typeof issued[0]];
  assert.deepEqual(ca.list().map((x) => x.serial), [c.serial, b.serial, a.serial]);
  assert.deepEqual(ca.list({ limit: 2 }).map((x) => x.serial), [c.serial, b.serial]);
  assert.deepEqual(ca.list({ endpoint: 'dev1' }).map((x) => x.serial), [c.serial, a.serial]);
  assert.deepEqual(ca.list({ endpoint: 'nobody' }), []);
  assert.equal(ca.list()[2]!.issuedAt?.getTime(), new Date('2026-03-01T12:00:00Z').getTime());
  assert.equal(c.issuedAt?.getTime(), ca.list()[0]!.issuedAt?.getTime());
  ca.revoke({ serial: b.serial });
  assert.deepEqual(ca.list().map((x) => x.revokedAt !== undefined), [false, true, false]);
});

test('CA: a server certificate names its hosts (DNS and IP), allows serverAuth only, and is not a device credential', async () => {
  const { ca } = await newCa();
  const pair = p256();
  const der = ca.issueServerCertificate(pair.publicKey, { names: ['dm.example.com', '127.0.0.1'] });
  const cert = new X509Certificate(der);
  assert.ok(cert.checkIssued(new X509Certificate(ca.caCertificate())) && cert.verify(new X509Certificate(ca.caCertificate()).publicKey));
  assert.equal(cert.checkHost('dm.example.com'), 'dm.example.com');
  assert.equal(cert.checkIP('127.0.0.1'), '127.0.0.1');
  assert.equal(cert.checkHost('other.example.com'), undefined);
  assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.1'], 'serverAuth only');
  assert.ok(cert.publicKey.equals(pair.publicKey));
  assert.equal(ca.certificates('dm.example.com').length, 0, 'it authorizes no endpoint');
  assert.throws(() => ca.issueServerCertificate(pair.publicKey, { names: [] }), CaError);
});

test('CA: active endpoints are those holding a certificate neither revoked nor expired', async () => {
  let now = new Date('2026-01-01T00:00:00Z');
  const { ca } = await newCa(() => now);
  ca.issue(csrFor('a'), { endpoint: 'a', days: 10 });
  const b = ca.issue(csrFor('b'), { endpoint: 'b' });
  ca.issue(csrFor('c'), { endpoint: 'c' });
  ca.revoke({ serial: b.serial });
  assert.deepEqual(ca.activeEndpoints(), ['a', 'c']);
  assert.equal(ca.hasActiveCertificate('a'), true);
  assert.equal(ca.hasActiveCertificate('b'), false, 'revoked');
  assert.equal(ca.hasActiveCertificate('nobody'), false);
  now = new Date('2026-02-01T00:00:00Z');
  assert.equal(ca.hasActiveCertificate('a'), false, 'expired');
  assert.deepEqual(ca.activeEndpoints(), ['c']);
});

test('CA: reopens from the database with the same key; the wrong sealing key or a second create is refused', async () => {
  const { store, box, ca } = await newCa();
  const again = await CertificateAuthority.open({ store, box });
  assert.deepEqual(again.caCertificate(), ca.caCertificate());
  const leaf = new X509Certificate(again.issue(csrFor('dev1'), { endpoint: 'dev1' }).certificate);
  assert.ok(leaf.verify(new X509Certificate(ca.caCertificate()).publicKey));
  await assert.rejects(CertificateAuthority.open({ store, box: SecretBox.fromKey(randomBytes(32)) }), (e: unknown) => e instanceof CaError && e.code === 'SEAL');
  await assert.rejects(CertificateAuthority.create({ store, box }), (e: unknown) => e instanceof CaError && e.code === 'CA_EXISTS');
  await assert.rejects(CertificateAuthority.open({ store: new SqliteStore(':memory:'), box }), (e: unknown) => e instanceof CaError && e.code === 'NO_CA');
  const row = store.db.prepare('SELECT key_sealed FROM ca').get() as { key_sealed: Buffer };
  assert.equal(row.key_sealed.indexOf(Buffer.from('-----BEGIN')), -1);
});

test('CA: the key is sealed under the software key store when one is given', async (t) => {
  const ks = await tempSoftwareStore();
  t.after(() => ks.cleanup());
  const store = new SqliteStore(':memory:');
  const ca = await CertificateAuthority.create({ store, keyStore: ks.store });
  assert.equal(await ks.store.keyType('warden-ca-seal'), 'aes-256');
  const again = await CertificateAuthority.openOrCreate({ store, keyStore: ks.store });
  assert.deepEqual(again.caCertificate(), ca.caCertificate());
});

test('CA: the key can live in a PKCS#11 token (SoftHSM2), non-extractable, signing with CKM_ECDSA', async () => {
  const tok = softHsmToken();
  try {
    const open = () => Pkcs11KeyStore.open({ module: tok.module, tokenLabel: tok.tokenLabel, pin: tok.pin });
    const hsm = await open();
    const store = new SqliteStore(':memory:');
    const ca = await CertificateAuthority.create({ store, hsm: { store: hsm } });
    assert.deepEqual(hsm.privateKeyAttributes('warden-ca'), { sensitive: true, extractable: false });
    const caX = new X509Certificate(ca.caCertificate());
    assert.ok(caX.verify(caX.publicKey), 'self-signature made in the token verifies');
    const leaf = ca.issue(csrFor('dev1'), { endpoint: 'dev1' });
    assert.ok(new X509Certificate(leaf.certificate).verify(caX.publicKey));
    ca.revoke({ endpoint: 'dev1' });
    const crl = AsnConvert.parse(ca.crl(), CertificateList);
    assert.ok(verify('sha256', Buffer.from(AsnConvert.serialize(crl.tbsCertList)), caX.publicKey, Buffer.from(crl.signature)));
    assert.equal((store.db.prepare('SELECT key_sealed FROM ca').get() as { key_sealed: unknown }).key_sealed, null);
    await assert.rejects(CertificateAuthority.open({ store, box: SecretBox.fromKey(randomBytes(32)) }), (e: unknown) => e instanceof CaError && e.code === 'SEAL');
    await hsm.close();

    const hsm2 = await open();
    const again = await CertificateAuthority.open({ store, hsm: { store: hsm2 } });
    assert.ok(new X509Certificate(again.issue(csrFor('dev2'), { endpoint: 'dev2' }).certificate).verify(caX.publicKey));
    await hsm2.close();
  } finally {
    tok.cleanup();
  }
});

test('DER: raw r || s from CKM_ECDSA converts to a signature node:crypto verifies (both high-bit cases)', () => {
  const { privateKey, publicKey } = p256();
  const data = Buffer.from('tbs');
  for (let i = 0; i < 32; i++) {
    const raw = sign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' });
    assert.ok(verify('sha256', data, publicKey, ecdsaRawToDer(raw)));
  }
  assert.deepEqual(ecdsaRawToDer(Uint8Array.of(0, 0x80, 0, 1)), Uint8Array.of(0x30, 0x07, 0x02, 0x02, 0x00, 0x80, 0x02, 0x01, 0x01));
});
