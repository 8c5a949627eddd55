/**
 * Firmware update campaigns (issue 5, "Campaigns"): a package rolled out to a snapshot of devices in waves, persisted
 * in SQLite (tables in store/sqlite.ts) and resumed after a restart.
 *
 * Per device, an explicit state machine (`DeviceFirmwareState`, `checkFirmwareTransition`), following Object 5
 * (Core Appendix E.6):
 *   queued ─▶ delivering (write Package URI /5/0/1, or Package /5/0/0) ─▶ downloading (State /5/0/3 = 1)
 *     ─▶ downloaded (State = 2) ─▶ updating (execute Update /5/0/2) ─▶ verifying (Idle again, or re-registered)
 *     ─▶ succeeded (Update Result /5/0/5 = 1 and /3/0/3 = the package version) | failed (Update Result / reason)
 * A transient error (timeout, device offline, connection lost) sends a delivering/downloading device back to queued
 * (after a delay, `attempts` + 1) and makes updating/verifying retry in place; after `maxAttempts` the device fails.
 * After a restart every device mid-step re-reads its Object 5 state before going on.
 *
 * Waves: the canary (a share of the snapshot), then the cumulative shares of `waves`. A wave starts when the previous
 * one has finished and its success rate is at least `successThreshold`; otherwise the campaign pauses itself with the
 * reason (a resume by the operator approves the next wave). The error rate (failed / finished since the last resume,
 * once `minSample` devices finished) above `errorThreshold` pauses it too. At most `maxConcurrent` devices are in
 * flight (delivering .. verifying) at once, hence at most that many downloading.
 */
import { EventEmitter, setMaxListeners } from 'node:events';
import type Database from 'better-sqlite3';
import { campaignDevicePage, type DevicePage } from '../store/campaign-devices.js';
import {
  type CampaignDeviceStatus, type CampaignDriver, CampaignError, type CampaignHistoryEntry, type DeviceCampaignRecord, type CampaignPackages, type CampaignSettings, type CampaignTarget, DEFAULT_CAMPAIGN_SETTINGS, DEVICE_FIRMWARE_STATES, type DeviceFirmwareState, DeviceStepError, type FirmwareCampaignState, type FirmwareCampaignStatus, type FirmwareCampaignSummary, type FirmwareReading, type WaveTally, checkFirmwareTransition, evaluateCampaign, globMatch, isTerminalDeviceState, planWaves, resultText, validateSettings, validateTarget,
} from './campaign-model.js';

export interface CampaignOptions {
  store: { readonly db: Database.Database };
  packages: CampaignPackages;
  driver: CampaignDriver;
  /** Endpoints of a group; undefined for an unknown group. */
  resolveGroup?: (group: string) => string[] | undefined;
  /** Delay before redelivering after a transient error, ms, doubled per attempt (default 5 000). */
  retryDelay?: number;
  /** Longest wait for a download (default 30 min). */
  downloadTimeout?: number;
  /** Longest wait for an install to finish, including a reboot (default 15 min). */
  updateTimeout?: number;
  now?: () => number;
  /** Uniform [0, 1): the order devices go into waves (a canary drawn at random). */
  random?: () => number;
}

interface CampaignRow {
  id: number;
  package_id: string;
  package_version: string;
  target: string;
  settings: string;
  state: FirmwareCampaignState;
  current_wave: number;
  approved_wave: number;
  error_base_failed: number;
  error_base_finished: number;
  pause_reason: string | null;
  package_uri: string | null;
  actor: string;
  created_at: number;
  started_at: number | null;
  updated_at: number;
}

interface DeviceRow {
  campaign_id: number;
  endpoint: string;
  wave: number;
  state: DeviceFirmwareState;
  attempts: number;
  next_at: number;
  step_at: number;
  update_result: number | null;
  last_error: string | null;
  updated_at: number;
}

class Stopped extends Error {}

interface Live {
  /** Devices being driven now. */
  inflight: Set<string>;
  abort: AbortController;
  wake: (() => void) | undefined;
  loop: Promise<void> | undefined;
  runners: Set<Promise<void>>;
  content?: Promise<Uint8Array>;
}

