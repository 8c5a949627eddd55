/**
 * Importing factory lists made by a factory's own tooling. The whole file is refused (every problem reported with its
 * line, never a key) if keys repeat, are shorter than 128 bits, or are plainly not random: one byte repeated, a byte
 * sequence, printable text, a (prefix of a) MD5/SHA-1/SHA-256 digest of the row's identity, serial or endpoint, or
 * very low byte diversity. A digest that mixes in a secret (Base64(MD5(IMEI + secret))) cannot be detected here.
 */
import { createHash } from 'node:crypto';
import { PSK_MAX_KEY_BYTES, PSK_MIN_KEY_BYTES } from './psk-limits.js';

/** One accepted row. `line` is 1-based in the file. */
export interface FactoryRow {
  line: number;
  serial: string;
  endpoint: string;
  pskIdentity: string;
  pskKey: Uint8Array;
}

export interface FactoryImportError {
  line: number;
  message: string;
}

/** Rows and problems; a file with any problem must not be imported. */
export interface FactoryImport {
  rows: FactoryRow[];
  errors: FactoryImportError[];
}

/** Where imported keys go: the lead passes the SecurityStore. */
export interface SecurityStoreLike {
  add(info: { endpoint: string; mode: 'psk'; pskIdentity: string; pskKey: Uint8Array }): unknown;
}

const REQUIRED = ['endpoint', 'psk_identity', 'psk_hex'] as const;
const MAX_ERRORS = 1000;
// Alphanumerics, space and the punctuation people put in passwords: 76 symbols, so 16 random bytes all fall in it with
// probability (76/256)^16 < 4e-9 (a million-device file: < 0.4% chance of one false alarm).
const TEXTISH = new Uint8Array(256);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 +/=_-.,!:@#$%*?') TEXTISH[c.charCodeAt(0)] = 1;

/** Why `key` is plainly not random, or undefined. `inputs` are the public strings of its row. */
export function weakKeyReason(key: Uint8Array, inputs: readonly string[]): string | undefined {
  const n = key.length;
  if (n < PSK_MIN_KEY_BYTES) return `key is ${n * 8} bits; at least ${PSK_MIN_KEY_BYTES * 8} are required`;
  if (n > PSK_MAX_KEY_BYTES) return `key is ${n} bytes; at most ${PSK_MAX_KEY_BYTES} are accepted (RFC 4279 §5.3)`;
  if (key.every((b) => b === key[0])) return 'key is one byte repeated';
  const step = (key[1]! - key[0]! + 256) & 0xff;
  let sequence = true;
  for (let i = 2; i < n && sequence; i++) sequence = ((key[i]! - key[i - 1]! + 256) & 0xff) === step;
  if (sequence) return 'key is a byte sequence (each byte the previous plus a constant)';
  let printable = true;
  let textish = true;
  for (const b of key) {
    if (b < 0x20 || b > 0x7e) printable = false;
    if (!TEXTISH[b]) textish = false;
  }
  // 20 random bytes are all printable with probability (95/256)^20 < 3e-9.
  if (textish || (printable && n >= 20)) return 'key is printable text (a password or an encoded value, not random bytes)';
  for (const input of inputs) {
    if (input.length === 0) continue;
    for (const alg of ['md5', 'sha1', 'sha256'] as const) {
      const d = createHash(alg).update(input, 'utf8').digest();
      if (n <= d.length && d.subarray(0, n).equals(key)) return `key is ${alg.toUpperCase()} of a public identifier in its row`;
    }
  }
  const distinct = new Set(key).size;
  // A random n-byte key has about 256(1 - (255/256)^n) distinct bytes (15.5 of 16, 30 of 32); half of n is far out.
  if (distinct * 2 < Math.min(n, 128)) return `key has only ${distinct} distinct byte values in ${n} bytes`;
  return undefined;
}

async function* lines(input: string | AsyncIterable<string | Uint8Array>): AsyncGenerator<string> {
  if (typeof input === 'string') {
    for (const l of input.split('\n')) yield l;
    return;
  }
  const decoder = new TextDecoder('utf-8', { fatal: false });
  let rest = '';
  for await (const chunk of input) {
    rest += typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
    let i: number;
    while ((i = rest.indexOf('\n')) >= 0) {
      yield rest.slice(0, i);
      rest = rest.slice(i + 1);
    }
  }
  rest += decoder.decode();
  yield rest;
}

