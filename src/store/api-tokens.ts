/**
 * API tokens: `wdn_` + 256 random bits (base64url), shown once; the table keeps the SHA-256 (a hash is enough for a
 * token with that much entropy: nothing to brute-force). A token acts for its user, capped at its scope.
 */
import { randomBytes } from 'node:crypto';
import type { SqliteStore } from './sqlite.js';
import { sha256 } from './api-sessions.js';
import { roleAtLeast, weakerRole, type Role } from './users.js';
import { UserStoreError } from './users.js';

/** What a token may do at most: read = viewer, write = operator, admin = admin. */
export type TokenScope = 'read' | 'write' | 'admin';
export const TOKEN_SCOPES: readonly TokenScope[] = ['read', 'write', 'admin'];

export const SCOPE_ROLE: Readonly<Record<TokenScope, Role>> = { read: 'viewer', write: 'operator', admin: 'admin' };

export function isTokenScope(v: unknown): v is TokenScope {
  return typeof v === 'string' && (TOKEN_SCOPES as readonly string[]).includes(v);
}

/** The prefix every token starts with (lets secret scanners find leaked ones). */
export const TOKEN_PREFIX = 'wdn_';

/** A token as listed (never the secret or its hash). */
export interface ApiToken {
  id: string;
  username: string;
  scope: TokenScope;
  name?: string;
  createdAt: number;
  /** Epoch ms; undefined: never expires. */
  expiresAt?: number;
  revokedAt?: number;
  lastUsed?: number;
}

/** A token in use: its user's role capped by the scope. */
export interface TokenGrant {
  token: ApiToken;
  role: Role;
}

type Row = {
  id: string; username: string; scope: TokenScope; name: string | null; created_at: number;
  expires_at: number | null; revoked_at: number | null; last_used: number | null;
};

function toToken(r: Row): ApiToken {
  return {
    id: r.id, username: r.username, scope: r.scope, createdAt: r.created_at,
    ...(r.name !== null ? { name: r.name } : {}),
    ...(r.expires_at !== null ? { expiresAt: r.expires_at } : {}),
    ...(r.revoked_at !== null ? { revokedAt: r.revoked_at } : {}),
    ...(r.last_used !== null ? { lastUsed: r.last_used } : {}),
  };
}

const COLUMNS = 'id, username, scope, name, created_at, expires_at, revoked_at, last_used';
const TOUCH_EVERY_MS = 60_000;

/** Parses a lifetime: `30d`, `12h`, `90m`, `3600s` or plain seconds; returns milliseconds. */
export function parseLifetime(text: string): number {
  const m = /^(\d{1,6})([smhd]?)$/.exec(text.trim());
  if (m === null || Number(m[1]) === 0) throw new Error('a lifetime is a positive number with s, m, h or d (30d, 12h)');
  const unit = { '': 1000, s: 1000, m: 60_000, h: 3600_000, d: 86_400_000 }[m[2] as '' | 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * unit;
}

export class ApiTokenStore {
  private readonly now: () => number;
  private readonly random: (n: number) => Buffer;
  private readonly stmt;

  constructor(store: SqliteStore, opts: { now?: () => number; random?: (n: number) => Buffer } = {}) {
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? randomBytes;
    const db = store.db;
    this.stmt = {
      insert: db.prepare('INSERT INTO api_token VALUES (@id, @hash, @username, @scope, @name, @now, @expiresAt, NULL, NULL)'),
      byHash: db.prepare(`SELECT ${COLUMNS.split(', ').map((c) => 't.' + c).join(', ')}, u.role FROM api_token t JOIN api_user u ON u.name = t.username WHERE t.token_hash = ?`),
      get: db.prepare(`SELECT ${COLUMNS} FROM api_token WHERE id = ?`),
      all: db.prepare(`SELECT ${COLUMNS} FROM api_token ORDER BY created_at, id`),
      ofUser: db.prepare(`SELECT ${COLUMNS} FROM api_token WHERE username = ? ORDER BY created_at, id`),
      revoke: db.prepare('UPDATE api_token SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL'),
      touch: db.prepare('UPDATE api_token SET last_used = ? WHERE id = ?'),
      role: db.prepare('SELECT role FROM api_user WHERE name = ?'),
    };
  }

  /**
   * Creates a token for `username`; returns it with the secret, which is not kept. The scope may not exceed the
   * user's role (UserStoreError INVALID); an unknown user is NOT_FOUND.
   */
  create(o: { username: string; scope: TokenScope; lifetimeMs?: number; name?: string }): { token: ApiToken; secret: string } {
    const role = (this.stmt.role.get(o.username) as { role: Role } | undefined)?.role;
    if (role === undefined) throw new UserStoreError('NOT_FOUND', `no user ${o.username}`);
    if (!roleAtLeast(role, SCOPE_ROLE[o.scope])) throw new UserStoreError('INVALID', `scope ${o.scope} exceeds the role of ${o.username} (${role})`);
    if (o.name !== undefined && (o.name.length > 100 || /[\x00-\x1f]/.test(o.name))) throw new UserStoreError('INVALID', 'a token name is at most 100 printable characters');
    if (o.lifetimeMs !== undefined && !(Number.isSafeInteger(o.lifetimeMs) && o.lifetimeMs > 0)) throw new UserStoreError('INVALID', 'a token lifetime is positive');
    const id = this.random(8).toString('hex');
    const secret = TOKEN_PREFIX + this.random(32).toString('base64url');
    const now = this.now();
    this.stmt.insert.run({
      id, hash: sha256(secret), username: o.username, scope: o.scope, name: o.name ?? null, now,
      expiresAt: o.lifetimeMs === undefined ? null : now + o.lifetimeMs,
    });
    return { token: this.get(id)!, secret };
  }

  get(id: string): ApiToken | undefined {
    const r = this.stmt.get.get(id) as Row | undefined;
    return r && toToken(r);
  }

  list(username?: string): ApiToken[] {
    return ((username === undefined ? this.stmt.all.all() : this.stmt.ofUser.all(username)) as Row[]).map(toToken);
  }

  /** Revokes a token for good; false if unknown or already revoked. */
  revoke(id: string): boolean {
    return this.stmt.revoke.run(this.now(), id).changes > 0;
  }

  /** The grant of a presented secret, if it is a live (known, unrevoked, unexpired) token. */
  authenticate(secret: string): TokenGrant | undefined {
    if (!secret.startsWith(TOKEN_PREFIX) || secret.length > 100) return undefined;
    const r = this.stmt.byHash.get(sha256(secret)) as (Row & { role: Role }) | undefined;
    if (r === undefined || r.revoked_at !== null) return undefined;
    const now = this.now();
    if (r.expires_at !== null && now >= r.expires_at) return undefined;
    if (r.last_used === null || now - r.last_used >= TOUCH_EVERY_MS) {
      this.stmt.touch.run(now, r.id);
      r.last_used = now;
    }
    return { token: toToken(r), role: weakerRole(r.role, SCOPE_ROLE[r.scope]) };
  }
}
