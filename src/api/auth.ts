/** Bearer-token authentication for the REST API (RFC 6750 §2.1 header form only: tokens never go in URLs). */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';

/** Checks `Authorization: Bearer <token>` against the expected token in constant time. */
export class TokenChecker {
  private readonly expected: Buffer;

  constructor(apiToken: string) {
    if (apiToken.length === 0) throw new Error('apiToken must not be empty');
    this.expected = sha256(apiToken);
  }

  /** True if `authorization` (the header value) carries the token. */
  check(authorization: string | undefined): boolean {
    if (authorization === undefined) return false;
    // RFC 6750 §2.1: credentials = "Bearer" 1*SP b64token; the scheme is case-insensitive (RFC 7235 §2.1).
    const m = /^bearer +(\S+) *$/i.exec(authorization);
    if (m === null) return false;
    // Hashing both sides gives equal-length buffers, so timingSafeEqual leaks neither content nor length.
    return timingSafeEqual(sha256(m[1]!), this.expected);
  }
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/** Paths served without a token. */
const OPEN_PATHS: ReadonlySet<string> = new Set(['/healthz']);

/** A Fastify onRequest hook: every route but /healthz needs the token, else 401 with `WWW-Authenticate: Bearer`. */
export function authHook(apiToken: string): (req: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply | undefined> {
  const checker = new TokenChecker(apiToken);
  return async (req, reply) => {
    const q = req.url.indexOf('?');
    const path = q === -1 ? req.url : req.url.slice(0, q);
    if (OPEN_PATHS.has(path) || checker.check(req.headers.authorization)) return undefined;
    return reply
      .code(401)
      .header('WWW-Authenticate', 'Bearer realm="warden"')
      .send({ message: 'missing or invalid API token' });
  };
}
