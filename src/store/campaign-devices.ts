/** Paging over a campaign's devices: firmware campaigns and credential rotations keep them in tables of one shape. */
import type Database from 'better-sqlite3';

/** Which devices of a campaign: those in `state` (all when absent), `limit` from `offset` in the table's order. */
export interface DevicePage {
  state?: string;
  offset?: number;
  limit?: number;
}

/** The campaign device tables and their order (PRIMARY KEY (campaign_id, endpoint) serves both). */
const ORDER = { fw_campaign_device: 'wave, endpoint', rotation_device: 'endpoint' } as const;

/** One page of the rows of campaign `id` in `table`, and how many rows match in all. */
export function campaignDevicePage<R>(db: Database.Database, table: keyof typeof ORDER, id: number, page: DevicePage): { rows: R[]; total: number } {
  const where = page.state === undefined ? 'campaign_id = ?' : 'campaign_id = ? AND state = ?';
  const args: (string | number)[] = page.state === undefined ? [id] : [id, page.state];
  const total = (db.prepare(`SELECT count(*) AS n FROM ${table} WHERE ${where}`).get(...args) as { n: number }).n;
  const limit = Math.max(0, Math.floor(page.limit ?? -1));
  const rows = db.prepare(`SELECT * FROM ${table} WHERE ${where} ORDER BY ${ORDER[table]} LIMIT ? OFFSET ?`)
    .all(...args, page.limit === undefined ? -1 : limit, Math.max(0, Math.floor(page.offset ?? 0))) as R[];
  return { rows, total };
}
