/**
 * LwM2M attributes (LwM2M 1.1 Core §5.1.2): notification attributes set by Write-Attributes
 * and the properties a Discover reports, plus the notification decision for Observe (Core §5.1.2, §6.4.2).
 */
import { Lwm2mError, ResponseCode } from './error.js';
import type { Lwm2mPath } from './path.js';

/**
 * A set of attributes. `undefined` (absent) means "not mentioned"; `null` means "clear" in a
 * Write-Attributes request (a Uri-Query item without a value, Core §5.4.4).
 * Times are seconds; gt/lt/st are floats; con/edge are 0|1 (1.2 additions, kept for completeness).
 */
export interface Attributes {
  pmin?: number | null;
  pmax?: number | null;
  gt?: number | null;
  lt?: number | null;
  st?: number | null;
  epmin?: number | null;
  epmax?: number | null;
  /** Dimension (Discover only, read-only). */
  dim?: number | null;
  /** Object version (Discover only, read-only). */
  ver?: string | null;
  con?: number | null;
  hqmax?: number | null;
  edge?: number | null;
}

export type AttributeName = keyof Attributes;

/** All attribute names in the order they are serialized. */
export const ATTRIBUTE_NAMES: readonly AttributeName[] = [
  'pmin',
  'pmax',
  'gt',
  'lt',
  'st',
  'epmin',
  'epmax',
  'dim',
  'ver',
  'con',
  'hqmax',
  'edge',
];

/** Attributes a server may not write (Core §5.1.2: dim and ver are properties, read-only). */
export const READ_ONLY_ATTRIBUTES: readonly AttributeName[] = ['dim', 'ver'];

type Kind = 'uint' | 'float' | 'version' | 'bit';
const KIND: Record<AttributeName, Kind> = {
  pmin: 'uint',
  pmax: 'uint',
  gt: 'float',
  lt: 'float',
  st: 'float',
  epmin: 'uint',
  epmax: 'uint',
  dim: 'uint',
  ver: 'version',
  con: 'bit',
  hqmax: 'uint',
  edge: 'bit',
};

function isAttributeName(name: string): name is AttributeName {
  return Object.prototype.hasOwnProperty.call(KIND, name);
}

function bad(message: string): Lwm2mError {
  return new Lwm2mError(ResponseCode.BadRequest, message);
}

function parseValue(name: AttributeName, raw: string): number | string {
  switch (KIND[name]) {
    case 'uint':
      if (!/^\d{1,10}$/.test(raw)) throw bad(`attribute ${name} must be a non-negative integer, got "${raw}"`);
      return Number(raw);
    case 'bit':
      if (raw !== '0' && raw !== '1') throw bad(`attribute ${name} must be 0 or 1, got "${raw}"`);
      return Number(raw);
    case 'float':
      // Core §5.1.2 gives 1*DIGIT["."1*DIGIT]; a leading "-" is accepted (thresholds like RSSI are negative).
      if (!/^-?\d+(\.\d+)?$/.test(raw)) throw bad(`attribute ${name} must be a number, got "${raw}"`);
      return Number(raw);
    case 'version':
      if (!/^\d+\.\d+$/.test(raw)) throw bad(`attribute ${name} must be a version like 1.1, got "${raw}"`);
      return raw;
  }
}

/**
 * Parses Uri-Query items (`pmin=10`, `gt=20.5`, `pmax`). An item without a value gives `null` (clear).
 * Unknown names, bad numbers and repeated names throw Lwm2mError(4.00). The result is validated.
 */
export function parseAttributes(query: readonly string[]): Attributes {
  const attrs: Attributes = {};
  for (const item of query) {
    const eq = item.indexOf('=');
    const name = eq < 0 ? item : item.slice(0, eq);
    if (!isAttributeName(name)) throw bad(`unknown attribute "${name}"`);
    if (attrs[name] !== undefined) throw bad(`attribute ${name} given twice`);
    if (eq < 0) {
      attrs[name] = null;
    } else {
      (attrs as Record<string, number | string | null>)[name] = parseValue(name, item.slice(eq + 1));
    }
  }
  validateAttributes(attrs);
  return attrs;
}

