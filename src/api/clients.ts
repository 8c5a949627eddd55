/**
 * /api/clients routes: registrations, and the device operations of LwM2M 1.1 Core §6.3
 * (Read, Write, Execute, Create, Delete, Discover, Write-Attributes, composite) and §6.4 (Observe).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { parseAttributes, type Lwm2mPath, type Model, type ObjectInstanceNode } from '../lwm2m/index.js';
import type { DeviceManagement, DeviceResponse, RequestOpts } from '../server/types.js';
import { ApiError, toApiError } from './api-error.js';
import { deviceResponseToJson } from './device-response.js';
import { instanceFromJson, nodeFromJson, pathNodesFromJson } from './node-json.js';
import {
  boolParam,
  formatParam,
  intParam,
  param,
  parsePath,
  pathsParam,
  rawQueryItems,
  timeoutParam,
  type Query,
} from './params.js';
import { registrationToJson } from './registration-json.js';

export const DEFAULT_PAGE_LIMIT = 100;
export const MAX_PAGE_LIMIT = 1000;

export interface ClientRoutesOptions {
  server: DeviceManagement;
  model: Model;
  isSleeping: (endpoint: string) => boolean;
}

type ClientRequest = FastifyRequest<{ Params: { ep: string; '*': string }; Querystring: Query; Body: unknown }>;

/** What the part of the URL after /api/clients/:ep/ asks for. */
interface Target {
  /** "composite" requests name their paths in the query. */
  composite: boolean;
  path: Lwm2mPath | undefined;
  /** The trailing action segment, if any. */
  action: 'observe' | 'discover' | 'attributes' | 'observations' | undefined;
}

const ACTIONS: ReadonlySet<string> = new Set(['observe', 'discover', 'attributes']);

/** Splits "3/0/1/observe", "composite/observe", "discover", "observations" ... */
export function parseTarget(rest: string): Target {
  const segs = rest.split('/').filter((s) => s !== '');
  if (segs.length === 1 && segs[0] === 'observations') return { composite: false, path: undefined, action: 'observations' };
  if (segs[0] === 'composite') {
    if (segs.length === 1) return { composite: true, path: undefined, action: undefined };
    if (segs.length === 2 && segs[1] === 'observe') return { composite: true, path: undefined, action: 'observe' };
    throw new ApiError(404, `unknown composite route "/${rest}"`);
  }
  let action: Target['action'];
  const last = segs[segs.length - 1];
  if (last !== undefined && ACTIONS.has(last)) {
    action = last as Target['action'];
    segs.pop();
  }
  return { composite: false, path: parsePath(segs.join('/')), action };
}

