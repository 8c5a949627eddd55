/**
 * Fleet-wide credential rotation campaigns (issue 4, "Rotation"), persisted in SQLite and resumable after a crash. PSK
 * devices follow the steps below; raw public key devices and devices holding a certificate from Warden's CA follow
 * the same states (see `RAW_PUBLIC_KEY_REPLACING` and `RotationCertificates`).
 *
 * Per device, an explicit state machine (`DeviceRotationState`), each step idempotent:
 *   queued ──prepare──▶ prepared ──deliver──▶ delivered ──proof──▶ done
 *   prepared/delivered ──(error or no proof)──▶ prepared (retry after a delay) … ──(attempts used up)──▶ failed
 * - prepare: a fresh 256-bit PSK with its own identity (`<endpoint>~r<campaign>`) goes into the SecurityStore as the
 *   endpoint's *pending* credential. From then on the DTLS pskLookup and the authorizer accept both the current and
 *   the pending PSK. Re-running prepare reuses the stored pending PSK.
 * - deliver: the DM server executes Bootstrap-Request Trigger (/1/x/9, Core §E.2). The device runs client-initiated
 *   bootstrap; while a PSK is pending, the BootstrapServer writes *that* PSK into the DM account (never a fresh one),
 *   and stores nothing. The client keeps a snapshot of /0 /1 /2 until Bootstrap-Finish and rolls back to its old
 *   account if the sequence fails midway (Core §6.1.x: the configuration takes effect at Finish).
 * - proof: the DM server sees a Register/Update authenticated with the pending identity. Only then, in one SQLite
 *   transaction with the device's state change, the pending PSK becomes the current one and the old one is deleted;
 *   the device no longer holds the old one since its Finish.
 *
 * "Never locked out", step by step (a crash may fall between any two; both the security tables and the campaign
 * tables live in the same database and change in the same transactions):
 * - before prepare commits: nothing changed; the device and the server share the old PSK.
 * - after prepare, before/while delivering: the server accepts old and new; the device holds the old one, or
 *   (sequence failed midway) rolled back to it, or (Finish done) the new one. Every case is accepted.
 * - after delivery, before proof: same as above; a retry re-delivers the same pending PSK, so a device whose Finish
 *   answer was lost converges to the same key.
 * - proof and promotion are one transaction: either both PSKs are still accepted, or the new one is current and the
 *   device has proven it holds it.
 * - a device that never proves the new PSK ends `failed` with BOTH credentials still accepted (the pending one is
 *   never dropped: the device may have it); a later campaign for it reuses the same pending PSK.
 * The device's own fallback to its Bootstrap-Server account (which rotation never touches) is a further safety net.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter, setMaxListeners } from 'node:events';
import type Database from 'better-sqlite3';
import { campaignDevicePage, type DevicePage } from '../store/campaign-devices.js';
import { fingerprint } from '../dtls/rpk.js';
import type { AuditLog, SecurityStore } from '../store/index.js';

/**
 * Certificate devices (their DM credential is a certificate from Warden's CA): rotation re-bootstraps them, the
 * bootstrap server issues (or, in Security mode 4, lets the device enroll) a new certificate, the proof is a
 * registration with a certificate issued after the device was prepared, and promotion revokes the older ones.
 */
export interface RotationCertificates {
  /** Whether the endpoint holds an unrevoked, unexpired certificate from the CA. */
  has(endpoint: string): boolean;
  /** Every endpoint that does. */
  endpoints(): string[];
  /** Revokes the endpoint's certificates issued before `time` (ms); returns their serials. */
  revokeIssuedBefore(endpoint: string, time: number): string[];
}

/** The `newIdentity` of a certificate device: any certificate issued from `time` on proves the rotation. */
export const CERTIFICATE_ISSUED_FROM = 'x509-issued-from:';

