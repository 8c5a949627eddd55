/** /api/tokens (admin): create (the secret is in the 201 answer only), list, revoke. */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from '../log.js';
import { UserStoreError, isTokenScope, parseLifetime, type ApiToken, type ApiTokenStore } from '../store/index.js';
import { ApiError } from './api-error.js';
import { BUILTIN_USER, principalOf } from './auth.js';
import { parseJsonWithoutEcho } from './secret-body.js';

/** A token as JSON (times ISO 8601; never the secret). */
export function apiTokenToJson(t: ApiToken) {
  const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());
  return {
    id: t.id, user: t.username, scope: t.scope, ...(t.name !== undefined ? { name: t.name } : {}),
    createdAt: iso(t.createdAt), expiresAt: iso(t.expiresAt) ?? null, revokedAt: iso(t.revokedAt) ?? null, lastUsed: iso(t.lastUsed) ?? null,
  };
}

export function storeError(err: unknown): never {
  if (err instanceof UserStoreError) throw new ApiError(err.code === 'INVALID' ? 400 : err.code === 'NOT_FOUND' ? 404 : 409, err.message);
  throw err;
}

export function tokenRoutes(app: FastifyInstance, opts: { tokens: ApiTokenStore; logger: Logger }): void {
  const { tokens, logger } = opts;
  void app.register(async (scope) => {
    parseJsonWithoutEcho(scope);

    scope.post('/api/tokens', async (req: FastifyRequest<{ Body: unknown }>, reply: FastifyReply) => {
      const b = req.body ?? {};
      if (typeof b !== 'object' || b === null || Array.isArray(b)) throw new ApiError(400, 'the body is {"user", "scope", "expires", "name"}');
      const { user, scope: sc, expires, name } = b as Record<string, unknown>;
      const me = principalOf(req)!;
      const username = user ?? (me.user === BUILTIN_USER ? undefined : me.user);
      if (typeof username !== 'string') throw new ApiError(400, 'user is the name of the user the token acts for');
      const tokenScope = sc ?? 'read';
      if (!isTokenScope(tokenScope)) throw new ApiError(400, 'scope is read, write or admin');
      if (name !== undefined && typeof name !== 'string') throw new ApiError(400, 'name is a string');
      let lifetimeMs: number | undefined;
      if (typeof expires === 'string') {
        try {
          lifetimeMs = parseLifetime(expires);
        } catch (e) {
          throw new ApiError(400, (e as Error).message);
        }
      } else if (typeof expires === 'number' && Number.isSafeInteger(expires) && expires > 0) lifetimeMs = expires * 1000;
      else if (expires !== undefined && expires !== null) throw new ApiError(400, 'expires is a lifetime like "30d" or a number of seconds');
      let created;
      try {
        created = tokens.create({ username, scope: tokenScope, ...(lifetimeMs !== undefined ? { lifetimeMs } : {}), ...(name !== undefined ? { name } : {}) });
      } catch (err) {
        storeError(err);
      }
      logger.info({ id: created.token.id, user: username, scope: tokenScope, by: me.user }, 'API token created');
      return reply.code(201).header('location', `/api/tokens/${created.token.id}`).send({ ...apiTokenToJson(created.token), token: created.secret });
    });

    scope.get('/api/tokens', async (req: FastifyRequest<{ Querystring: { user?: string } }>) =>
      tokens.list(typeof req.query.user === 'string' ? req.query.user : undefined).map(apiTokenToJson));

    scope.delete('/api/tokens/:id', async (req: FastifyRequest<{ Params: { id: string } }>, reply: FastifyReply) => {
      if (!tokens.revoke(req.params.id)) throw new ApiError(404, `no live token ${req.params.id}`);
      logger.info({ id: req.params.id, by: principalOf(req)!.user }, 'API token revoked');
      return reply.code(204).send();
    });
  });
}
