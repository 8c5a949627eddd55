/**
 * Request validation and the OpenAPI 3.1 document, both from the schema table (schemas.ts): an `onRoute` hook gives
 * each route its params/querystring/body schemas as it is registered, and `GET /api/openapi.json` describes every
 * route the app registered. Validation failures answer 400 `{"message"}` naming the field, never quoting the value.
 */
import type { FastifyInstance, FastifySchema, RouteOptions } from 'fastify';
import { ApiError } from './api-error.js';
import { COMPONENT_SCHEMAS, ROUTE_SCHEMAS, type JsonSchema, type RouteSpec } from './schemas.js';

/** Name of the session cookie the console signs in with (documented as the cookie security scheme). */
export const SESSION_COOKIE = 'warden_session';

/** Ajv options for `Fastify({ ajv })`: values stay as sent (no coercion, nothing removed or defaulted). */
export const AJV_OPTIONS = {
  customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false, allowUnionTypes: true, allErrors: false, verbose: true },
} as const;

/** A route as registered. */
export interface RegisteredRoute {
  method: string;
  url: string;
  /** The table entry, or one built from the route's own `schema`; undefined if neither exists. */
  spec: RouteSpec | undefined;
}

/** The routes an app registered, in order (HEAD twins of GET routes left out). */
export class RouteRegistry {
  readonly routes: RegisteredRoute[] = [];

  /** Routes without a schema: the OpenAPI test fails while this is not empty. */
  undocumented(): RegisteredRoute[] {
    return this.routes.filter((r) => r.spec === undefined);
  }
}

/** Table key of a route. */
export function routeKey(method: string, url: string): string {
  return `${method.toUpperCase()} ${url}`;
}

/** The Fastify validation schema of a table entry. */
export function validationSchema(spec: RouteSpec): FastifySchema {
  const out: FastifySchema = {};
  if (spec.params) out.params = { type: 'object', properties: spec.params, required: Object.keys(spec.params) };
  if (spec.query) out.querystring = { type: 'object', properties: spec.query, ...(spec.requiredQuery ? { required: spec.requiredQuery } : {}) };
  // Keyed by media type: only JSON bodies are checked here; other parsers (text/plain, octet-stream) keep theirs.
  if (spec.body) out.body = { content: { 'application/json': { schema: spec.body } } };
  return out;
}

/** A route that carries its own Fastify schema (and no table entry) is documented from it. */
function specFromOwnSchema(schema: FastifySchema & { summary?: string; tags?: string[] }): RouteSpec {
  const props = (s: unknown): Record<string, JsonSchema> | undefined => {
    const p = (s as { properties?: Record<string, JsonSchema> } | undefined)?.properties;
    return p && typeof p === 'object' ? p : undefined;
  };
  const spec: RouteSpec = { summary: schema.summary ?? '', tags: schema.tags ?? [], responses: { 200: { description: 'OK' } } };
  const params = props(schema.params);
  const query = props(schema.querystring);
  if (params) spec.params = params;
  if (query) spec.query = query;
  if (schema.body !== undefined) spec.body = schema.body as JsonSchema;
  return spec;
}

/**
 * Installs the schema table on `app`: call before any route is registered. Every route then validates its params,
 * query and JSON body, and is recorded in the returned registry (what the OpenAPI document lists).
 */
export function installSchemas(app: FastifyInstance, table: Readonly<Record<string, RouteSpec>> = ROUTE_SCHEMAS): RouteRegistry {
  const registry = new RouteRegistry();
  registries.set(app, registry);
  app.setSchemaErrorFormatter((errors, dataVar) => new ApiError(400, describeValidationError(errors[0], dataVar)));
  app.addHook('onRoute', (route: RouteOptions) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) {
      // Fastify's automatic HEAD twin of a GET route validates like it, and is not listed.
      const spec = table[routeKey(method === 'HEAD' ? 'GET' : method, route.url)];
      if (spec) route.schema = { ...validationSchema(spec), ...(route.schema ?? {}) };
      if (method === 'HEAD') continue;
      const own = spec ?? (route.schema ? specFromOwnSchema(route.schema) : undefined);
      registry.routes.push({ method: method.toUpperCase(), url: route.url, spec: own });
    }
  });
  return registry;
}

