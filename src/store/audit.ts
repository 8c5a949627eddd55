/**
 * The credential audit log: one row per credential event (created, used first, rotated, revoked) with the endpoint,
 * the kind, the time and the actor. It never holds key material: `record` accepts only the fields below, and
 * `detail` is checked to be a flat object of short strings/numbers/booleans without key-like field names.
 */
import type Database from 'better-sqlite3';
import { Watchers } from './watchers.js';

/** What happened to a credential. */
export type AuditKind = 'created' | 'used-first' | 'rotated' | 'revoked';
export const AUDIT_KINDS: readonly AuditKind[] = ['created', 'used-first', 'rotated', 'revoked'];

/** One credential event. `detail` carries identifiers (PSK identity, campaign id), never secrets. */
export interface AuditEvent {
  id: number;
  endpoint: string;
  kind: AuditKind;
  /** Epoch milliseconds. */
  time: number;
  /** Who caused it: 'bootstrap', 'rotation:<id>', 'api:<token>', 'cli', 'dtls' ... */
  actor: string;
  detail?: Record<string, string | number | boolean>;
}

export type NewAuditEvent = Omit<AuditEvent, 'id' | 'time'> & { time?: number };

export interface AuditQuery {
  endpoint?: string;
  kind?: AuditKind;
  /** Exact actor, or a prefix when it ends in `*` (`rotation:*`). */
  actor?: string;
  /** Epoch milliseconds, inclusive. */
  since?: number;
  /** Epoch milliseconds, exclusive. */
  until?: number;
  /** Default 100, at most 1000. */
  limit?: number;
  /** Events with id below this (paging backwards, newest first). */
  before?: number;
  /** Matching events to skip (newest first). */
  offset?: number;
}

/** An event that would put something secret-looking into the log, or malformed input. */
export class AuditError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AuditError';
  }
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS credential_audit (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  endpoint TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('created', 'used-first', 'rotated', 'revoked')),
  time INTEGER NOT NULL,
  actor TEXT NOT NULL,
  detail TEXT
);
CREATE INDEX IF NOT EXISTS credential_audit_endpoint ON credential_audit(endpoint, id);
CREATE INDEX IF NOT EXISTS credential_audit_time ON credential_audit(time);
CREATE TABLE IF NOT EXISTS credential_first_use (
  endpoint TEXT NOT NULL,
  psk_identity TEXT NOT NULL,
  PRIMARY KEY (endpoint, psk_identity)
) WITHOUT ROWID;
`;

/** Field names that suggest key material; a detail carrying one is refused. */
const SECRET_NAME = /key|secret|psk$|password|passphrase|pin|token|private/i;
const MAX_DETAIL_VALUE = 256;

interface Row {
  id: number;
  endpoint: string;
  kind: AuditKind;
  time: number;
  actor: string;
  detail: string | null;
}

/** Append-only credential event log in the Warden database. */
export class AuditLog {
  /** Hears every event recorded. */
  readonly changes = new Watchers<AuditEvent>();
  private readonly stmt;
  private readonly now: () => number;

  constructor(store: { readonly db: Database.Database }, opts: { now?: () => number } = {}) {
    const db = store.db;
    db.exec(SCHEMA);
    this.now = opts.now ?? Date.now;
    this.stmt = {
      insert: db.prepare('INSERT INTO credential_audit (endpoint, kind, time, actor, detail) VALUES (?, ?, ?, ?, ?)'),
      firstUse: db.prepare('INSERT OR IGNORE INTO credential_first_use VALUES (?, ?)'),
    };
    this.db = db;
  }

  private readonly db: Database.Database;

  /** Appends an event; throws AuditError for an unknown kind or a detail that looks like it holds a secret. */
  record(e: NewAuditEvent): AuditEvent {
    if (!AUDIT_KINDS.includes(e.kind)) throw new AuditError(`unknown audit kind ${String(e.kind)}`);
    if (typeof e.endpoint !== 'string' || e.endpoint.length === 0) throw new AuditError('audit event without endpoint');
    if (typeof e.actor !== 'string' || e.actor.length === 0) throw new AuditError('audit event without actor');
    const detail = e.detail === undefined ? undefined : checkDetail(e.detail);
    const time = e.time ?? this.now();
    const info = this.stmt.insert.run(e.endpoint, e.kind, time, e.actor, detail === undefined ? null : JSON.stringify(detail));
    const out: AuditEvent = { id: Number(info.lastInsertRowid), endpoint: e.endpoint, kind: e.kind, time, actor: e.actor };
    if (detail) out.detail = detail;
    this.changes.emit(out);
    return out;
  }



  /**
   * Records 'used-first' the first time a PSK identity authenticates for an endpoint (later calls are no-ops).
   * Returns true when this call recorded it.
   */
  usedFirst(endpoint: string, pskIdentity: string, actor = 'dm-server'): boolean {
    if (this.stmt.firstUse.run(endpoint, pskIdentity).changes === 0) return false;
    this.record({ endpoint, kind: 'used-first', actor, detail: { identity: pskIdentity } });
    return true;
  }

  /** Events matching every given filter, newest first. */
  query(q: AuditQuery = {}): AuditEvent[] {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (q.endpoint !== undefined) (where.push('endpoint = ?'), args.push(q.endpoint));
    if (q.kind !== undefined) {
      if (!AUDIT_KINDS.includes(q.kind)) throw new AuditError(`unknown audit kind ${String(q.kind)}`);
      where.push('kind = ?'), args.push(q.kind);
    }
    if (q.actor !== undefined) {
      if (q.actor.endsWith('*')) (where.push('substr(actor, 1, ?) = ?'), args.push(q.actor.length - 1, q.actor.slice(0, -1)));
      else (where.push('actor = ?'), args.push(q.actor));
    }
    if (q.since !== undefined) (where.push('time >= ?'), args.push(q.since));
    if (q.until !== undefined) (where.push('time < ?'), args.push(q.until));
    if (q.before !== undefined) (where.push('id < ?'), args.push(q.before));
    const limit = Math.min(Math.max(1, Math.floor(q.limit ?? 100)), 1000);
    const offset = Math.max(0, Math.floor(q.offset ?? 0));
    const sql = `SELECT * FROM credential_audit ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY id DESC LIMIT ${limit} OFFSET ${offset}`;
    return (this.db.prepare(sql).all(...args) as Row[]).map(fromRow);
  }
}

function checkDetail(d: Record<string, unknown>): Record<string, string | number | boolean> {
  if (typeof d !== 'object' || d === null || Array.isArray(d)) throw new AuditError('audit detail must be an object');
  const out: Record<string, string | number | boolean> = {};
  for (const [k, v] of Object.entries(d)) {
    if (SECRET_NAME.test(k)) throw new AuditError(`audit detail field "${k}" looks like key material; the audit log never holds secrets`);
    if (typeof v === 'string') {
      if (v.length > MAX_DETAIL_VALUE) throw new AuditError(`audit detail field "${k}" is too long`);
    } else if (typeof v !== 'number' && typeof v !== 'boolean') {
      // Binary values (Uint8Array, Buffer) and nested objects are refused: that is where key bytes would hide.
      throw new AuditError(`audit detail field "${k}" must be a string, number or boolean`);
    }
    out[k] = v as string | number | boolean;
  }
  return out;
}

function fromRow(r: Row): AuditEvent {
  const e: AuditEvent = { id: r.id, endpoint: r.endpoint, kind: r.kind, time: r.time, actor: r.actor };
  if (r.detail !== null) e.detail = JSON.parse(r.detail) as Record<string, string | number | boolean>;
  return e;
}