/** Registers GET /api/clients, GET /api/clients/:ep and GET|PUT|POST|DELETE /api/clients/:ep/*. */
export function registerClientRoutes(app: FastifyInstance, opts: ClientRoutesOptions): void {
  const { server, model, isSleeping } = opts;

  app.get('/api/clients', async (req: FastifyRequest<{ Querystring: Query }>, reply: FastifyReply) => {
    const offset = intParam(req.query, 'offset', 0);
    const limit = Math.min(intParam(req.query, 'limit', DEFAULT_PAGE_LIMIT), MAX_PAGE_LIMIT);
    const search = param(req.query, 'search') || undefined;
    const page = server.listRegistrations({ offset, limit, search });
    const total = server.registrationCount(search);
    reply.header('X-Total-Count', String(total));
    return page.map((r) => registrationToJson(r, isSleeping(r.endpoint)));
  });

  app.get('/api/clients/:ep', async (req: FastifyRequest<{ Params: { ep: string } }>) => {
    return registrationJsonOr404(req.params.ep);
  });

  function registrationJsonOr404(ep: string) {
    const reg = server.getRegistration(ep);
    if (reg === undefined) throw new ApiError(404, `device ${ep} is not registered`);
    return registrationToJson(reg, isSleeping(ep));
  }

  /** Runs one device request, mapping ServerError with the endpoint and timeout in the message. */
  async function device(
    req: ClientRequest,
    fn: (ep: string, o: RequestOpts, timeoutS: number) => Promise<DeviceResponse & { observationId?: string }>,
  ) {
    const ep = req.params.ep;
    const timeout = timeoutParam(req.query);
    const o: RequestOpts = { timeout: timeout * 1000 };
    const format = formatParam(req.query);
    if (format !== undefined) o.format = format;
    try {
      return deviceResponseToJson(await fn(ep, o, timeout));
    } catch (err) {
      throw toApiError(err, { endpoint: ep, timeout }) ?? err;
    }
  }

  app.get('/api/clients/:ep/*', async (req: ClientRequest) => {
    const t = parseTarget(req.params['*']);
    const q = req.query;
    if (t.action === 'observations') {
      const ep = req.params.ep;
      if (server.getRegistration(ep) === undefined) throw new ApiError(404, `device ${ep} is not registered`);
      return server.observations(ep).map((o) => ({
        observationId: o.observationId,
        paths: o.paths.map(String),
        composite: o.composite,
        createdAt: new Date(o.createdAt).toISOString(),
      }));
    }
    if (t.composite) {
      if (t.action !== undefined) throw new ApiError(405, 'use POST or DELETE for composite observe');
      const paths = pathsParam(q);
      const requestFormat = formatParam(q, 'pathformat');
      const format = formatParam(q, 'nodeformat');
      return device(req, (ep, o) => server.readComposite(ep, paths, compositeOpts(o, format, requestFormat)));
    }
    const path = t.path!;
    if (t.action === 'discover') return device(req, (ep, o) => server.discover(ep, path, o));
    if (t.action !== undefined) throw new ApiError(405, `use ${t.action === 'observe' ? 'POST or DELETE' : 'PUT'} for ${t.action}`);
    return device(req, (ep, o) => server.read(ep, path, o));
  });

  app.put('/api/clients/:ep/*', async (req: ClientRequest) => {
    const t = parseTarget(req.params['*']);
    const q = req.query;
    if (t.composite) {
      if (t.action !== undefined) throw new ApiError(405, 'use POST or DELETE for composite observe');
      const nodes = pathNodesFromJson(req.body, model);
      const format = formatParam(q, 'nodeformat');
      return device(req, (ep, o) => server.writeComposite(ep, nodes, compositeOpts(o, format, undefined)));
    }
    const path = t.path!;
    if (t.action === 'attributes') {
      const attributes = parseAttributes(attributeItems(req));
      return device(req, (ep, o) => server.writeAttributes(ep, path, attributes, o));
    }
    if (t.action !== undefined) throw new ApiError(405, `PUT does not apply to ${t.action}`);
    const node = nodeFromJson(req.body, path, model);
    const replace = boolParam(q, 'replace', true);
    return device(req, (ep, o) => server.write(ep, path, node, { ...o, replace }));
  });

  app.post('/api/clients/:ep/*', async (req: ClientRequest) => {
    const t = parseTarget(req.params['*']);
    const q = req.query;
    if (t.composite) {
      if (t.action !== 'observe') throw new ApiError(405, 'POST applies to composite/observe only');
      const paths = pathsParam(q);
      const requestFormat = formatParam(q, 'pathformat');
      const format = formatParam(q, 'nodeformat');
      return device(req, (ep, o) => server.observeComposite(ep, paths, compositeOpts(o, format, requestFormat)));
    }
    const path = t.path!;
    if (t.action === 'observe') return device(req, (ep, o) => server.observe(ep, path, o));
    if (t.action !== undefined) throw new ApiError(405, `POST does not apply to ${t.action}`);
    if (path.isResource()) {
      const args = executeArgs(req.body);
      return device(req, (ep, o) => server.execute(ep, path, args, o));
    }
    if (path.isObject()) {
      const instances = createInstances(req.body, path.objectId!);
      return device(req, (ep, o) => server.create(ep, path, instances, o));
    }
    throw new ApiError(400, `POST takes an object path (create) or a resource path (execute), got ${path.toString()}`);
  });

  app.delete('/api/clients/:ep/*', async (req: ClientRequest) => {
    const t = parseTarget(req.params['*']);
    const q = req.query;
    const active = boolParam(q, 'active', false);
    if (t.composite) {
      if (t.action !== 'observe') throw new ApiError(405, 'DELETE applies to composite/observe only');
      const paths = pathsParam(q);
      return cancelled(req.params.ep, () => server.cancelCompositeObservation(req.params.ep, paths, { active }));
    }
    const path = t.path!;
    if (t.action === 'observe') return cancelled(req.params.ep, () => server.cancelObservation(req.params.ep, path, { active }));
    if (t.action !== undefined) throw new ApiError(405, `DELETE does not apply to ${t.action}`);
    return device(req, (ep, o) => server.delete(ep, path, o));
  });

  async function cancelled(ep: string, fn: () => Promise<number>): Promise<{ cancelled: number }> {
    if (server.getRegistration(ep) === undefined) throw new ApiError(404, `device ${ep} is not registered`);
    try {
      return { cancelled: await fn() };
    } catch (err) {
      throw toApiError(err, { endpoint: ep, timeout: 0 }) ?? err;
    }
  }

  function createInstances(body: unknown, objectId: number): ObjectInstanceNode[] {
    if (Array.isArray(body)) return body.map((b, i) => instanceFromJson(b, `[${i}]`, objectId, undefined, model));
    if (body !== null && typeof body === 'object' && (body as { kind?: unknown }).kind === 'obj') {
      const node = nodeFromJson(body, parsePath(String(objectId)), model);
      if (node.kind !== 'object') throw new ApiError(400, 'expected an object node');
      return node.instances;
    }
    return [instanceFromJson(body, '', objectId, undefined, model)];
  }
}

