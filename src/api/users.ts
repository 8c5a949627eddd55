/** /api/users (admin): list, add, change role or password, remove. Passwords are accepted, never returned. */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from '../log.js';
import { isRole, type User, type UserStore } from '../store/index.js';
import { ApiError } from './api-error.js';
import { principalOf } from './auth.js';
import { parseJsonWithoutEcho } from './secret-body.js';
import { storeError } from './tokens.js';

export function userToJson(u: User) {
  return { name: u.name, role: u.role, createdAt: new Date(u.createdAt).toISOString(), updatedAt: new Date(u.updatedAt).toISOString() };
}

function objectBody(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new ApiError(400, 'the body is a JSON object');
  return body as Record<string, unknown>;
}

export function userRoutes(app: FastifyInstance, opts: { users: UserStore; logger: Logger }): void {
  const { users, logger } = opts;
  void app.register(async (scope) => {
    parseJsonWithoutEcho(scope);

    scope.get('/api/users', async () => users.list().map(userToJson));

    scope.post('/api/users', async (req: FastifyRequest<{ Body: unknown }>, reply: FastifyReply) => {
      const { name, role, password } = objectBody(req.body);
      if (typeof name !== 'string') throw new ApiError(400, 'name is a string');
      if (!isRole(role)) throw new ApiError(400, 'role is admin, operator or viewer');
      if (typeof password !== 'string') throw new ApiError(400, 'password is a string');
      const u = await users.add(name, role, password).catch(storeError);
      logger.info({ user: u.name, role: u.role, by: principalOf(req)!.user }, 'user added');
      return reply.code(201).header('location', `/api/users/${encodeURIComponent(u.name)}`).send(userToJson(u));
    });

    scope.put('/api/users/:name', async (req: FastifyRequest<{ Params: { name: string }; Body: unknown }>) => {
      const { role, password } = objectBody(req.body);
      if (role === undefined && password === undefined) throw new ApiError(400, 'give role, password or both');
      if (role !== undefined && !isRole(role)) throw new ApiError(400, 'role is admin, operator or viewer');
      if (password !== undefined && typeof password !== 'string') throw new ApiError(400, 'password is a string');
      if (!users.get(req.params.name)) throw new ApiError(404, `no user ${req.params.name}`);
      try {
        if (password !== undefined) await users.setPassword(req.params.name, password as string);
        if (role !== undefined) users.setRole(req.params.name, role);
      } catch (err) {
        storeError(err);
      }
      logger.info({ user: req.params.name, role, passwordChanged: password !== undefined, by: principalOf(req)!.user }, 'user changed');
      return userToJson(users.get(req.params.name)!);
    });

    scope.delete('/api/users/:name', async (req: FastifyRequest<{ Params: { name: string } }>, reply: FastifyReply) => {
      if (!users.remove(req.params.name)) throw new ApiError(404, `no user ${req.params.name}`);
      logger.info({ user: req.params.name, by: principalOf(req)!.user }, 'user removed');
      return reply.code(204).send();
    });
  });
}
