/**
 * Console sessions: the cookie carries a random 256-bit id; the table keeps only its SHA-256, so a copy of the
 * database opens no session. A session ends after `idleMs` without a request or `absoluteMs` after login.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { SqliteStore } from './sqlite.js';
import type { Role } from './users.js';

export interface SessionLimits {
  /** Ends after this long without a request (default 30 min). */
  idleMs: number;
  /** Ends this long after login whatever happens (default 12 h). */
  absoluteMs: number;
}

export const DEFAULT_SESSION_LIMITS: SessionLimits = { idleMs: 30 * 60_000, absoluteMs: 12 * 3600_000 };

/** A live session, as the API sees it. */
export interface Session {
  username: string;
  role: Role;
  createdAt: number;
  lastSeen: number;
  /** When it ends if used no more (the earlier of idle and absolute expiry). */
  expiresAt: number;
}

/** last_seen is written at most this often per session (not on every request). */
const TOUCH_EVERY_MS = 30_000;

export function sha256(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

export class SessionStore {
  readonly limits: SessionLimits;
  private readonly now: () => number;
  private readonly random: (n: number) => Buffer;
  private readonly stmt;

  constructor(store: SqliteStore, opts: { limits?: Partial<SessionLimits>; now?: () => number; random?: (n: number) => Buffer } = {}) {
    this.limits = { ...DEFAULT_SESSION_LIMITS, ...opts.limits };
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? randomBytes;
    const db = store.db;
    this.stmt = {
      insert: db.prepare('INSERT INTO api_session VALUES (?, ?, ?, ?)'),
      get: db.prepare('SELECT s.username, s.created_at, s.last_seen, u.role FROM api_session s JOIN api_user u ON u.name = s.username WHERE s.id_hash = ?'),
      touch: db.prepare('UPDATE api_session SET last_seen = ? WHERE id_hash = ?'),
      remove: db.prepare('DELETE FROM api_session WHERE id_hash = ?'),
      prune: db.prepare('DELETE FROM api_session WHERE last_seen < ? OR created_at < ?'),
    };
  }

  /** Opens a session for `username`; returns the secret id (for the cookie only) and when it ends. */
  create(username: string): { id: string; expiresAt: number } {
    const id = this.random(32).toString('base64url');
    const now = this.now();
    this.stmt.insert.run(sha256(id), username, now, now);
    return { id, expiresAt: now + Math.min(this.limits.idleMs, this.limits.absoluteMs) };
  }

  /** The session with this id, if live; an expired one is deleted. Counts as activity (idle timer restarts). */
  use(id: string): Session | undefined {
    if (id.length === 0 || id.length > 100) return undefined;
    const key = sha256(id);
    const r = this.stmt.get.get(key) as { username: string; created_at: number; last_seen: number; role: Role } | undefined;
    if (r === undefined) return undefined;
    const now = this.now();
    if (now - r.last_seen >= this.limits.idleMs || now - r.created_at >= this.limits.absoluteMs) {
      this.stmt.remove.run(key);
      return undefined;
    }
    let lastSeen = r.last_seen;
    if (now - lastSeen >= TOUCH_EVERY_MS) {
      this.stmt.touch.run(now, key);
      lastSeen = now;
    }
    return {
      username: r.username, role: r.role, createdAt: r.created_at, lastSeen,
      expiresAt: Math.min(now + this.limits.idleMs, r.created_at + this.limits.absoluteMs),
    };
  }

  /** Ends a session; false if none had that id. */
  remove(id: string): boolean {
    return this.stmt.remove.run(sha256(id)).changes > 0;
  }

  /** Deletes every expired session; returns how many. */
  prune(): number {
    const now = this.now();
    return this.stmt.prune.run(now - this.limits.idleMs, now - this.limits.absoluteMs).changes;
  }
}