/** Parses and checks a factory CSV (header naming at least endpoint, psk_identity, psk_hex; serial optional). */
export async function validateFactoryImport(input: string | AsyncIterable<string | Uint8Array>): Promise<FactoryImport> {
  const rows: FactoryRow[] = [];
  const errors: FactoryImportError[] = [];
  const error = (line: number, message: string) => {
    if (errors.length < MAX_ERRORS) errors.push({ line, message });
  };
  const byKey = new Map<string, number>();
  const byIdentity = new Map<string, number>();
  const byEndpoint = new Map<string, number>();
  let columns: Map<string, number> | undefined;
  let lineNo = 0;
  for await (const raw of lines(input)) {
    lineNo++;
    const text = (lineNo === 1 ? raw.replace(/^\uFEFF/, '') : raw).replace(/\r$/, '');
    if (text.trim().length === 0 || text.startsWith('#')) continue;
    if (text.includes('"')) {
      error(lineNo, 'quoted CSV fields are not accepted');
      continue;
    }
    const fields = text.split(',').map((f) => f.trim());
    if (!columns) {
      columns = new Map(fields.map((f, i) => [f.toLowerCase(), i]));
      const missing = REQUIRED.filter((c) => !columns!.has(c));
      if (missing.length > 0) {
        error(lineNo, `the header must name the columns endpoint, psk_identity, psk_hex (missing: ${missing.join(', ')})`);
        return { rows: [], errors };
      }
      continue;
    }
    const get = (name: string) => {
      const i = columns!.get(name);
      return i === undefined ? '' : (fields[i] ?? '');
    };
    if (fields.length !== columns.size) {
      error(lineNo, `expected ${columns.size} fields, found ${fields.length}`);
      continue;
    }
    const serial = get('serial');
    const endpoint = get('endpoint');
    const pskIdentity = get('psk_identity');
    const hex = get('psk_hex');
    if (endpoint.length === 0 || pskIdentity.length === 0) {
      error(lineNo, 'endpoint and psk_identity must not be empty');
      continue;
    }
    if (!/^(?:[0-9a-fA-F]{2})+$/.test(hex)) {
      error(lineNo, 'psk_hex is not an even-length hex string');
      continue;
    }
    const key = Buffer.from(hex, 'hex');
    const weak = weakKeyReason(key, [pskIdentity, serial, endpoint]);
    if (weak) error(lineNo, weak);
    const keyId = key.toString('base64');
    const dupKey = byKey.get(keyId);
    if (dupKey !== undefined) error(lineNo, `key repeats the key of line ${dupKey}`);
    else byKey.set(keyId, lineNo);
    const dupId = byIdentity.get(pskIdentity);
    if (dupId !== undefined) error(lineNo, `psk_identity repeats line ${dupId}`);
    else byIdentity.set(pskIdentity, lineNo);
    const dupEp = byEndpoint.get(endpoint);
    if (dupEp !== undefined) error(lineNo, `endpoint repeats line ${dupEp}`);
    else byEndpoint.set(endpoint, lineNo);
    rows.push({ line: lineNo, serial, endpoint, pskIdentity, pskKey: new Uint8Array(key) });
  }
  if (!columns) error(lineNo, 'the file is empty: expected a header and rows');
  else if (rows.length === 0 && errors.length === 0) error(lineNo, 'the file has a header but no rows');
  return { rows, errors };
}

/** Stores validated rows as PSK security info; refuses a result that has errors. Resolves with the count. */
export async function importFactoryKeys(rows: FactoryImport | readonly FactoryRow[], security: SecurityStoreLike): Promise<number> {
  const list = 'rows' in rows ? rows.rows : rows;
  if ('errors' in rows && rows.errors.length > 0) throw new Error(`the factory file has ${rows.errors.length} problem(s); nothing was imported`);
  let n = 0;
  for (const r of list) {
    await security.add({ endpoint: r.endpoint, mode: 'psk', pskIdentity: r.pskIdentity, pskKey: r.pskKey });
    n++;
  }
  return n;
}
