/**
 * What the server must know before a simulated fleet connects, put in through Warden's REST API: security info of
 * direct PSK and raw-public-key devices (`PUT /api/security/clients`), bootstrap configurations of factory devices
 * (`PUT /api/bootstrap/{endpoint}`); and the factory list those devices take their bootstrap PSKs from.
 */
import { readFileSync } from 'node:fs';

/** Runs `fn` over `items`, `concurrency` at a time, reporting progress; the first failure stops the rest. */
export async function inBatches<T>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<void>, onDone?: (done: number) => void): Promise<void> {
  let i = 0;
  let done = 0;
  let failed: unknown;
  const lane = async () => {
    while (i < items.length && failed === undefined) {
      const item = items[i++]!;
      try {
        await fn(item);
      } catch (err) {
        failed ??= err;
        return;
      }
      onDone?.(++done);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, lane));
  if (failed !== undefined) throw failed;
}

/** The security info body of `PUT /api/security/clients` for a PSK device. */
export function pskInfo(endpoint: string, identity: string, key: Uint8Array): unknown {
  return { endpoint, tls: { mode: 'psk', details: { identity, key: Buffer.from(key).toString('hex') } } };
}

/** The security info body of `PUT /api/security/clients` for a raw public key device (its SubjectPublicKeyInfo). */
export function rpkInfo(endpoint: string, spki: Uint8Array): unknown {
  return { endpoint, tls: { mode: 'rpk', details: { key: Buffer.from(spki).toString('hex') } } };
}

/** The DM credential the bootstrap server generates for each `--security` (certificate: Warden's CA issues it). */
export const DM_CREDENTIAL = { psk: 'psk', rpk: 'rpk', x509: 'certificate' } as const;

/**
 * The bootstrap configuration of one simulated factory device: one DM server (short id 1) with `lifetime`; the
 * bootstrap server generates its credential (`dmCredential`), or for nosec writes a NoSec account to `nosecServer`.
 */
export function bootstrapConfig(security: 'nosec' | 'psk' | 'rpk' | 'x509', lifetime: number, nosecServer: string): unknown {
  const servers = { '0': { shortId: 1, lifetime } };
  if (security === 'nosec') return { servers, security: { '1': { uri: nosecServer, securityMode: 'NO_SEC', serverId: 1 } } };
  return { servers, dmCredential: DM_CREDENTIAL[security] };
}

/** One row of a factory list. */
export interface FactoryEntry {
  serial: string;
  endpoint: string;
  pskIdentity: string;
  pskKey: Uint8Array;
}

/** Reads the first `count` devices of a factory list (CSV `serial,endpoint,psk_identity,psk_hex`, `warden keys factory-list`). */
export function readFactoryList(file: string, count: number): FactoryEntry[] {
  const lines = readFileSync(file, 'utf8').split(/\r?\n/);
  const header = (lines[0] ?? '').trim().split(',');
  const col = (name: string) => {
    const i = header.indexOf(name);
    if (i < 0) throw new Error(`${file}: no "${name}" column (a factory list has the header serial,endpoint,psk_identity,psk_hex)`);
    return i;
  };
  const [serial, endpoint, identity, key] = [col('serial'), col('endpoint'), col('psk_identity'), col('psk_hex')];
  const out: FactoryEntry[] = [];
  for (let n = 1; n < lines.length && out.length < count; n++) {
    const line = lines[n]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    const f = line.split(',');
    const hex = f[key] ?? '';
    if (!/^(?:[0-9a-fA-F]{2})+$/.test(hex) || !f[endpoint] || !f[identity]) throw new Error(`${file}:${n + 1}: not a factory list row`);
    out.push({ serial: f[serial] ?? '', endpoint: f[endpoint]!, pskIdentity: f[identity]!, pskKey: new Uint8Array(Buffer.from(hex, 'hex')) });
  }
  if (out.length < count) throw new Error(`${file} lists ${out.length} devices; --devices asks for ${count}`);
  return out;
}
