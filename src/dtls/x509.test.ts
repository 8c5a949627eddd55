import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { id_kp_clientAuth, id_kp_serverAuth } from '@peculiar/asn1-x509';
import { AlertDescription, DtlsAlert } from './alert.js';
import { KeyUsageBit, createTestPki, issueCertificate, issueCrl, newP256Key } from './test-pki.js';
import type { CertificateVerifier } from './types.js';
import { MAX_CHAIN_LENGTH, certificateInfo, certificateMatchesHost, createCertificateVerifier, createServerCertificateVerifier } from './x509.js';

const pki = createTestPki(new Date('2030-06-01T00:00:00Z'));
const now = () => pki.now;
const DAY = 86_400_000;

async function refused(v: CertificateVerifier, chain: Uint8Array[], alert: keyof typeof AlertDescription, serverName?: string): Promise<void> {
  await assert.rejects(
    async () => v(chain, { serverName }),
    (e: unknown) => {
      assert.ok(e instanceof DtlsAlert, `expected a DtlsAlert, got ${String(e)}`);
      assert.equal(e.description, AlertDescription[alert], `expected ${alert}, got ${e.description}: ${e.message}`);
      return true;
    },
  );
}

const validity = { notBefore: new Date(pki.now.getTime() - DAY), notAfter: new Date(pki.now.getTime() + DAY) };