function compositeOpts(o: RequestOpts, format: number | undefined, requestFormat: number | undefined): RequestOpts & { requestFormat?: number } {
  const out: RequestOpts & { requestFormat?: number } = { timeout: o.timeout };
  if (format !== undefined) out.format = format;
  if (requestFormat !== undefined) out.requestFormat = requestFormat;
  return out;
}

/** Execute arguments (Core §5.4.5): a text/plain body, JSON `{"args": "..."}` or a JSON string, or nothing. */
function executeArgs(body: unknown): string | undefined {
  if (body === undefined || body === null || body === '') return undefined;
  if (typeof body === 'string') return body;
  if (typeof body === 'object' && !Array.isArray(body)) {
    const args = (body as { args?: unknown }).args;
    if (args === undefined || args === null || args === '') return undefined;
    if (typeof args === 'string') return args;
  }
  throw new ApiError(400, 'execute takes a text/plain body or JSON {"args": "<string>"}');
}

/** Write-Attributes items: from a JSON body `{"pmin": 10, "gt": null}` (null clears) or else the query string. */
function attributeItems(req: ClientRequest): string[] {
  const body = req.body;
  if (body !== undefined && body !== null && body !== '') {
    if (typeof body !== 'object' || Array.isArray(body)) throw new ApiError(400, 'attributes body must be a JSON object');
    return Object.entries(body).map(([k, v]) => {
      if (v === null) return k;
      if (typeof v === 'number' || typeof v === 'string') return `${k}=${v}`;
      throw new ApiError(400, `attribute ${k} must be a number, a string or null`);
    });
  }
  // The query keeps "pmin" (clear) distinct from "pmin=10"; the API's own parameters are not attributes.
  return rawQueryItems(req.url).filter((item) => !/^(timeout|format)(=|$)/.test(item));
}
