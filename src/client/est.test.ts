import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { CoapEndpoint } from '../coap/endpoint.js';
import { MemoryTransport } from '../coap/memory.js';
import { ResponseCode, getUint, uintOption } from '../coap/option.js';
import { OptionNumber, type IncomingRequest, type OutgoingResponse } from '../coap/types.js';
import { CertificateAuthority, EstContentFormat, certsOnly, createCsr, parseCsr } from '../keys/index.js';
import { estHandler } from '../server/est.js';
import { SqliteStore } from '../store/sqlite.js';
import { SecretBox } from '../store/secret-box.js';
import { EstError, caCertificates, enroll } from './est.js';

const ca = await CertificateAuthority.create({ store: new SqliteStore(':memory:'), box: SecretBox.fromKey(randomBytes(32)) });

/** A client and a server endpoint in memory; the server sees every request as the X.509 identity CN=dev1. */
function pair(t: { after(fn: () => Promise<void>): void }, handler: (req: IncomingRequest) => OutgoingResponse, blockSize?: number) {
  const [a, b] = MemoryTransport.pair();
  const server = new CoapEndpoint(a, blockSize !== undefined ? { blockSize } : {});
  const client = new CoapEndpoint(b);
  server.onRequest(handler);
  t.after(async () => {
    await client.close();
    await server.close();
  });
  return { client, peer: a.address, serverSent: a.sent };
}

const est = estHandler({ ca });
const asDev1 = (req: IncomingRequest) => est({ ...req, identity: { mode: 'x509', name: 'dev1' } })!;

test('client enroll: sends a signed PKCS#10 for its endpoint and returns the certificate for its key (Block2 responses)', async (t) => {
  const seen: IncomingRequest[] = [];
  const { client, peer, serverSent } = pair(t, (req) => (seen.push(req), asDev1(req)), 64);
  const result = await enroll(client, peer, { endpointName: 'dev1' });
  assert.ok(serverSent.length > 5, `the certificate came in 64-byte blocks (${serverSent.length} datagrams)`);
  const req = seen[0]!;
  assert.deepEqual(req.path, ['est', 'sen']);
  assert.equal(req.contentFormat, EstContentFormat.PKCS10);
  assert.equal(req.accept, EstContentFormat.PKCS7_CERTS_ONLY);
  assert.equal(parseCsr(req.payload).commonName, 'dev1');
  const leaf = new X509Certificate(result.certificateChain[0]!);
  assert.equal(leaf.subject, 'CN=dev1');
  assert.ok(leaf.publicKey.equals(createPublicKey(result.privateKey)));
  assert.deepEqual(await caCertificates(client, peer), [ca.caCertificate()]);
});

test('client enroll: a refusal is an EstError with the CoAP code', async (t) => {
  const { client, peer } = pair(t, asDev1);
  await assert.rejects(enroll(client, peer, { endpointName: 'dev2' }), (e: unknown) => e instanceof EstError && e.code === ResponseCode.Forbidden);
});

test('client enroll: a certificate for another key, or an unexpected format, is refused', async (t) => {
  const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  // A server that answers with a certificate for a key the client does not hold.
  const foreign = (): OutgoingResponse => {
    const issued = ca.issue(createCsr({ commonName: 'dev1', ...other }), { endpoint: 'dev1' });
    return { code: ResponseCode.Changed, options: [uintOption(OptionNumber.ContentFormat, 281)], payload: certsOnly([issued.certificate]) };
  };
  const a = pair(t, foreign);
  await assert.rejects(enroll(a.client, a.peer, { endpointName: 'dev1' }), (e: unknown) => e instanceof EstError && e.code === 0 && /another key/.test(e.message));
  const b = pair(t, () => ({ code: ResponseCode.Changed, options: [uintOption(OptionNumber.ContentFormat, 42)], payload: Uint8Array.of(1) }));
  await assert.rejects(enroll(b.client, b.peer, { endpointName: 'dev1' }), (e: unknown) => e instanceof EstError && /Content-Format 42/.test(e.message));
  const c = pair(t, (req) => {
    assert.equal(getUint(req.message, OptionNumber.Accept), 287);
    return asDev1(req);
  });
  const raw = await enroll(c.client, c.peer, { endpointName: 'dev1', accept: 287 });
  assert.equal(raw.certificateChain.length, 1);
});
