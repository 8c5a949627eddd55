/** `warden client` credential flags to the client's ClientSecurity (PSK, raw public key or X.509). */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { ClientSecurity } from '../client/index.js';
import { spkiOf } from '../dtls/rpk.js';
import { readDerObjects, readPrivateKey } from './pem.js';

/** The credential flags of `warden client`. */
export interface ClientSecurityFlags {
  pskIdentity?: string;
  /** Hex, or "-" to read the hex key from stdin. */
  pskKey?: string;
  rpkKey?: string;
  serverPublicKey?: string;
  cert?: string;
  key?: string;
  serverCert?: string;
  ca?: string;
  certUsage?: number;
}

/** A public key file (PEM "PUBLIC KEY" or a certificate, or DER SubjectPublicKeyInfo) as SPKI DER. */
export function readPublicKey(file: string): Uint8Array {
  const bytes = readFileSync(file);
  let key: KeyObject;
  try {
    key = bytes.includes('-----BEGIN') ? createPublicKey(bytes) : createPublicKey({ key: bytes, format: 'der', type: 'spki' });
  } catch {
    throw new Error(`${file} holds no public key (PEM or DER SubjectPublicKeyInfo)`);
  }
  return spkiOf(key);
}

function parseHexKey(text: string, from: string): Uint8Array {
  const hex = text.trim().replace(/^0x/i, '');
  if (hex.length === 0 || hex.length % 2 !== 0 || !/^[0-9a-f]+$/i.test(hex)) throw new Error(`the PSK key ${from} must be hexadecimal`);
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

/**
 * The ClientSecurity the flags describe, or NoSec without any. Exactly one mode: `--psk-identity` with `--psk-key`;
 * `--rpk-key` with `--server-public-key`; `--cert` with `--key` (and `--server-cert`, `--ca`, `--cert-usage`).
 * `readStdin` supplies the key for `--psk-key -`.
 */
export function clientSecurityFromFlags(flags: ClientSecurityFlags, readStdin: () => string = () => readFileSync(0, 'utf8')): ClientSecurity {
  const psk = flags.pskIdentity !== undefined || flags.pskKey !== undefined;
  const rpk = flags.rpkKey !== undefined || flags.serverPublicKey !== undefined;
  const x509 = flags.cert !== undefined || flags.key !== undefined || flags.serverCert !== undefined || flags.ca !== undefined || flags.certUsage !== undefined;
  if (Number(psk) + Number(rpk) + Number(x509) > 1) throw new Error('give the flags of one security mode: PSK (--psk-*), RPK (--rpk-key, --server-public-key) or X.509 (--cert ...)');
  if (psk) {
    if (flags.pskIdentity === undefined || flags.pskKey === undefined) throw new Error('PSK needs both --psk-identity and --psk-key');
    const key = flags.pskKey === '-' ? parseHexKey(readStdin(), 'on stdin') : parseHexKey(flags.pskKey, 'given with --psk-key');
    return { mode: 'psk', identity: flags.pskIdentity, key };
  }
  if (rpk) {
    if (flags.rpkKey === undefined || flags.serverPublicKey === undefined) throw new Error('RPK needs both --rpk-key and --server-public-key');
    return { mode: 'rpk', privateKey: readPrivateKey(flags.rpkKey), serverPublicKey: readPublicKey(flags.serverPublicKey) };
  }
  if (x509) {
    if (flags.cert === undefined || flags.key === undefined) throw new Error('X.509 needs both --cert and --key');
    const usage = flags.certUsage ?? 3;
    if (usage !== 0 && usage !== 1 && usage !== 2 && usage !== 3) throw new Error('--cert-usage is 0, 1, 2 or 3');
    if (flags.serverCert === undefined) throw new Error(`certificate usage ${usage} needs --server-cert`);
    if ((usage === 0 || usage === 1) && flags.ca === undefined) throw new Error(`certificate usage ${usage} needs --ca (trust anchors)`);
    const out: ClientSecurity = {
      mode: 'x509',
      certificateChain: readDerObjects(flags.cert, 'CERTIFICATE'),
      privateKey: readPrivateKey(flags.key),
      serverCertificate: readDerObjects(flags.serverCert, 'CERTIFICATE')[0]!,
      certificateUsage: usage,
    };
    if (flags.ca !== undefined) out.trustAnchors = readDerObjects(flags.ca, 'CERTIFICATE');
    return out;
  }
  return { mode: 'nosec' };
}