const registries = new WeakMap<FastifyInstance, RouteRegistry>();

/** The registry installSchemas gave `app` (complete once `await app.ready()`). */
export function routeRegistryOf(app: FastifyInstance): RouteRegistry | undefined {
  return registries.get(app);
}

interface AjvErrorLike {
  keyword: string;
  instancePath?: string;
  message?: string;
  params?: Record<string, unknown>;
  /** With Ajv's `verbose`: the schema holding the failed keyword (its description words pattern failures). */
  parentSchema?: { description?: unknown };
}

const PART_NAMES: Record<string, string> = { body: 'body', querystring: 'query parameter', params: 'path parameter', headers: 'header' };

/** Words one Ajv error: the part and field, what is wrong; never the value sent (bodies may hold keys). */
export function describeValidationError(error: AjvErrorLike | undefined, dataVar: string): string {
  if (!error) return `invalid ${dataVar}`;
  const segs = (error.instancePath ?? '').split('/').slice(1).map((s) => (s === '*' ? 'path' : s.replace(/~1/g, '/').replace(/~0/g, '~')));
  const params = error.params ?? {};
  if (error.keyword === 'required' && typeof params.missingProperty === 'string') segs.push(params.missingProperty === '*' ? 'path' : params.missingProperty);
  const part = PART_NAMES[dataVar] ?? dataVar;
  const where = segs.length === 0 ? (dataVar === 'body' ? 'the body' : `the ${part}s`) : dataVar === 'body' ? `body field "${segs.join('.')}"` : `${part} "${segs.join('.')}"`;
  switch (error.keyword) {
    case 'required':
      return `${where} is required`;
    case 'enum':
      return `${where} must be one of: ${(params.allowedValues as unknown[] | undefined)?.map((v) => (v === '' ? '(empty)' : String(v))).join(', ') ?? '?'}`;
    case 'const':
      return `${where} must be ${JSON.stringify(params.allowedValue)}`;
    case 'type':
      return `${where} must be ${String(params.type).replace(/,/g, ' or ')}`;
    case 'pattern':
    case 'format': {
      const d = error.parentSchema?.description;
      return typeof d === 'string' ? `${where} is invalid: ${d}` : `${where} is invalid`;
    }
    default:
      return `${where} ${error.message ?? 'is invalid'}`;
  }
}

/** `/api/clients/:ep/*` -> `/api/clients/{ep}/{path}`. */
export function openApiPath(url: string): string {
  return url.replace(/:([A-Za-z0-9_]+)/g, '{$1}').replace(/\*$/, '{path}');
}

const paramName = (name: string): string => (name === '*' ? 'path' : name);

/** Options of the document. */
export interface OpenApiInfo {
  title?: string;
  version?: string;
}

/** Builds the OpenAPI 3.1 document of the registered routes. */
export function buildOpenApi(routes: readonly RegisteredRoute[], info: OpenApiInfo = {}): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  const tags = new Set<string>();
  for (const r of routes) {
    const spec = r.spec ?? { summary: 'Undocumented route', tags: [], responses: { 200: { description: 'OK' } } };
    for (const t of spec.tags) tags.add(t);
    const path = openApiPath(r.url);
    const item = (paths[path] ??= {});
    item[r.method.toLowerCase()] = operation(r, spec);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: info.title ?? 'Warden API',
      version: info.version ?? '0.1.0',
      description: 'LwM2M device management. Every route but /healthz needs a bearer token (or the console session cookie).',
    },
    jsonSchemaDialect: 'https://spec.openapis.org/oas/3.1/dialect/base',
    servers: [{ url: '/' }],
    tags: [...tags].sort().map((name) => ({ name })),
    security: [{ bearerAuth: [] }, { cookieAuth: [] }],
    paths,
    components: {
      schemas: COMPONENT_SCHEMAS,
      securitySchemes: {
        bearerAuth: { type: 'http', scheme: 'bearer', description: 'The API token (or an API token with scopes): `Authorization: Bearer <token>`.' },
        cookieAuth: { type: 'apiKey', in: 'cookie', name: SESSION_COOKIE, description: `Console session cookie from POST /api/login (\`__Host-${SESSION_COOKIE}\` under TLS); writes also need the X-CSRF-Token header.` },
      },
    },
  };
}

