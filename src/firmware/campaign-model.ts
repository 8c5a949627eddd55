/**
 * The firmware campaign model (see campaign.ts for the manager that runs it): targets, settings, the per-device state
 * machine of Object 5 (Core Appendix E.6), wave planning and the pause decisions, and their validation. Pure: no I/O.
 */
import type { FirmwarePackage } from './repository.js';

/** A package as the campaign needs it (the repository's record). */
export type CampaignPackageInfo = Pick<FirmwarePackage, 'id' | 'vendor' | 'class' | 'version' | 'sequence' | 'kind' | 'baseDigest' | 'imageDigest' | 'packageSize'>;

/** The package repository as campaigns see it. */
export interface CampaignPackages {
  get(id: string): CampaignPackageInfo | undefined | Promise<CampaignPackageInfo | undefined>;
  /** The URI devices pull the package from, for a scheme (`coap`, `coaps`, `http`, `https`). */
  uri(id: string, scheme: string): string;
  /** The package bytes, for push delivery (written into /5/0/0 block-wise). */
  content?(id: string): Promise<Uint8Array>;
}

/**
 * Which registered devices a campaign targets. `group`: a device group (the bootstrap server's groups, resolved by the
 * host). `filter`: over registered endpoints; every given field must match: `endpoint` a glob (`*`, `?`) on the
 * endpoint name, `version` the current firmware version (/3/0/3, read at start), `attributes` registration
 * attributes (`lwm2m`, `b`, `lt`, `queue`: "true"|"false", `secure`: "true"|"false").
 */
export type CampaignTarget = { group: string } | { filter: TargetFilter };
export interface TargetFilter {
  endpoint?: string;
  version?: string;
  attributes?: Record<string, string>;
}

export type DeviceFirmwareState =
  | 'queued' | 'delivering' | 'downloading' | 'downloaded' | 'updating' | 'verifying' | 'succeeded' | 'failed' | 'cancelled';
export type FirmwareCampaignState = 'created' | 'running' | 'paused' | 'finished' | 'cancelled';
export const DEVICE_FIRMWARE_STATES: readonly DeviceFirmwareState[] = [
  'queued', 'delivering', 'downloading', 'downloaded', 'updating', 'verifying', 'succeeded', 'failed', 'cancelled',
];

/** Campaign settings; shares are fractions in [0, 1]. */
export interface CampaignSettings {
  /** Share of the targets in the canary wave (0: no canary). */
  canary: number;
  /** Cumulative shares of the waves after the canary, ascending, the last 1. */
  waves: number[];
  maxConcurrent: number;
  /** A wave's success rate needed to start the next one. */
  successThreshold: number;
  /** Error rate (failed / finished) above which the campaign pauses itself. */
  errorThreshold: number;
  /** Finished devices needed before the error threshold applies. */
  minSample: number;
  delivery: 'pull' | 'push';
  /** URI scheme of pull delivery. */
  scheme: string;
  /** Attempts per device for transient errors. */
  maxAttempts: number;
}

export const DEFAULT_CAMPAIGN_SETTINGS: Readonly<CampaignSettings> = {
  canary: 0.05, waves: [0.25, 0.5, 1], maxConcurrent: 50, successThreshold: 0.95, errorThreshold: 0.05, minSample: 5,
  delivery: 'pull', scheme: 'coap', maxAttempts: 3,
};

export interface CampaignDeviceStatus {
  endpoint: string;
  wave: number;
  state: DeviceFirmwareState;
  attempts: number;
  /** Last Update Result (/5/0/5) read. */
  updateResult: number | null;
  lastError: string | null;
  updatedAt: number;
}

export interface FirmwareCampaignSummary {
  id: number;
  packageId: string;
  packageVersion: string;
  target: CampaignTarget;
  settings: CampaignSettings;
  state: FirmwareCampaignState;
  /** Index of the wave now allowed to run (0 = canary when there is one). */
  currentWave: number;
  /** Devices per wave (cumulative plan applied to the snapshot). */
  waveSizes: number[];
  pauseReason: string | null;
  actor: string;
  createdAt: number;
  startedAt: number | null;
  updatedAt: number;
  total: number;
  counts: Record<DeviceFirmwareState, number>;
}

export interface FirmwareCampaignStatus extends FirmwareCampaignSummary {
  devices: CampaignDeviceStatus[];
  /** How many devices the request's page matched in all. */
  devicesTotal: number;
}

/** One campaign that included a device, and where the device stands in it. */
export interface DeviceCampaignRecord extends CampaignDeviceStatus {
  campaignId: number;
  packageId: string;
  packageVersion: string;
  campaignState: FirmwareCampaignState;
}

export interface CampaignHistoryEntry {
  endpoint: string;
  time: number;
  from: DeviceFirmwareState;
  to: DeviceFirmwareState;
  detail: string | null;
}

/** Object 5 as read from a device. */
export interface FirmwareReading {
  /** /5/0/3. */
  state: number;
  /** /5/0/5. */
  result: number;
}

