/**
 * `warden users add|list|remove` and `warden tokens create|list|revoke`, on DIR/warden.db directly, so the first
 * admin can be created before the server runs. A password comes from WARDEN_USER_PASSWORD or stdin (typed without
 * echo on a terminal), never from argv (visible to every user of the machine through ps and /proc).
 */
import { join } from 'node:path';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import {
  ApiTokenStore, SqliteStore, UserStore, UserStoreError, isRole, isTokenScope, parseLifetime,
  type ApiToken, type Role, type ScryptParams, type TokenScope,
} from '../store/index.js';

/** Where the commands read and write: injectable for tests. */
export interface UsersCliIo {
  /** The new password: from the environment, else stdin (without echo on a terminal). */
  readPassword(prompt: string): Promise<string>;
  out(line: string): void;
  err(line: string): void;
  /** Clock (ms) for token expiry. */
  now?: () => number;
  /** scrypt cost (tests lower it). */
  scrypt?: ScryptParams;
}

/** Reads one line from a terminal without echoing it. */
function readHidden(prompt: string): Promise<string> {
  const stdin = process.stdin;
  return new Promise((resolve, reject) => {
    process.stderr.write(prompt);
    let text = '';
    stdin.setRawMode(true);
    stdin.resume();
    stdin.setEncoding('utf8');
    const finish = (err?: Error) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off('data', onData);
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(text);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') return finish();
        if (ch === '\u0003') return finish(new Error('cancelled'));
        if (ch === '\u007f' || ch === '\b') text = text.slice(0, -1);
        else text += ch;
      }
    };
    stdin.on('data', onData);
  });
}

const processIo: UsersCliIo = {
  async readPassword(prompt) {
    const env = process.env.WARDEN_USER_PASSWORD;
    if (env) return env;
    if (process.stdin.isTTY) {
      const first = await readHidden(prompt);
      const again = await readHidden('again: ');
      if (first !== again) throw new Error('the passwords differ');
      return first;
    }
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string));
    // The first line: `echo pw | warden users add` and a file with a trailing newline both work.
    return Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '';
  },
  out: (line) => void process.stdout.write(line + '\n'),
  err: (line) => void process.stderr.write(line + '\n'),
};

function withStore<T>(dataDir: string, fn: (store: SqliteStore) => T): T {
  const store = new SqliteStore(join(dataDir, 'warden.db'));
  try {
    return fn(store);
  } finally {
    store.close();
  }
}

async function withStoreAsync<T>(dataDir: string, fn: (store: SqliteStore) => Promise<T>): Promise<T> {
  const store = new SqliteStore(join(dataDir, 'warden.db'));
  try {
    return await fn(store);
  } finally {
    store.close();
  }
}

function cliError(err: unknown): never {
  if (err instanceof UserStoreError) throw new Error(err.message);
  throw err;
}

/** `warden users add <name> --role R`. */
export async function usersAdd(name: string, flags: { role: string; data: string }, io: UsersCliIo = processIo): Promise<void> {
  if (!isRole(flags.role)) throw new Error('--role is admin, operator or viewer');
  const role: Role = flags.role;
  const password = await io.readPassword(`password for ${name}: `);
  const u = await withStoreAsync(flags.data, (store) => new UserStore(store, io.scrypt ? { scrypt: io.scrypt } : {}).add(name, role, password)).catch(cliError);
  io.out(`added user ${u.name} (${u.role})`);
}

/** `warden users list`: name, role, created (tab-separated). */
export function usersList(flags: { data: string }, io: UsersCliIo = processIo): void {
  const all = withStore(flags.data, (store) => new UserStore(store).list());
  if (all.length === 0) io.out('no users');
  for (const u of all) io.out([u.name, u.role, new Date(u.createdAt).toISOString()].join('\t'));
}

/** `warden users remove <name>`: the user, their sessions and their API tokens. */
export function usersRemove(name: string, flags: { data: string }, io: UsersCliIo = processIo): void {
  const removed = withStore(flags.data, (store) => new UserStore(store).remove(name));
  if (!removed) throw new Error(`no user ${name}`);
  io.out(`removed user ${name} (and their sessions and API tokens)`);
}

