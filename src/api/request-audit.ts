/**
 * Audits every state-changing API request (RequestAudit) and serves the log at GET /api/audit/requests (admins).
 * Reads are not audited: they change nothing, and a console polling would drown the log.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { RequestAudit, RequestAuditEntry, RequestAuditQuery } from '../store/index.js';
import { ApiError } from './api-error.js';
import { principalOf } from './auth.js';
import { intParam, param, timeParam, type Query } from './params.js';

const READS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);
const METHODS: ReadonlySet<string> = new Set(['POST', 'PUT', 'DELETE', 'PATCH']);

/** Installs the audit hook and the query route. */
export function requestAuditRoutes(app: FastifyInstance, opts: { audit: RequestAudit }): void {
  const { audit } = opts;
  app.addHook('onResponse', async (req, reply) => {
    if (READS.has(req.method)) return;
    const p = principalOf(req);
    audit.record({
      actor: p?.user ?? triedUser(req),
      via: p?.via ?? 'none',
      method: req.method,
      route: req.routeOptions.url ?? '',
      path: req.url.split('?', 1)[0]!,
      status: reply.statusCode,
      address: req.ip,
    });
  });

  app.get('/api/audit/requests', async (req: FastifyRequest<{ Querystring: Query }>) => {
    return audit.query(requestAuditQuery(req.query)).map(requestAuditJson);
  });
}

/** An entry as API JSON (ISO time). */
export function requestAuditJson(e: RequestAuditEntry) {
  return { ...e, time: new Date(e.time).toISOString() };
}

/** The name a login tried (the body was parsed before any answer). */
function triedUser(req: FastifyRequest): string {
  const body = req.body as { username?: unknown } | undefined;
  return req.routeOptions.url === '/api/login' && typeof body?.username === 'string' ? body.username : '';
}

/** Parses the query of GET /api/audit/requests. */
export function requestAuditQuery(q: Query): RequestAuditQuery {
  const out: RequestAuditQuery = {};
  const actor = param(q, 'actor');
  if (actor) out.actor = actor;
  const method = param(q, 'method');
  if (method) {
    if (!METHODS.has(method)) throw new ApiError(400, `method must be one of ${[...METHODS].join(', ')}`);
    out.method = method;
  }
  const path = param(q, 'path');
  if (path) out.path = path;
  const status = param(q, 'status');
  if (status) {
    const m = /^([2-5])xx$/.exec(status);
    if (m === null) throw new ApiError(400, 'status must be 2xx, 3xx, 4xx or 5xx');
    out.statusClass = Number(m[1]);
  }
  const since = timeParam(q, 'since');
  if (since !== undefined) out.since = since;
  const until = timeParam(q, 'until');
  if (until !== undefined) out.until = until;
  const limit = intParam(q, 'limit', 100);
  if (limit < 1 || limit > 1000) throw new ApiError(400, 'limit must be an integer from 1 to 1000');
  out.limit = limit;
  const before = intParam(q, 'before', 0);
  if (before > 0) out.before = before;
  const offset = intParam(q, 'offset', 0);
  if (offset > 0) out.offset = offset;
  return out;
}
