/**
 * DTLS credentials for interop tests with libcoap, generated at test time (no key file is committed): the test PKI
 * of src/dtls/test-pki.ts written out as PEM files in a fresh temporary directory, plus raw public keys.
 */
import { X509Certificate, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestPki, issueCertificate, KeyUsageBit, newP256Key, type IssuedLeaf, type TestPki } from '../src/dtls/test-pki.js';

/** id-kp-serverAuth and id-kp-clientAuth (RFC 5280 §4.2.1.12). */
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

/** DER certificates as one PEM file (in the order given). */
export function certificatesPem(ders: readonly Uint8Array[]): string {
  return ders.map((der) => new X509Certificate(der).toString()).join('');
}

/** An EC private key as PEM: SEC1 ("EC PRIVATE KEY", what libcoap's -M expects) or PKCS#8. */
export function privateKeyPem(key: KeyObject, type: 'sec1' | 'pkcs8' = 'pkcs8'): string {
  return key.export({ type, format: 'pem' }).toString();
}

/** Paths of the PEM files libcoap reads; each `*Cert` file holds the leaf followed by its intermediate. */
export interface DtlsFixtureFiles {
  /** The test root CA (trust anchor for both sides). */
  rootCa: string;
  /** Root and intermediate together. */
  caBundle: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /**
   * Leaves issued directly by the root (chain = the leaf alone), for libcoap's OpenSSL backend: 4.3.1 loads `-c` with
   * SSL_CTX_use_certificate_file, so it sends only the first certificate of the file and never the intermediate.
   */
  serverDirectCert: string;
  serverDirectKey: string;
  clientDirectCert: string;
  clientDirectKey: string;
  /** A CN=dev1 client certificate from an unrelated root ("Other Root"). */
  rogueCert: string;
  rogueKey: string;
  rogueCa: string;
  /** Raw public keys (RFC 7250) as SEC1 "EC PRIVATE KEY" PEM files, for libcoap's -M. */
  clientRpk: string;
  serverRpk: string;
}

/** Everything a test needs: the PKI as objects, RPK key pairs, and the files written from them. */
export interface DtlsFixtures {
  dir: string;
  pki: TestPki;
  clientRpk: { privateKey: KeyObject; publicKey: KeyObject };
  serverRpk: { privateKey: KeyObject; publicKey: KeyObject };
  /** CN=localhost (SAN localhost, 127.0.0.1) and CN=dev1-direct, issued by the root itself. */
  serverDirect: IssuedLeaf;
  clientDirect: IssuedLeaf;
  files: DtlsFixtureFiles;
  /** Removes the directory. */
  remove(): void;
}

/** Generates the test PKI and raw public keys and writes them to a new temporary directory. */
export function createDtlsFixtures(now: Date = new Date()): DtlsFixtures {
  const dir = mkdtempSync(join(tmpdir(), 'warden-dtls-fixtures-'));
  const pki = createTestPki(now);
  const clientRpk = newP256Key();
  const serverRpk = newP256Key();
  const notBefore = new Date(now.getTime() - 86_400_000);
  const notAfter = new Date(now.getTime() + 365 * 86_400_000);
  const direct = (commonName: string, usage: string, extra: { dnsNames?: string[]; ipAddresses?: string[] } = {}): IssuedLeaf => {
    const issued = issueCertificate({
      commonName, issuer: pki.root, notBefore, notAfter, keyUsage: KeyUsageBit.digitalSignature, extKeyUsage: [usage], ...extra,
    });
    return { ...issued, chain: [issued.cert] };
  };
  const serverDirect = direct('localhost', SERVER_AUTH, { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  const clientDirect = direct('dev1-direct', CLIENT_AUTH);
  const write = (name: string, text: string): string => {
    const path = join(dir, name);
    writeFileSync(path, text, { mode: 0o600 });
    return path;
  };
  const files: DtlsFixtureFiles = {
    rootCa: write('root-ca.pem', certificatesPem([pki.root.cert])),
    caBundle: write('ca-bundle.pem', certificatesPem([pki.root.cert, pki.intermediate.cert])),
    serverCert: write('server.pem', certificatesPem(pki.server.chain)),
    serverKey: write('server-key.pem', privateKeyPem(pki.server.key)),
    clientCert: write('client.pem', certificatesPem(pki.client.chain)),
    clientKey: write('client-key.pem', privateKeyPem(pki.client.key)),
    serverDirectCert: write('server-direct.pem', certificatesPem(serverDirect.chain)),
    serverDirectKey: write('server-direct-key.pem', privateKeyPem(serverDirect.key)),
    clientDirectCert: write('client-direct.pem', certificatesPem(clientDirect.chain)),
    clientDirectKey: write('client-direct-key.pem', privateKeyPem(clientDirect.key)),
    rogueCert: write('rogue.pem', certificatesPem(pki.rogueClient.chain)),
    rogueKey: write('rogue-key.pem', privateKeyPem(pki.rogueClient.key)),
    rogueCa: write('rogue-ca.pem', certificatesPem([pki.otherRoot.cert])),
    clientRpk: write('client-rpk.pem', privateKeyPem(clientRpk.privateKey, 'sec1')),
    serverRpk: write('server-rpk.pem', privateKeyPem(serverRpk.privateKey, 'sec1')),
  };
  return { dir, pki, clientRpk, serverRpk, serverDirect, clientDirect, files, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
