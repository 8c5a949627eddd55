/**
 * What the server last learned of each device's firmware: Device /3/0/3 (Firmware Version) and Firmware Update
 * /5/0/3 (State), /5/0/5 (Update Result) (LwM2M 1.1 Core Appendix E.4 and E.6), one row per endpoint.
 */
import type Database from 'better-sqlite3';
import { Watchers } from './watchers.js';

/** One device's firmware facts; a field is absent until a read, notification or Send carried it. */
export interface DeviceFirmware {
  endpoint: string;
  version?: string;
  /** /5/0/3: 0 idle, 1 downloading, 2 downloaded, 3 updating. */
  fwState?: number;
  /** /5/0/5: 0 initial, 1 success, 2.. failures. */
  fwResult?: number;
  /** Epoch ms of the last change. */
  updatedAt: number;
}

/** What a report carries: only the fields it names are replaced. */
export type FirmwareFacts = Partial<Pick<DeviceFirmware, 'version' | 'fwState' | 'fwResult'>>;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS device_firmware (
  endpoint TEXT PRIMARY KEY,
  version TEXT,
  fw_state INTEGER,
  fw_result INTEGER,
  updated_at INTEGER NOT NULL
) WITHOUT ROWID;
`;

interface Row {
  endpoint: string;
  version: string | null;
  fw_state: number | null;
  fw_result: number | null;
  updated_at: number;
}

/** The device_firmware table of the Warden database; `changes` hears every change (the device inventory). */
export class DeviceFactsStore {
  /** Hears every change of a device's facts. */
  readonly changes = new Watchers<DeviceFirmware>();
  private readonly stmt;
  private readonly now: () => number;

  constructor(store: { readonly db: Database.Database }, opts: { now?: () => number } = {}) {
    const db = store.db;
    db.exec(SCHEMA);
    this.now = opts.now ?? Date.now;
    this.stmt = {
      get: db.prepare('SELECT * FROM device_firmware WHERE endpoint = ?'),
      all: db.prepare('SELECT * FROM device_firmware'),
      upsert: db.prepare(`INSERT INTO device_firmware VALUES (@endpoint, @version, @fw_state, @fw_result, @updated_at)
        ON CONFLICT(endpoint) DO UPDATE SET version = excluded.version, fw_state = excluded.fw_state,
        fw_result = excluded.fw_result, updated_at = excluded.updated_at`),
      remove: db.prepare('DELETE FROM device_firmware WHERE endpoint = ?'),
    };
  }

  /** Merges `facts` into the endpoint's row; returns the row, or undefined when nothing changed (no write). */
  record(endpoint: string, facts: FirmwareFacts): DeviceFirmware | undefined {
    const old = this.get(endpoint);
    const next: DeviceFirmware = { ...(old ?? { endpoint }), updatedAt: this.now() };
    if (facts.version !== undefined) next.version = facts.version;
    if (facts.fwState !== undefined) next.fwState = facts.fwState;
    if (facts.fwResult !== undefined) next.fwResult = facts.fwResult;
    if (old && old.version === next.version && old.fwState === next.fwState && old.fwResult === next.fwResult) return undefined;
    this.stmt.upsert.run({ endpoint, version: next.version ?? null, fw_state: next.fwState ?? null, fw_result: next.fwResult ?? null, updated_at: next.updatedAt });
    this.changes.emit(next);
    return next;
  }

  get(endpoint: string): DeviceFirmware | undefined {
    const r = this.stmt.get.get(endpoint) as Row | undefined;
    return r && fromRow(r);
  }

  /** Every row (the inventory loads them once at start). */
  all(): DeviceFirmware[] {
    return (this.stmt.all.all() as Row[]).map(fromRow);
  }

  remove(endpoint: string): boolean {
    return this.stmt.remove.run(endpoint).changes > 0;
  }

}

function fromRow(r: Row): DeviceFirmware {
  const out: DeviceFirmware = { endpoint: r.endpoint, updatedAt: r.updated_at };
  if (r.version !== null) out.version = r.version;
  if (r.fw_state !== null) out.fwState = r.fw_state;
  if (r.fw_result !== null) out.fwResult = r.fw_result;
  return out;
}
