/** Query-string parameters of the API, validated (bad values throw ApiError 400). */
import { Lwm2mPath, formatByName } from '../lwm2m/index.js';
import { ApiError } from './api-error.js';

/** Fastify's parsed query: repeated keys become arrays. */
export type Query = Record<string, string | string[] | undefined>;

/** The first value of `name`, if present. */
export function param(q: Query, name: string): string | undefined {
  const v = q[name];
  return Array.isArray(v) ? v[0] : v;
}

/** `?<name>=TLV|SENML_JSON|...` (case-insensitive) to a Content-Format number; undefined if absent. */
export function formatParam(q: Query, name = 'format'): number | undefined {
  const v = param(q, name);
  if (v === undefined || v === '') return undefined;
  const f = formatByName(v);
  if (f === undefined) throw new ApiError(400, `unknown ${name} "${v}" (one of TLV, SENML_JSON, SENML_CBOR, LWM2M_CBOR, TEXT, OPAQUE, JSON)`);
  return f;
}

export const DEFAULT_TIMEOUT_S = 5;
export const MAX_TIMEOUT_S = 300;

/** `?timeout=SECONDS`, default 5, at most 300. */
export function timeoutParam(q: Query): number {
  const v = param(q, 'timeout');
  if (v === undefined || v === '') return DEFAULT_TIMEOUT_S;
  const n = Number(v);
  if (!/^\d+(\.\d+)?$/.test(v) || n <= 0 || n > MAX_TIMEOUT_S) {
    throw new ApiError(400, `timeout must be a number of seconds in (0, ${MAX_TIMEOUT_S}], got "${v}"`);
  }
  return n;
}

/** A boolean flag: absent -> `dflt`; present without value, "true" -> true; "false" -> false. */
export function boolParam(q: Query, name: string, dflt: boolean): boolean {
  if (!(name in q)) return dflt;
  const v = param(q, name);
  if (v === undefined || v === '' || v === 'true') return true;
  if (v === 'false') return false;
  throw new ApiError(400, `${name} must be true or false, got "${v}"`);
}

/** A non-negative integer parameter, or `dflt`. */
export function intParam(q: Query, name: string, dflt: number): number {
  const v = param(q, name);
  if (v === undefined || v === '') return dflt;
  if (!/^\d{1,9}$/.test(v)) throw new ApiError(400, `${name} must be a non-negative integer, got "${v}"`);
  return Number(v);
}

/** An LwM2M path from URL text. */
export function parsePath(text: string): Lwm2mPath {
  try {
    return Lwm2mPath.parse(text);
  } catch {
    throw new ApiError(400, `invalid LwM2M path "${text}"`);
  }
}

/** `?paths=/3/0/1,/3/0/2` (also repeated `paths=`). */
export function pathsParam(q: Query): Lwm2mPath[] {
  const raw = q.paths;
  const list = (Array.isArray(raw) ? raw : raw === undefined ? [] : [raw]).flatMap((s) => s.split(','));
  const paths = list.map((s) => s.trim()).filter((s) => s !== '').map(parsePath);
  if (paths.length === 0) throw new ApiError(400, 'paths is required, e.g. ?paths=/3/0/1,/3/0/2');
  return paths;
}

/** Raw `name[=value]` items of the URL's query, percent-decoded, in order (keeps "gt" distinct from "gt="). */
export function rawQueryItems(url: string): string[] {
  const i = url.indexOf('?');
  if (i === -1) return [];
  const out: string[] = [];
  for (const part of url.slice(i + 1).split('&')) {
    if (part === '') continue;
    try {
      out.push(decodeURIComponent(part.replace(/\+/g, ' ')));
    } catch {
      throw new ApiError(400, 'malformed query string');
    }
  }
  return out;
}

/** `since`/`until`: epoch milliseconds or an ISO 8601 date; undefined if absent. */
export function timeParam(q: Query, name: string): number | undefined {
  const v = param(q, name);
  if (v === undefined || v === '') return undefined;
  const n = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
  if (!Number.isFinite(n)) throw new ApiError(400, `${name} must be epoch milliseconds or an ISO 8601 date`);
  return n;
}

/** At most this many campaign devices per answer. */
export const MAX_DEVICE_PAGE = 1000;

/** `?state=&offset=&limit=` of a campaign's device list: `state` one of `states`; limit 1..1000, default 1000. */
export function devicePageParam(q: Query, states: readonly string[]): { state?: string; offset: number; limit: number } {
  const state = param(q, 'state') || undefined;
  if (state !== undefined && !states.includes(state)) throw new ApiError(400, `state must be one of ${states.join(', ')}`);
  const limit = intParam(q, 'limit', MAX_DEVICE_PAGE);
  if (limit < 1 || limit > MAX_DEVICE_PAGE) throw new ApiError(400, `limit must be an integer from 1 to ${MAX_DEVICE_PAGE}`);
  return { ...(state !== undefined ? { state } : {}), offset: intParam(q, 'offset', 0), limit };
}