/**
 * Checks the Core §5.1.2 rules on the values present: lt < gt, lt + 2*st < gt (when all are set),
 * st >= 0, pmax >= pmin and epmax > epmin when both are set. Throws Lwm2mError(4.00).
 */
export function validateAttributes(attrs: Attributes): void {
  for (const name of ATTRIBUTE_NAMES) {
    const v = attrs[name];
    if (v === undefined || v === null) continue;
    const kind = KIND[name];
    if (kind === 'version') {
      if (typeof v !== 'string' || !/^\d+\.\d+$/.test(v)) throw bad(`attribute ${name} must be a version string`);
    } else if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw bad(`attribute ${name} must be a finite number`);
    } else if ((kind === 'uint' || kind === 'bit') && (!Number.isInteger(v) || v < 0)) {
      throw bad(`attribute ${name} must be a non-negative integer`);
    } else if (kind === 'bit' && v > 1) {
      throw bad(`attribute ${name} must be 0 or 1`);
    }
  }
  const { pmin, pmax, gt, lt, st, epmin, epmax } = attrs;
  if (typeof st === 'number' && st < 0) throw bad('attribute st must not be negative');
  if (typeof pmin === 'number' && typeof pmax === 'number' && pmax < pmin) {
    throw bad(`pmax (${pmax}) must not be less than pmin (${pmin})`);
  }
  if (typeof epmin === 'number' && typeof epmax === 'number' && epmax <= epmin) {
    throw bad(`epmax (${epmax}) must be greater than epmin (${epmin})`);
  }
  if (typeof gt === 'number' && typeof lt === 'number') {
    if (lt >= gt) throw bad(`lt (${lt}) must be less than gt (${gt})`);
    if (typeof st === 'number' && lt + 2 * st >= gt) throw bad(`lt + 2*st (${lt + 2 * st}) must be less than gt (${gt})`);
  }
}

/**
 * Checks a Write-Attributes request against its target (Core §5.1.2): dim/ver are read-only;
 * gt/lt/st apply to resources and resource instances only; nothing is set on the root path.
 */
export function checkWritableAttributes(attrs: Attributes, path: Lwm2mPath): void {
  if (path.isRoot()) throw bad('attributes cannot be written on the root path');
  for (const name of READ_ONLY_ATTRIBUTES) {
    if (attrs[name] !== undefined) throw bad(`attribute ${name} is read-only`);
  }
  if (!path.isResource() && !path.isResourceInstance()) {
    for (const name of ['gt', 'lt', 'st'] as const) {
      if (attrs[name] !== undefined) throw bad(`attribute ${name} applies to resources only`);
    }
  }
}

/**
 * A number as Core §5.1.2 writes it, 1*DIGIT ["." 1*DIGIT] with an optional "-": the shortest
 * round-tripping digits (Number#toString) without the exponent it uses below 1e-6 and from 1e21.
 */
