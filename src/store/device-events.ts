/**
 * The registration history of devices: registered, de-registered, expired, replaced (Core §6.2), one row each, for the
 * device timeline and the last time an offline device was seen. Updates are not kept (a device sends one per lifetime;
 * the current registration says when the last one came). Rows are written in batches, one transaction per event-loop
 * turn, so a registration storm costs one commit per turn, not one per device.
 */
import type Database from 'better-sqlite3';

export type DeviceEventKind = 'registered' | 'deregistered' | 'expired' | 'replaced';

/** One registration event. */
export interface DeviceEvent {
  endpoint: string;
  /** Epoch milliseconds. */
  time: number;
  kind: DeviceEventKind;
  /** Address and port, registration id, transport: identifiers, never secrets. */
  detail: string;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS device_event (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  endpoint TEXT NOT NULL,
  time INTEGER NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('registered', 'deregistered', 'expired', 'replaced')),
  detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS device_event_endpoint ON device_event(endpoint, time);
CREATE INDEX IF NOT EXISTS device_event_time ON device_event(time);
`;

/** Append-only registration history in the Warden database. */
export class DeviceEventLog {
  private readonly db: Database.Database;
  private readonly insert: Database.Statement;
  private pending: DeviceEvent[] = [];
  private flushing: NodeJS.Immediate | undefined;

  constructor(store: { readonly db: Database.Database }) {
    this.db = store.db;
    this.db.exec(SCHEMA);
    this.insert = this.db.prepare('INSERT INTO device_event (endpoint, time, kind, detail) VALUES (?, ?, ?, ?)');
  }

  /** Queues an event; it is written at the end of this event-loop turn. */
  record(e: DeviceEvent): void {
    this.pending.push(e);
    this.flushing ??= setImmediate(() => this.flush());
  }

  /** Writes what is queued (close() and queries call it first). */
  flush(): void {
    if (this.flushing) clearImmediate(this.flushing);
    this.flushing = undefined;
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    this.db.transaction(() => {
      for (const e of batch) this.insert.run(e.endpoint, e.time, e.kind, e.detail);
    })();
  }

  /** A device's events, newest first. */
  of(endpoint: string, limit = 100): DeviceEvent[] {
    this.flush();
    return this.db.prepare('SELECT endpoint, time, kind, detail FROM device_event WHERE endpoint = ? ORDER BY time DESC, id DESC LIMIT ?')
      .all(endpoint, limit) as DeviceEvent[];
  }

  /** The time of each device's latest event (for when it was last seen). */
  lastSeen(): Map<string, number> {
    this.flush();
    const rows = this.db.prepare('SELECT endpoint, max(time) AS time FROM device_event GROUP BY endpoint').all() as { endpoint: string; time: number }[];
    return new Map(rows.map((r) => [r.endpoint, r.time]));
  }

  /** Removes events older than `before` (epoch ms) except each device's latest; returns how many. */
  prune(before: number): number {
    this.flush();
    return this.db.prepare(`DELETE FROM device_event WHERE time < ? AND id NOT IN
      (SELECT max(id) FROM device_event GROUP BY endpoint)`).run(before).changes;
  }

  close(): void {
    this.flush();
  }
}
