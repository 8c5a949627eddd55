/**
 * Issue 4, DM credentials other than a PSK, through `warden server`'s wiring: a device proves its factory key to the
 * bootstrap server and leaves with a raw public key pair (Security mode 1) or a certificate from Warden's CA, either
 * issued with a key pair made for it (mode 2) or enrolled over the bootstrap session with a key pair it made itself
 * (mode 4, EST); and each kind rotates.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { CoapEndpoint, Method, uriPathOptions, uintOption, OptionNumber } from '../src/coap/index.js';
import { Lwm2mClient } from '../src/client/index.js';
import { SecurityMode, SecurityResource } from '../src/client/objects/security.js';
import type { DmCredentialKind } from '../src/bootstrap/index.js';
import type { Warden } from '../src/cli/warden.js';
import { DtlsClient } from '../src/dtls/index.js';
import { createPinnedRawPublicKeyVerifier } from '../src/dtls/rpk.js';
import { createCsr, EstContentFormat, type FactoryCredential } from '../src/keys/index.js';
import { Lwm2mPath } from '../src/lwm2m/path.js';
import { once } from './helpers.js';
import { startWardenWithFactoryKeys } from './warden-fixtures.js';

const clients = new WeakMap<Warden, Lwm2mClient[]>();

async function setup(t: TestContext, serials: string[]): Promise<{ warden: Warden; factory: FactoryCredential[] }> {
  const { warden, factory } = await startWardenWithFactoryKeys(t, serials, 'test-token-certboot');
  clients.set(warden, []);
  // Devices de-register while the server still answers.
  t.after(async () => {
    for (const c of clients.get(warden)!) await c.stop().catch(() => {});
    await warden.close();
  });
  return { warden, factory };
}

function clientFor(warden: Warden, f: FactoryCredential): Lwm2mClient {
  const client = new Lwm2mClient({
    endpoint: f.endpoint,
    bootstrap: { serverUri: `coaps://127.0.0.1:${warden.bootstrapsPort}`, security: { mode: 'psk', identity: f.pskIdentity, key: f.pskKey } },
  });
  clients.get(warden)!.push(client);
  return client;
}

/** Warden and one factory device configured for `dmCredential`, bootstrapped and registered. */
async function firstContact(t: TestContext, serial: string, dmCredential: DmCredentialKind): Promise<{ warden: Warden; f: FactoryCredential; client: Lwm2mClient }> {
  const { warden, factory } = await setup(t, [serial]);
  const f = factory[0]!;
  warden.bootstrap!.configs.putDevice(f.endpoint, { servers: { '0': { shortId: 1 } }, dmCredential });
  const client = clientFor(warden, f);
  const registered = once(warden.server, 'registered', 15_000);
  await client.start();
  await registered;
  return { warden, f, client };
}

/** The DM account the client was given: Security mode, certificate and key. */
function dmAccount(client: Lwm2mClient): { mode: number; certificate: Uint8Array; serverPublicKey: Uint8Array; secretKey: Uint8Array } {
  const sec = client.tree.enabler(0)!;
  for (const iid of sec.instanceIds()) {
    const inst = sec.instance(iid)!;
    const get = (rid: number) => {
      const n = inst.read(rid);
      return n?.kind === 'singleResource' ? n.value.value : undefined;
    };
    if (get(SecurityResource.BootstrapServer) === true) continue;
    return {
      mode: Number(get(SecurityResource.SecurityMode)),
      certificate: get(SecurityResource.PublicKeyOrIdentity) as Uint8Array,
      serverPublicKey: get(SecurityResource.ServerPublicKey) as Uint8Array,
      secretKey: get(SecurityResource.SecretKey) as Uint8Array,
    };
  }
  throw new Error('no DM account');
}

async function auditOf(warden: Warden, endpoint: string): Promise<{ kind: string; actor: string; detail?: Record<string, unknown> }[]> {
  const res = await fetch(`${warden.apiUrl}/api/audit?endpoint=${encodeURIComponent(endpoint)}`, { headers: { authorization: 'Bearer test-token-certboot' } });
  return (await res.json()) as { kind: string; actor: string; detail?: Record<string, unknown> }[];
}

