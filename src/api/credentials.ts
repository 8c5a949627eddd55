/**
 * Credential rotation campaigns and the credential audit log over REST:
 * `POST /api/credentials/rotations` (body `{"all": true} | {"group": G} | {"endpoint": E} | {"endpoints": [E, ...]}`,
 * optional `concurrency`, `maxAttempts`) starts a campaign on behalf of the signed-in principal;
 * `GET /api/credentials/rotations[/:id]` lists campaigns or shows one with each device's state;
 * `GET /api/credentials/rotations/:id/devices/:ep` is one device's state and its transitions;
 * `GET /api/credentials/age?buckets=1d,7d,...` is the histogram of credential age across the fleet;
 * `GET /api/audit?endpoint=&kind=&actor=&since=&until=&limit=&offset=` queries the audit log. No key material in
 * any answer: devices show PSK identities only.
 */
import type { FastifyInstance } from 'fastify';
import { DEVICE_ROTATION_STATES, RotationError, type CampaignStatus, type CampaignSummary, type DeviceRotation, type HistoryEntry, type RotationTarget } from '../bootstrap/index.js';
import { AUDIT_KINDS, type AuditEvent, type AuditKind, type AuditLog, type AuditQuery, type CredentialAgeHistogram } from '../store/index.js';
import { ApiError } from './api-error.js';
import { devicePageParam, type Query } from './params.js';
import type { DevicePage } from '../store/campaign-devices.js';
import { principalOf } from './auth.js';
import type { RotationEvents } from './events.js';

/** What the routes (and the event stream: 'started', 'device', 'finished') need of RotationManager. */
export interface RotationHost extends RotationEvents {
  start(target: RotationTarget, o?: { concurrency?: number; maxAttempts?: number; actor?: string }): CampaignSummary;
  status(id: number, page?: DevicePage): CampaignStatus | undefined;
  list(limit?: number): CampaignSummary[];
  deviceHistory(endpoint: string, limit?: number): (HistoryEntry & { campaignId: number })[];
  deviceStatus(id: number, endpoint: string): DeviceRotation | undefined;
  history(id: number, endpoint: string): HistoryEntry[];
}

/** What GET /api/credentials/age needs of SecurityStore. */
export interface CredentialAgeSource {
  credentialAges(now: number, boundsMs: readonly number[]): CredentialAgeHistogram;
}

export interface CredentialsApiOptions {
  rotation?: RotationHost;
  audit?: AuditLog;
  /** Serves /api/credentials/age when given. */
  ages?: CredentialAgeSource;
  /** Clock of the age histogram (tests). */
  now?: () => number;
}

const UNIT_MS: Readonly<Record<string, number>> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000, y: 31_536_000_000 };

/** Default age buckets: < 1 d, 1–7 d, 7–30 d, 30–90 d, 90–365 d, > 1 y. */
export const DEFAULT_AGE_BUCKETS = '1d,7d,30d,90d,1y';

/** Parses `buckets=1d,7d,30d` (units s, m, h, d, w, y; ascending, at most 20) into bounds in ms; ApiError 400 otherwise. */
export function ageBoundsFromParam(v: string | undefined): number[] {
  const parts = (v === undefined || v.trim() === '' ? DEFAULT_AGE_BUCKETS : v).split(',').map((p) => p.trim());
  if (parts.length > 20) throw new ApiError(400, 'buckets: at most 20 bounds');
  const out: number[] = [];
  for (const p of parts) {
    const m = /^(\d{1,6})([smhdwy])$/.exec(p);
    if (!m || Number(m[1]) === 0) throw new ApiError(400, `buckets: "${p}" is not a duration like 12h, 7d, 1y`);
    const ms = Number(m[1]) * UNIT_MS[m[2]!]!;
    if (out.length > 0 && ms <= out[out.length - 1]!) throw new ApiError(400, 'buckets must be ascending');
    out.push(ms);
  }
  return out;
}

/** A bucket label: "< 1d", "1d–7d", "> 1y". */
function durationText(ms: number): string {
  for (const [u, n] of [['y', UNIT_MS.y!], ['d', UNIT_MS.d!], ['h', UNIT_MS.h!], ['m', UNIT_MS.m!]] as const) if (ms % n === 0) return `${ms / n}${u}`;
  return `${ms / 1000}s`;
}

/** The JSON of GET /api/credentials/age. */
export function credentialAgesToJson(h: CredentialAgeHistogram, now: number) {
  return {
    time: new Date(now).toISOString(),
    total: h.total,
    byMode: h.byMode,
    buckets: h.buckets.map((b) => ({
      label: b.toMs === null ? `> ${durationText(b.fromMs)}` : b.fromMs === 0 ? `< ${durationText(b.toMs)}` : `${durationText(b.fromMs)}–${durationText(b.toMs)}`,
      fromMs: b.fromMs, toMs: b.toMs, count: b.count, byMode: b.byMode,
    })),
  };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parses the body of POST /api/credentials/rotations; throws ApiError 400 naming the problem. */
export function rotationRequestFromJson(body: unknown): { target: RotationTarget; concurrency?: number; maxAttempts?: number } {
  if (!isObject(body)) throw new ApiError(400, 'body must be a JSON object: {"all": true} or {"group": "G"} or {"endpoint": "E"}');
  const chosen = ['all', 'group', 'endpoint', 'endpoints'].filter((k) => body[k] !== undefined);
  if (chosen.length !== 1) throw new ApiError(400, 'give exactly one of "all", "group", "endpoint", "endpoints"');
  let target: RotationTarget;
  if (body.all !== undefined) {
    if (body.all !== true) throw new ApiError(400, '"all" must be true');
    target = { all: true };
  } else if (body.group !== undefined) {
    if (typeof body.group !== 'string' || body.group === '') throw new ApiError(400, '"group" must be a non-empty string');
    target = { group: body.group };
  } else if (body.endpoints !== undefined) {
    const list = body.endpoints;
    if (!Array.isArray(list) || list.length === 0 || list.length > 10_000 || list.some((e) => typeof e !== 'string' || e === '')) {
      throw new ApiError(400, '"endpoints" must be a list of 1 to 10000 non-empty endpoint names');
    }
    target = { endpoints: list as string[] };
  } else {
    if (typeof body.endpoint !== 'string' || body.endpoint === '') throw new ApiError(400, '"endpoint" must be a non-empty string');
    target = { endpoint: body.endpoint };
  }
  const out: { target: RotationTarget; concurrency?: number; maxAttempts?: number } = { target };
  for (const k of ['concurrency', 'maxAttempts'] as const) {
    const v = body[k];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 10_000) throw new ApiError(400, `"${k}" must be an integer from 1 to 10000`);
    out[k] = v;
  }
  return out;
}

