/** Reading certificates, CRLs and keys from PEM (or DER) files given on the command line. */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** Every `-----BEGIN <label>-----` block of a PEM file as DER; a file without PEM armour is taken as one DER object. */
export function readDerObjects(file: string, label: 'CERTIFICATE' | 'X509 CRL'): Uint8Array[] {
  const bytes = readFileSync(file);
  const text = bytes.toString('latin1');
  if (!text.includes('-----BEGIN')) return [new Uint8Array(bytes)];
  const out: Uint8Array[] = [];
  const re = new RegExp(`-----BEGIN ${label}-----([\\s\\S]*?)-----END ${label}-----`, 'g');
  for (const m of text.matchAll(re)) out.push(new Uint8Array(Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64')));
  if (out.length === 0) throw new Error(`${file} holds no ${label}`);
  return out;
}

export function readPrivateKey(file: string): KeyObject {
  const bytes = readFileSync(file);
  return bytes.includes('-----BEGIN')
    ? createPrivateKey(bytes)
    : createPrivateKey({ key: bytes, format: 'der', type: 'pkcs8' });
}