/** A device step that could not be carried out; `transient` ones (timeout, offline) are retried. */
export class DeviceStepError extends Error {
  constructor(
    message: string,
    readonly transient: boolean,
  ) {
    super(message);
    this.name = 'DeviceStepError';
  }
}

/** How a campaign reaches devices: `lwm2mCampaignDriver` over the LwM2M server; tests may simulate it. */
export interface CampaignDriver {
  /** Endpoints registered now, with the attributes a filter matches. */
  registered(): { endpoint: string; attributes: Record<string, string> }[];
  /** /3/0/3 of the device. */
  firmwareVersion(endpoint: string, signal: AbortSignal): Promise<string>;
  /** /5/0/3 and /5/0/5. */
  status(endpoint: string, signal: AbortSignal): Promise<FirmwareReading>;
  /** Writes the Package URI (pull) or the Package (push). */
  deliver(endpoint: string, delivery: { uri: string } | { data: Uint8Array }, signal: AbortSignal): Promise<void>;
  /** Writes an empty Package URI: back to Idle (Core E.6). */
  reset(endpoint: string, signal: AbortSignal): Promise<void>;
  /** Executes Update (/5/0/2). */
  update(endpoint: string, signal: AbortSignal): Promise<void>;
  /**
   * Resolves with the reading once `done` holds (observing /5/0/3 and /5/0/5, polling as a fallback, re-reading when the
   * device registers or wakes), or when the device registered anew after `since` (ms) (`reregistered` true).
   * Rejects DeviceStepError(transient) after `timeoutMs`.
   */
  waitFor(endpoint: string, done: (r: FirmwareReading) => boolean, o: { timeoutMs: number; since?: number }, signal: AbortSignal): Promise<FirmwareReading & { reregistered: boolean }>;
}

/** Campaign problems a caller can act on. */
export class CampaignError extends Error {
  constructor(
    readonly code: 'NOT_FOUND' | 'INVALID' | 'UNKNOWN_GROUP' | 'UNKNOWN_PACKAGE' | 'NO_DEVICES' | 'WRONG_STATE',
    message: string,
  ) {
    super(message);
    this.name = 'CampaignError';
  }
}

const TRANSITIONS: Readonly<Record<DeviceFirmwareState, readonly DeviceFirmwareState[]>> = {
  queued: ['delivering', 'failed', 'cancelled'],
  // A device found further on when re-checked after a restart skips ahead.
  delivering: ['downloading', 'downloaded', 'updating', 'queued', 'failed', 'cancelled'],
  downloading: ['downloaded', 'queued', 'failed', 'cancelled'],
  downloaded: ['updating', 'failed', 'cancelled'],
  // Back to the queue when the device lost the package before installing it (rebooted, reset).
  updating: ['verifying', 'updating', 'queued', 'failed', 'cancelled'],
  // A device that restarted (power loss) before the install took effect: install again, or deliver again.
  verifying: ['succeeded', 'verifying', 'updating', 'queued', 'failed', 'cancelled'],
  succeeded: [],
  failed: [],
  cancelled: [],
};

/** Throws CampaignError('INVALID') for a transition the device state machine does not allow. */
export function checkFirmwareTransition(from: DeviceFirmwareState, to: DeviceFirmwareState): void {
  if (!TRANSITIONS[from].includes(to)) throw new CampaignError('INVALID', `campaign device: ${from} -> ${to} is not allowed`);
}

export function isTerminalDeviceState(s: DeviceFirmwareState): boolean {
  return s === 'succeeded' || s === 'failed' || s === 'cancelled';
}

/** Update Result names (Core Appendix E.6, resource 5). */
export const UPDATE_RESULT_NAMES: Readonly<Record<number, string>> = {
  0: 'Initial', 1: 'Success', 2: 'Not enough flash', 3: 'Out of RAM', 4: 'Connection lost', 5: 'Integrity check failure',
  6: 'Unsupported package type', 7: 'Invalid URI', 8: 'Update failed', 9: 'Unsupported protocol',
};
/** "Update Result 8 (…)" for messages. */
export const resultText = (r: number) => `Update Result ${r} (${UPDATE_RESULT_NAMES[r] ?? 'unknown'})`;

/**
 * Parses a share: `5%`, `5` (percent) or a number of percent; returns a fraction in [0, 1]. Throws CampaignError.
 */
export function parseShare(v: unknown, name: string): number {
  const text = typeof v === 'number' ? String(v) : typeof v === 'string' ? v.trim().replace(/%$/, '') : '';
  if (!/^\d+(\.\d+)?$/.test(text) || Number(text) > 100) throw new CampaignError('INVALID', `${name} must be a percentage from 0 to 100, e.g. 5%`);
  return Number(text) / 100;
}

/**
 * Devices per wave for `total` targets: the canary (at least one device when its share is above 0), then each wave up to
 * its cumulative share (rounded up); empty waves are dropped and the last wave takes the rest.
 */
export function planWaves(total: number, canary: number, waves: readonly number[]): number[] {
  const ends: number[] = [];
  let prev = 0;
  const push = (end: number) => {
    const e = Math.min(total, Math.max(prev, end));
    if (e > prev) ends.push(e);
    prev = e;
  };
  if (canary > 0) push(Math.max(1, Math.ceil(canary * total - 1e-9)));
  for (const w of waves) push(Math.ceil(w * total - 1e-9));
  push(total);
  return ends.map((e, i) => e - (i === 0 ? 0 : ends[i - 1]!));
}