function attributeNumber(v: number): string {
  const s = String(v);
  const m = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(s);
  if (!m) return s;
  const sign = m[1]!;
  const digits = m[2]! + (m[3] ?? '');
  const exp = Number(m[4]);
  if (exp < 0) return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`;
  // Number#toString uses an exponent only from 1e21, beyond its 17 significant digits: no point inside.
  return sign + digits + '0'.repeat(exp - (digits.length - 1));
}

function attributeValue(v: number | string): string {
  return typeof v === 'number' ? attributeNumber(v) : v;
}

/** Serializes attributes as Uri-Query items; `null` gives a bare name (clear). */
export function formatAttributes(attrs: Attributes): string[] {
  const out: string[] = [];
  for (const name of ATTRIBUTE_NAMES) {
    const v = attrs[name];
    if (v === undefined) continue;
    out.push(v === null ? name : `${name}=${attributeValue(v)}`);
  }
  return out;
}

/** Attributes as link-format params for Discover (Core §5.4.2): set values only, as strings. */
export function attributesToLinkParams(attrs: Attributes): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of ATTRIBUTE_NAMES) {
    const v = attrs[name];
    if (v !== undefined && v !== null) out[name] = attributeValue(v);
  }
  return out;
}

/**
 * Applies a Write-Attributes request to the stored set: given values replace, `null` removes,
 * absent names are kept. Returns a new object holding no `null`.
 */
export function applyAttributes(stored: Attributes, update: Attributes): Attributes {
  const out: Attributes = { ...stored };
  for (const name of ATTRIBUTE_NAMES) {
    const v = update[name];
    if (v === undefined) continue;
    if (v === null) delete out[name];
    else (out as Record<string, number | string>)[name] = v;
  }
  return out;
}

/**
 * Effective attributes (Core §5.1.2 inheritance): levels from least to most specific — e.g. the
 * Server object defaults (pmin = 1/x/2, pmax = 1/x/3), object, instance, resource — the most specific
 * level that sets a value wins. `null`/absent at a level means "not set there".
 */
export function mergeAttributes(...levels: readonly (Attributes | undefined)[]): Attributes {
  const out: Attributes = {};
  for (const level of levels) {
    if (!level) continue;
    for (const name of ATTRIBUTE_NAMES) {
      const v = level[name];
      if (v !== undefined && v !== null) (out as Record<string, number | string>)[name] = v;
    }
  }
  return out;
}

/** The notification decision: send now, send once pmin has elapsed, or nothing to send. */
export type NotifyDecision = 'now' | 'wait' | 'never';

function num(v: number | null | undefined): number | undefined {
  return typeof v === 'number' ? v : undefined;
}

/** pmax applies only when greater than pmin (Core §5.1.2: otherwise it is ignored). */
function effectivePmax(attrs: Attributes): number | undefined {
  const pmax = num(attrs.pmax);
  if (pmax === undefined || pmax <= 0) return undefined;
  const pmin = num(attrs.pmin) ?? 0;
  return pmax > pmin ? pmax : undefined;
}

/**
 * Whether a numeric value change is a notification condition (Core §5.1.2): without gt/lt/st any
 * change counts; with them, any one condition suffices — crossing gt, crossing lt (from one side
 * to the other, relative to the last notified value), or moving by at least st.
 */
export function isNotifiableChange(attrs: Attributes, previous: number | undefined, current: number): boolean {
  if (previous === undefined) return true;
  const gt = num(attrs.gt);
  const lt = num(attrs.lt);
  const st = num(attrs.st);
  if (gt === undefined && lt === undefined && st === undefined) return previous !== current;
  if (gt !== undefined && (previous <= gt) !== (current <= gt)) return true;
  if (lt !== undefined && (previous < lt) !== (current < lt)) return true;
  if (st !== undefined && Math.abs(current - previous) >= st) return true;
  return false;
}

/**
 * Decides a notification for a numeric resource. `previous` is the last notified value,
 * `msSinceLast` the time since the last notification (or since the observation started).
 * 'now': send; 'wait': a condition holds but pmin has not elapsed (check again after
 * `nextNotifyDelay`); 'never': nothing to send for this change.
 */
export function shouldNotify(
  attrs: Attributes,
  previous: number | undefined,
  current: number,
  msSinceLast: number,
): NotifyDecision {
  return shouldNotifyChange(attrs, isNotifiableChange(attrs, previous, current), msSinceLast);
}

/** The same decision for any value type, given whether it changed notifiably. */
export function shouldNotifyChange(attrs: Attributes, changed: boolean, msSinceLast: number): NotifyDecision {
  const pminMs = (num(attrs.pmin) ?? 0) * 1000;
  const pmax = effectivePmax(attrs);
  const pmaxDue = pmax !== undefined && msSinceLast >= pmax * 1000;
  if (!changed && !pmaxDue) return 'never';
  return msSinceLast >= pminMs ? 'now' : 'wait';
}

/**
 * Milliseconds until the observation must be looked at again: until pmin elapses when a change is
 * `pending`, else until pmax elapses; undefined when nothing is scheduled.
 */
export function nextNotifyDelay(attrs: Attributes, msSinceLast: number, pending: boolean): number | undefined {
  const pminMs = (num(attrs.pmin) ?? 0) * 1000;
  const pmax = effectivePmax(attrs);
  const candidates: number[] = [];
  if (pending) candidates.push(Math.max(0, pminMs - msSinceLast));
  if (pmax !== undefined) candidates.push(Math.max(0, pmax * 1000 - msSinceLast));
  return candidates.length === 0 ? undefined : Math.min(...candidates);
}
