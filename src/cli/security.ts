/**
 * `warden security add|list|remove`: device security info in DIR/warden.db, PSK keys sealed under DIR/secret.key.
 * A PSK key can come from stdin (`--psk-key -`) so it stays out of shell history; no command prints a key.
 */
import { createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { fingerprint, spkiOf } from '../dtls/rpk.js';
import type { Logger } from '../log.js';
import { AuditLog, SecretBox, SecurityStore, SqliteStore, type NewSecurityInfo, type SecurityInfo } from '../store/index.js';

/** Where the commands read and write: injectable for tests. */
export interface SecurityCliIo {
  /** All of stdin, as text. */
  readStdin(): Promise<string>;
  out(line: string): void;
  err(line: string): void;
}

const processIo: SecurityCliIo = {
  async readStdin() {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string));
    return Buffer.concat(chunks).toString('utf8');
  },
  out: (line) => void process.stdout.write(line + '\n'),
  err: (line) => void process.stderr.write(line + '\n'),
};

export interface SecurityAddFlags {
  endpoint: string;
  pskIdentity?: string;
  /** Hex, or "-" for stdin. */
  pskKey?: string;
  /** Hex SPKI DER, or a file: PEM (public key, private key or certificate) or DER SPKI. */
  rpkKey?: string;
  x509?: boolean;
  data: string;
}

function ioLogger(io: SecurityCliIo): Logger {
  const logger: Logger = {
    debug() {},
    info() {},
    warn: (o, m) => io.err(`warning: ${m ?? ''} ${typeof o === 'string' ? o : JSON.stringify(o)}`.trim()),
    error: (o, m) => io.err(`error: ${m ?? ''} ${typeof o === 'string' ? o : JSON.stringify(o)}`.trim()),
    child: () => logger,
  };
  return logger;
}

/** Opens the data directory's database and secret box, runs `fn`, closes. */
function withStore<T>(dataDir: string, io: SecurityCliIo, fn: (security: SecurityStore, audit: AuditLog) => T): T {
  const store = new SqliteStore(join(dataDir, 'warden.db'));
  try {
    const audit = new AuditLog(store);
    const onRemoved = (endpoint: string) => audit.record({ endpoint, kind: 'revoked', actor: 'cli' });
    return fn(new SecurityStore(store, SecretBox.openOrCreate(join(dataDir, 'secret.key'), ioLogger(io)), { onRemoved }), audit);
  } finally {
    store.close();
  }
}

function hexBytes(text: string, what: string): Uint8Array {
  const t = text.trim();
  if (!/^(?:[0-9a-fA-F]{2})+$/.test(t)) throw new Error(`${what} must be an even-length hex string`);
  return new Uint8Array(Buffer.from(t, 'hex'));
}

/** An RPK given as hex SPKI, or as a file holding PEM (any key or certificate form node reads) or DER SPKI. */
export function readRawPublicKey(value: string): Uint8Array {
  if (/^(?:[0-9a-fA-F]{2})+$/.test(value)) return hexBytes(value, '--rpk-key');
  let bytes: Buffer;
  try {
    bytes = readFileSync(value);
  } catch {
    throw new Error('--rpk-key must be hex SPKI DER or a readable PEM/DER file');
  }
  try {
    if (bytes.includes('-----BEGIN')) return spkiOf(createPublicKey(bytes.toString('utf8')));
    return spkiOf(createPublicKey({ key: bytes, format: 'der', type: 'spki' }));
  } catch {
    throw new Error(`${value} holds no public key node can read (PEM, or DER SubjectPublicKeyInfo)`);
  }
}

