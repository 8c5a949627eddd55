import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BootstrapError } from './error.js';
import { parseBootstrapConfig } from './config.js';
import { GENERATED_CERTIFICATE_USAGE, planBootstrap, type GeneratedCredential } from './writer.js';

function resources(plan: ReturnType<typeof planBootstrap>, path: string): Map<number, unknown> {
  const w = plan.writes.find((x) => `/${x.objectId}/${x.instance.id}` === path);
  assert.ok(w, `a write of ${path}`);
  return new Map(w.instance.resources.map((r) => [r.id, r.kind === 'singleResource' ? r.value.value : undefined]));
}

const plan = (generated: GeneratedCredential) =>
  planBootstrap({ config: { servers: { '0': { shortId: 3 } } }, bootstrapInstanceIds: [0], dmServerUri: 'coaps://dm:5684', generate: () => generated });

test('a generated certificate account is Security mode 2 with the certificate, PKCS#8 key and the CA as trust anchor (usage 2)', () => {
  const g: GeneratedCredential = { kind: 'certificate', serial: '01', certificate: new Uint8Array([0x30, 1]), privateKey: new Uint8Array([0x30, 2]), serverTrustAnchor: new Uint8Array([0x30, 3]) };
  const r = resources(plan(g), '/0/1');
  assert.equal(Number(r.get(2)), 2, 'mode 2 (Certificate)');
  assert.deepEqual(r.get(3), g.certificate);
  assert.deepEqual(r.get(4), g.serverTrustAnchor);
  assert.deepEqual(r.get(5), g.privateKey);
  assert.equal(Number(r.get(15)), GENERATED_CERTIFICATE_USAGE);
  assert.equal(Number(r.get(10)), 3);
});

test('a generated raw public key account is Security mode 1 with the device SPKI, its PKCS#8 key and the server SPKI', () => {
  const g: GeneratedCredential = { kind: 'rpk', publicKey: new Uint8Array([0x30, 1]), privateKey: new Uint8Array([0x30, 2]), serverPublicKey: new Uint8Array([0x30, 3]), pending: false };
  const r = resources(plan(g), '/0/1');
  assert.equal(Number(r.get(2)), 1);
  assert.deepEqual(r.get(3), g.publicKey);
  assert.deepEqual(r.get(4), g.serverPublicKey);
  assert.deepEqual(r.get(5), g.privateKey);
  assert.equal(r.has(15), false, 'no certificate usage');
});

test('a mode 4 (EST) account carries no key and no certificate, only the trust anchor', () => {
  const r = resources(plan({ kind: 'est', serverTrustAnchor: new Uint8Array([0x30, 3]) }), '/0/1');
  assert.equal(Number(r.get(2)), 4);
  assert.equal((r.get(3) as Uint8Array).length, 0);
  assert.equal((r.get(5) as Uint8Array).length, 0);
  assert.deepEqual(r.get(4), new Uint8Array([0x30, 3]));
});

test('dmCredential is validated and a device value overrides its group', () => {
  assert.equal(parseBootstrapConfig({ servers: {}, dmCredential: 'est' }).dmCredential, 'est');
  assert.equal(parseBootstrapConfig({ servers: {} }).dmCredential, undefined);
  assert.throws(() => parseBootstrapConfig({ servers: {}, dmCredential: 'x509' }), (e: unknown) => e instanceof BootstrapError && /dmCredential must be one of psk, rpk, certificate, est/.test(e.message));
});
