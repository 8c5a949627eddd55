/**
 * EST over CoAPs (RFC 9148) on real DTLS over loopback: a PSK device enrolls, connects with its new certificate,
 * re-enrolls over the certificate session, and is refused after revocation; CSRs for another endpoint and tampered
 * CSRs are refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, generateKeyPairSync, randomBytes } from 'node:crypto';
import { CoapEndpoint } from '../src/coap/endpoint.js';
import { Method, ResponseCode, uintOption, uriPathOptions } from '../src/coap/option.js';
import { OptionNumber, type PeerAddress, type PeerIdentity } from '../src/coap/types.js';
import { DtlsAlert, DtlsClient, DtlsServer, type DtlsClientOptions, type HandshakeFailureEvent } from '../src/dtls/index.js';
import { createTestPki } from '../src/dtls/test-pki.js';
import { createCertificateVerifier, createServerCertificateVerifier } from '../src/dtls/x509.js';
import { CertificateAuthority, EstContentFormat, createCsr } from '../src/keys/index.js';
import { estHandler } from '../src/server/est.js';
import { SecretBox, SecurityStore, SqliteStore } from '../src/store/index.js';
import { EstError, caCertificates, enroll, reenroll } from '../src/client/est.js';

const PSK = randomBytes(32);
const pki = createTestPki();

async function setup() {
  const store = new SqliteStore(':memory:');
  const security = new SecurityStore(store, SecretBox.fromKey(randomBytes(32)));
  security.add({ endpoint: 'dev1', mode: 'psk', pskIdentity: 'dev1-id', pskKey: PSK });
  const ca = await CertificateAuthority.create({ store, box: SecretBox.fromKey(randomBytes(32)) });
  const failures: HandshakeFailureEvent[] = [];
  const dtls = await DtlsServer.bind(0, '127.0.0.1', {
    pskLookup: security.pskLookup(),
    verifyCertificate: createCertificateVerifier({ trustAnchors: [ca.caCertificate()], crls: () => [ca.crl()] }),
    certificate: { chain: pki.server.chain, privateKey: pki.server.key },
    retransmitInitial: 200,
    onHandshakeFailure: (e) => failures.push(e),
  });
  const identities: (PeerIdentity | undefined)[] = [];
  const server = new CoapEndpoint(dtls);
  const est = estHandler({ ca, security });
  server.onRequest((req) => {
    identities.push(req.identity);
    return est(req) ?? { code: ResponseCode.NotFound };
  });
  const peer: PeerAddress = { address: '127.0.0.1', port: dtls.address().port };
  const clients: CoapEndpoint[] = [];
  const connect = async (opts: DtlsClientOptions): Promise<CoapEndpoint> => {
    const c = await DtlsClient.connect(peer, { retransmitInitial: 200, maxRetransmissions: 3, ...opts });
    const ep = new CoapEndpoint(c);
    clients.push(ep);
    return ep;
  };
  const close = async () => {
    for (const c of clients) await c.close();
    await server.close();
  };
  return { ca, security, dtls, peer, connect, close, identities, failures };
}

/** Trusts exactly the test server's certificate (LwM2M Certificate Usage 3, DANE-EE). */
const verifyServer = createServerCertificateVerifier({ certificateUsage: 3, serverPublicKey: pki.server.cert });

test('EST: PSK enrollment, X.509 session with the issued certificate, re-enrollment, then revocation', async (t) => {
  const s = await setup();
  t.after(() => s.close());

  const pskEp = await s.connect({ psk: { identity: 'dev1-id', key: PSK } });
  const cas = await caCertificates(pskEp, s.peer);
  assert.deepEqual(cas, [s.ca.caCertificate()]);
  const first = await enroll(pskEp, s.peer, { endpointName: 'dev1' });
  const leaf = new X509Certificate(first.certificateChain[0]!);
  assert.equal(leaf.subject, 'CN=dev1');
  assert.ok(leaf.verify(new X509Certificate(cas[0]!).publicKey));
  assert.deepEqual(s.identities.at(-1), { mode: 'psk', name: 'dev1-id' });

  const certEp = await s.connect({ certificate: { chain: first.certificateChain, privateKey: first.privateKey }, verifyCertificate: verifyServer });
  const renewed = await reenroll(certEp, s.peer, { endpointName: 'dev1', accept: EstContentFormat.PKIX_CERT });
  assert.deepEqual(s.identities.at(-1), { mode: 'x509', name: 'dev1' }, 'sren came over the certificate session');
  const renewedLeaf = new X509Certificate(renewed.certificateChain[0]!);
  assert.equal(renewedLeaf.subject, 'CN=dev1');
  assert.notEqual(renewedLeaf.serialNumber, leaf.serialNumber);
  assert.equal(s.ca.certificates('dev1').length, 2);

  // Re-enrollment is refused over the PSK session.
  await assert.rejects(reenroll(pskEp, s.peer, { endpointName: 'dev1' }), (e: unknown) => e instanceof EstError && e.code === ResponseCode.Forbidden);

  assert.equal(s.ca.revoke({ serial: leaf.serialNumber.toLowerCase() }), 1);
  await assert.rejects(
    s.connect({ certificate: { chain: first.certificateChain, privateKey: first.privateKey }, verifyCertificate: verifyServer }),
    (e: unknown) => e instanceof DtlsAlert && e.code === 'certificate_revoked',
  );
  assert.ok(s.failures.some((f) => f.alert instanceof DtlsAlert && f.alert.code === 'certificate_revoked'), 'the server refused it as revoked');
  // The renewed certificate still works.
  const again = await s.connect({ certificate: { chain: renewed.certificateChain, privateKey: renewed.privateKey }, verifyCertificate: verifyServer });
  assert.deepEqual(await caCertificates(again, s.peer), [s.ca.caCertificate()]);
});

test('EST: a CSR for another endpoint is 4.03, a tampered CSR 4.00, over a real PSK session', async (t) => {
  const s = await setup();
  t.after(() => s.close());
  s.security.add({ endpoint: 'dev2', mode: 'psk', pskIdentity: 'dev2-id', pskKey: randomBytes(32) });
  const ep = await s.connect({ psk: { identity: 'dev1-id', key: PSK } });
  await assert.rejects(enroll(ep, s.peer, { endpointName: 'dev2' }), (e: unknown) => e instanceof EstError && e.code === ResponseCode.Forbidden);

  const csr = createCsr({ commonName: 'dev1', ...generateKeyPairSync('ec', { namedCurve: 'P-256' }) });
  const tampered = Uint8Array.from(csr);
  tampered[Buffer.from(tampered).indexOf('dev1') + 3] = '2'.charCodeAt(0); // now asks for "dev2" under dev1's signature
  const res = await ep.request(s.peer, {
    code: Method.POST,
    options: [...uriPathOptions(['est', 'sen']), uintOption(OptionNumber.ContentFormat, EstContentFormat.PKCS10)],
    payload: tampered,
  });
  assert.equal(res.code, ResponseCode.BadRequest);
  assert.deepEqual(s.ca.certificates('dev1'), []);
  assert.deepEqual(s.ca.certificates('dev2'), []);
});
