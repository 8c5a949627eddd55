import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ModelRegistry } from '../lwm2m/index.js';
import { spkiOf } from '../dtls/rpk.js';
import { createTestPki, newP256Key } from '../dtls/test-pki.js';
import { standardObjects } from './objects/index.js';
import { SecurityMode } from './objects/security.js';
import { checkSchemeAndMode, dtlsClientOptions, findSecurityAccount, findSecurityAccountFor, securityCredentials, splitDer, type ClientSecurity } from './security.js';
import { ObjectTree } from './tree.js';

function treeWith(security: ClientSecurity, serverUri = 'coaps://localhost:5684'): ObjectTree {
  const model = new ModelRegistry();
  const objects = standardObjects(model, { serverUri, shortServerId: 1, lifetime: 300, binding: 'U', security: securityCredentials(security) });
  return new ObjectTree(model, objects);
}

test('PSK: identity and key go into /0/0/3 and /0/0/5 and come back as DtlsClientOptions.psk', () => {
  const key = new Uint8Array(16).fill(3);
  const account = findSecurityAccount(treeWith({ mode: 'psk', identity: 'dev-ü', key }), 1)!;
  assert.equal(account.securityMode, SecurityMode.PSK);
  assert.equal(Buffer.from(account.publicKeyOrIdentity).toString('utf8'), 'dev-ü');
  const opts = dtlsClientOptions(account);
  assert.deepEqual(opts.psk, { identity: account.publicKeyOrIdentity, key });
  assert.equal(opts.connectionId, true);
  assert.equal(dtlsClientOptions(account, { connectionId: false }).connectionId, false);
  assert.equal(opts.verifyCertificate, undefined);
});

test('RPK: own SPKI in /0/0/3, server SPKI in /0/0/4, PKCS#8 key in /0/0/5; the server key is pinned', async () => {
  const own = newP256Key().privateKey;
  const server = newP256Key().privateKey;
  const account = findSecurityAccount(treeWith({ mode: 'rpk', privateKey: own, serverPublicKey: spkiOf(server) }), 1)!;
  assert.deepEqual(account.publicKeyOrIdentity, spkiOf(own));
  assert.deepEqual(account.serverPublicKey, spkiOf(server));
  const opts = dtlsClientOptions(account);
  assert.ok(opts.rawPublicKey);
  assert.deepEqual(spkiOf(opts.rawPublicKey.privateKey), spkiOf(own), 'the key read back from PKCS#8');
  assert.deepEqual(await opts.verifyRawPublicKey!(spkiOf(server)), { mode: 'rpk', name: 'localhost' });
  assert.throws(() => opts.verifyRawPublicKey!(spkiOf(newP256Key().privateKey)), { code: 'bad_certificate' });
});

test('X.509: a chain with its intermediate survives /0/0/3; usage, SNI and SNI-less IP hosts', async () => {
  const pki = createTestPki();
  const security: ClientSecurity = { mode: 'x509', certificateChain: pki.client.chain, privateKey: pki.client.key, serverCertificate: pki.server.cert };
  const account = findSecurityAccount(treeWith(security), 1)!;
  assert.equal(account.certificateUsage, undefined, 'default usage 3 is not written');
  const opts = dtlsClientOptions(account);
  assert.deepEqual(opts.certificate?.chain.map((c) => Buffer.from(c)), pki.client.chain.map((c) => Buffer.from(c)));
  assert.equal(opts.serverName, 'localhost');
  assert.ok(await opts.verifyCertificate!(pki.server.chain, {}));
  assert.throws(() => opts.verifyCertificate!(pki.client2.chain, {}), { code: 'bad_certificate' });

  const ip = findSecurityAccount(treeWith({ ...security, certificateUsage: 2, serverCertificate: pki.root.cert }, 'coaps://127.0.0.1:5684'), 1)!;
  assert.equal(ip.certificateUsage, 2);
  const ipOpts = dtlsClientOptions(ip);
  assert.equal(ipOpts.serverName, undefined, 'RFC 6066 §3: no IP literal in SNI');
  assert.ok(await ipOpts.verifyCertificate!(pki.server.chain, {}), 'the IP is checked against iPAddress SANs');

  const named = findSecurityAccount(treeWith({ ...security, certificateUsage: 2, serverCertificate: pki.root.cert, serverName: 'other.example' }), 1)!;
  assert.equal(named.sni, 'other.example');
  assert.throws(() => dtlsClientOptions(named).verifyCertificate!(pki.server.chain, {}), { code: 'bad_certificate' });

  assert.throws(() => dtlsClientOptions(findSecurityAccount(treeWith({ ...security, certificateUsage: 1 }), 1)!), /X\.509 configuration: .*trust anchors/);
  const noServerCert: ClientSecurity = { mode: 'x509', certificateChain: pki.client.chain, privateKey: pki.client.key };
  assert.throws(() => dtlsClientOptions(findSecurityAccount(treeWith(noServerCert), 1)!), /Server Public Key/);
});