describe('createCertificateVerifier (client authentication)', () => {
  const verify = createCertificateVerifier({ trustAnchors: [pki.root.cert], crls: () => [pki.crl], now });

  it('accepts a client chain leading to the trust anchor and names the endpoint by CN', async () => {
    assert.deepEqual(await verify(pki.client.chain, {}), { mode: 'x509', name: 'dev1' });
    assert.deepEqual(await verify(pki.client2.chain, {}), { mode: 'x509', name: 'dev2' });
  });

  it('accepts a chain that includes the root, and an intermediate configured as the anchor', async () => {
    assert.equal((await verify([...pki.client.chain, pki.root.cert], {})).name, 'dev1');
    const byIntermediate = createCertificateVerifier({ trustAnchors: [pki.intermediate.cert], now });
    assert.equal((await byIntermediate([pki.client.cert], {})).name, 'dev1');
  });

  it('refuses a chain missing its intermediate, or from another CA, with unknown_ca', async () => {
    await refused(verify, [pki.client.cert], 'unknown_ca');
    await refused(verify, pki.rogueClient.chain, 'unknown_ca');
  });

  it('refuses an expired certificate with certificate_expired and a not-yet-valid one with bad_certificate', async () => {
    await refused(verify, pki.expired.chain, 'certificate_expired');
    const early = createCertificateVerifier({ trustAnchors: [pki.root.cert], now: () => new Date(pki.now.getTime() - 2 * DAY) });
    await refused(early, pki.client.chain, 'bad_certificate');
  });

  it('refuses a revoked certificate, reading the CRLs at each verification', async () => {
    await refused(verify, pki.revoked.chain, 'certificate_revoked');
    let crls: Uint8Array[] = [];
    const live = createCertificateVerifier({ trustAnchors: [pki.root.cert], crls: () => crls, now });
    assert.equal((await live(pki.revoked.chain, {})).name, 'revoked-dev');
    crls = [pki.crl];
    await refused(live, pki.revoked.chain, 'certificate_revoked');
    assert.equal((await live(pki.client.chain, {})).name, 'dev1');
  });

  it('ignores a CRL not signed by the issuer, and a CRL named for another issuer', async () => {
    const forged = issueCrl({ issuer: pki.intermediate, signingKey: newP256Key().privateKey, serials: [pki.revokedSerial], thisUpdate: pki.now });
    const other = issueCrl({ issuer: pki.otherRoot, serials: [pki.revokedSerial], thisUpdate: pki.now });
    const v = createCertificateVerifier({ trustAnchors: [pki.root.cert], crls: () => [forged, other, Uint8Array.of(1, 2, 3)], now });
    assert.equal((await v(pki.revoked.chain, {})).name, 'revoked-dev');
  });

  it('reads a CRL without nextUpdate and one with several entries', async () => {
    const serial = BigInt('0x' + certificateInfo(pki.client2.cert).serialNumber);
    const bare = issueCrl({ issuer: pki.intermediate, serials: [7n, serial, 9n], thisUpdate: pki.now });
    const v = createCertificateVerifier({ trustAnchors: [pki.root.cert], crls: () => [bare], now });
    await refused(v, pki.client2.chain, 'certificate_revoked');
    assert.equal((await v(pki.client.chain, {})).name, 'dev1');
  });

  it('ignores a CRL issued after now', async () => {
    const future = issueCrl({ issuer: pki.intermediate, serials: [pki.revokedSerial], thisUpdate: new Date(pki.now.getTime() + DAY) });
    const v = createCertificateVerifier({ trustAnchors: [pki.root.cert], crls: () => [future], now });
    assert.equal((await v(pki.revoked.chain, {})).name, 'revoked-dev');
  });

  it('applies a root CRL that revokes the intermediate', async () => {
    const serial = BigInt('0x' + certificateInfo(pki.intermediate.cert).serialNumber);
    const rootCrl = issueCrl({ issuer: pki.root, serials: [serial], thisUpdate: pki.now });
    const v = createCertificateVerifier({ trustAnchors: [pki.root.cert], crls: () => [rootCrl], now });
    await refused(v, pki.client.chain, 'certificate_revoked');
  });

  it('refuses a server certificate (extKeyUsage serverAuth) and a leaf without digitalSignature', async () => {
    await refused(verify, pki.server.chain, 'unsupported_certificate');
    const noSig = issueCertificate({ commonName: 'dev9', issuer: pki.intermediate, ...validity, keyUsage: KeyUsageBit.keyAgreement });
    await refused(verify, [noSig.cert, pki.intermediate.cert], 'unsupported_certificate');
  });

  it('accepts a leaf with neither keyUsage nor extKeyUsage', async () => {
    const plain = issueCertificate({ commonName: 'dev8', issuer: pki.intermediate, ...validity });
    assert.equal((await verify([plain.cert, pki.intermediate.cert], {})).name, 'dev8');
  });

  it('refuses a chain whose issuer is not a CA', async () => {
    const leafIssuer = { cert: pki.client.cert, key: pki.client.key };
    const child = issueCertificate({ commonName: 'dev7', issuer: leafIssuer, ...validity });
    await refused(verify, [child.cert, pki.client.cert, pki.intermediate.cert], 'unknown_ca');
  });

  it('enforces pathLenConstraint', async () => {
    const sub = issueCertificate({ commonName: 'Sub CA', issuer: pki.intermediate, ...validity, ca: {}, keyUsage: KeyUsageBit.keyCertSign });
    const leaf = issueCertificate({ commonName: 'dev6', issuer: sub, ...validity, extKeyUsage: [id_kp_clientAuth] });
    await refused(verify, [leaf.cert, sub.cert, pki.intermediate.cert], 'bad_certificate');
  });

  it('refuses a tampered certificate, an out-of-order chain, garbage, an empty and an overlong chain', async () => {
    const tampered = new Uint8Array(pki.client.cert);
    tampered[tampered.length - 3]! ^= 0x01;
    await refused(verify, [tampered, pki.intermediate.cert], 'bad_certificate');
    await refused(verify, [pki.client.cert, pki.root.cert, pki.intermediate.cert], 'bad_certificate');
    // A chain that reaches an anchor early ends there: the intermediate becomes the leaf, which may not sign a handshake.
    await refused(verify, [pki.intermediate.cert, pki.client.cert], 'unsupported_certificate');
    await refused(verify, [Uint8Array.of(0x30, 0x03, 0x02, 0x01, 0x00)], 'bad_certificate');
    await refused(verify, [], 'bad_certificate');
    await refused(verify, new Array<Uint8Array>(MAX_CHAIN_LENGTH + 1).fill(pki.client.cert), 'bad_certificate');
  });

  it('refuses an unknown critical extension', async () => {
    const odd = issueCertificate({
      commonName: 'dev5', issuer: pki.intermediate, ...validity, extraExtensions: [{ oid: '1.3.6.1.4.1.99999.1', critical: true, value: Uint8Array.of(5, 0) }],
    });
    await refused(verify, [odd.cert, pki.intermediate.cert], 'unsupported_certificate');
  });

  it('refuses a certificate with no CN unless identityFromCertificate names it', async () => {
    const anon = issueCertificate({ issuer: pki.intermediate, ...validity });
    await refused(verify, [anon.cert, pki.intermediate.cert], 'bad_certificate');
    const bySerial = createCertificateVerifier({ trustAnchors: [pki.root.cert], now, identityFromCertificate: (leaf) => `sn-${leaf.serialNumber}` });
    const name = (await bySerial([anon.cert, pki.intermediate.cert], {})).name;
    assert.equal(name, `sn-${certificateInfo(anon.cert).serialNumber}`);
  });

  it('needs a trust anchor', () => {
    assert.throws(() => createCertificateVerifier({ trustAnchors: [] }), TypeError);
    assert.throws(() => createCertificateVerifier({ trustAnchors: [Uint8Array.of(1)] }), TypeError);
  });
});

