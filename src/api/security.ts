/**
 * /api/security/clients: each device's DTLS security info, in the JSON shape LwM2M tooling speaks
 * (`{"endpoint", "tls": {"mode", "details"}}`). Keys are accepted and never returned: a PSK shows its identity
 * only, a raw public key its SHA-256 fingerprint. No key material reaches a response, a log line or an error.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { fingerprint } from '../dtls/rpk.js';
import { SecurityStoreError, type AuditLog, type NewSecurityInfo, type SecurityInfo, type SecurityStore } from '../store/index.js';
import { principalOf } from './auth.js';
import { ApiError } from './api-error.js';
import { parseJsonWithoutEcho } from './secret-body.js';
import { intParam, type Query } from './params.js';

export const DEFAULT_SECURITY_PAGE_LIMIT = 100;
export const MAX_SECURITY_PAGE_LIMIT = 1000;

/** The JSON of one device's security info. */
export interface SecurityInfoJson {
  endpoint: string;
  tls: { mode: 'psk'; details: { identity: string } } | { mode: 'rpk'; details: { fingerprint: string } } | { mode: 'x509'; details: Record<string, never> };
  /** ISO 8601. */
  createdAt: string;
}

/** The public view of a SecurityInfo: never any key bytes. */
export function securityInfoToJson(info: SecurityInfo): SecurityInfoJson {
  const createdAt = new Date(info.createdAt).toISOString();
  switch (info.mode) {
    case 'psk':
      return { endpoint: info.endpoint, tls: { mode: 'psk', details: { identity: info.pskIdentity ?? '' } }, createdAt };
    case 'rpk':
      return { endpoint: info.endpoint, tls: { mode: 'rpk', details: { fingerprint: info.rpkPublicKey ? fingerprint(info.rpkPublicKey) : '' } }, createdAt };
    case 'x509':
      return { endpoint: info.endpoint, tls: { mode: 'x509', details: {} }, createdAt };
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Hex to bytes; the message names the field, never the value. */
function hexField(v: unknown, field: string): Uint8Array {
  if (typeof v !== 'string' || !/^(?:[0-9a-fA-F]{2})+$/.test(v)) throw new ApiError(400, `${field} must be a non-empty even-length hex string`);
  return new Uint8Array(Buffer.from(v, 'hex'));
}

/** Parses a PUT body into what SecurityStore.add takes; throws ApiError 400 naming the problem. */
export function securityInfoFromJson(body: unknown): NewSecurityInfo {
  if (!isObject(body)) throw new ApiError(400, 'body must be a JSON object {"endpoint": ..., "tls": {"mode": ..., "details": {...}}}');
  const endpoint = body.endpoint;
  if (typeof endpoint !== 'string' || endpoint === '') throw new ApiError(400, 'endpoint must be a non-empty string');
  const tls = body.tls;
  if (!isObject(tls)) throw new ApiError(400, 'tls must be an object {"mode": ..., "details": {...}}');
  const details = tls.details ?? {};
  if (!isObject(details)) throw new ApiError(400, 'tls.details must be an object');
  switch (tls.mode) {
    case 'psk': {
      if (typeof details.identity !== 'string') throw new ApiError(400, 'tls.details.identity must be a string');
      return { endpoint, mode: 'psk', pskIdentity: details.identity, pskKey: hexField(details.key, 'tls.details.key') };
    }
    case 'rpk':
      return { endpoint, mode: 'rpk', rpkPublicKey: hexField(details.key, 'tls.details.key') };
    case 'x509':
      return { endpoint, mode: 'x509', x509: true };
    default:
      throw new ApiError(400, 'tls.mode must be "psk", "rpk" or "x509"');
  }
}

function storeError(err: unknown): never {
  if (err instanceof SecurityStoreError) throw new ApiError(err.code === 'INVALID' ? 400 : 409, err.message);
  throw err;
}

/** Registers GET|PUT /api/security/clients and GET|DELETE /api/security/clients/:ep (behind the API token hook). */
export function securityRoutes(app: FastifyInstance, opts: { security: SecurityStore; audit?: Pick<AuditLog, 'record'> }): void {
  const { security, audit } = opts;
  void app.register(async (scope) => {
    parseJsonWithoutEcho(scope);

    scope.get('/api/security/clients', async (req: FastifyRequest<{ Querystring: Query }>, reply: FastifyReply) => {
      const offset = intParam(req.query, 'offset', 0);
      const limit = Math.min(intParam(req.query, 'limit', DEFAULT_SECURITY_PAGE_LIMIT), MAX_SECURITY_PAGE_LIMIT);
      reply.header('X-Total-Count', String(security.count()));
      return security.list({ offset, limit }).map(securityInfoToJson);
    });

    scope.get('/api/security/clients/:ep', async (req: FastifyRequest<{ Params: { ep: string } }>) => {
      const info = security.get(req.params.ep, { withKey: false });
      if (!info) throw new ApiError(404, `no security info for endpoint ${req.params.ep}`);
      return securityInfoToJson(info);
    });

    scope.put('/api/security/clients', async (req: FastifyRequest<{ Body: unknown }>) => {
      const info = securityInfoFromJson(req.body);
      try {
        const added = security.add(info);
        audit?.record({ endpoint: added.endpoint, kind: 'created', actor: principalOf(req)?.user ?? 'api', detail: { mode: added.mode } });
        return securityInfoToJson(added);
      } catch (err) {
        return storeError(err);
      }
    });

    scope.delete('/api/security/clients/:ep', async (req: FastifyRequest<{ Params: { ep: string } }>, reply: FastifyReply) => {
      if (!security.remove(req.params.ep)) throw new ApiError(404, `no security info for endpoint ${req.params.ep}`);
      return reply.code(204).send();
    });
  });
}
