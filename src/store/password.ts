/**
 * Password hashes: scrypt (RFC 7914) from node:crypto with a per-password random salt; the parameters travel with the
 * hash (`scrypt$<logN>$<r>$<p>$<salt b64url>$<hash b64url>`) so they can be raised later without breaking old hashes.
 */
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

/** scrypt cost parameters. */
export interface ScryptParams {
  /** log2 of the CPU/memory cost N. */
  logN: number;
  r: number;
  p: number;
}

/** Defaults: N = 2^15, r = 8, p = 1 (32 MiB, OWASP's scrypt minimum is N = 2^17 at 128 MiB or this with more p). */
export const DEFAULT_SCRYPT: ScryptParams = { logN: 15, r: 8, p: 1 };

const KEY_LEN = 32;
const SALT_LEN = 16;
/** Passwords longer than this are refused (scrypt reads all of it; nobody types more). */
export const MAX_PASSWORD_LENGTH = 1024;
export const MIN_PASSWORD_LENGTH = 10;

function derive(password: string, salt: Buffer, q: ScryptParams): Promise<Buffer> {
  const N = 2 ** q.logN;
  return new Promise((resolve, reject) => {
    // maxmem: 128·N·r bytes plus headroom (node's default of 32 MiB is exactly the defaults' need, and refuses them).
    scrypt(password.normalize('NFC'), salt, KEY_LEN, { N, r: q.r, p: q.p, maxmem: 128 * N * q.r * 2 + 1024 * 1024 }, (err, key) =>
      err ? reject(err) : resolve(key));
  });
}

/** Checks a new password's length; throws an Error naming the rule (never the password). */
export function checkPasswordPolicy(password: string): void {
  if (password.length < MIN_PASSWORD_LENGTH) throw new Error(`a password has at least ${MIN_PASSWORD_LENGTH} characters`);
  if (password.length > MAX_PASSWORD_LENGTH) throw new Error(`a password has at most ${MAX_PASSWORD_LENGTH} characters`);
}

/** Hashes `password` with a fresh salt. */
export async function hashPassword(password: string, params: ScryptParams = DEFAULT_SCRYPT, random: (n: number) => Buffer = randomBytes): Promise<string> {
  const salt = random(SALT_LEN);
  const key = await derive(password, salt, params);
  return `scrypt$${params.logN}$${params.r}$${params.p}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

/** True if `password` matches `encoded` (constant-time compare of the derived keys); false for a malformed hash. */
export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  const m = /^scrypt\$(\d{1,2})\$(\d{1,3})\$(\d{1,3})\$([A-Za-z0-9_-]+)\$([A-Za-z0-9_-]+)$/.exec(encoded);
  if (m === null || password.length > MAX_PASSWORD_LENGTH) return false;
  const params = { logN: Number(m[1]), r: Number(m[2]), p: Number(m[3]) };
  if (params.logN < 1 || params.logN > 22 || params.r < 1 || params.p < 1) return false;
  const expected = Buffer.from(m[5]!, 'base64url');
  if (expected.length !== KEY_LEN) return false;
  const key = await derive(password, Buffer.from(m[4]!, 'base64url'), params);
  return timingSafeEqual(key, expected);
}