describe('createServerCertificateVerifier (LwM2M Certificate Usage)', () => {
  const anotherServer = issueCertificate({
    commonName: 'localhost', issuer: pki.intermediate, ...validity, keyUsage: KeyUsageBit.digitalSignature, extKeyUsage: [id_kp_serverAuth], dnsNames: ['localhost'],
  });
  const anotherChain = [anotherServer.cert, pki.intermediate.cert];

  it('3 domain-issued: only the provisioned certificate, without PKIX, dates or names', async () => {
    const v = createServerCertificateVerifier({ serverPublicKey: pki.server.cert, now });
    assert.equal((await v(pki.server.chain, {})).mode, 'x509');
    await refused(v, anotherChain, 'bad_certificate');
    await refused(v, [], 'bad_certificate');
    // RFC 7671 §5.1: a DANE-EE match ignores the validity period.
    const late = createServerCertificateVerifier({ certificateUsage: 3, serverPublicKey: pki.server.cert, now: () => new Date(pki.now.getTime() + 3650 * DAY) });
    assert.equal((await late([pki.server.cert], {})).mode, 'x509');
  });

  it('1 service certificate constraint: PKIX and the provisioned leaf', async () => {
    const v = createServerCertificateVerifier({ certificateUsage: 1, serverPublicKey: pki.server.cert, trustAnchors: [pki.root.cert], serverName: 'localhost', now });
    assert.deepEqual(await v(pki.server.chain, {}), { mode: 'x509', name: 'localhost' });
    await refused(v, anotherChain, 'bad_certificate');
    const untrusted = createServerCertificateVerifier({ certificateUsage: 1, serverPublicKey: pki.server.cert, trustAnchors: [pki.otherRoot.cert], serverName: 'localhost', now });
    await refused(untrusted, pki.server.chain, 'unknown_ca');
    const late = createServerCertificateVerifier({ certificateUsage: 1, serverPublicKey: pki.server.cert, trustAnchors: [pki.root.cert], serverName: 'localhost', now: () => new Date(pki.now.getTime() + 3650 * DAY) });
    await refused(late, pki.server.chain, 'certificate_expired');
  });

  it('0 CA constraint: PKIX and the provisioned CA in the path', async () => {
    const v = createServerCertificateVerifier({ certificateUsage: 0, serverPublicKey: pki.intermediate.cert, trustAnchors: [pki.root.cert], serverName: 'localhost', now });
    assert.equal((await v(pki.server.chain, {})).name, 'localhost');
    assert.equal((await v(anotherChain, {})).name, 'localhost');
    const rootAsCa = createServerCertificateVerifier({ certificateUsage: 0, serverPublicKey: pki.root.cert, trustAnchors: [pki.root.cert], serverName: 'localhost', now });
    assert.equal((await rootAsCa(pki.server.chain, {})).name, 'localhost');
    const wrongCa = createServerCertificateVerifier({ certificateUsage: 0, serverPublicKey: pki.otherRoot.cert, trustAnchors: [pki.root.cert], serverName: 'localhost', now });
    await refused(wrongCa, pki.server.chain, 'bad_certificate');
    // The provisioned certificate as the leaf is not a CA constraint.
    const leafAsCa = createServerCertificateVerifier({ certificateUsage: 0, serverPublicKey: pki.server.cert, trustAnchors: [pki.root.cert], serverName: 'localhost', now });
    await refused(leafAsCa, pki.server.chain, 'bad_certificate');
  });

  it('2 trust anchor assertion: the provisioned certificate is the only anchor', async () => {
    const v = createServerCertificateVerifier({ certificateUsage: 2, serverPublicKey: pki.root.cert, trustAnchors: [pki.otherRoot.cert], serverName: 'localhost', now });
    assert.equal((await v(pki.server.chain, {})).name, 'localhost');
    await refused(v, [pki.server.cert], 'unknown_ca');
    const other = createServerCertificateVerifier({ certificateUsage: 2, serverPublicKey: pki.otherRoot.cert, trustAnchors: [pki.root.cert], serverName: 'localhost', now });
    await refused(other, pki.server.chain, 'unknown_ca');
  });

  it('checks the server name for PKIX usages: DNS, IP, the SNI fallback, and none', async () => {
    const opts = { certificateUsage: 2 as const, serverPublicKey: pki.root.cert, now };
    await refused(createServerCertificateVerifier({ ...opts, serverName: 'evil.example' }), pki.server.chain, 'bad_certificate');
    assert.equal((await createServerCertificateVerifier({ ...opts, serverName: '127.0.0.1' })(pki.server.chain, {})).name, '127.0.0.1');
    await refused(createServerCertificateVerifier({ ...opts, serverName: '10.0.0.1' }), pki.server.chain, 'bad_certificate');
    const bySni = createServerCertificateVerifier(opts);
    assert.equal((await bySni(pki.server.chain, { serverName: 'localhost' })).name, 'localhost');
    await refused(bySni, pki.server.chain, 'bad_certificate', 'other.example');
    await refused(bySni, pki.server.chain, 'bad_certificate');
  });

  it('refuses a client certificate presented as a server certificate', async () => {
    const v = createServerCertificateVerifier({ certificateUsage: 2, serverPublicKey: pki.root.cert, serverName: 'dev1', now });
    await refused(v, pki.client.chain, 'unsupported_certificate');
  });

  it('applies CRLs to PKIX usages', async () => {
    const serial = BigInt('0x' + certificateInfo(pki.server.cert).serialNumber);
    const crl = issueCrl({ issuer: pki.intermediate, serials: [serial], thisUpdate: pki.now });
    const v = createServerCertificateVerifier({ certificateUsage: 2, serverPublicKey: pki.root.cert, serverName: 'localhost', crls: () => [crl], now });
    await refused(v, pki.server.chain, 'certificate_revoked');
  });

  it('matches a digest of the certificate for matching types 1-3 (RFC 6698 §2.1.3)', async () => {
    const sha = (alg: string, der: Uint8Array) => new Uint8Array(createHash(alg).update(der).digest());
    const ee = createServerCertificateVerifier({ certificateUsage: 3, matchingType: 1, serverPublicKey: sha('sha256', pki.server.cert), now });
    assert.equal((await ee(pki.server.chain, {})).mode, 'x509');
    await refused(ee, anotherChain, 'bad_certificate');
    const ca = createServerCertificateVerifier({
      certificateUsage: 0, matchingType: 3, serverPublicKey: sha('sha512', pki.intermediate.cert), trustAnchors: [pki.root.cert], serverName: 'localhost', now,
    });
    assert.equal((await ca(pki.server.chain, {})).name, 'localhost');
    const ta = createServerCertificateVerifier({ certificateUsage: 2, matchingType: 2, serverPublicKey: sha('sha384', pki.intermediate.cert), serverName: 'localhost', now });
    assert.equal((await ta(pki.server.chain, {})).name, 'localhost');
    // With a digest the trust anchor must come in the chain (RFC 7671 §5.2.2).
    await refused(ta, [pki.server.cert], 'unknown_ca');
    assert.throws(() => createServerCertificateVerifier({ matchingType: 1, serverPublicKey: new Uint8Array(31) }), TypeError);
  });

  it('refuses incomplete configurations', () => {
    assert.throws(() => createServerCertificateVerifier({ certificateUsage: 3 }), TypeError);
    assert.throws(() => createServerCertificateVerifier({ certificateUsage: 0, serverPublicKey: pki.intermediate.cert }), TypeError);
    assert.throws(() => createServerCertificateVerifier({ certificateUsage: 1, serverPublicKey: pki.server.cert, trustAnchors: [] }), TypeError);
    assert.throws(() => createServerCertificateVerifier({ certificateUsage: 4 as 3, serverPublicKey: pki.server.cert }), TypeError);
    assert.throws(() => createServerCertificateVerifier({ serverPublicKey: Uint8Array.of(0x30, 0) }), TypeError);
  });
});

