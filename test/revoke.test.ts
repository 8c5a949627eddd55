/**
 * Revocation through `warden server`'s REST API: a device connects over DTLS with certificates Warden's CA issued; a
 * certificate revoked by serial ends the associations (full and resumed) it authenticated, while the device's other
 * certificate keeps working; the revoked certificate opens no new session, not even by resuming an old one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoapEndpoint, OptionNumber, uintOption, uriPathOptions, uriQueryOptions } from '../src/coap/index.js';
import { DtlsAlert, DtlsClient, type DtlsSession } from '../src/dtls/index.js';
import { createServerCertificateVerifier } from '../src/dtls/x509.js';
import { createCsr } from '../src/keys/index.js';
import { until } from './helpers.js';
import { startWardenWithTestPki } from './warden-fixtures.js';

const TOKEN = 'test-token-revoke';

test('a certificate revoked through the API ends the DTLS sessions it opened and opens no new one', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-revoke-'));
  const { warden, pki } = await startWardenWithTestPki(dir, TOKEN);
  const open: { close(): Promise<void> }[] = [];
  t.after(async () => {
    for (const c of open) await c.close().catch(() => {});
    await warden.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const peer = { address: '127.0.0.1', port: warden.coapsPort! };
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(new URL(path, warden.apiUrl), {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, body: (await res.json()) as unknown };
  };

  // Two certificates for one device, as after a re-enrollment.
  const issue = (endpoint: string) => {
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const c = warden.ca.issue(createCsr({ commonName: endpoint, ...pair }), { endpoint });
    return { chain: [c.certificate], privateKey: pair.privateKey, serial: c.serial };
  };
  const old = issue('rev-dev');
  const current = issue('rev-dev');

  const connect = async (cred: { chain: Uint8Array[]; privateKey: KeyObject }, session?: DtlsSession) => {
    const link = await DtlsClient.connect(peer, {
      certificate: cred,
      verifyCertificate: createServerCertificateVerifier({ certificateUsage: 3, serverPublicKey: pki.server.cert }),
      retransmitInitial: 200,
      maxRetransmissions: 2,
      ...(session ? { session } : {}),
    });
    const coap = new CoapEndpoint(link);
    open.push(coap);
    return { link, coap };
  };
  const register = (coap: CoapEndpoint) =>
    coap.request(peer, {
      code: 2,
      options: [...uriPathOptions('/rd'), uintOption(OptionNumber.ContentFormat, 40), ...uriQueryOptions(['ep=rev-dev', 'lt=60', 'lwm2m=1.1'])],
      payload: Buffer.from('</3/0>'),
    });
  const isRevoked = (err: unknown) => err instanceof DtlsAlert && err.code === 'certificate_revoked';

  const a = await connect(old);
  assert.equal((await register(a.coap)).code, 65, 'registered with the old certificate');
  const oldSession = a.link.session();
  assert.ok(oldSession);
  const resumed = await connect(old, oldSession);
  assert.equal(resumed.link.resumed, true, 'a second association resumed the old certificate\'s session');
  const b = await connect(current);
  assert.equal((await register(b.coap)).code, 65);

  const listed = await api('GET', '/api/certificates?endpoint=rev-dev');
  assert.equal(listed.status, 200);
  assert.deepEqual((listed.body as { serial: string }[]).map((c) => c.serial).sort(), [old.serial, current.serial].sort());

  const res = await api('POST', `/api/certificates/${old.serial}/revoke`);
  assert.equal(res.status, 200);
  assert.deepEqual(res.body, { revoked: 1, serials: [old.serial], closed: 2 });
  await until(() => !a.link.established && !resumed.link.established, 5000, 'the old certificate\'s associations closed');
  assert.equal(b.link.established, true, 'the association of the other certificate stays');
  assert.equal((await register(b.coap)).code, 65, 'and the device still registers with it');

  await assert.rejects(connect(old), isRevoked, 'a full handshake with the revoked certificate is refused');
  await assert.rejects(connect(old, oldSession), isRevoked, 'its old session is not resumable: a full handshake runs, and is refused');
  assert.equal((await api('POST', `/api/certificates/${old.serial}/revoke`)).status, 409);

  const all = await api('POST', '/api/certificates/revoke', { endpoint: 'rev-dev' });
  assert.deepEqual(all.body, { revoked: 1, serials: [current.serial], closed: 1 });
  await until(() => !b.link.established, 5000, 'the current certificate\'s association closed');
  await assert.rejects(connect(current), isRevoked);
  assert.equal((await api('POST', '/api/certificates/revoke', { endpoint: 'rev-dev' })).status, 404);

  const audit = await api('GET', '/api/audit?endpoint=rev-dev&kind=revoked');
  assert.deepEqual(
    (audit.body as { actor: string; detail: { serial: string } }[]).map((e) => [e.actor, e.detail.serial]).sort(),
    [['api', old.serial], ['api', current.serial]].sort(),
  );
});