test('dmCredential certificate: the device gets a CA-issued certificate (mode 2) at first bootstrap and registers with it', async (t) => {
  const { warden, factory } = await setup(t, ['SN-C1']);
  const f = factory[0]!;
  warden.bootstrap!.configs.putGroup('cert-fleet', { servers: { '0': { shortId: 1 } }, endpointPrefix: f.endpoint, dmCredential: 'certificate' });
  const client = clientFor(warden, f);
  const registered = once(warden.server, 'registered', 15_000);
  await client.start();
  await registered;
  const reg = warden.server.getRegistration(f.endpoint);
  assert.deepEqual(reg?.identity, { mode: 'x509', name: f.endpoint }, 'registered over DTLS with its certificate, named by its endpoint');
  const account = dmAccount(client);
  assert.equal(account.mode, SecurityMode.Certificate);
  const issued = warden.ca.certificates(f.endpoint);
  assert.equal(issued.length, 1);
  assert.deepEqual(Buffer.from(account.certificate), Buffer.from(issued[0]!.certificate), 'the certificate written is the one the CA recorded');
  const cert = new X509Certificate(account.certificate);
  assert.ok(cert.checkIssued(new X509Certificate(warden.ca.caCertificate())), 'issued by Warden\'s CA');
  assert.equal(warden.security.get(f.endpoint), undefined, 'no PSK was made for it');
  assert.equal((await warden.server.read(f.endpoint, Lwm2mPath.parse('/3/0/0'))).code, 69);
  const audit = await auditOf(warden, f.endpoint);
  assert.ok(audit.some((e) => e.kind === 'created' && e.actor === 'bootstrap' && e.detail?.serial === issued[0]!.serial), 'the audit records the certificate by serial');
  assert.ok(!JSON.stringify(audit).includes(Buffer.from(account.secretKey).toString('hex').slice(0, 64)), 'and no key');
});

test('dmCredential est: the device enrolls its own key pair over the bootstrap session (mode 4) and registers with the certificate', async (t) => {
  const { warden, f, client } = await firstContact(t, 'SN-E1', 'est');
  assert.deepEqual(warden.server.getRegistration(f.endpoint)?.identity, { mode: 'x509', name: f.endpoint });
  const account = dmAccount(client);
  assert.equal(account.mode, SecurityMode.CertificateWithEst, 'the account stays in mode 4, now holding its certificate');
  const issued = warden.ca.certificates(f.endpoint);
  assert.equal(issued.length, 1);
  const devicePublic = createPublicKey(createPrivateKey({ key: Buffer.from(account.secretKey), format: 'der', type: 'pkcs8' }));
  assert.ok(new X509Certificate(issued[0]!.certificate).publicKey.equals(devicePublic), 'the certificate is for the key the device generated');
  const audit = await auditOf(warden, f.endpoint);
  assert.ok(audit.some((e) => e.kind === 'created' && e.actor === 'bootstrap-est' && e.detail?.serial === issued[0]!.serial));
});

test('EST on the bootstrap server: refused for a device whose configuration is not mode 4, and for another endpoint\'s name', async (t) => {
  const { warden, factory } = await setup(t, ['SN-P1', 'SN-E2']);
  const [psk, est] = factory as [FactoryCredential, FactoryCredential];
  warden.bootstrap!.configs.putDevice(est.endpoint, { servers: { '0': { shortId: 1 } }, dmCredential: 'est' });
  const sen = async (f: FactoryCredential, commonName: string) => {
    const peer = { address: '127.0.0.1', port: warden.bootstrapsPort! };
    const coap = new CoapEndpoint(await DtlsClient.connect(peer, { psk: { identity: f.pskIdentity, key: f.pskKey } }));
    try {
      const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      return await coap.request(peer, {
        code: Method.POST,
        options: [...uriPathOptions(['est', 'sen']), uintOption(OptionNumber.ContentFormat, EstContentFormat.PKCS10)],
        payload: createCsr({ commonName, privateKey, publicKey }),
      });
    } finally {
      await coap.close();
    }
  };
  assert.equal((await sen(psk, psk.endpoint)).code, 0x83, 'a PSK-configured device may not enroll at the bootstrap server (4.03)');
  assert.equal((await sen(est, psk.endpoint)).code, 0x83, 'a request naming another endpoint is refused (4.03)');
  assert.equal(warden.ca.certificates(psk.endpoint).length, 0);
  const ok = await sen(est, est.endpoint);
  assert.equal(ok.code, 0x44, 'its own name: 2.04 with the certificate');
  assert.equal(warden.ca.certificates(est.endpoint).length, 1);
});

test('a sequence that fails after a certificate was issued for it leaves that certificate revoked, unused', async (t) => {
  const { warden, factory } = await setup(t, ['SN-F1']);
  const f = factory[0]!;
  // Server 2's account is coap:// with PSK: the client finds the configuration inconsistent and refuses Finish (4.06).
  warden.bootstrap!.configs.putDevice(f.endpoint, {
    servers: { '0': { shortId: 1 }, '1': { shortId: 2 } },
    security: { '5': { uri: 'coap://127.0.0.1:1', securityMode: 'PSK', serverId: 2, publicKeyOrId: '6964', secretKey: '00112233445566778899aabbccddeeff' } },
    dmCredential: 'certificate',
  });
  const client = clientFor(warden, f);
  const failed = once(warden.bootstrap!, 'bootstrap-failed', 15_000);
  void client.start().catch(() => {});
  const event = (await failed) as { reason: string };
  assert.match(event.reason, /Finish answered 4\.06/);
  const issued = warden.ca.certificates(f.endpoint);
  assert.ok(issued.length >= 1, 'a certificate was issued for the sequence');
  assert.ok(issued.every((c) => c.revokedAt !== undefined), 'and revoked when the sequence failed');
  assert.equal(warden.server.getRegistration(f.endpoint), undefined);
});