test('splitDer: short and long DER lengths; garbage is refused', () => {
  const small = Uint8Array.from([0x30, 0x01, 0x00]);
  const big = new Uint8Array(4 + 300);
  big.set([0x30, 0x82, 0x01, 0x2c]);
  const both = new Uint8Array([...small, ...big]);
  assert.deepEqual(splitDer(both).map((d) => d.length), [3, 304]);
  assert.throws(() => splitDer(Uint8Array.from([0x04, 0x00])), /not DER/);
  assert.throws(() => splitDer(Uint8Array.from([0x30, 0x05, 0x00])), /truncated/);
});

test('scheme and mode must agree; a Security object without credentials is a clear error', () => {
  assert.equal(checkSchemeAndMode('coaps://h', SecurityMode.PSK), true);
  assert.equal(checkSchemeAndMode('coap://h', SecurityMode.NoSec), false);
  assert.throws(() => checkSchemeAndMode('coap://h', SecurityMode.RPK), /coap:\/\/.*RPK/);
  assert.throws(() => checkSchemeAndMode('coaps://h', SecurityMode.NoSec), /coaps:\/\/.*NoSec/);
  assert.equal(checkSchemeAndMode('coaps://h', SecurityMode.CertificateWithEst), true);
  assert.throws(() => checkSchemeAndMode('coaps://h', 7), /not supported/);
  assert.throws(() => checkSchemeAndMode('http://h', SecurityMode.NoSec), /scheme/);
  const account = findSecurityAccount(treeWith({ mode: 'nosec' }), 1)!;
  assert.throws(() => dtlsClientOptions({ ...account, securityMode: SecurityMode.PSK }), /PSK identity/);
  assert.throws(() => dtlsClientOptions({ ...account, securityMode: SecurityMode.RPK }), /Secret Key/);
  assert.throws(() => dtlsClientOptions({ ...account, serverUri: 'coaps://h', securityMode: SecurityMode.CertificateWithEst }), /no certificate yet/);
});

test('findSecurityAccountFor: the account whose Server URI has the download URI host and port (coaps default 5684)', () => {
  const key = new Uint8Array(16).fill(7);
  const tree = treeWith({ mode: 'psk', identity: 'dev', key }, 'coaps://Fw.Example');
  assert.equal(findSecurityAccountFor(tree, 'coaps://fw.example:5684/fw/abc')?.instanceId, 0);
  assert.equal(findSecurityAccountFor(tree, 'coaps://fw.example/fw/abc')?.serverUri, 'coaps://Fw.Example');
  assert.equal(findSecurityAccountFor(tree, 'coaps://fw.example:5685/fw/abc'), undefined);
  assert.equal(findSecurityAccountFor(tree, 'coaps://other.example/fw/abc'), undefined);
  assert.equal(findSecurityAccountFor(tree, 'not a uri'), undefined);
});