/**
 * The `newIdentity` of a raw public key device: any key but the one with this fingerprint proves the rotation. The
 * bootstrap server stores the new key as the endpoint's pending one before writing it; the DM server promotes it when
 * the device registers with it (the old key is accepted until then).
 */
export const RAW_PUBLIC_KEY_REPLACING = 'rpk-replacing:';

/** Which endpoints a campaign rotates. */
export type RotationTarget = { all: true } | { group: string } | { endpoint: string } | { endpoints: string[] };

export type DeviceRotationState = 'queued' | 'prepared' | 'delivered' | 'done' | 'failed';
export const DEVICE_ROTATION_STATES: readonly DeviceRotationState[] = ['queued', 'prepared', 'delivered', 'done', 'failed'];
export type CampaignState = 'running' | 'finished';

/** How the campaign reaches devices: the LwM2M wiring is `lwm2mRotationDriver`, tests and benches simulate it. */
export interface RotationDriver {
  /** Asks the device to fetch its pending credential (Bootstrap-Request Trigger); rejects when it cannot. */
  deliver(endpoint: string, signal: AbortSignal): Promise<void>;
  /**
   * Resolves true once the device is registered with the PSK identity `identity`, or, for `identity` =
   * CERTIFICATE_ISSUED_FROM + time, with a certificate issued from that time on; false after `timeoutMs`.
   */
  proven(endpoint: string, identity: string, timeoutMs: number, signal: AbortSignal): Promise<boolean>;
}

export interface DeviceRotation {
  endpoint: string;
  state: DeviceRotationState;
  attempts: number;
  /** Identity of the new PSK once prepared. */
  newIdentity: string | null;
  lastError: string | null;
  updatedAt: number;
}

export interface CampaignSummary {
  id: number;
  target: RotationTarget;
  state: CampaignState;
  actor: string;
  createdAt: number;
  updatedAt: number;
  concurrency: number;
  maxAttempts: number;
  /** Devices per state. */
  counts: Record<DeviceRotationState, number>;
}

export interface CampaignStatus extends CampaignSummary {
  devices: DeviceRotation[];
  /** How many devices the request's page matched in all. */
  devicesTotal: number;
}

export interface HistoryEntry {
  endpoint: string;
  time: number;
  from: DeviceRotationState;
  to: DeviceRotationState;
  note: string | null;
}

interface HistoryRow { campaign_id: number; endpoint: string; time: number; from_state: DeviceRotationState; to_state: DeviceRotationState; note: string | null }

function historyEntry(r: HistoryRow): HistoryEntry {
  return { endpoint: r.endpoint, time: r.time, from: r.from_state, to: r.to_state, note: r.note };
}

export interface RotationOptions {
  store: { readonly db: Database.Database };
  security: SecurityStore;
  driver: RotationDriver;
  audit?: AuditLog;
  /** Rotation of certificate devices; without it only PSK devices rotate. */
  certificates?: RotationCertificates;
  /** Endpoints of a group (e.g. from the bootstrap group configs); undefined for an unknown group. */
  resolveGroup?: (group: string) => string[] | undefined;
  /** Devices worked on at once per campaign (default 16). */
  concurrency?: number;
  /** Deliveries per device before it is `failed` (default 5). */
  maxAttempts?: number;
  /** Delay before a retry in ms, doubled per attempt (default 5 000) up to `maxRetryDelay`. */
  retryDelay?: number;
  /** Longest wait between two attempts in ms (default 900 000: a device offline for a day still gets tried). */
  maxRetryDelay?: number;
  /** How long to wait for the device to register with the new PSK after delivery (default 120 000 ms). */
  proofTimeout?: number;
  random?: (n: number) => Uint8Array;
  now?: () => number;
}

