/**
 * Console sign-in: POST /api/login, POST /api/logout, GET /api/me. The session cookie is HttpOnly, SameSite=Strict,
 * Path=/, Secure (and `__Host-` named) under TLS, with Max-Age the session's absolute lifetime; the id is 256 random
 * bits, stored hashed. Login answers 429 with Retry-After when throttled (login-limiter.ts), 401 for a wrong name or
 * password (the same answer for both).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from '../log.js';
import type { SessionStore, UserStore } from '../store/index.js';
import { ApiError } from './api-error.js';
import { csrfTokenFor, isSecureRequest, principalOf, sessionCookieName } from './auth.js';
import { LoginLimiter } from './login-limiter.js';
import { parseJsonWithoutEcho } from './secret-body.js';

export interface SessionRoutesOptions {
  users: UserStore;
  sessions: SessionStore;
  limiter: LoginLimiter;
  logger: Logger;
  secureCookies?: boolean;
}

function sessionCookie(req: FastifyRequest, opts: { secureCookies?: boolean }, value: string, maxAgeSeconds: number): string {
  const secure = isSecureRequest(req, opts);
  return `${sessionCookieName(secure)}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}${secure ? '; Secure' : ''}`;
}

function loginBody(body: unknown): { username: string; password: string } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new ApiError(400, 'the body is {"username": ..., "password": ...}');
  const { username, password } = body as Record<string, unknown>;
  if (typeof username !== 'string' || username.length === 0 || username.length > 64) throw new ApiError(400, 'username is a string of 1-64 characters');
  if (typeof password !== 'string' || password.length === 0 || password.length > 1024) throw new ApiError(400, 'password is a string of 1-1024 characters');
  return { username, password };
}

/** Registers /api/login, /api/logout and /api/me. */
export function sessionRoutes(app: FastifyInstance, opts: SessionRoutesOptions): void {
  const { users, sessions, limiter, logger } = opts;
  void app.register(async (scope) => {
    parseJsonWithoutEcho(scope);

    scope.post('/api/login', async (req: FastifyRequest<{ Body: unknown }>, reply: FastifyReply) => {
      const { username, password } = loginBody(req.body);
      const refused = limiter.admit(req.ip, username);
      if (refused !== undefined) {
        logger.warn({ user: username, address: req.ip, reason: refused.reason }, 'login refused: throttled');
        const message = refused.reason === 'locked'
          ? 'too many failed logins for this user: locked, try again later'
          : refused.reason === 'address' ? 'too many login attempts from this address, try again later' : 'login busy, try again shortly';
        return reply.code(429).header('Retry-After', String(Math.max(1, Math.ceil(refused.retryAfterMs / 1000)))).send({ message });
      }
      let user;
      try {
        user = await users.verify(username, password);
      } finally {
        limiter.done(username, user !== undefined);
      }
      if (user === undefined) {
        logger.warn({ user: username, address: req.ip, locked: limiter.isLocked(username) }, 'login failed');
        return reply.code(401).send({ message: 'invalid user name or password' });
      }
      sessions.prune();
      const s = sessions.create(user.name);
      logger.info({ user: user.name, role: user.role, address: req.ip }, 'login');
      return reply
        .header('Set-Cookie', sessionCookie(req, opts, s.id, Math.floor(sessions.limits.absoluteMs / 1000)))
        .send({ username: user.name, role: user.role, csrfToken: csrfTokenFor(s.id), expiresAt: new Date(s.expiresAt).toISOString() });
    });

    scope.post('/api/logout', async (req, reply) => {
      const p = principalOf(req);
      if (p?.via === 'session' && p.sessionId !== undefined) {
        sessions.remove(p.sessionId);
        logger.info({ user: p.user }, 'logout');
      }
      return reply.code(204).header('Set-Cookie', sessionCookie(req, opts, '', 0)).send();
    });

    scope.get('/api/me', async (req) => {
      const p = principalOf(req)!;
      return {
        username: p.user, role: p.role, via: p.via,
        ...(p.scope !== undefined ? { scope: p.scope, tokenId: p.tokenId } : {}),
        ...(p.sessionId !== undefined ? { csrfToken: csrfTokenFor(p.sessionId) } : {}),
      };
    });
  });
}