/**
 * Creates, runs, pauses, resumes, cancels and reports firmware campaigns.
 * Events: 'device' (CampaignDeviceStatus & {campaignId}), 'campaign' (FirmwareCampaignSummary) on every campaign state change.
 */
export class FirmwareCampaignManager extends EventEmitter {
  private readonly db: Database.Database;
  private readonly stmt;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly live = new Map<number, Live>();
  private closed = false;

  constructor(private readonly opts: CampaignOptions) {
    super();
    this.db = opts.store.db;
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? Math.random;
    const db = this.db;
    this.stmt = {
      usesPackage: db.prepare(`SELECT 1 FROM fw_campaign WHERE package_id = ? AND state IN ('created', 'running', 'paused') LIMIT 1`),
      insertCampaign: db.prepare(`INSERT INTO fw_campaign (package_id, package_version, target, settings, state, actor, created_at, updated_at)
        VALUES (?, ?, ?, ?, 'created', ?, ?, ?)`),
      campaign: db.prepare('SELECT * FROM fw_campaign WHERE id = ?'),
      campaigns: db.prepare('SELECT * FROM fw_campaign ORDER BY id DESC LIMIT ?'),
      withState: db.prepare('SELECT id FROM fw_campaign WHERE state = ? ORDER BY id'),
      setState: db.prepare('UPDATE fw_campaign SET state = ?, pause_reason = ?, updated_at = ? WHERE id = ?'),
      start: db.prepare("UPDATE fw_campaign SET state = 'running', package_uri = ?, started_at = ?, updated_at = ? WHERE id = ?"),
      setWave: db.prepare('UPDATE fw_campaign SET current_wave = ?, updated_at = ? WHERE id = ?'),
      approve: db.prepare("UPDATE fw_campaign SET state = 'running', pause_reason = NULL, approved_wave = ?, error_base_failed = ?, error_base_finished = ?, updated_at = ? WHERE id = ?"),
      insertDevice: db.prepare("INSERT INTO fw_campaign_device (campaign_id, endpoint, wave, state, updated_at) VALUES (?, ?, ?, 'queued', ?)"),
      device: db.prepare('SELECT * FROM fw_campaign_device WHERE campaign_id = ? AND endpoint = ?'),
      ready: db.prepare("SELECT * FROM fw_campaign_device WHERE campaign_id = ? AND state = 'queued' AND wave <= ? ORDER BY wave, endpoint"),
      midStep: db.prepare("SELECT * FROM fw_campaign_device WHERE campaign_id = ? AND state NOT IN ('queued', 'succeeded', 'failed', 'cancelled')"),
      counts: db.prepare('SELECT state, COUNT(*) AS n FROM fw_campaign_device WHERE campaign_id = ? GROUP BY state'),
      waveCounts: db.prepare('SELECT wave, state, COUNT(*) AS n FROM fw_campaign_device WHERE campaign_id = ? GROUP BY wave, state'),
      busy: db.prepare(`SELECT d.campaign_id FROM fw_campaign_device d JOIN fw_campaign c ON c.id = d.campaign_id
        WHERE d.endpoint = ? AND c.state IN ('running', 'paused') AND d.state NOT IN ('succeeded', 'failed', 'cancelled') LIMIT 1`),
      update: db.prepare('UPDATE fw_campaign_device SET state = ?, attempts = ?, next_at = ?, step_at = ?, update_result = ?, last_error = ?, updated_at = ? WHERE campaign_id = ? AND endpoint = ?'),
      cancelRest: db.prepare("SELECT * FROM fw_campaign_device WHERE campaign_id = ? AND state NOT IN ('succeeded', 'failed', 'cancelled')"),
      history: db.prepare('INSERT INTO fw_campaign_history (campaign_id, endpoint, time, from_state, to_state, detail) VALUES (?, ?, ?, ?, ?, ?)'),
      historyOf: db.prepare('SELECT * FROM fw_campaign_history WHERE campaign_id = ? AND endpoint = ? ORDER BY id'),
      deviceHistory: db.prepare('SELECT * FROM fw_campaign_history WHERE endpoint = ? ORDER BY id DESC LIMIT ?'),
      deviceCampaigns: db.prepare(`SELECT d.*, c.package_id, c.package_version, c.state AS campaign_state FROM fw_campaign_device d
        JOIN fw_campaign c ON c.id = d.campaign_id WHERE d.endpoint = ? ORDER BY d.campaign_id DESC LIMIT ?`),
    };
  }