export interface WaveTally {
  size: number;
  succeeded: number;
  failed: number;
}

export type CampaignDecision =
  | { action: 'continue' }
  | { action: 'advance'; wave: number }
  | { action: 'pause'; reason: string }
  | { action: 'finish' };

const pct = (x: number) => `${Math.round(x * 1000) / 10}%`;

/**
 * What a running campaign does next, from the per-wave tallies: pause at the error threshold (failed / finished since
 * `base`, once `minSample` finished), finish after the last wave, start the next wave when the current one finished
 * with a success rate at least the threshold (or the operator approved it), pause otherwise.
 */
export function evaluateCampaign(input: {
  waves: readonly WaveTally[];
  currentWave: number;
  approvedWave: number;
  base: { failed: number; finished: number };
  settings: Pick<CampaignSettings, 'successThreshold' | 'errorThreshold' | 'minSample'>;
}): CampaignDecision {
  const { waves, currentWave, settings } = input;
  let failed = 0;
  let finished = 0;
  for (const w of waves) {
    failed += w.failed;
    finished += w.succeeded + w.failed;
  }
  const f = failed - input.base.failed;
  const n = finished - input.base.finished;
  if (n > 0 && n >= settings.minSample && f / n > settings.errorThreshold) {
    return { action: 'pause', reason: `error rate ${pct(f / n)} (${f} failed of ${n} finished) is above the error threshold ${pct(settings.errorThreshold)}` };
  }
  const w = waves[currentWave];
  if (!w) return { action: 'finish' };
  if (w.succeeded + w.failed < w.size) return { action: 'continue' };
  if (currentWave === waves.length - 1) return { action: 'finish' };
  const rate = w.size === 0 ? 1 : w.succeeded / w.size;
  if (rate >= settings.successThreshold || input.approvedWave > currentWave) return { action: 'advance', wave: currentWave + 1 };
  return { action: 'pause', reason: `wave ${currentWave + 1} succeeded on ${pct(rate)} of its devices (${w.succeeded} of ${w.size}), below the success threshold ${pct(settings.successThreshold)}` };
}

/** Whether `name` matches a glob with `*` (any run) and `?` (one character). */
export function globMatch(glob: string, name: string): boolean {
  const re = new RegExp('^' + glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$');
  return re.test(name);
}

/** Checks settings; throws CampaignError('INVALID') naming the problem. */
export function validateSettings(s: CampaignSettings): CampaignSettings {
  const share = (v: number, name: string) => {
    if (!(typeof v === 'number' && v >= 0 && v <= 1)) throw new CampaignError('INVALID', `${name} must be between 0% and 100%`);
  };
  share(s.canary, 'canary');
  share(s.successThreshold, 'success threshold');
  share(s.errorThreshold, 'error threshold');
  if (!Array.isArray(s.waves)) throw new CampaignError('INVALID', 'waves must be a list of percentages');
  s.waves.forEach((w, i) => {
    share(w, 'a wave');
    if (i > 0 && w <= s.waves[i - 1]!) throw new CampaignError('INVALID', 'waves must be ascending cumulative percentages, e.g. 25%,50%,100%');
  });
  const waves = s.waves.length === 0 || s.waves[s.waves.length - 1]! < 1 ? [...s.waves, 1] : s.waves;
  for (const [k, min] of [['maxConcurrent', 1], ['minSample', 1], ['maxAttempts', 1]] as const) {
    if (!(Number.isInteger(s[k]) && s[k] >= min && s[k] <= 1_000_000)) throw new CampaignError('INVALID', `${k} must be an integer of at least ${min}`);
  }
  if (s.delivery !== 'pull' && s.delivery !== 'push') throw new CampaignError('INVALID', 'delivery is pull or push');
  if (!/^[a-z][a-z0-9+.-]*$/.test(s.scheme)) throw new CampaignError('INVALID', `bad URI scheme ${s.scheme}`);
  return { ...s, waves };
}

/** Checks a target; throws CampaignError('INVALID') naming the problem. */
export function validateTarget(t: CampaignTarget): void {
  if ('group' in t) {
    if (typeof t.group !== 'string' || t.group === '') throw new CampaignError('INVALID', 'group must be a non-empty string');
    return;
  }
  const f = t.filter;
  if (typeof f !== 'object' || f === null) throw new CampaignError('INVALID', 'filter must be an object');
  if (f.endpoint !== undefined && typeof f.endpoint !== 'string') throw new CampaignError('INVALID', 'filter.endpoint must be a glob string');
  if (f.version !== undefined && typeof f.version !== 'string') throw new CampaignError('INVALID', 'filter.version must be a string');
  if (f.attributes !== undefined && (typeof f.attributes !== 'object' || f.attributes === null || Object.values(f.attributes).some((v) => typeof v !== 'string'))) {
    throw new CampaignError('INVALID', 'filter.attributes must map names to strings');
  }
}