function describeToken(t: ApiToken): string {
  const iso = (ms?: number) => (ms === undefined ? '-' : new Date(ms).toISOString());
  return [t.id, t.username, t.scope, t.name ?? '-', `created ${iso(t.createdAt)}`, `expires ${iso(t.expiresAt)}`, t.revokedAt !== undefined ? `revoked ${iso(t.revokedAt)}` : 'live'].join('\t');
}

/** `warden tokens create --user U [--scope S] [--expires 30d] [--name N]`: prints the token once, on its own line. */
export function tokensCreate(flags: { user: string; scope: string; expires?: string; name?: string; data: string }, io: UsersCliIo = processIo): void {
  if (!isTokenScope(flags.scope)) throw new Error('--scope is read, write or admin');
  const scope: TokenScope = flags.scope;
  const lifetimeMs = flags.expires === undefined ? undefined : parseLifetime(flags.expires);
  const { token, secret } = withStore(flags.data, (store) => {
    try {
      return new ApiTokenStore(store, io.now ? { now: io.now } : {}).create({
        username: flags.user, scope, ...(lifetimeMs !== undefined ? { lifetimeMs } : {}), ...(flags.name !== undefined ? { name: flags.name } : {}),
      });
    } catch (err) {
      return cliError(err);
    }
  });
  io.err(`created token ${token.id} for ${token.username} (scope ${token.scope}, expires ${token.expiresAt === undefined ? 'never' : new Date(token.expiresAt).toISOString()}); it is shown only now:`);
  io.out(secret);
}

/** `warden tokens list [--user U]`: id, user, scope, name, created, expires, state. */
export function tokensList(flags: { user?: string; data: string }, io: UsersCliIo = processIo): void {
  const all = withStore(flags.data, (store) => new ApiTokenStore(store).list(flags.user));
  if (all.length === 0) io.out('no tokens');
  for (const t of all) io.out(describeToken(t));
}

/** `warden tokens revoke <id>`. */
export function tokensRevoke(id: string, flags: { data: string }, io: UsersCliIo = processIo): void {
  const ok = withStore(flags.data, (store) => new ApiTokenStore(store, io.now ? { now: io.now } : {}).revoke(id));
  if (!ok) throw new Error(`no live token ${id}`);
  io.out(`revoked token ${id}`);
}

function lifetime(value: string): string {
  try {
    parseLifetime(value);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
  return value;
}

/** Adds `users add|list|remove` and `tokens create|list|revoke` to the program. */
export function registerUsersCommands(program: Command, io: UsersCliIo = processIo): void {
  const users = program.command('users').description('manage API and console users (roles: admin, operator, viewer)');
  users
    .command('add <name>')
    .description('add a user; the password comes from WARDEN_USER_PASSWORD or stdin, never from the command line')
    .requiredOption('--role <role>', 'admin, operator or viewer')
    .option('--data <dir>', 'data directory', './data')
    .action((name: string, flags: { role: string; data: string }) => usersAdd(name, flags, io));
  users.command('list').description('list users and roles').option('--data <dir>', 'data directory', './data')
    .action((flags: { data: string }) => usersList(flags, io));
  users.command('remove <name>').description('remove a user with their sessions and API tokens').option('--data <dir>', 'data directory', './data')
    .action((name: string, flags: { data: string }) => usersRemove(name, flags, io));

  const tokens = program.command('tokens').description("manage users' API tokens (stored hashed; shown once at creation)");
  tokens
    .command('create')
    .description('create an API token for a user and print it once')
    .requiredOption('--user <name>', 'the user the token acts for')
    .option('--scope <scope>', 'read, write or admin: caps the user role (viewer, operator, admin)', 'read')
    .option('--expires <lifetime>', 'lifetime: 30d, 12h, 90m, 3600s (default: never)', lifetime)
    .option('--name <text>', 'a label to recognise the token by')
    .option('--data <dir>', 'data directory', './data')
    .action((flags: { user: string; scope: string; expires?: string; name?: string; data: string }) => tokensCreate(flags, io));
  tokens.command('list').description('list API tokens (never the secrets)').option('--user <name>', 'only this user\'s')
    .option('--data <dir>', 'data directory', './data')
    .action((flags: { user?: string; data: string }) => tokensList(flags, io));
  tokens.command('revoke <id>').description('revoke an API token for good').option('--data <dir>', 'data directory', './data')
    .action((id: string, flags: { data: string }) => tokensRevoke(id, flags, io));
}
