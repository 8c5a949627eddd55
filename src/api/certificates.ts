/**
 * Certificates issued by Warden's device CA, over REST: `GET /api/certificates?endpoint=&limit=` lists them (newest
 * first, never a key), `POST /api/certificates/:serial/revoke` revokes one and `POST /api/certificates/revoke` with
 * `{"endpoint": E}` every unrevoked one of an endpoint. A revocation reaches the CA's CRL (checked at every DTLS
 * certificate handshake), is written to the audit log, and is handed to `onRevoked` (to end the sessions it opened).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { CertificateAuthority, IssuedCertificate } from '../keys/index.js';
import type { AuditLog } from '../store/index.js';
import { ApiError } from './api-error.js';
import { param, type Query } from './params.js';

export const DEFAULT_CERTIFICATE_LIMIT = 100;
export const MAX_CERTIFICATE_LIMIT = 1000;

/** What the routes need of CertificateAuthority. */
export type CertificateHost = Pick<CertificateAuthority, 'list' | 'certificate' | 'certificates' | 'revoke'>;

export interface CertificatesApiOptions {
  ca: CertificateHost;
  /** Each revoked certificate is recorded as `{kind: 'revoked', actor: 'api', detail: {serial}}`. */
  audit: AuditLog;
  /**
   * Called with the certificates a request just revoked, e.g. to close the DTLS associations they authenticated;
   * returns how many associations it closed (reported as `closed`).
   */
  onRevoked?: (revoked: readonly IssuedCertificate[]) => number | void;
}

/** A certificate as the API shows it: identifiers and dates only (times ISO 8601). */
export interface CertificateJson {
  serial: string;
  endpoint: string;
  notBefore: string;
  notAfter: string;
  issuedAt: string | null;
  revokedAt: string | null;
}

/** The answer of both revoke routes. */
export interface RevokeJson {
  revoked: number;
  serials: string[];
  /** DTLS associations closed because they were authenticated with a certificate just revoked. */
  closed: number;
}

export function certificateToJson(c: IssuedCertificate): CertificateJson {
  return {
    serial: c.serial,
    endpoint: c.endpoint,
    notBefore: c.notBefore.toISOString(),
    notAfter: c.notAfter.toISOString(),
    issuedAt: c.issuedAt?.toISOString() ?? null,
    revokedAt: c.revokedAt?.toISOString() ?? null,
  };
}

/** A serial as hex, in the CA's form (lowercase, no leading zero octets); colons as OpenSSL prints them are accepted. */
export function normalizeSerial(text: string): string {
  const hex = text.replace(/:/g, '').toLowerCase();
  if (!/^[0-9a-f]{1,80}$/.test(hex)) throw new ApiError(400, 'serial must be a hexadecimal certificate serial number');
  return hex.replace(/^(00)+(?=.)/, '');
}

function limitParam(q: Query): number {
  const v = param(q, 'limit');
  if (v === undefined || v === '') return DEFAULT_CERTIFICATE_LIMIT;
  if (!/^\d{1,9}$/.test(v) || Number(v) < 1 || Number(v) > MAX_CERTIFICATE_LIMIT) {
    throw new ApiError(400, `limit must be an integer from 1 to ${MAX_CERTIFICATE_LIMIT}`);
  }
  return Number(v);
}

/** Registers GET /api/certificates and the two revoke routes (behind the API token hook). */
export function certificatesRoutes(app: FastifyInstance, opts: CertificatesApiOptions): void {
  const { ca, audit } = opts;

  const revoked = (targets: readonly IssuedCertificate[]): RevokeJson => {
    const done = targets.map((t) => ca.certificate(t.serial)).filter((c): c is IssuedCertificate => c?.revokedAt !== undefined);
    for (const c of done) audit.record({ endpoint: c.endpoint, kind: 'revoked', actor: 'api', detail: { serial: c.serial } });
    const closed = done.length > 0 ? (opts.onRevoked?.(done) ?? 0) : 0;
    return { revoked: done.length, serials: done.map((c) => c.serial), closed };
  };

  app.get('/api/certificates', async (req: FastifyRequest<{ Querystring: Query }>) => {
    const endpoint = param(req.query, 'endpoint');
    const limit = limitParam(req.query);
    return ca.list(endpoint !== undefined && endpoint !== '' ? { endpoint, limit } : { limit }).map(certificateToJson);
  });

  app.post('/api/certificates/:serial/revoke', async (req: FastifyRequest<{ Params: { serial: string } }>) => {
    const serial = normalizeSerial(req.params.serial);
    const cert = ca.certificate(serial);
    if (!cert) throw new ApiError(404, `no certificate with serial ${serial}`);
    if (cert.revokedAt) throw new ApiError(409, `certificate ${serial} was revoked at ${cert.revokedAt.toISOString()}`);
    ca.revoke({ serial });
    return revoked([cert]);
  });

  app.post('/api/certificates/revoke', async (req: FastifyRequest<{ Body: unknown }>) => {
    const body = req.body;
    const endpoint = typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>).endpoint : undefined;
    if (typeof endpoint !== 'string' || endpoint === '') throw new ApiError(400, 'body must be a JSON object {"endpoint": "E"}');
    const targets = ca.certificates(endpoint).filter((c) => c.revokedAt === undefined);
    if (targets.length === 0) throw new ApiError(404, `endpoint ${endpoint} has no unrevoked certificate`);
    ca.revoke({ endpoint });
    return revoked(targets);
  });
}