function operation(r: RegisteredRoute, spec: RouteSpec): Record<string, unknown> {
  const op: Record<string, unknown> = {
    operationId: operationId(r.method, r.url),
    summary: spec.summary,
    tags: spec.tags,
  };
  if (spec.description) op.description = spec.description;
  const parameters: Record<string, unknown>[] = [];
  for (const [name, schema] of Object.entries(spec.params ?? {})) {
    parameters.push(parameter(paramName(name), 'path', schema, true));
  }
  for (const [name, schema] of Object.entries(spec.query ?? {})) {
    parameters.push(parameter(name, 'query', schema, spec.requiredQuery?.includes(name) ?? false));
  }
  // A path template parameter the spec forgot still has to be declared (OpenAPI 3.1 §4.8.2.1).
  for (const m of openApiPath(r.url).matchAll(/\{([^}]+)\}/g)) {
    if (!parameters.some((p) => p.in === 'path' && p.name === m[1])) parameters.push(parameter(m[1]!, 'path', { type: 'string' }, true));
  }
  if (parameters.length) op.parameters = parameters;
  const content: Record<string, { schema: JsonSchema }> = {};
  if (spec.body) content['application/json'] = { schema: spec.body };
  for (const [type, schema] of Object.entries(spec.otherBodies ?? {})) content[type] = { schema };
  if (Object.keys(content).length) op.requestBody = { required: spec.bodyRequired ?? false, content };
  const responses: Record<string, unknown> = {};
  for (const [status, res] of Object.entries(spec.responses)) {
    const out: Record<string, unknown> = { description: res.description };
    if (res.schema) out.content = { [res.contentType ?? 'application/json']: { schema: res.schema } };
    if (res.headers) out.headers = res.headers;
    responses[status] = out;
  }
  const error = (description: string) => ({ description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } });
  if (parameters.length || content['application/json']) responses['400'] ??= error('Invalid request: the message names the field.');
  if (spec.auth !== false) {
    responses['401'] ??= error('Missing or invalid credentials.');
    responses['403'] ??= error('The credentials do not allow this.');
  }
  responses.default ??= error('Error.');
  op.responses = responses;
  if (spec.auth === false) op.security = [];
  return op;
}

function parameter(name: string, where: 'path' | 'query', schema: JsonSchema, required: boolean): Record<string, unknown> {
  const { description, ...rest } = schema;
  const p: Record<string, unknown> = { name, in: where, required, schema: rest };
  if (typeof description === 'string') p.description = description;
  return p;
}

function operationId(method: string, url: string): string {
  const words = url
    .replace(/\*$/, 'path')
    .split(/[^A-Za-z0-9]+/)
    .filter((w) => w !== '' && w !== 'api');
  return [method.toLowerCase(), ...words.map((w) => w[0]!.toUpperCase() + w.slice(1))].join('');
}

/** Registers `GET /api/openapi.json` (behind the API's authentication like every route but /healthz). */
export function openApiRoute(app: FastifyInstance, registry: RouteRegistry, info: OpenApiInfo = {}): void {
  let doc: string | undefined;
  app.get('/api/openapi.json', async (_req, reply) => {
    // Built once, after every plugin registered its routes.
    doc ??= JSON.stringify(buildOpenApi(registry.routes, info));
    return reply.type('application/json; charset=utf-8').send(doc);
  });
}