/** `since`/`until`: epoch milliseconds or an ISO 8601 date. */
function timeParam(v: string | undefined, name: string): number | undefined {
  if (v === undefined || v === '') return undefined;
  const n = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
  if (!Number.isFinite(n)) throw new ApiError(400, `${name} must be epoch milliseconds or an ISO 8601 date`);
  return n;
}

/** Parses the query of GET /api/audit. */
export function auditQueryFromParams(q: Record<string, string | undefined>): AuditQuery {
  const out: AuditQuery = {};
  if (q.endpoint) out.endpoint = q.endpoint;
  if (q.actor) out.actor = q.actor;
  if (q.kind) {
    if (!AUDIT_KINDS.includes(q.kind as AuditKind)) throw new ApiError(400, `kind must be one of ${AUDIT_KINDS.join(', ')}`);
    out.kind = q.kind as AuditKind;
  }
  const since = timeParam(q.since, 'since');
  if (since !== undefined) out.since = since;
  const until = timeParam(q.until, 'until');
  if (until !== undefined) out.until = until;
  if (q.limit !== undefined) {
    if (!/^\d+$/.test(q.limit) || Number(q.limit) < 1 || Number(q.limit) > 1000) throw new ApiError(400, 'limit must be an integer from 1 to 1000');
    out.limit = Number(q.limit);
  }
  if (q.offset !== undefined && q.offset !== '') {
    if (!/^\d{1,9}$/.test(q.offset)) throw new ApiError(400, 'offset must be a non-negative integer');
    out.offset = Number(q.offset);
  }
  return out;
}

/** An audit event as API JSON (ISO time). */
export function auditJson(e: AuditEvent) {
  return { id: e.id, endpoint: e.endpoint, kind: e.kind, time: new Date(e.time).toISOString(), actor: e.actor, ...(e.detail ? { detail: e.detail } : {}) };
}

export function credentialsRoutes(app: FastifyInstance, opts: CredentialsApiOptions): void {
  const { rotation, audit, ages } = opts;
  if (ages) {
    const now = opts.now ?? Date.now;
    app.get<{ Querystring: { buckets?: string } }>('/api/credentials/age', async (req) => {
      const bounds = ageBoundsFromParam(req.query.buckets);
      const t = now();
      return credentialAgesToJson(ages.credentialAges(t, bounds), t);
    });
  }
  if (rotation) {
    app.post('/api/credentials/rotations', async (req, reply) => {
      const r = rotationRequestFromJson(req.body);
      try {
        // The campaign's actor (and the `by` of its audit events) is who asked: the user of the session or token.
        const s = rotation.start(r.target, { ...r, actor: principalOf(req)?.user ?? 'api' });
        return reply.code(201).header('location', `/api/credentials/rotations/${s.id}`).send(s);
      } catch (err) {
        if (err instanceof RotationError) throw new ApiError(err.code === 'UNKNOWN_GROUP' ? 404 : err.code === 'NO_DEVICES' ? 409 : 400, err.message);
        throw err;
      }
    });
    app.get('/api/credentials/rotations', async () => rotation.list());
    app.get<{ Params: { id: string }; Querystring: Query }>('/api/credentials/rotations/:id', async (req) => {
      if (!/^\d+$/.test(req.params.id)) throw new ApiError(400, 'campaign id must be a number');
      const s = rotation.status(Number(req.params.id), devicePageParam(req.query, DEVICE_ROTATION_STATES));
      if (!s) throw new ApiError(404, `no rotation campaign ${req.params.id}`);
      return s;
    });
    app.get<{ Params: { id: string; ep: string } }>('/api/credentials/rotations/:id/devices/:ep', async (req) => {
      if (!/^\d+$/.test(req.params.id)) throw new ApiError(400, 'campaign id must be a number');
      const id = Number(req.params.id);
      const d = rotation.deviceStatus(id, req.params.ep);
      if (!d) throw new ApiError(404, rotation.summary(id) ? `${req.params.ep} is not in rotation campaign ${id}` : `no rotation campaign ${id}`);
      return { ...d, history: rotation.history(id, req.params.ep) };
    });
  }
  if (audit) {
    app.get<{ Querystring: Record<string, string | undefined> }>('/api/audit', async (req) => audit.query(auditQueryFromParams(req.query)).map(auditJson));
  }
}
