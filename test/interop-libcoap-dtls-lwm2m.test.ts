/**
 * LwM2M over DTLS with peers we did not write: libcoap's coap-client with OpenSSL and with GnuTLS registers with
 * the Warden server using a PSK from the security store; the identity is bound to the endpoint name.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { DtlsServer } from '../src/dtls/index.js';
import { securityAuthorizer } from '../src/cli/authorizer.js';
import { SecretBox, SecurityStore } from '../src/store/index.js';
import { runTool, startTestServer, type TestServer } from './helpers.js';


async function secureServer(t: import('node:test').TestContext): Promise<{ ts: TestServer; security: SecurityStore; port: number }> {
  let security!: SecurityStore;
  const dtlsRef: { port?: number } = {};
  const ts = await startTestServer({
    secureTransport: await (async () => {
      const dtls = await DtlsServer.bind(0, '127.0.0.1', { pskLookup: (id) => security.pskLookup()(id) });
      dtlsRef.port = dtls.address().port;
      return dtls;
    })(),
    authorize: (ep, id) => securityAuthorizer(security)(ep, id),
  });
  security = new SecurityStore(ts.store, SecretBox.fromKey(randomBytes(32)));
  t.after(() => ts.close());
  return { ts, security, port: dtlsRef.port! };
}

for (const lib of ['openssl', 'gnutls'] as const) {
  const tool = `coap-client-${lib}`;

  test(`${tool}: PSK registration over DTLS, bound to its endpoint; wrong keys and borrowed identities refused`, async (t) => {
    const { ts, security, port } = await secureServer(t);
    security.add({ endpoint: `dev-${lib}`, mode: 'psk', pskIdentity: `id-${lib}`, pskKey: Buffer.from('sixteen-byte-key') });
    security.add({ endpoint: `other-${lib}`, mode: 'psk', pskIdentity: `other-id-${lib}`, pskKey: Buffer.from('another-16b-key!') });
    const uri = (ep: string) => `coaps://127.0.0.1:${port}/rd?ep=${ep}&lt=60&lwm2m=1.1`;

    const ok = await runTool(tool, ['-m', 'post', '-t', '40', '-e', '</1/0>,</3/0>', '-u', `id-${lib}`, '-k', 'sixteen-byte-key', '-v', '7', uri(`dev-${lib}`)]);
    assert.match(ok.out, /c:2\.01/, ok.out);
    const reg = ts.server.getRegistration(`dev-${lib}`);
    assert.ok(reg, 'registered');
    assert.equal(reg.secure, true);
    assert.deepEqual(reg.identity, { mode: 'psk', name: `id-${lib}` });

    const borrowed = await runTool(tool, ['-m', 'post', '-t', '40', '-e', '</1/0>', '-u', `id-${lib}`, '-k', 'sixteen-byte-key', '-v', '7', uri(`other-${lib}`)]);
    assert.match(borrowed.out, /c:4\.03/, 'an identity registering under another endpoint gets 4.03');
    assert.equal(ts.server.getRegistration(`other-${lib}`), undefined);

    const wrongKey = await runTool(tool, ['-m', 'post', '-t', '40', '-e', '</1/0>', '-u', `other-id-${lib}`, '-k', 'not-the-real-key', '-v', '7', uri(`other-${lib}`)]);
    assert.doesNotMatch(wrongKey.out, /c:2\.01/, 'a wrong key registers nothing (timestamps in the log may contain "2.01", the CoAP code print is "c:2.01")');
    const unknown = await runTool(tool, ['-m', 'post', '-t', '40', '-e', '</1/0>', '-u', 'nobody', '-k', 'sixteen-byte-key', '-v', '7', uri(`other-${lib}`)]);
    assert.doesNotMatch(unknown.out, /c:2\.01/);
    assert.equal(ts.server.getRegistration(`other-${lib}`), undefined, 'no registration from a failed handshake');
    assert.ok(ts.server.getRegistration(`dev-${lib}`), 'the good device stays registered throughout');
  });
}