/** Campaign or target problems the caller can act on. */
export class RotationError extends Error {
  constructor(
    readonly code: 'UNKNOWN_GROUP' | 'NO_DEVICES' | 'NOT_FOUND' | 'INVALID',
    message: string,
  ) {
    super(message);
    this.name = 'RotationError';
  }
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS rotation_campaign (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  target TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('running', 'finished')),
  actor TEXT NOT NULL,
  concurrency INTEGER NOT NULL,
  max_attempts INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS rotation_device (
  campaign_id INTEGER NOT NULL REFERENCES rotation_campaign(id),
  endpoint TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('queued', 'prepared', 'delivered', 'done', 'failed')),
  attempts INTEGER NOT NULL DEFAULT 0,
  next_at INTEGER NOT NULL DEFAULT 0,
  new_identity TEXT,
  last_error TEXT,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (campaign_id, endpoint)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS rotation_device_endpoint ON rotation_device(endpoint, state);
CREATE TABLE IF NOT EXISTS rotation_history (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  campaign_id INTEGER NOT NULL,
  endpoint TEXT NOT NULL,
  time INTEGER NOT NULL,
  from_state TEXT NOT NULL,
  to_state TEXT NOT NULL,
  note TEXT
);
-- By endpoint first: one campaign's device and a device's whole history (its timeline) both use it.
DROP INDEX IF EXISTS rotation_history_device;
CREATE INDEX IF NOT EXISTS rotation_history_endpoint ON rotation_history(endpoint, campaign_id);
`;

const TRANSITIONS: Readonly<Record<DeviceRotationState, readonly DeviceRotationState[]>> = {
  queued: ['prepared', 'failed'],
  prepared: ['delivered', 'prepared', 'done', 'failed'],
  delivered: ['done', 'prepared', 'failed'],
  done: [],
  failed: [],
};

/** Throws RotationError('INVALID') for a transition the device state machine does not allow. */
export function checkTransition(from: DeviceRotationState, to: DeviceRotationState): void {
  if (!TRANSITIONS[from].includes(to)) throw new RotationError('INVALID', `rotation: ${from} -> ${to} is not allowed`);
}

export function isTerminalRotationState(s: DeviceRotationState): boolean {
  return s === 'done' || s === 'failed';
}

interface DeviceRow {
  campaign_id: number;
  endpoint: string;
  state: DeviceRotationState;
  attempts: number;
  next_at: number;
  new_identity: string | null;
  last_error: string | null;
  updated_at: number;
}

interface CampaignRow {
  id: number;
  target: string;
  state: CampaignState;
  actor: string;
  concurrency: number;
  max_attempts: number;
  created_at: number;
  updated_at: number;
}

/** The PSK identity of a campaign's new credential for an endpoint. */
export function rotationIdentity(endpoint: string, campaignId: number): string {
  return `${endpoint}~r${campaignId}`;
}

class Stopped extends Error {}

/**
 * Creates, runs, resumes and reports rotation campaigns. Events: 'started' (CampaignSummary), 'device'
 * (DeviceRotation & {campaignId}), 'finished' (CampaignSummary).
 */
export class RotationManager extends EventEmitter {
  private readonly db: Database.Database;
  private readonly stmt;
  private readonly now: () => number;
  private readonly random: (n: number) => Uint8Array;
  private readonly abort = new AbortController();
  private readonly running = new Map<number, Promise<CampaignSummary>>();
  private readonly timers = new Set<{ timer: NodeJS.Timeout; wake: () => void }>();
  private closed = false;

  constructor(private readonly opts: RotationOptions) {
    super();
    this.db = opts.store.db;
    this.db.exec(SCHEMA);
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? ((n) => new Uint8Array(randomBytes(n)));
    setMaxListeners(0, this.abort.signal);
    const db = this.db;
    this.stmt = {
      insertCampaign: db.prepare('INSERT INTO rotation_campaign (target, state, actor, concurrency, max_attempts, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      insertDevice: db.prepare("INSERT INTO rotation_device (campaign_id, endpoint, state, updated_at) VALUES (?, ?, 'queued', ?)"),
      campaign: db.prepare('SELECT * FROM rotation_campaign WHERE id = ?'),
      campaigns: db.prepare('SELECT * FROM rotation_campaign ORDER BY id DESC LIMIT ?'),
      runningCampaigns: db.prepare("SELECT id FROM rotation_campaign WHERE state = 'running' ORDER BY id"),
      finishCampaign: db.prepare("UPDATE rotation_campaign SET state = 'finished', updated_at = ? WHERE id = ?"),
      touchCampaign: db.prepare('UPDATE rotation_campaign SET updated_at = ? WHERE id = ?'),
      devices: db.prepare('SELECT * FROM rotation_device WHERE campaign_id = ? ORDER BY endpoint'),
      device: db.prepare('SELECT * FROM rotation_device WHERE campaign_id = ? AND endpoint = ?'),
      counts: db.prepare('SELECT state, COUNT(*) AS n FROM rotation_device WHERE campaign_id = ? GROUP BY state'),
      busy: db.prepare("SELECT campaign_id FROM rotation_device WHERE endpoint = ? AND state NOT IN ('done', 'failed') LIMIT 1"),
      update: db.prepare('UPDATE rotation_device SET state = ?, attempts = ?, next_at = ?, new_identity = ?, last_error = ?, updated_at = ? WHERE campaign_id = ? AND endpoint = ?'),
      history: db.prepare('INSERT INTO rotation_history (campaign_id, endpoint, time, from_state, to_state, note) VALUES (?, ?, ?, ?, ?, ?)'),
      historyOf: db.prepare('SELECT * FROM rotation_history WHERE campaign_id = ? AND endpoint = ? ORDER BY id'),
      deviceHistory: db.prepare('SELECT * FROM rotation_history WHERE endpoint = ? ORDER BY id DESC LIMIT ?'),
    };
  }

  /**
   * Creates a campaign over the target's PSK endpoints and starts it. Endpoints already in a running campaign are
   * left to that campaign (not included). Throws RotationError for an unknown group or an empty target.
   */
  start(target: RotationTarget, o: { concurrency?: number; maxAttempts?: number; actor?: string } = {}): CampaignSummary {
    const endpoints = this.targetEndpoints(target);
    const concurrency = o.concurrency ?? this.opts.concurrency ?? 16;
    const maxAttempts = o.maxAttempts ?? this.opts.maxAttempts ?? 5;
    if (!(concurrency >= 1 && maxAttempts >= 1)) throw new RotationError('INVALID', 'concurrency and maxAttempts must be at least 1');
    const now = this.now();
    const id = this.db.transaction(() => {
      const free = endpoints.filter((ep) => this.stmt.busy.get(ep) === undefined);
      if (free.length === 0) throw new RotationError('NO_DEVICES', 'no device to rotate (none with a PSK, raw public key or certificate credential, or all in a running campaign)');
      const cid = Number(this.stmt.insertCampaign.run(JSON.stringify(target), 'running', o.actor ?? 'operator', concurrency, maxAttempts, now, now).lastInsertRowid);
      for (const ep of free) this.stmt.insertDevice.run(cid, ep, now);
      return cid;
    })();
    const summary = this.summary(id)!;
    this.emit('started', summary);
    this.launch(id);
    return summary;
  }

  /** Restarts every campaign the database holds as running (call once after opening it). Returns their ids. */
  resume(): number[] {
    const ids = (this.stmt.runningCampaigns.all() as { id: number }[]).map((r) => r.id);
    for (const id of ids) this.launch(id);
    return ids;
  }

  /** Resolves when the campaign has finished (every device done or failed). */
  async wait(id: number): Promise<CampaignSummary> {
    const p = this.running.get(id);
    if (p) return p;
    const s = this.summary(id);
    if (!s) throw new RotationError('NOT_FOUND', `no rotation campaign ${id}`);
    return s;
  }

  summary(id: number): CampaignSummary | undefined {
    const row = this.stmt.campaign.get(id) as CampaignRow | undefined;
    return row && this.toSummary(row);
  }

  /** The summary with the campaign's devices (`page`: some of them), and how many devices `page` matches. */
  status(id: number, page: DevicePage = {}): CampaignStatus | undefined {
    const s = this.summary(id);
    if (!s) return undefined;
    const { rows, total } = campaignDevicePage<DeviceRow>(this.db, 'rotation_device', id, page);
    return { ...s, devices: rows.map(toDevice), devicesTotal: total };
  }

  list(limit = 50): CampaignSummary[] {
    return (this.stmt.campaigns.all(limit) as CampaignRow[]).map((r) => this.toSummary(r));
  }

  /** One device of a campaign. */
  deviceStatus(id: number, endpoint: string): DeviceRotation | undefined {
    const row = this.stmt.device.get(id, endpoint) as DeviceRow | undefined;
    return row && toDevice(row);
  }

  /** A device's state transitions in a campaign, oldest first. */
  history(id: number, endpoint: string): HistoryEntry[] {
    return (this.stmt.historyOf.all(id, endpoint) as HistoryRow[]).map(historyEntry);
  }

  /** A device's transitions in every campaign, newest first. */
  deviceHistory(endpoint: string, limit = 100): (HistoryEntry & { campaignId: number })[] {
    return (this.stmt.deviceHistory.all(endpoint, limit) as HistoryRow[]).map((r) => ({ campaignId: r.campaign_id, ...historyEntry(r) }));
  }

  /** Stops every worker where it stands (state stays in the database for `resume`). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.abort.abort(new Stopped('rotation manager closed'));
    for (const t of this.timers) (clearTimeout(t.timer), t.wake());
    this.timers.clear();
    await Promise.allSettled([...this.running.values()]);
  }

  private targetEndpoints(target: RotationTarget): string[] {
    const certificates = this.opts.certificates;
    const rotatable = (ep: string) => {
      const mode = this.opts.security.get(ep, { withKey: false })?.mode;
      return mode === 'psk' || mode === 'rpk' || certificates?.has(ep) === true;
    };
    if ('endpoint' in target) {
      if (!rotatable(target.endpoint)) throw new RotationError('NO_DEVICES', `${target.endpoint} has no PSK, raw public key or certificate credential`);
      return [target.endpoint];
    }
    if ('endpoints' in target) return [...new Set(target.endpoints)].filter(rotatable);
    if ('group' in target) {
      const members = this.opts.resolveGroup?.(target.group);
      if (!members) throw new RotationError('UNKNOWN_GROUP', `no group ${target.group}`);
      return members.filter(rotatable);
    }
    const held = this.opts.security.list().filter((i) => i.mode === 'psk' || i.mode === 'rpk').map((i) => i.endpoint);
    return certificates ? [...new Set([...held, ...certificates.endpoints()])] : held;
  }

  private toSummary(r: CampaignRow): CampaignSummary {
    const counts: Record<DeviceRotationState, number> = { queued: 0, prepared: 0, delivered: 0, done: 0, failed: 0 };
    for (const c of this.stmt.counts.all(r.id) as { state: DeviceRotationState; n: number }[]) counts[c.state] = c.n;
    return {
      id: r.id, target: JSON.parse(r.target) as RotationTarget, state: r.state, actor: r.actor, createdAt: r.created_at,
      updatedAt: r.updated_at, concurrency: r.concurrency, maxAttempts: r.max_attempts, counts,
    };
  }

  private launch(id: number): void {
    if (this.closed || this.running.has(id)) return;
    const p = this.run(id).finally(() => this.running.delete(id));
    p.catch(() => {});
    this.running.set(id, p);
  }

  private async run(id: number): Promise<CampaignSummary> {
    const campaign = this.stmt.campaign.get(id) as CampaignRow;
    const queue = (this.stmt.devices.all(id) as DeviceRow[]).filter((d) => !isTerminalRotationState(d.state));
    const worker = async (): Promise<void> => {
      for (;;) {
        if (this.closed) return;
        const d = queue.shift();
        if (!d) return;
        await this.device(campaign, d);
      }
    };
    await Promise.all(Array.from({ length: Math.min(campaign.concurrency, Math.max(queue.length, 1)) }, worker));
    if (!this.closed) {
      this.stmt.finishCampaign.run(this.now(), id);
      const s = this.summary(id)!;
      this.emit('finished', s);
      return s;
    }
    return this.summary(id)!;
  }

  /** Drives one device to done or failed. */
  private async device(c: CampaignRow, d: DeviceRow): Promise<void> {
    const signal = this.abort.signal;
    try {
      while (!isTerminalRotationState(d.state)) {
        if (this.closed) return;
        if (d.next_at > this.now()) await this.sleep(d.next_at - this.now());
        if (this.closed) return;
        d = await this.step(c, d, signal);
      }
    } catch (err) {
      if (err instanceof Stopped || this.closed) return;
      throw err;
    }
  }

  private async step(c: CampaignRow, d: DeviceRow, signal: AbortSignal): Promise<DeviceRow> {
    const ep = d.endpoint;
    switch (d.state) {
      case 'queued': {
        const current = this.opts.security.get(ep, { withKey: false });
        if (current?.mode === 'rpk' && current.rpkPublicKey) {
          return this.move(c, d, 'prepared', { identity: `${RAW_PUBLIC_KEY_REPLACING}${fingerprint(current.rpkPublicKey)}`, note: 'raw public key device: a new key comes with the next bootstrap' });
        }
        if (current?.mode !== 'psk') {
          if (this.opts.certificates?.has(ep)) return this.move(c, d, 'prepared', { identity: `${CERTIFICATE_ISSUED_FROM}${this.now()}`, note: 'certificate device: a new certificate comes with the next bootstrap' });
          return this.move(c, d, 'failed', { error: 'no credential to rotate any more' });
        }
        const existing = this.opts.security.getPending(ep);
        // A pending PSK left by an earlier campaign may already be on the device: keep delivering that one.
        const identity = existing?.pskIdentity ?? rotationIdentity(ep, c.id);
        return this.db.transaction(() => {
          if (!existing) {
            const key = this.random(32);
            this.opts.security.setPending(ep, identity, key);
            key.fill(0);
          }
          return this.move(c, d, 'prepared', { identity, note: existing ? 'reusing pending credential' : 'new credential pending' });
        })();
      }
      case 'prepared':
      case 'delivered': {
        const identity = d.new_identity!;
        const psk = !identity.startsWith(CERTIFICATE_ISSUED_FROM) && !identity.startsWith(RAW_PUBLIC_KEY_REPLACING);
        if (psk && this.opts.security.getPending(ep) === undefined) {
          // Promoted already (e.g. by another campaign), or revoked meanwhile.
          const cur = this.opts.security.get(ep, { withKey: false });
          return cur?.pskIdentity === identity ? this.move(c, d, 'done', { note: 'already current' }) : this.move(c, d, 'failed', { error: 'pending credential gone' });
        }
        if (d.state === 'prepared') {
          // A device that already registered with the new PSK (e.g. before a crash) needs no delivery.
          if (await this.opts.driver.proven(ep, identity, 0, signal)) return this.promote(c, d);
          try {
            await this.opts.driver.deliver(ep, signal);
          } catch (err) {
            if (signal.aborted) throw new Stopped();
            return this.retry(c, d, `delivery failed: ${(err as Error).message}`);
          }
          return this.move(c, d, 'delivered', { attempts: d.attempts + 1 });
        }
        const ok = await this.opts.driver.proven(ep, identity, this.opts.proofTimeout ?? 120_000, signal);
        if (signal.aborted) throw new Stopped();
        return ok ? this.promote(c, d) : this.retry(c, d, 'device did not register with the new credential');
      }
      default:
        return d;
    }
  }

  private promote(c: CampaignRow, d: DeviceRow): DeviceRow {
    const identity = d.new_identity!;
    if (identity.startsWith(RAW_PUBLIC_KEY_REPLACING)) {
      // Proven means the DM server saw the new key, which promoted it: the old one is gone on both sides.
      this.opts.audit?.record({ endpoint: d.endpoint, kind: 'rotated', actor: `rotation:${c.id}`, detail: { campaign: c.id, by: c.actor } });
      return this.move(c, d, 'done', { note: 'old key replaced' });
    }
    if (identity.startsWith(CERTIFICATE_ISSUED_FROM)) {
      // The device authenticated with a newer certificate: the older ones go into the CRL.
      const revoked = this.opts.certificates?.revokeIssuedBefore(d.endpoint, Number(identity.slice(CERTIFICATE_ISSUED_FROM.length))) ?? [];
      this.opts.audit?.record({ endpoint: d.endpoint, kind: 'rotated', actor: `rotation:${c.id}`, detail: { campaign: c.id, by: c.actor, revoked: revoked.length } });
      for (const serial of revoked) this.opts.audit?.record({ endpoint: d.endpoint, kind: 'revoked', actor: `rotation:${c.id}`, detail: { serial } });
      return this.move(c, d, 'done', { note: `${revoked.length} older certificate(s) revoked` });
    }
    return this.db.transaction(() => {
      const info = this.opts.security.promotePending(d.endpoint);
      if (!info) return this.move(c, d, 'failed', { error: 'pending credential gone' });
      this.opts.audit?.record({ endpoint: d.endpoint, kind: 'rotated', actor: `rotation:${c.id}`, detail: { identity: info.pskIdentity!, campaign: c.id, by: c.actor } });
      return this.move(c, d, 'done', { note: 'old credential deleted' });
    })();
  }

  private retry(c: CampaignRow, d: DeviceRow, error: string): DeviceRow {
    const attempts = d.state === 'prepared' ? d.attempts + 1 : d.attempts;
    if (attempts >= c.max_attempts) return this.move(c, d, 'failed', { attempts, error: `${error}; both credentials stay accepted` });
    const delay = Math.min(this.opts.maxRetryDelay ?? 900_000, (this.opts.retryDelay ?? 5000) * 2 ** Math.max(0, attempts - 1));
    return this.move(c, d, 'prepared', { attempts, error, nextAt: this.now() + delay });
  }

  private move(
    c: CampaignRow,
    d: DeviceRow,
    to: DeviceRotationState,
    o: { attempts?: number; identity?: string; error?: string; note?: string; nextAt?: number } = {},
  ): DeviceRow {
    checkTransition(d.state, to);
    const now = this.now();
    const next: DeviceRow = {
      ...d,
      state: to,
      attempts: o.attempts ?? d.attempts,
      next_at: o.nextAt ?? 0,
      new_identity: o.identity ?? d.new_identity,
      last_error: o.error ?? (to === 'done' ? null : d.last_error),
      updated_at: now,
    };
    this.stmt.update.run(next.state, next.attempts, next.next_at, next.new_identity, next.last_error, now, c.id, d.endpoint);
    this.stmt.history.run(c.id, d.endpoint, now, d.state, to, o.error ?? o.note ?? null);
    this.stmt.touchCampaign.run(now, c.id);
    this.emit('device', { campaignId: c.id, ...toDevice(next) });
    return next;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const entry = { timer: setTimeout(() => (this.timers.delete(entry), resolve()), ms), wake: resolve };
      this.timers.add(entry);
    });
  }
}

function toDevice(r: DeviceRow): DeviceRotation {
  return { endpoint: r.endpoint, state: r.state, attempts: r.attempts, newIdentity: r.new_identity, lastError: r.last_error, updatedAt: r.updated_at };
}
