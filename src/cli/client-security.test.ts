import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spkiOf } from '../dtls/rpk.js';
import { createTestPki, newP256Key } from '../dtls/test-pki.js';
import { clientSecurityFromFlags, readPublicKey } from './client-security.js';

const pem = (label: string, der: Uint8Array) => `-----BEGIN ${label}-----\n${Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n')}\n-----END ${label}-----\n`;

test('PSK flags: hex key inline or from stdin; both flags required; one mode only', () => {
  assert.deepEqual(clientSecurityFromFlags({ pskIdentity: 'id', pskKey: '00ff' }), { mode: 'psk', identity: 'id', key: Uint8Array.from([0, 255]) });
  assert.deepEqual(clientSecurityFromFlags({ pskIdentity: 'id', pskKey: '-' }, () => '0x0102\n'), { mode: 'psk', identity: 'id', key: Uint8Array.from([1, 2]) });
  assert.throws(() => clientSecurityFromFlags({ pskIdentity: 'id', pskKey: 'xyz' }), /hexadecimal/);
  assert.throws(() => clientSecurityFromFlags({ pskIdentity: 'id' }), /--psk-key/);
  assert.throws(() => clientSecurityFromFlags({ pskIdentity: 'id', pskKey: '00', rpkKey: 'k' }), /one security mode/);
  assert.deepEqual(clientSecurityFromFlags({}), { mode: 'nosec' });
});

test('RPK and X.509 flags read PEM and DER files', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-cli-sec-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const pki = createTestPki();
  const own = newP256Key();
  const f = (name: string, data: string | Uint8Array) => {
    writeFileSync(join(dir, name), data);
    return join(dir, name);
  };
  const ownKey = f('own.pem', own.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string);
  const serverPub = f('server.pub.pem', own.publicKey.export({ format: 'pem', type: 'spki' }) as string);
  assert.deepEqual(readPublicKey(serverPub), spkiOf(own.publicKey));
  assert.deepEqual(readPublicKey(f('server.pub.der', spkiOf(own.publicKey))), spkiOf(own.publicKey));
  assert.throws(() => readPublicKey(f('junk', 'junk')), /no public key/);
  const rpk = clientSecurityFromFlags({ rpkKey: ownKey, serverPublicKey: serverPub });
  assert.equal(rpk.mode, 'rpk');
  assert.throws(() => clientSecurityFromFlags({ rpkKey: ownKey }), /--server-public-key/);

  const chain = f('chain.pem', pki.client.chain.map((c) => pem('CERTIFICATE', c)).join(''));
  const key = f('key.pem', pki.client.key.export({ format: 'pem', type: 'pkcs8' }) as string);
  const serverCert = f('server.der', pki.server.cert);
  const ca = f('ca.pem', pem('CERTIFICATE', pki.root.cert));
  const x = clientSecurityFromFlags({ cert: chain, key, serverCert });
  assert.ok(x.mode === 'x509');
  assert.equal(x.certificateChain.length, 2);
  assert.equal(x.certificateUsage, 3);
  assert.deepEqual(x.serverCertificate, pki.server.cert);
  const usage1 = clientSecurityFromFlags({ cert: chain, key, serverCert, ca, certUsage: 1 });
  assert.ok(usage1.mode === 'x509' && usage1.trustAnchors?.length === 1);
  assert.throws(() => clientSecurityFromFlags({ cert: chain, key, serverCert, certUsage: 0 }), /--ca/);
  assert.throws(() => clientSecurityFromFlags({ cert: chain, key }), /--server-cert/);
  assert.throws(() => clientSecurityFromFlags({ cert: chain }), /--key/);
});
