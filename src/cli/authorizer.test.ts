import { test } from 'node:test';
import assert from 'node:assert/strict';
import { securityAuthorizer } from './authorizer.js';
import type { SecurityInfo } from '../store/index.js';

const infos = new Map<string, SecurityInfo>([
  ['psk-dev', { endpoint: 'psk-dev', mode: 'psk', pskIdentity: 'id-1', createdAt: 0 }],
  ['rpk-dev', { endpoint: 'rpk-dev', mode: 'rpk', createdAt: 0 }],
  ['x509-dev', { endpoint: 'x509-dev', mode: 'x509', x509: true, createdAt: 0 }],
]);
const authorize = securityAuthorizer({ get: (ep) => infos.get(ep) });

test('an identity may register only under its own endpoint name', () => {
  assert.equal(authorize('psk-dev', { mode: 'psk', name: 'id-1' }), true);
  assert.equal(authorize('psk-dev', { mode: 'psk', name: 'id-2' }), false, 'another PSK identity');
  assert.equal(authorize('rpk-dev', { mode: 'rpk', name: 'rpk-dev' }), true);
  assert.equal(authorize('rpk-dev', { mode: 'rpk', name: 'psk-dev' }), false, 'a key stored for another endpoint');
  assert.equal(authorize('x509-dev', { mode: 'x509', name: 'x509-dev' }), true);
  assert.equal(authorize('x509-dev', { mode: 'x509', name: 'evil' }), false, 'a certificate for another endpoint');
  assert.equal(authorize('x509-dev', { mode: 'psk', name: 'x509-dev' }), false, 'the wrong mode');
});

test('devices with security info cannot register over plain CoAP, and identities cannot take unknown names', () => {
  assert.equal(authorize('psk-dev', undefined), false);
  assert.equal(authorize('unknown', undefined), true, 'an unsecured device without security info');
  assert.equal(authorize('unknown', { mode: 'psk', name: 'id-1' }), false);
});
