/** The admin API token: given, from the environment, or generated once and kept in the data directory. */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TokenSource {
  token: string;
  /** Where it came from, for the log (never the token itself). */
  origin: string;
}

export function resolveApiToken(dataDir: string, given?: string): TokenSource {
  if (given) return { token: given, origin: '--api-token' };
  const env = process.env.WARDEN_API_TOKEN;
  if (env) return { token: env, origin: 'WARDEN_API_TOKEN' };
  const file = join(dataDir, 'api-token');
  if (existsSync(file)) {
    chmodSync(file, 0o600);
    return { token: readFileSync(file, 'utf8').trim(), origin: file };
  }
  mkdirSync(dataDir, { recursive: true });
  const token = randomBytes(32).toString('base64url');
  writeFileSync(file, token + '\n', { mode: 0o600 });
  return { token, origin: `${file} (generated)` };
}

/** How a CLI command that calls the API finds the admin token. */
export interface ApiTokenFlags {
  /** A file holding the token. */
  tokenFile?: string;
  /** The data directory (DATA/api-token). */
  data: string;
}

/**
 * The token a CLI command sends: WARDEN_API_TOKEN, else `--token-file`, else DATA/api-token. Never a command-line
 * value: argv is visible to every user of the machine (ps, /proc).
 */
export function cliApiToken(flags: ApiTokenFlags): string {
  if (process.env.WARDEN_API_TOKEN) return process.env.WARDEN_API_TOKEN;
  if (flags.tokenFile) return readFileSync(flags.tokenFile, 'utf8').trim();
  const file = join(flags.data, 'api-token');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  throw new Error(`no API token: set WARDEN_API_TOKEN, give --token-file, or run where ${file} exists`);
}
