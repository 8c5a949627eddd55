/**
 * The API's request audit: one row per state-changing API request (every method but GET/HEAD/OPTIONS, logins and
 * refused attempts included) with who made it, the route, the path and the answer. Bodies and query strings are never
 * kept: they are where passwords, keys and tokens travel.
 */
import type Database from 'better-sqlite3';
import { Watchers } from './watchers.js';

/** One audited request. */
export interface RequestAuditEntry {
  id: number;
  /** Epoch milliseconds. */
  time: number;
  /** The user name (`api-token` for the built-in token); for a login the name tried; '' when no credential was given. */
  actor: string;
  /** How the actor authenticated: session, token, builtin, or none (refused before authentication, or a login). */
  via: string;
  method: string;
  /** The route pattern (`/api/clients/:ep/*`), or '' when none matched. */
  route: string;
  /** The URL path without its query. */
  path: string;
  status: number;
  /** The client's address. */
  address: string;
}

export type NewRequestAuditEntry = Omit<RequestAuditEntry, 'id' | 'time'> & { time?: number };

export interface RequestAuditQuery {
  actor?: string;
  method?: string;
  /** Path prefix (`/api/firmware`). */
  path?: string;
  /** Status class 2, 3, 4 or 5 (2xx ...). */
  statusClass?: number;
  /** Epoch milliseconds, inclusive. */
  since?: number;
  /** Epoch milliseconds, exclusive. */
  until?: number;
  /** Default 100, at most 1000. */
  limit?: number;
  /** Entries with id below this (paging backwards, newest first). */
  before?: number;
  /** Entries to skip (after the filters), newest first. */
  offset?: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS request_audit (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  time INTEGER NOT NULL,
  actor TEXT NOT NULL,
  via TEXT NOT NULL,
  method TEXT NOT NULL,
  route TEXT NOT NULL,
  path TEXT NOT NULL,
  status INTEGER NOT NULL,
  address TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS request_audit_time ON request_audit(time);
CREATE INDEX IF NOT EXISTS request_audit_actor ON request_audit(actor, id);
`;

/** Long fields are cut: a path or a tried user name is attacker-controlled. */
const MAX_FIELD = 512;

/** Append-only request audit in the Warden database. */
export class RequestAudit {
  /** Hears every entry recorded. */
  readonly changes = new Watchers<RequestAuditEntry>();
  private readonly db: Database.Database;
  private readonly insert: Database.Statement;
  private readonly now: () => number;

  constructor(store: { readonly db: Database.Database }, opts: { now?: () => number } = {}) {
    this.db = store.db;
    this.db.exec(SCHEMA);
    this.now = opts.now ?? Date.now;
    this.insert = this.db.prepare('INSERT INTO request_audit (time, actor, via, method, route, path, status, address) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
  }

  record(e: NewRequestAuditEntry): RequestAuditEntry {
    const entry = { ...e, time: e.time ?? this.now(), actor: cut(e.actor), path: cut(e.path), address: cut(e.address), id: 0 };
    const info = this.insert.run(entry.time, entry.actor, entry.via, entry.method, entry.route, entry.path, entry.status, entry.address);
    entry.id = Number(info.lastInsertRowid);
    this.changes.emit(entry);
    return entry;
  }



  /** Entries matching every given filter, newest first. */
  query(q: RequestAuditQuery = {}): RequestAuditEntry[] {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (q.actor !== undefined) (where.push('actor = ?'), args.push(q.actor));
    if (q.method !== undefined) (where.push('method = ?'), args.push(q.method));
    // substr compares the prefix exactly; LIKE would read % and _ in it as wildcards.
    if (q.path !== undefined) (where.push('substr(path, 1, ?) = ?'), args.push(q.path.length, q.path));
    if (q.statusClass !== undefined) (where.push('status >= ? AND status < ?'), args.push(q.statusClass * 100, q.statusClass * 100 + 100));
    if (q.since !== undefined) (where.push('time >= ?'), args.push(q.since));
    if (q.until !== undefined) (where.push('time < ?'), args.push(q.until));
    if (q.before !== undefined) (where.push('id < ?'), args.push(q.before));
    const limit = Math.min(Math.max(1, Math.floor(q.limit ?? 100)), 1000);
    const sql = `SELECT * FROM request_audit ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY id DESC LIMIT ${limit} OFFSET ${Math.max(0, Math.floor(q.offset ?? 0))}`;
    // The columns are the entry's fields, by name.
    return this.db.prepare(sql).all(...args) as RequestAuditEntry[];
  }

  /** Removes entries older than `before` (epoch ms); returns how many. */
  prune(before: number): number {
    return this.db.prepare('DELETE FROM request_audit WHERE time < ?').run(before).changes;
  }
}

function cut(s: string): string {
  return s.length > MAX_FIELD ? s.slice(0, MAX_FIELD) : s;
}