  /** Records a campaign (state `created`); `start` snapshots its devices. Throws CampaignError. */
  async create(packageId: string, target: CampaignTarget, settings: Partial<CampaignSettings> = {}, actor = 'operator'): Promise<FirmwareCampaignSummary> {
    const pkg = await this.opts.packages.get(packageId);
    if (!pkg) throw new CampaignError('UNKNOWN_PACKAGE', `no package ${packageId}`);
    const s = validateSettings({ ...DEFAULT_CAMPAIGN_SETTINGS, ...settings });
    if (s.delivery === 'push' && !this.opts.packages.content) throw new CampaignError('INVALID', 'push delivery is not available (the repository gives no package content)');
    validateTarget(target);
    if ('group' in target && !this.opts.resolveGroup?.(target.group)) throw new CampaignError('UNKNOWN_GROUP', `no group ${target.group}`);
    const now = this.now();
    const id = Number(this.stmt.insertCampaign.run(packageId, pkg.version, JSON.stringify(target), JSON.stringify(s), actor, now, now).lastInsertRowid);
    return this.summary(id)!;
  }

  /**
   * Snapshots the target's registered devices (not already in a running or paused campaign) into waves and starts.
   * With a version filter each candidate's /3/0/3 is read; devices that do not answer are left out.
   */
  async start(id: number): Promise<FirmwareCampaignSummary> {
    const c = this.row(id);
    if (c.state !== 'created') throw new CampaignError('WRONG_STATE', `campaign ${id} is ${c.state}: only a created campaign starts`);
    const settings = JSON.parse(c.settings) as CampaignSettings;
    const endpoints = await this.targetEndpoints(JSON.parse(c.target) as CampaignTarget);
    const uri = settings.delivery === 'pull' ? this.opts.packages.uri(c.package_id, settings.scheme) : null;
    const now = this.now();
    this.db.transaction(() => {
      const fresh = this.row(id);
      if (fresh.state !== 'created') throw new CampaignError('WRONG_STATE', `campaign ${id} is ${fresh.state}`);
      const free = endpoints.filter((ep) => this.stmt.busy.get(ep) === undefined);
      if (free.length === 0) throw new CampaignError('NO_DEVICES', 'no registered device matches the target (or all are in a running campaign)');
      // Fisher-Yates: the canary is a random sample of the fleet, not its alphabetical head.
      for (let i = free.length - 1; i > 0; i--) {
        const j = Math.floor(this.random() * (i + 1));
        [free[i], free[j]] = [free[j]!, free[i]!];
      }
      const sizes = planWaves(free.length, settings.canary, settings.waves);
      let k = 0;
      sizes.forEach((size, wave) => {
        for (let n = 0; n < size; n++) this.stmt.insertDevice.run(id, free[k++]!, wave, now);
      });
      this.stmt.start.run(uri, now, now, id);
    })();
    this.changed(id);
    this.launch(id);
    return this.summary(id)!;
  }

  /** Stops starting devices (devices in flight finish their step sequence). */
  pause(id: number, reason = 'paused by the operator'): FirmwareCampaignSummary {
    const c = this.row(id);
    if (c.state !== 'running') throw new CampaignError('WRONG_STATE', `campaign ${id} is ${c.state}: only a running campaign pauses`);
    this.stmt.setState.run('paused', reason, this.now(), id);
    this.changed(id);
    this.live.get(id)?.wake?.();
    return this.summary(id)!;
  }