for (const kind of ['certificate', 'est'] as const) {
  test(`rotation of a ${kind} device: re-bootstrapped to a newer certificate, proven by registering with it, then the old one is revoked`, async (t) => {
    const { warden, f, client } = await firstContact(t, `SN-R-${kind}`, kind);
    const [first] = warden.ca.certificates(f.endpoint);
    assert.ok(first);
    const status = await rotate(warden, f.endpoint);
    assert.equal(status.state, 'finished');
    assert.equal(status.counts.done, 1, 'the device is done');
    const certs = warden.ca.certificates(f.endpoint);
    assert.equal(certs.length, 2, 'one new certificate');
    assert.ok(certs.find((c) => c.serial === first.serial)?.revokedAt, 'the old certificate is revoked');
    const fresh = certs.find((c) => c.serial !== first.serial)!;
    assert.equal(fresh.revokedAt, undefined, 'the new one is not');
    assert.deepEqual(Buffer.from(dmAccount(client).certificate), Buffer.from(fresh.certificate), 'the device holds the new certificate');
    assert.deepEqual(warden.server.getRegistration(f.endpoint)?.identity, { mode: 'x509', name: f.endpoint }, 'and is registered with it');
    const audit = await auditOf(warden, f.endpoint);
    assert.ok(audit.some((e) => e.kind === 'rotated'));
    assert.ok(audit.some((e) => e.kind === 'revoked' && e.detail?.serial === first.serial));
  });
}

async function rotate(warden: Warden, endpoint: string): Promise<{ state: string; counts: Record<string, number> }> {
  const api = (path: string, init: RequestInit = {}) =>
    fetch(`${warden.apiUrl}${path}`, { ...init, headers: { authorization: 'Bearer test-token-certboot', 'content-type': 'application/json' } });
  const started = await api('/api/credentials/rotations', { method: 'POST', body: JSON.stringify({ endpoint }) });
  assert.equal(started.status, 201, await started.clone().text());
  const { id } = (await started.json()) as { id: number };
  let status = { state: '', counts: {} as Record<string, number> };
  for (let i = 0; i < 300 && status.state !== 'finished'; i++) {
    status = (await (await api(`/api/credentials/rotations/${id}`)).json()) as typeof status;
    if (status.state !== 'finished') await new Promise((r) => setTimeout(r, 100));
  }
  return status;
}

test('dmCredential rpk: first contact writes a raw public key account (mode 1); a rotation moves the device to a new key and the old one is refused', async (t) => {
  const { warden, f, client } = await firstContact(t, 'SN-K1', 'rpk');
  assert.deepEqual(warden.server.getRegistration(f.endpoint)?.identity, { mode: 'rpk', name: f.endpoint });
  const first = dmAccount(client);
  assert.equal(first.mode, SecurityMode.RPK);
  assert.deepEqual(Buffer.from(warden.security.get(f.endpoint)!.rpkPublicKey!), Buffer.from(first.certificate), 'the server knows the device key written to /0/x/3');
  assert.ok((await auditOf(warden, f.endpoint)).some((e) => e.kind === 'created' && typeof e.detail?.fingerprint === 'string'));
  const peer = { address: '127.0.0.1', port: warden.coapsPort! };
  const withKey = (account: ReturnType<typeof dmAccount>) => DtlsClient.connect(peer, {
    rawPublicKey: { privateKey: createPrivateKey({ key: Buffer.from(account.secretKey), format: 'der', type: 'pkcs8' }) },
    verifyRawPublicKey: createPinnedRawPublicKeyVerifier(account.serverPublicKey, '127.0.0.1'),
    retransmitInitial: 200,
    maxRetransmissions: 2,
  });
  await (await withKey(first)).close();

  const status = await rotate(warden, f.endpoint);
  assert.equal(status.state, 'finished');
  assert.equal(status.counts.done, 1);
  const second = dmAccount(client);
  assert.notDeepEqual(Buffer.from(second.certificate), Buffer.from(first.certificate), 'the device holds a new key');
  assert.deepEqual(Buffer.from(warden.security.get(f.endpoint)!.rpkPublicKey!), Buffer.from(second.certificate), 'which the server now holds');
  assert.equal(warden.security.getPendingRawPublicKey(f.endpoint), undefined, 'no second key left behind');
  assert.deepEqual(warden.server.getRegistration(f.endpoint)?.identity, { mode: 'rpk', name: f.endpoint });
  const audit = await auditOf(warden, f.endpoint);
  assert.ok(audit.some((e) => e.kind === 'rotated'));
  assert.ok(!JSON.stringify(audit).includes(Buffer.from(second.secretKey).toString('hex').slice(-64)), 'no private key in the audit');

  await assert.rejects(withKey(first), 'the old key no longer opens a DTLS session');
  await (await withKey(second)).close();
});
