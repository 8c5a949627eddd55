/**
 * `warden keys init|factory-list|import`: master keys in the software key store (DATA/keystore.json, passphrase from
 * WARDEN_KEYSTORE_PASS or a prompt) or a PKCS#11 token (PIN from --pin or WARDEN_PKCS11_PIN); factory lists derived
 * from the master key; import of factory-made keys after validation. No command prints a key; lists go to 0600 files.
 */
import { createReadStream, createWriteStream, existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { type Command, InvalidArgumentError } from 'commander';
import {
  FactoryKeyDeriver,
  generateFactoryList,
  importFactoryKeys,
  KeyStoreError,
  Pkcs11KeyStore,
  serialLines,
  SoftwareKeyStore,
  validateFactoryImport,
  type KeyStore,
  type SecretKeyType,
} from '../keys/index.js';
import { SecretBox, SecurityStore, SqliteStore } from '../store/index.js';

/** Label of the factory master key (the KDF key of factory PSKs). */
export const FACTORY_MASTER_LABEL = 'warden-factory-master';
/** Label of the AES-256 key for secrets at rest (seal/open). */
export const SECRETS_KEY_LABEL = 'warden-secrets';

/** Where the commands read and write: injectable for tests. */
export interface KeysCliIo {
  out(line: string): void;
  err(line: string): void;
  /** Progress on stderr; `\r`-redrawn on a terminal. */
  progress(text: string, final: boolean): void;
  /** Asks for a secret without echo; rejects if there is no terminal. */
  askSecret(question: string): Promise<string>;
  env: NodeJS.ProcessEnv;
}

const processIo: KeysCliIo = {
  out: (line) => void process.stdout.write(line + '\n'),
  err: (line) => void process.stderr.write(line + '\n'),
  progress: (text, final) => {
    if (process.stderr.isTTY) process.stderr.write(`\r${text}${final ? '\n' : ''}`);
    else if (final) process.stderr.write(text + '\n');
  },
  askSecret: (question) => {
    if (!process.stdin.isTTY) return Promise.reject(new Error('no terminal to ask for the passphrase: set WARDEN_KEYSTORE_PASS'));
    const mute = new Writable({ write: (_c, _e, cb) => cb() });
    process.stderr.write(question);
    const rl = createInterface({ input: process.stdin, output: mute, terminal: true });
    return new Promise((resolve) =>
      rl.question('', (answer) => {
        rl.close();
        process.stderr.write('\n');
        resolve(answer);
      }),
    );
  },
  env: process.env,
};

/** Flags naming the key store. */
export interface KeyStoreFlags {
  data: string;
  pkcs11Module?: string;
  slot?: number;
  tokenLabel?: string;
  pin?: string;
}

interface Pkcs11Config {
  module: string;
  slot?: number;
  tokenLabel?: string;
}

const pkcs11ConfigFile = (data: string) => join(data, 'pkcs11.json');
const softwareFile = (data: string) => join(data, 'keystore.json');

function pkcs11Config(flags: KeyStoreFlags): Pkcs11Config | undefined {
  if (flags.pkcs11Module) return { module: flags.pkcs11Module, slot: flags.slot, tokenLabel: flags.tokenLabel };
  const file = pkcs11ConfigFile(flags.data);
  if (!existsSync(file)) return undefined;
  return JSON.parse(readFileSync(file, 'utf8')) as Pkcs11Config;
}

async function passphrase(io: KeysCliIo, confirm: boolean): Promise<string> {
  const env = io.env.WARDEN_KEYSTORE_PASS;
  if (env) return env;
  const first = await io.askSecret('key store passphrase: ');
  if (confirm && (await io.askSecret('again: ')) !== first) throw new Error('the passphrases differ');
  if (first.length < 8) throw new Error('the key store passphrase must have at least 8 characters');
  return first;
}

/** Opens the key store the flags (or DATA/pkcs11.json written by `keys init`) name. */
export async function openKeyStore(flags: KeyStoreFlags, io: KeysCliIo = processIo, create = false): Promise<KeyStore> {
  const p11 = pkcs11Config(flags);
  if (p11) {
    const pin = flags.pin ?? io.env.WARDEN_PKCS11_PIN ?? (await io.askSecret('token PIN: '));
    return Pkcs11KeyStore.open({ module: p11.module, slot: p11.slot, tokenLabel: p11.tokenLabel, pin });
  }
  const file = softwareFile(flags.data);
  const isNew = create && !existsSync(file);
  return SoftwareKeyStore.open(file, await passphrase(io, isNew), { create });
}

export interface KeysInitFlags extends KeyStoreFlags {
  force?: boolean;
  /** PRF of the factory master key: HMAC-SHA256 (default) or AES-CMAC (AES-256). */
  prf?: 'hmac' | 'cmac';
}

/** `warden keys init`: creates the factory master key and the secrets key; refuses existing ones without --force. */
export async function keysInit(flags: KeysInitFlags, io: KeysCliIo = processIo): Promise<void> {
  const masterType: SecretKeyType = flags.prf === 'cmac' ? 'aes-256' : 'hmac-sha256';
  if (flags.force && !flags.pkcs11Module && existsSync(softwareFile(flags.data))) {
    const backup = `${softwareFile(flags.data)}.${Date.now()}.bak`;
    renameSync(softwareFile(flags.data), backup);
    io.err(`moved the old key store to ${backup} (its keys still open with its passphrase)`);
  }
  const store = await openKeyStore(flags, io, true);
  try {
    const wanted: [string, SecretKeyType][] = [[FACTORY_MASTER_LABEL, masterType], [SECRETS_KEY_LABEL, 'aes-256']];
    const existing = [];
    for (const [label] of wanted) if (await store.hasKey(label)) existing.push(label);
    if (existing.length > 0) {
      throw new KeyStoreError('KEY_EXISTS', `the key store already holds ${existing.join(', ')}; ${store.kind === 'software' ? 'use --force to start a new key store (the old file is kept as a backup)' : 'delete them in the token first (e.g. pkcs11-tool --delete-object)'}; every factory key derives from the master key`);
    }
    for (const [label, type] of wanted) {
      await store.generateSecretKey(label, { type });
      io.out(`created ${label} (${type}) in the ${store.kind} key store`);
    }
    if (flags.pkcs11Module) {
      const cfg: Pkcs11Config = { module: flags.pkcs11Module, slot: flags.slot, tokenLabel: flags.tokenLabel };
      writeFileSync(pkcs11ConfigFile(flags.data), JSON.stringify(cfg, null, 2) + '\n', { mode: 0o600 });
    }
  } finally {
    await store.close();
  }
}

export interface FactoryListFlags extends KeyStoreFlags {
  serials: string;
  out: string;
  keyVersion?: number;
  endpointPrefix?: string;
  force?: boolean;
}

function bar(done: number, total: number): string {
  const width = 30;
  const f = total === 0 ? 1 : done / total;
  const n = Math.round(f * width);
  return `[${'#'.repeat(n)}${'.'.repeat(width - n)}] ${(f * 100).toFixed(0).padStart(3)}% ${done}/${total}`;
}

/** `warden keys factory-list`: CSV of serial, endpoint, PSK identity and key for each serial, into a 0600 file. */
export async function keysFactoryList(flags: FactoryListFlags, io: KeysCliIo = processIo): Promise<number> {
  if (existsSync(flags.out) && !flags.force) throw new Error(`${flags.out} exists; use --force to replace it`);
  const serials = [...serialLines(readFileSync(flags.serials, 'utf8'))];
  const store = await openKeyStore(flags, io);
  const tmp = `${flags.out}.${process.pid}.tmp`;
  try {
    if (!(await store.hasKey(FACTORY_MASTER_LABEL))) throw new KeyStoreError('NO_KEY', `no factory master key (${FACTORY_MASTER_LABEL}): run \`warden keys init\``);
    const deriver = new FactoryKeyDeriver(store, { masterLabel: FACTORY_MASTER_LABEL, keyVersion: flags.keyVersion ?? 1, endpointPrefix: flags.endpointPrefix });
    const out = createWriteStream(tmp, { flags: 'wx', mode: 0o600 });
    await once(out, 'open');
    const started = performance.now();
    let count: number;
    try {
      count = await generateFactoryList(deriver, serials, out, {
        progressEvery: Math.max(1000, Math.floor(serials.length / 100)),
        onProgress: (n) => io.progress(bar(n, serials.length), false),
      });
      out.end();
      await finished(out);
    } catch (err) {
      out.destroy();
      await finished(out).catch(() => undefined);
      rmSync(tmp, { force: true });
      throw err;
    }
    renameSync(tmp, flags.out);
    const s = (performance.now() - started) / 1000;
    io.progress(bar(count, serials.length), true);
    io.err(`wrote ${count} devices to ${flags.out} in ${s.toFixed(1)} s (${Math.round(count / Math.max(s, 1e-3))}/s); keep this file secret`);
    return count;
  } finally {
    await store.close();
  }
}

/** `warden keys import FILE`: validates the whole file first; any problem rejects it with a report and imports nothing. */
export async function keysImport(flags: { data: string; file: string }, io: KeysCliIo = processIo): Promise<number> {
  const result = await validateFactoryImport(createReadStream(flags.file));
  if (result.errors.length > 0) {
    for (const e of result.errors.slice(0, 50)) io.err(`${flags.file}:${e.line}: ${e.message}`);
    if (result.errors.length > 50) io.err(`... and ${result.errors.length - 50} more`);
    throw new Error(`${flags.file} rejected: ${result.errors.length} problem(s); nothing was imported`);
  }
  const db = new SqliteStore(join(flags.data, 'warden.db'));
  try {
    const security = new SecurityStore(db, SecretBox.openOrCreate(join(flags.data, 'secret.key')));
    const n = await importFactoryKeys(result, security);
    io.out(`imported ${n} device keys from ${flags.file}`);
    return n;
  } finally {
    db.close();
  }
}

function nonNegative(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a non-negative integer');
  return n;
}

function positive(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

/** The key store options: the software store in --data, or a PKCS#11 token. */
export function storeOptions(cmd: Command): Command {
  return cmd
    .option('--data <dir>', 'data directory (the key store is DATA/keystore.json, or the token DATA/pkcs11.json names)', './data')
    .option('--pkcs11-module <path>', 'PKCS#11 module (e.g. /usr/lib/softhsm/libsofthsm2.so); default: the software key store')
    .option('--slot <n>', 'PKCS#11 slot ID (or index among slots with a token)', nonNegative)
    .option('--token-label <label>', 'PKCS#11 token label (instead of --slot)')
    .option('--pin <pin>', 'PKCS#11 user PIN (better: WARDEN_PKCS11_PIN)');
}

/** Adds `keys init|factory-list|import` to the program. */
export function registerKeysCommands(program: Command, io: KeysCliIo = processIo): void {
  const keys = program.command('keys').description('master keys, factory key lists and factory key import');
  storeOptions(keys.command('init').description('create the master keys (software key store or PKCS#11 token, non-extractable)'))
    .option('--prf <prf>', 'factory KDF PRF: hmac (HMAC-SHA256) or cmac (AES-256-CMAC)', 'hmac')
    .option('--force', 'start a new software key store even if one exists (the old file is kept as a backup)', false)
    .action(async (flags: KeysInitFlags) => {
      if (flags.prf !== 'hmac' && flags.prf !== 'cmac') throw new InvalidArgumentError('--prf is hmac or cmac');
      await keysInit(flags, io);
    });
  storeOptions(keys.command('factory-list').description('derive the factory list (serial, endpoint, PSK identity, PSK) for a list of serials'))
    .requiredOption('--serials <file>', 'serial numbers, one per line')
    .requiredOption('--out <file>', 'CSV to write (mode 0600)')
    .option('--key-version <n>', 'key version carried in identities and the KDF context', positive, 1)
    .option('--endpoint-prefix <prefix>', 'endpoint = prefix + serial (part of the derivation)', 'urn:dev:sn:')
    .option('--force', 'replace an existing --out file', false)
    .action(async (flags: FactoryListFlags) => void (await keysFactoryList(flags, io)));
  keys
    .command('import <file>')
    .description('import factory-made PSKs (CSV: serial,endpoint,psk_identity,psk_hex) after checking them')
    .option('--data <dir>', 'data directory', './data')
    .action(async (file: string, flags: { data: string }) => void (await keysImport({ ...flags, file }, io)));
}
