/**
 * Test support: a throwaway CA and ECDSA P-256 leaf certificates made with the `openssl` command
 * (Debian package `openssl`), and raw P-256 key pairs. Not used by the library itself.
 */
import { execFileSync } from 'node:child_process';
import { createHash, createPrivateKey, generateKeyPairSync, X509Certificate, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CertificateVerifier, PeerIdentity, RawPublicKeyVerifier } from './types.js';
import { alert } from './alert.js';

export interface TestLeaf {
  name: string;
  /** DER chain, leaf first (leaf, CA). */
  chain: Uint8Array[];
  privateKey: KeyObject;
  certPath: string;
  keyPath: string;
}

export interface TestPki {
  dir: string;
  caPath: string;
  caDer: Uint8Array;
  leaf(name: string): TestLeaf;
  cleanup(): void;
}

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
    if (e.code === 'ENOENT') throw new Error('this test needs the `openssl` command: apt-get install openssl (Debian package openssl)');
    throw new Error(`openssl ${args[0]} failed: ${e.stderr?.toString() ?? e.message}`);
  }
}

function pemToDer(pem: string): Uint8Array {
  return new X509Certificate(pem).raw;
}

/** A CA in a fresh temporary directory; `leaf(name)` issues CN=name certificates from it. */
export function createTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'warden-dtls-pki-'));
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ca.key'], dir);
  openssl(['req', '-x509', '-new', '-key', 'ca.key', '-subj', '/CN=Warden Test CA', '-days', '2', '-sha256', '-out', 'ca.pem'], dir);
  const caPath = join(dir, 'ca.pem');
  const caDer = pemToDer(readFileSync(caPath, 'utf8'));
  writeFileSync(join(dir, 'leaf.ext'), 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n');
  return {
    dir,
    caPath,
    caDer,
    leaf(name: string): TestLeaf {
      const safe = name.replace(/[^A-Za-z0-9_-]/g, '_');
      openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${safe}.key`], dir);
      openssl(['req', '-new', '-key', `${safe}.key`, '-subj', `/CN=${name}`, '-out', `${safe}.csr`], dir);
      openssl(
        ['x509', '-req', '-in', `${safe}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-sha256', '-extfile', 'leaf.ext', '-out', `${safe}.pem`],
        dir,
      );
      const certPath = join(dir, `${safe}.pem`);
      const keyPath = join(dir, `${safe}.key`);
      return {
        name,
        chain: [pemToDer(readFileSync(certPath, 'utf8')), caDer],
        privateKey: createPrivateKey(readFileSync(keyPath)),
        certPath,
        keyPath,
      };
    },
    cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const fingerprint = (der: Uint8Array) => createHash('sha256').update(der).digest('hex');

/** A verifier trusting exactly the given leaf certificates (by SHA-256 fingerprint); identity = CN. */
export function pinnedCertificateVerifier(leaves: readonly Uint8Array[]): CertificateVerifier {
  const known = new Set(leaves.map(fingerprint));
  return (chain): PeerIdentity => {
    const leaf = chain[0];
    if (!leaf || !known.has(fingerprint(leaf))) throw alert('bad_certificate', 'certificate not pinned');
    const cn = /CN=([^\n,]+)/.exec(new X509Certificate(leaf).subject)?.[1] ?? '';
    return { mode: 'x509', name: cn };
  };
}

/** A P-256 key pair for raw public key tests. */
export function rawKeyPair(): { privateKey: KeyObject; spki: Uint8Array } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return { privateKey, spki: publicKey.export({ type: 'spki', format: 'der' }) };
}

/** A verifier trusting exactly the given SubjectPublicKeyInfos, each with a name. */
export function pinnedRawKeyVerifier(keys: ReadonlyMap<string, Uint8Array>): RawPublicKeyVerifier {
  return (spki): PeerIdentity => {
    for (const [name, k] of keys) if (Buffer.compare(Buffer.from(k), Buffer.from(spki)) === 0) return { mode: 'rpk', name };
    throw alert('bad_certificate', 'raw public key not pinned');
  };
}
