/**
 * Bootstrap configurations over REST: /api/bootstrap/{endpoint} and /api/bootstrap/groups/{name} (GET, PUT,
 * DELETE), in the JSON shape of Leshan's bootstrap config (servers, security, acls, toDelete); POST
 * /api/bootstrap/{endpoint}/start runs a server-initiated bootstrap. Secret keys are accepted, sealed at rest and
 * never returned (`hasSecretKey: true` instead).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BootstrapError, parseBootstrapConfig, redactConfig, type BootstrapConfigStore } from '../bootstrap/index.js';
import { ApiError } from './api-error.js';
import { parseJsonWithoutEcho } from './secret-body.js';

/** What the routes need of the bootstrap server. */
export interface BootstrapApiHost {
  readonly configs: BootstrapConfigStore;
  bootstrap(endpoint: string): Promise<boolean>;
}

function parse(body: unknown, group: boolean) {
  try {
    return parseBootstrapConfig(body, { group });
  } catch (err) {
    if (err instanceof BootstrapError) throw new ApiError(400, err.message);
    throw err;
  }
}

type Ep = FastifyRequest<{ Params: { ep: string } }>;
type Group = FastifyRequest<{ Params: { name: string } }>;

/** Registers the bootstrap routes (behind the API token hook). */
export function bootstrapRoutes(app: FastifyInstance, opts: { bootstrap: BootstrapApiHost }): void {
  const { configs } = opts.bootstrap;
  void app.register(async (scope) => {
    parseJsonWithoutEcho(scope);
    scope.get('/api/bootstrap', async () => Object.fromEntries(configs.devices().map((ep) => [ep, redactConfig(configs.getDevice(ep)!)])));
    scope.get('/api/bootstrap/groups', async () => Object.fromEntries(configs.groups().map((g) => [g, redactConfig(configs.getGroup(g)!)])));
    scope.get('/api/bootstrap/groups/:name', async (req: Group) => {
      const g = configs.getGroup(req.params.name);
      if (!g) throw new ApiError(404, `no bootstrap group ${req.params.name}`);
      return redactConfig(g);
    });
    scope.put('/api/bootstrap/groups/:name', async (req: FastifyRequest<{ Params: { name: string }; Body: unknown }>) => {
      const g = parse(req.body, true);
      configs.putGroup(req.params.name, g);
      return redactConfig(g);
    });
    scope.delete('/api/bootstrap/groups/:name', async (req: Group, reply: FastifyReply) => {
      if (!configs.deleteGroup(req.params.name)) throw new ApiError(404, `no bootstrap group ${req.params.name}`);
      return reply.code(204).send();
    });
    scope.get('/api/bootstrap/:ep', async (req: Ep) => {
      const c = configs.getDevice(req.params.ep);
      if (!c) throw new ApiError(404, `no bootstrap configuration for ${req.params.ep}`);
      return redactConfig(c);
    });
    scope.put('/api/bootstrap/:ep', async (req: FastifyRequest<{ Params: { ep: string }; Body: unknown }>) => {
      const c = parse(req.body, false);
      configs.putDevice(req.params.ep, c);
      return redactConfig(c);
    });
    scope.delete('/api/bootstrap/:ep', async (req: Ep, reply: FastifyReply) => {
      if (!configs.deleteDevice(req.params.ep)) throw new ApiError(404, `no bootstrap configuration for ${req.params.ep}`);
      return reply.code(204).send();
    });
    scope.post('/api/bootstrap/:ep/start', async (req: Ep) => {
      try {
        return { success: await opts.bootstrap.bootstrap(req.params.ep) };
      } catch (err) {
        if (err instanceof BootstrapError) throw new ApiError(err.code === 'NO_CONFIG' || err.code === 'UNKNOWN_DEVICE' ? 404 : 409, err.message);
        throw err;
      }
    });
  });
}
