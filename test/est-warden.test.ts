/**
 * Certificate enrollment through `warden server`: a device authenticated by PSK enrolls with EST over CoAPs, then
 * registers with the certificate Warden's CA issued; once revoked, the certificate no longer opens a session.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoapEndpoint, OptionNumber, uintOption, uriPathOptions, uriQueryOptions } from '../src/coap/index.js';
import { enroll } from '../src/client/index.js';
import { DtlsClient } from '../src/dtls/index.js';
import { createServerCertificateVerifier } from '../src/dtls/x509.js';
import { startWardenWithTestPki } from './warden-fixtures.js';


test('a PSK device enrolls over EST, registers with its new certificate, and is refused once revoked', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-est-'));
  const { warden, pki } = await startWardenWithTestPki(dir, 'test-token-est');
  const open: { close(): Promise<void> }[] = [];
  t.after(async () => {
    for (const c of open) await c.close().catch(() => {});
    await warden.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const peer = { address: '127.0.0.1', port: warden.coapsPort! };
  const key = randomBytes(16);
  warden.security.add({ endpoint: 'est-dev', mode: 'psk', pskIdentity: 'est-dev', pskKey: key });

  const pskLink = await DtlsClient.connect(peer, { psk: { identity: 'est-dev', key } });
  const pskCoap = new CoapEndpoint(pskLink);
  open.push(pskCoap);
  const { certificateChain, privateKey } = await enroll(pskCoap, peer, { endpointName: 'est-dev' });
  assert.equal(warden.ca.certificates('est-dev').length, 1, 'the CA recorded what it issued');

  const register = async () => {
    const link = await DtlsClient.connect(peer, {
      certificate: { chain: certificateChain, privateKey },
      verifyCertificate: createServerCertificateVerifier({ certificateUsage: 3, serverPublicKey: pki.server.cert }),
      retransmitInitial: 200,
      maxRetransmissions: 2,
    });
    const coap = new CoapEndpoint(link);
    open.push(coap);
    return coap.request(peer, {
      code: 2,
      options: [...uriPathOptions('/rd'), uintOption(OptionNumber.ContentFormat, 40), ...uriQueryOptions(['ep=est-dev', 'lt=60', 'lwm2m=1.1'])],
      payload: Buffer.from('</3/0>'),
    });
  };
  assert.equal((await register()).code, 65, 'registered with the certificate Warden issued');
  assert.deepEqual(warden.server.getRegistration('est-dev')?.identity, { mode: 'x509', name: 'est-dev' });

  warden.ca.revoke({ endpoint: 'est-dev' });
  await assert.rejects(register(), 'a revoked certificate opens no session');
});
