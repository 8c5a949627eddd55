/**
 * Credential rotation campaigns and the credential audit log over REST:
 * `POST /api/credentials/rotations` (body `{"all": true} | {"group": G} | {"endpoint": E}`, optional `concurrency`,
 * `maxAttempts`) starts a campaign; `GET /api/credentials/rotations[/:id]` lists campaigns or shows one with each
 * device's state; `GET /api/audit?endpoint=&kind=&since=&until=&limit=` queries the audit log. No key material in
 * any answer: devices show PSK identities only.
 */
import type { FastifyInstance } from 'fastify';
import { RotationError, type CampaignStatus, type CampaignSummary, type HistoryEntry, type RotationTarget } from '../bootstrap/index.js';
import { AUDIT_KINDS, type AuditEvent, type AuditKind, type AuditLog, type AuditQuery } from '../store/index.js';
import { ApiError } from './api-error.js';

/** What the routes need of RotationManager. */
export interface RotationHost {
  start(target: RotationTarget, o?: { concurrency?: number; maxAttempts?: number; actor?: string }): CampaignSummary;
  status(id: number): CampaignStatus | undefined;
  list(limit?: number): CampaignSummary[];
  deviceHistory(endpoint: string, limit?: number): (HistoryEntry & { campaignId: number })[];
}

export interface CredentialsApiOptions {
  rotation?: RotationHost;
  audit?: AuditLog;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parses the body of POST /api/credentials/rotations; throws ApiError 400 naming the problem. */
export function rotationRequestFromJson(body: unknown): { target: RotationTarget; concurrency?: number; maxAttempts?: number } {
  if (!isObject(body)) throw new ApiError(400, 'body must be a JSON object: {"all": true} or {"group": "G"} or {"endpoint": "E"}');
  const chosen = ['all', 'group', 'endpoint'].filter((k) => body[k] !== undefined);
  if (chosen.length !== 1) throw new ApiError(400, 'give exactly one of "all", "group", "endpoint"');
  let target: RotationTarget;
  if (body.all !== undefined) {
    if (body.all !== true) throw new ApiError(400, '"all" must be true');
    target = { all: true };
  } else if (body.group !== undefined) {
    if (typeof body.group !== 'string' || body.group === '') throw new ApiError(400, '"group" must be a non-empty string');
    target = { group: body.group };
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
  return out;
}

function auditJson(e: AuditEvent) {
  return { id: e.id, endpoint: e.endpoint, kind: e.kind, time: new Date(e.time).toISOString(), actor: e.actor, ...(e.detail ? { detail: e.detail } : {}) };
}

export function credentialsRoutes(app: FastifyInstance, opts: CredentialsApiOptions): void {
  const { rotation, audit } = opts;
  if (rotation) {
    app.post('/api/credentials/rotations', async (req, reply) => {
      const r = rotationRequestFromJson(req.body);
      try {
        const s = rotation.start(r.target, { ...r, actor: 'api' });
        return reply.code(201).header('location', `/api/credentials/rotations/${s.id}`).send(s);
      } catch (err) {
        if (err instanceof RotationError) throw new ApiError(err.code === 'UNKNOWN_GROUP' ? 404 : err.code === 'NO_DEVICES' ? 409 : 400, err.message);
        throw err;
      }
    });
    app.get('/api/credentials/rotations', async () => rotation.list());
    app.get<{ Params: { id: string } }>('/api/credentials/rotations/:id', async (req) => {
      if (!/^\d+$/.test(req.params.id)) throw new ApiError(400, 'campaign id must be a number');
      const s = rotation.status(Number(req.params.id));
      if (!s) throw new ApiError(404, `no rotation campaign ${req.params.id}`);
      return s;
    });
  }
  if (audit) {
    app.get<{ Querystring: Record<string, string | undefined> }>('/api/audit', async (req) => audit.query(auditQueryFromParams(req.query)).map(auditJson));
  }
}