describe('certificateMatchesHost', () => {
  const wild = issueCertificate({ commonName: 'not-a-host', issuer: pki.intermediate, ...validity, dnsNames: ['*.example.com', 'exact.example.org'] });
  const cnOnly = issueCertificate({ commonName: 'cn.example.net', issuer: pki.intermediate, ...validity });

  it('matches a wildcard on exactly one left-most label (RFC 6125 §6.4.3)', () => {
    assert.equal(certificateMatchesHost(wild.cert, 'a.example.com'), true);
    assert.equal(certificateMatchesHost(wild.cert, 'A.Example.COM'), true);
    assert.equal(certificateMatchesHost(wild.cert, 'a.b.example.com'), false);
    assert.equal(certificateMatchesHost(wild.cert, 'example.com'), false);
    assert.equal(certificateMatchesHost(wild.cert, 'exact.example.org'), true);
  });

  it('uses the CN only when there is no dNSName (RFC 6125 §6.4.4)', () => {
    assert.equal(certificateMatchesHost(wild.cert, 'not-a-host'), false);
    assert.equal(certificateMatchesHost(cnOnly.cert, 'cn.example.net'), true);
    assert.equal(certificateMatchesHost(cnOnly.cert, 'other.example.net'), false);
  });

  it('matches IPv4 and bracketed IPv6 literals against iPAddress entries only', () => {
    const v6 = issueCertificate({ commonName: '::1', issuer: pki.intermediate, ...validity, ipAddresses: ['::1'] });
    assert.equal(certificateMatchesHost(pki.server.cert, '127.0.0.1'), true);
    assert.equal(certificateMatchesHost(v6.cert, '[::1]'), true);
    assert.equal(certificateMatchesHost(v6.cert, '::2'), false);
  });
});
