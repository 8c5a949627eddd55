import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, generateKeyPairSync, randomBytes } from 'node:crypto';
import { MessageType, type IncomingRequest, type PeerIdentity } from '../coap/types.js';
import { Method, ResponseCode } from '../coap/option.js';
import { CertificateAuthority, EstContentFormat, createCsr, parseCertsOnly, type IssuedCertificate } from '../keys/index.js';
import { SqliteStore } from '../store/sqlite.js';
import { SecretBox, type SecurityInfo } from '../store/security.js';
import { estHandler } from './est.js';

const ca = await CertificateAuthority.create({ store: new SqliteStore(':memory:'), box: SecretBox.fromKey(randomBytes(32)) });
const security = {
  findByPskIdentity: (id: string): SecurityInfo | undefined => (id === 'psk-1' ? { endpoint: 'dev1', mode: 'psk', createdAt: 0 } : undefined),
};
const issued: [IssuedCertificate, string][] = [];
const handle = estHandler({ ca, security, onIssued: (i, op) => issued.push([i, op]) });

function req(path: string, code: number, opts: { identity?: PeerIdentity; payload?: Uint8Array; contentFormat?: number; accept?: number } = {}): IncomingRequest {
  return {
    peer: { address: '127.0.0.1', port: 1 },
    message: { type: MessageType.CON, code, messageId: 1, token: new Uint8Array(0), options: [], payload: opts.payload ?? new Uint8Array(0) },
    code,
    path: path.split('/').filter((s) => s !== ''),
    query: [],
    payload: opts.payload ?? new Uint8Array(0),
    ...(opts.identity ? { identity: opts.identity } : {}),
    ...(opts.contentFormat !== undefined ? { contentFormat: opts.contentFormat } : {}),
    ...(opts.accept !== undefined ? { accept: opts.accept } : {}),
  };
}

const csr = (cn: string) => createCsr({ commonName: cn, ...generateKeyPairSync('ec', { namedCurve: 'P-256' }) });
const psk: PeerIdentity = { mode: 'psk', name: 'psk-1' };
const sen = (identity: PeerIdentity | undefined, payload: Uint8Array, extra: { accept?: number; contentFormat?: number } = {}) =>
  handle(req('/est/sen', Method.POST, { ...(identity ? { identity } : {}), payload, contentFormat: EstContentFormat.PKCS10, ...extra }))!;
const contentFormatOf = (r: { options?: { number: number; value: Uint8Array }[] }) => r.options?.find((o) => o.number === 12)?.value;

test('EST: other paths are not handled', () => {
  assert.equal(handle(req('/rd', Method.POST)), undefined);
  assert.equal(handle(req('/', Method.GET)), undefined);
  assert.equal(handle(req('/est/nope', Method.GET))?.code, ResponseCode.NotFound);
  assert.equal(handle(req('/est/crts', Method.POST))?.code, ResponseCode.MethodNotAllowed);
});

test('EST /crts: certs-only by default, pkix-cert on request, 4.06 otherwise', () => {
  const def = handle(req('/est/crts', Method.GET))!;
  assert.equal(def.code, ResponseCode.Content);
  assert.deepEqual(contentFormatOf(def), Uint8Array.of(0x01, 0x19)); // 281
  assert.deepEqual(parseCertsOnly(def.payload!), [ca.caCertificate()]);
  const raw = handle(req('/est/crts', Method.GET, { accept: EstContentFormat.PKIX_CERT }))!;
  assert.deepEqual(raw.payload, ca.caCertificate());
  assert.equal(handle(req('/est/crts', Method.GET, { accept: 50 }))?.code, ResponseCode.NotAcceptable);
});

test('EST /sen: a PSK-authenticated device gets a certificate for its own endpoint', () => {
  const r = sen(psk, csr('dev1'));
  assert.equal(r.code, ResponseCode.Changed);
  const [cert] = parseCertsOnly(r.payload!);
  const x = new X509Certificate(cert!);
  assert.equal(x.subject, 'CN=dev1');
  assert.ok(x.verify(new X509Certificate(ca.caCertificate()).publicKey));
  assert.equal(issued.at(-1)?.[1], 'sen');
  const raw = sen(psk, csr('dev1'), { accept: EstContentFormat.PKIX_CERT });
  assert.equal(new X509Certificate(raw.payload!).subject, 'CN=dev1');
});

test('EST /sen: refusals', () => {
  const before = issued.length;
  assert.equal(sen(psk, csr('dev2')).code, ResponseCode.Forbidden, 'CSR for another endpoint');
  assert.equal(sen({ mode: 'psk', name: 'unknown' }, csr('dev1')).code, ResponseCode.Forbidden, 'unknown PSK identity');
  assert.equal(sen(undefined, csr('dev1')).code, ResponseCode.Unauthorized, 'no DTLS identity');
  const tampered = Uint8Array.from(csr('dev1'));
  tampered[tampered.length - 4]! ^= 0x40;
  assert.equal(sen(psk, tampered).code, ResponseCode.BadRequest, 'tampered CSR');
  assert.equal(sen(psk, Uint8Array.of(1, 2, 3)).code, ResponseCode.BadRequest, 'garbage');
  assert.equal(sen(psk, csr('dev1'), { contentFormat: 42 }).code, ResponseCode.UnsupportedContentFormat);
  assert.equal(sen(psk, csr('dev1'), { accept: 0 }).code, ResponseCode.NotAcceptable);
  assert.equal(handle(req('/est/sen', Method.GET, { identity: psk }))?.code, ResponseCode.MethodNotAllowed);
  assert.equal(issued.length, before, 'nothing issued');
});

test('EST /sren: only over a certificate session, for the certificate\'s own name', () => {
  const sren = (identity: PeerIdentity, cn: string) =>
    handle(req('/est/sren', Method.POST, { identity, payload: csr(cn), contentFormat: EstContentFormat.PKCS10 }))!;
  assert.equal(sren(psk, 'dev1').code, ResponseCode.Forbidden);
  const ok = sren({ mode: 'x509', name: 'dev1' }, 'dev1');
  assert.equal(ok.code, ResponseCode.Changed);
  assert.equal(issued.at(-1)?.[1], 'sren');
  assert.equal(sren({ mode: 'x509', name: 'dev1' }, 'dev9').code, ResponseCode.Forbidden);
});