  /**
   * Resumes a paused campaign: approves the next wave even if the current one missed the success threshold, and counts
   * the error rate afresh from here.
   */
  resumeCampaign(id: number): FirmwareCampaignSummary {
    const c = this.row(id);
    if (c.state !== 'paused') throw new CampaignError('WRONG_STATE', `campaign ${id} is ${c.state}: only a paused campaign resumes`);
    let failed = 0;
    let finished = 0;
    for (const r of this.stmt.counts.all(id) as { state: DeviceFirmwareState; n: number }[]) {
      if (r.state === 'failed') failed += r.n;
      if (r.state === 'failed' || r.state === 'succeeded') finished += r.n;
    }
    this.stmt.approve.run(c.current_wave + 1, failed, finished, this.now(), id);
    this.changed(id);
    this.launch(id);
    return this.summary(id)!;
  }

  /**
   * Cancels: devices not yet installing are reset (empty Package URI, best effort) and marked cancelled, as is every
   * other unfinished device (an install under way completes or reverts on the device by itself).
   */
  async cancel(id: number): Promise<FirmwareCampaignSummary> {
    const c = this.row(id);
    if (c.state === 'finished' || c.state === 'cancelled') throw new CampaignError('WRONG_STATE', `campaign ${id} is already ${c.state}`);
    this.stmt.setState.run('cancelled', 'cancelled by the operator', this.now(), id);
    const live = this.live.get(id);
    if (live) {
      live.abort.abort(new Stopped('cancelled'));
      live.wake?.();
      await Promise.allSettled([...live.runners, live.loop]);
      this.live.delete(id);
    }
    const rest = this.stmt.cancelRest.all(id) as DeviceRow[];
    const signal = AbortSignal.timeout(5000);
    await Promise.allSettled(rest.filter((d) => ['delivering', 'downloading', 'downloaded'].includes(d.state)).map((d) => this.opts.driver.reset(d.endpoint, signal)));
    this.db.transaction(() => {
      for (const d of rest) this.move(c, d, 'cancelled', { detail: 'campaign cancelled' });
    })();
    this.changed(id);
    return this.summary(id)!;
  }

  /** Relaunches campaigns the database holds as running, and devices mid-step in paused ones (call once at start). */
  resume(): number[] {
    const ids = (this.stmt.withState.all('running') as { id: number }[]).map((r) => r.id);
    for (const id of ids) this.launch(id);
    for (const { id } of this.stmt.withState.all('paused') as { id: number }[]) this.launchMidStep(id);
    return ids;
  }