/** Builds the info `add` stores from the flags; exactly one mode. */
export async function securityInfoFromFlags(flags: SecurityAddFlags, io: SecurityCliIo): Promise<NewSecurityInfo> {
  const modes = [flags.pskIdentity !== undefined || flags.pskKey !== undefined, flags.rpkKey !== undefined, flags.x509 === true].filter(Boolean);
  if (modes.length !== 1) throw new Error('give exactly one of --psk-identity with --psk-key, --rpk-key or --x509');
  if (flags.rpkKey !== undefined) return { endpoint: flags.endpoint, mode: 'rpk', rpkPublicKey: readRawPublicKey(flags.rpkKey) };
  if (flags.x509) return { endpoint: flags.endpoint, mode: 'x509', x509: true };
  if (flags.pskIdentity === undefined || flags.pskKey === undefined) throw new Error('PSK mode needs both --psk-identity and --psk-key');
  const keyText = flags.pskKey === '-' ? await io.readStdin() : flags.pskKey;
  return { endpoint: flags.endpoint, mode: 'psk', pskIdentity: flags.pskIdentity, pskKey: hexBytes(keyText, 'the PSK key') };
}

function describe(info: SecurityInfo): string {
  switch (info.mode) {
    case 'psk':
      return `identity=${JSON.stringify(info.pskIdentity ?? '')}`;
    case 'rpk':
      return `sha256=${info.rpkPublicKey ? fingerprint(info.rpkPublicKey) : ''}`;
    case 'x509':
      return 'certificate CN must equal the endpoint';
  }
}

/** `warden security add`. */
export async function securityAdd(flags: SecurityAddFlags, io: SecurityCliIo = processIo): Promise<void> {
  const info = await securityInfoFromFlags(flags, io);
  const stored = withStore(flags.data, io, (security, audit) => {
    const added = security.add(info);
    audit.record({ endpoint: added.endpoint, kind: 'created', actor: 'cli', detail: { mode: added.mode } });
    return added;
  });
  io.out(`added ${stored.endpoint} (${stored.mode}, ${describe(stored)})`);
}

/** `warden security list`: one line per endpoint, tab-separated: endpoint, mode, detail, created. */
export function securityList(flags: { data: string }, io: SecurityCliIo = processIo): void {
  withStore(flags.data, io, (security) => {
    const all = security.list();
    if (all.length === 0) io.out('no security info');
    for (const i of all) io.out([i.endpoint, i.mode, describe(i), new Date(i.createdAt).toISOString()].join('\t'));
  });
}

/** `warden security remove`; fails if the endpoint had no info. */
export function securityRemove(flags: { endpoint: string; data: string }, io: SecurityCliIo = processIo): void {
  const removed = withStore(flags.data, io, (security) => security.remove(flags.endpoint));
  if (!removed) throw new Error(`no security info for endpoint ${flags.endpoint}`);
  io.out(`removed ${flags.endpoint}`);
}

/** Adds `security add|list|remove` to the program. */
export function registerSecurityCommands(program: Command, io: SecurityCliIo = processIo): void {
  const security = program.command('security').description('manage device DTLS security info (PSK, raw public key, X.509)');
  security
    .command('add')
    .description('add or replace the security info of a device')
    .requiredOption('--endpoint <name>', 'endpoint client name')
    .option('--psk-identity <identity>', 'PSK identity (with --psk-key)')
    .option('--psk-key <hex>', 'PSK key in hex, or - to read it from stdin (keeps it out of shell history)')
    .option('--rpk-key <hex-or-file>', 'raw public key: hex SPKI DER, or a PEM/DER file')
    .option('--x509', 'X.509: the certificate subject CN must equal the endpoint')
    .option('--data <dir>', 'data directory', './data')
    .action((flags: SecurityAddFlags) => securityAdd(flags, io));
  security
    .command('list')
    .description('list devices and their security mode (no keys are shown)')
    .option('--data <dir>', 'data directory', './data')
    .action((flags: { data: string }) => securityList(flags, io));
  security
    .command('remove')
    .description('remove the security info of a device')
    .requiredOption('--endpoint <name>', 'endpoint client name')
    .option('--data <dir>', 'data directory', './data')
    .action((flags: { endpoint: string; data: string }) => securityRemove(flags, io));
}