  /** Resolves when the campaign is no longer running (finished, paused, cancelled), or after `timeoutMs`. */
  async wait(id: number, timeoutMs = 60_000): Promise<FirmwareCampaignSummary> {
    const end = this.now() + timeoutMs;
    for (;;) {
      const s = this.summary(id);
      if (!s) throw new CampaignError('NOT_FOUND', `no campaign ${id}`);
      const inflight = this.live.get(id)?.inflight.size ?? 0;
      if ((s.state !== 'running' && inflight === 0) || this.now() > end) return s;
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, 200);
        function done() {
          clearTimeout(t);
          resolve();
        }
        this.once('campaign', done);
        this.once('device', done);
      });
    }
  }

  /** True while a campaign that has not ended rolls out the package (the repository refuses to remove it). */
  usesPackage(packageId: string): boolean {
    return this.stmt.usesPackage.get(packageId) !== undefined;
  }

  summary(id: number): FirmwareCampaignSummary | undefined {
    const row = this.stmt.campaign.get(id) as CampaignRow | undefined;
    return row && this.toSummary(row);
  }

  /** The summary with the campaign's devices (`page`: some of them), and how many devices `page` matches. */
  status(id: number, page: DevicePage = {}): FirmwareCampaignStatus | undefined {
    const s = this.summary(id);
    if (!s) return undefined;
    const { rows, total } = campaignDevicePage<DeviceRow>(this.db, 'fw_campaign_device', id, page);
    return { ...s, devices: rows.map(toDevice), devicesTotal: total };
  }

  list(limit = 50): FirmwareCampaignSummary[] {
    return (this.stmt.campaigns.all(limit) as CampaignRow[]).map((r) => this.toSummary(r));
  }

  /** One device of a campaign with its transitions, oldest first; undefined if it is not in the campaign. */
  device(id: number, endpoint: string): (CampaignDeviceStatus & { history: CampaignHistoryEntry[] }) | undefined {
    const d = this.stmt.device.get(id, endpoint) as DeviceRow | undefined;
    if (!d) return undefined;
    const history = (this.stmt.historyOf.all(id, endpoint) as HistoryRow[]).map(historyEntry);
    return { ...toDevice(d), history };
  }

  /** A device's transitions in every campaign, newest first. */
  deviceHistory(endpoint: string, limit = 100): (CampaignHistoryEntry & { campaignId: number })[] {
    return (this.stmt.deviceHistory.all(endpoint, limit) as HistoryRow[]).map((r) => ({ campaignId: r.campaign_id, ...historyEntry(r) }));
  }

  /** The campaigns that included a device and where it stands in each, newest campaign first. */
  deviceCampaigns(endpoint: string, limit = 100): DeviceCampaignRecord[] {
    return (this.stmt.deviceCampaigns.all(endpoint, limit) as (DeviceRow & { package_id: string; package_version: string; campaign_state: FirmwareCampaignState })[])
      .map((r) => ({ campaignId: r.campaign_id, packageId: r.package_id, packageVersion: r.package_version, campaignState: r.campaign_state, ...toDevice(r) }));
  }

  /** Stops every worker where it stands; the database keeps the state for `resume`. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const all: Promise<unknown>[] = [];
    for (const live of this.live.values()) {
      live.abort.abort(new Stopped('closed'));
      live.wake?.();
      all.push(...live.runners, ...(live.loop ? [live.loop] : []));
    }
    await Promise.allSettled(all);
    this.live.clear();
  }

  private row(id: number): CampaignRow {
    const c = this.stmt.campaign.get(id) as CampaignRow | undefined;
    if (!c) throw new CampaignError('NOT_FOUND', `no campaign ${id}`);
    return c;
  }

  private changed(id: number): void {
    const s = this.summary(id);
    if (s) this.emit('campaign', s);
  }

  private async targetEndpoints(target: CampaignTarget): Promise<string[]> {
    const registered = this.opts.driver.registered();
    if ('group' in target) {
      const members = this.opts.resolveGroup?.(target.group);
      if (!members) throw new CampaignError('UNKNOWN_GROUP', `no group ${target.group}`);
      const set = new Set(members);
      return registered.filter((r) => set.has(r.endpoint)).map((r) => r.endpoint);
    }
    const f = target.filter;
    const matched = registered.filter((r) =>
      (f.endpoint === undefined || globMatch(f.endpoint, r.endpoint)) &&
      Object.entries(f.attributes ?? {}).every(([k, v]) => r.attributes[k] === v)).map((r) => r.endpoint);
    if (f.version === undefined) return matched;
    const signal = AbortSignal.timeout(30_000);
    const versions = await Promise.allSettled(matched.map((ep) => this.opts.driver.firmwareVersion(ep, signal)));
    return matched.filter((_, i) => {
      const v = versions[i]!;
      return v.status === 'fulfilled' && v.value === f.version;
    });
  }

  private toSummary(r: CampaignRow): FirmwareCampaignSummary {
    const counts = Object.fromEntries(DEVICE_FIRMWARE_STATES.map((s) => [s, 0])) as Record<DeviceFirmwareState, number>;
    let total = 0;
    for (const c of this.stmt.counts.all(r.id) as { state: DeviceFirmwareState; n: number }[]) {
      counts[c.state] = c.n;
      total += c.n;
    }
    return {
      id: r.id, packageId: r.package_id, packageVersion: r.package_version, target: JSON.parse(r.target) as CampaignTarget,
      settings: JSON.parse(r.settings) as CampaignSettings, state: r.state, currentWave: r.current_wave,
      waveSizes: this.tallies(r.id).map((w) => w.size), pauseReason: r.pause_reason, actor: r.actor, createdAt: r.created_at,
      startedAt: r.started_at, updatedAt: r.updated_at, total, counts,
    };
  }

  private tallies(id: number): WaveTally[] {
    const waves: WaveTally[] = [];
    for (const r of this.stmt.waveCounts.all(id) as { wave: number; state: DeviceFirmwareState; n: number }[]) {
      const w = (waves[r.wave] ??= { size: 0, succeeded: 0, failed: 0 });
      w.size += r.n;
      if (r.state === 'succeeded') w.succeeded += r.n;
      if (r.state === 'failed') w.failed += r.n;
    }
    for (let i = 0; i < waves.length; i++) waves[i] ??= { size: 0, succeeded: 0, failed: 0 };
    return waves;
  }

  private liveOf(id: number): Live {
    let live = this.live.get(id);
    if (!live) {
      live = { inflight: new Set(), abort: new AbortController(), wake: undefined, loop: undefined, runners: new Set() };
      setMaxListeners(0, live.abort.signal);
      this.live.set(id, live);
    }
    return live;
  }

  private launch(id: number): void {
    if (this.closed) return;
    const live = this.liveOf(id);
    this.launchMidStep(id);
    if (live.loop) {
      live.wake?.();
      return;
    }
    const loop = this.orchestrate(id, live).catch(() => {}).finally(() => {
      if (live.loop === loop) live.loop = undefined;
    });
    live.loop = loop;
  }

  /** Devices that were mid-step when the process stopped: driven on, re-reading Object 5 first. */
  private launchMidStep(id: number): void {
    if (this.closed) return;
    const live = this.liveOf(id);
    for (const d of this.stmt.midStep.all(id) as DeviceRow[]) if (!live.inflight.has(d.endpoint)) this.runDevice(id, live, d, true);
  }

  private async orchestrate(id: number, live: Live): Promise<void> {
    while (!this.closed && !live.abort.signal.aborted) {
      const c = this.row(id);
      if (c.state !== 'running') return;
      const settings = JSON.parse(c.settings) as CampaignSettings;
      const decision = evaluateCampaign({
        waves: this.tallies(id), currentWave: c.current_wave, approvedWave: c.approved_wave,
        base: { failed: c.error_base_failed, finished: c.error_base_finished }, settings,
      });
      if (decision.action === 'pause') {
        this.stmt.setState.run('paused', decision.reason, this.now(), id);
        this.changed(id);
        return;
      }
      if (decision.action === 'finish') {
        if (live.inflight.size > 0) {
          await this.sleepUntilWoken(live, undefined);
          continue;
        }
        this.stmt.setState.run('finished', null, this.now(), id);
        this.changed(id);
        return;
      }
      if (decision.action === 'advance') {
        this.stmt.setWave.run(decision.wave, this.now(), id);
        this.changed(id);
        continue;
      }
      const now = this.now();
      let nextAt: number | undefined;
      for (const d of this.stmt.ready.all(id, c.current_wave) as DeviceRow[]) {
        if (live.inflight.size >= settings.maxConcurrent) break;
        if (live.inflight.has(d.endpoint)) continue;
        if (d.next_at > now) {
          nextAt = Math.min(nextAt ?? Infinity, d.next_at);
          continue;
        }
        this.runDevice(id, live, d, false);
      }
      await this.sleepUntilWoken(live, nextAt === undefined ? undefined : nextAt - now);
    }
  }

  private sleepUntilWoken(live: Live, ms: number | undefined): Promise<void> {
    return new Promise((resolve) => {
      const timer = ms === undefined ? undefined : setTimeout(done, Math.max(1, ms));
      function done() {
        clearTimeout(timer);
        live.wake = undefined;
        resolve();
      }
      live.wake = done;
    });
  }

  private runDevice(id: number, live: Live, d: DeviceRow, recheck: boolean): void {
    live.inflight.add(d.endpoint);
    const p = this.drive(id, live, d, recheck)
      .catch(() => {})
      .finally(() => {
        live.inflight.delete(d.endpoint);
        live.runners.delete(p);
        live.wake?.();
      });
    live.runners.add(p);
  }

  /** Drives one device until it is terminal, back in the queue, or the campaign stops. */
  private async drive(id: number, live: Live, d: DeviceRow, recheck: boolean): Promise<void> {
    const signal = live.abort.signal;
    const c = this.row(id);
    const settings = JSON.parse(c.settings) as CampaignSettings;
    try {
      if (d.state === 'queued') d = this.move(c, d, 'delivering', { attempts: d.attempts + 1 });
      while (!isTerminalDeviceState(d.state) && d.state !== 'queued') {
        if (signal.aborted || this.closed) return;
        if (d.next_at > this.now()) await this.pause_(d.next_at - this.now(), signal);
        try {
          d = await this.step(c, settings, live, d, recheck, signal);
          recheck = false;
        } catch (err) {
          if (signal.aborted || this.closed || err instanceof Stopped) return;
          const message = err instanceof Error ? err.message : String(err);
          d = err instanceof DeviceStepError && !err.transient ? this.move(c, d, 'failed', { error: message }) : this.transient(c, settings, d, message);
          recheck = true;
        }
      }
    } catch (err) {
      if (err instanceof Stopped || signal.aborted || this.closed) return;
      throw err;
    }
  }

  private pause_(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        signal.removeEventListener('abort', done);
        resolve();
      }
      signal.addEventListener('abort', done);
    });
  }

  /** A timeout or an offline device: retry after a delay, or fail once the attempts are used up. */
  private transient(c: CampaignRow, s: CampaignSettings, d: DeviceRow, error: string): DeviceRow {
    const delay = (this.opts.retryDelay ?? 5000) * 2 ** Math.max(0, d.attempts - 1);
    if (d.state === 'delivering' || d.state === 'downloading') {
      if (d.attempts >= s.maxAttempts) return this.move(c, d, 'failed', { error: `${error} (after ${d.attempts} attempts)` });
      return this.move(c, d, 'queued', { error, nextAt: this.now() + delay });
    }
    const attempts = d.attempts + 1;
    if (attempts > s.maxAttempts + 1) return this.move(c, d, 'failed', { attempts, error: `${error} (after ${attempts - 1} retries)` });
    return this.move(c, d, d.state, { attempts, error, nextAt: this.now() + delay, stepAt: d.step_at });
  }

  private async step(c: CampaignRow, s: CampaignSettings, live: Live, d: DeviceRow, recheck: boolean, signal: AbortSignal): Promise<DeviceRow> {
    const driver = this.opts.driver;
    const ep = d.endpoint;
    switch (d.state) {
      case 'delivering': {
        const r = await driver.status(ep, signal);
        if (recheck && r.state === 1) return this.move(c, d, 'downloading', { detail: 're-checked: downloading' });
        if (recheck && r.state === 2) return this.move(c, d, 'downloaded', { detail: 're-checked: downloaded' });
        if (r.state === 3) throw new DeviceStepError('the device is installing another package', true);
        // A package another party left (Downloading/Downloaded) is dropped first: a write outside Idle is refused (E.6).
        if (r.state !== 0) await driver.reset(ep, signal);
        const delivery = s.delivery === 'pull' ? { uri: c.package_uri! } : { data: await this.content(c, live) };
        await driver.deliver(ep, delivery, signal);
        return this.move(c, d, 'downloading', { detail: s.delivery === 'pull' ? `Package URI ${c.package_uri}` : 'Package pushed' });
      }
      case 'downloading': {
        const r = await driver.waitFor(ep, (x) => x.state === 2 || (x.state === 0 && x.result !== 0) || x.state === 3, { timeoutMs: this.opts.downloadTimeout ?? 1_800_000 }, signal);
        if (r.state === 2) return this.move(c, d, 'downloaded', { result: r.result });
        if (r.state === 0 && r.result === 4) throw new DeviceStepError(`download failed: ${resultText(4)}`, true);
        if (r.state === 0) return this.move(c, d, 'failed', { result: r.result, error: `download failed: ${resultText(r.result)}` });
        throw new DeviceStepError(`unexpected firmware state ${r.state} while downloading`, true);
      }
      case 'downloaded':
        return this.move(c, d, 'updating', { stepAt: this.now() });
      case 'updating': {
        let r = await driver.status(ep, signal);
        if (r.state === 2 && r.result === 0) {
          await driver.update(ep, signal);
          r = { state: 3, result: 0 };
        } else if (r.state === 0 && r.result === 0) {
          // The package is gone (the device rebooted before installing, or reset): deliver again.
          const error = 'the device no longer holds the package';
          if (d.attempts >= s.maxAttempts) return this.move(c, d, 'failed', { error: `${error} (after ${d.attempts} attempts)` });
          return this.move(c, d, 'queued', { error, nextAt: this.now() + (this.opts.retryDelay ?? 5000) });
        }
        const done = (x: FirmwareReading) => (x.state === 0 && x.result !== 0) || (x.state === 2 && x.result !== 0);
        if (!done(r)) r = await driver.waitFor(ep, done, { timeoutMs: this.opts.updateTimeout ?? 900_000, since: d.step_at }, signal);
        return this.move(c, d, 'verifying', { result: r.result, stepAt: d.step_at });
      }
      case 'verifying': {
        let r = await driver.status(ep, signal);
        // A device running its new image in test mode stays Updating until it has confirmed the image (registered,
        // health check passed) or rebooted unconfirmed, and its bootloader reverted (Update Result 8).
        if (r.state === 3) r = await driver.waitFor(ep, (x) => x.state !== 3, { timeoutMs: this.opts.updateTimeout ?? 900_000 }, signal);
        const version = await driver.firmwareVersion(ep, signal);
        if (r.result === 1 && version === c.package_version) return this.move(c, d, 'succeeded', { result: 1, detail: `running ${version}` });
        if (r.state === 3) throw new DeviceStepError('still installing', true);
        if (r.result === 0 && (r.state === 0 || r.state === 2)) {
          // No outcome: the device restarted before the install took effect (the bootloader kept the old image).
          const error = r.state === 2 ? 'the device restarted before installing: installing again' : 'the device restarted and lost the package';
          if (d.attempts >= s.maxAttempts) return this.move(c, d, 'failed', { error: `${error} (after ${d.attempts} attempts)` });
          if (r.state === 2) return this.move(c, d, 'updating', { attempts: d.attempts + 1, error, stepAt: this.now() });
          return this.move(c, d, 'queued', { attempts: d.attempts + 1, error, nextAt: this.now() + (this.opts.retryDelay ?? 5000) });
        }
        const why = r.result === 1 ? `the device reports success but runs ${version}, not ${c.package_version}` : `${resultText(r.result)}; running ${version}`;
        return this.move(c, d, 'failed', { result: r.result, error: why });
      }
      default:
        return d;
    }
  }

  private content(c: CampaignRow, live: Live): Promise<Uint8Array> {
    live.content ??= this.opts.packages.content!(c.package_id);
    return live.content;
  }

  private move(
    c: CampaignRow,
    d: DeviceRow,
    to: DeviceFirmwareState,
    o: { attempts?: number; error?: string; detail?: string; nextAt?: number; stepAt?: number; result?: number } = {},
  ): DeviceRow {
    checkFirmwareTransition(d.state, to);
    const now = this.now();
    const next: DeviceRow = {
      ...d,
      state: to,
      attempts: o.attempts ?? d.attempts,
      next_at: o.nextAt ?? 0,
      step_at: o.stepAt ?? 0,
      update_result: o.result ?? d.update_result,
      last_error: o.error ?? (to === 'succeeded' ? null : d.last_error),
      updated_at: now,
    };
    this.stmt.update.run(next.state, next.attempts, next.next_at, next.step_at, next.update_result, next.last_error, now, c.id, d.endpoint);
    this.stmt.history.run(c.id, d.endpoint, now, d.state, to, o.error ?? o.detail ?? null);
    this.emit('device', { campaignId: c.id, ...toDevice(next) });
    return next;
  }
}

interface HistoryRow { campaign_id: number; endpoint: string; time: number; from_state: DeviceFirmwareState; to_state: DeviceFirmwareState; detail: string | null }

function historyEntry(r: HistoryRow): CampaignHistoryEntry {
  return { endpoint: r.endpoint, time: r.time, from: r.from_state, to: r.to_state, detail: r.detail };
}

function toDevice(r: DeviceRow): CampaignDeviceStatus {
  return { endpoint: r.endpoint, wave: r.wave, state: r.state, attempts: r.attempts, updateResult: r.update_result, lastError: r.last_error, updatedAt: r.updated_at };
}
