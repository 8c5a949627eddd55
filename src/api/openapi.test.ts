import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { FakeServer, fakeRegistration, testModel } from './fake-server.js';
import { BODY_LIMIT, createApi, type ApiOptions } from './index.js';
import { describeValidationError, openApiPath, routeKey, routeRegistryOf } from './openapi.js';
import { ROUTE_SCHEMAS } from './schemas.js';

const TOKEN = 'openapi-test-token-0123';
const AUTH = { authorization: `Bearer ${TOKEN}` };

/** Any method returns an empty list: enough for routes to register (no test here reaches these hosts). */
const stub = new Proxy({}, { get: (_t, p) => (p === 'then' ? undefined : () => []) }) as never;

/** The API with every optional part given, so that every route is registered. */
async function fullApi(): Promise<{ app: FastifyInstance; fake: FakeServer }> {
  const fake = new FakeServer();
  fake.add(fakeRegistration('dev1'));
  const opts: ApiOptions = {
    server: fake, model: testModel(), apiToken: TOKEN,
    security: stub, inventory: stub, bootstrap: { configs: stub, bootstrap: async () => true },
    credentials: { rotation: stub, audit: stub, ages: stub }, certificates: { ca: stub, audit: stub },
    campaigns: stub, firmware: { repository: stub }, requestAudit: stub,
  };
  // The users/sessions/tokens part, when this build has it.
  (opts as unknown as Record<string, unknown>).access = { users: stub, sessions: stub, tokens: stub };
  const app = await createApi(opts);
  await app.ready();
  return { app, fake };
}

type Doc = {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, Op>>;
  components: { schemas: Record<string, unknown>; securitySchemes: Record<string, { type: string }> };
  security?: Record<string, string[]>[];
};
type Op = {
  operationId: string;
  parameters?: { name: string; in: string; required: boolean; schema: unknown }[];
  requestBody?: { content: Record<string, { schema: unknown }> };
  responses: Record<string, { description: string; content?: Record<string, { schema: unknown }> }>;
  security?: Record<string, string[]>[];
};

const METHODS = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']);

/** Structural checks of an OpenAPI 3.1 document (the fields the specification requires, and internal consistency). */
function openApiProblems(doc: Doc): string[] {
  const problems: string[] = [];
  if (!/^3\.1\.\d+$/.test(doc.openapi)) problems.push(`openapi is "${doc.openapi}"`);
  if (typeof doc.info?.title !== 'string' || typeof doc.info?.version !== 'string') problems.push('info.title and info.version are required');
  const opIds = new Set<string>();
  const templates = new Set<string>();
  const schemes = doc.components?.securitySchemes ?? {};
  const checkSecurity = (reqs: Record<string, string[]>[] | undefined, where: string) => {
    for (const req of reqs ?? []) for (const name of Object.keys(req)) if (!(name in schemes)) problems.push(`${where}: unknown security scheme ${name}`);
  };
  checkSecurity(doc.security, 'root');
  for (const [name, s] of Object.entries(schemes)) if (!['apiKey', 'http', 'oauth2', 'openIdConnect', 'mutualTLS'].includes(s.type)) problems.push(`scheme ${name} type ${s.type}`);
  const refs: string[] = [];
  const collectRefs = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(collectRefs);
    else if (v !== null && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (k === '$ref' && typeof x === 'string') refs.push(x);
        else collectRefs(x);
      }
    }
  };
  collectRefs(doc);
  for (const r of refs) {
    const m = /^#\/components\/schemas\/(.+)$/.exec(r);
    if (!m || !(m[1]! in doc.components.schemas)) problems.push(`unresolved $ref ${r}`);
  }
  for (const [path, item] of Object.entries(doc.paths)) {
    if (!path.startsWith('/')) problems.push(`path ${path} must start with /`);
    const normalized = path.replace(/\{[^}]+\}/g, '{}');
    if (templates.has(normalized)) problems.push(`path ${path} is the same template as another`);
    templates.add(normalized);
    const pathParams = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]!);
    for (const [method, op] of Object.entries(item)) {
      const where = `${method.toUpperCase()} ${path}`;
      if (!METHODS.has(method)) problems.push(`${where}: not an HTTP method`);
      if (!op.operationId || opIds.has(op.operationId)) problems.push(`${where}: missing or duplicate operationId`);
      opIds.add(op.operationId);
      const seen = new Set<string>();
      for (const p of op.parameters ?? []) {
        if (typeof p.name !== 'string' || !['query', 'header', 'path', 'cookie'].includes(p.in)) problems.push(`${where}: bad parameter`);
        if (seen.has(`${p.in}:${p.name}`)) problems.push(`${where}: duplicate parameter ${p.name}`);
        seen.add(`${p.in}:${p.name}`);
        if (p.in === 'path' && (p.required !== true || !pathParams.includes(p.name))) problems.push(`${where}: path parameter ${p.name} not required or not in the template`);
        if (p.schema === undefined) problems.push(`${where}: parameter ${p.name} without schema`);
      }
      for (const name of pathParams) if (!seen.has(`path:${name}`)) problems.push(`${where}: template parameter ${name} not declared`);
      if (op.requestBody && Object.keys(op.requestBody.content ?? {}).length === 0) problems.push(`${where}: requestBody without content`);
      const statuses = Object.keys(op.responses ?? {});
      if (statuses.length === 0) problems.push(`${where}: no responses`);
      for (const s of statuses) {
        if (!/^([1-5](\d\d|XX)|default)$/.test(s)) problems.push(`${where}: response key ${s}`);
        if (typeof op.responses[s]!.description !== 'string') problems.push(`${where}: response ${s} without description`);
      }
      checkSecurity(op.security, where);
    }
  }
  return problems;
}

test('GET /api/openapi.json documents every registered route, and is structurally valid OpenAPI 3.1', async () => {
  const { app } = await fullApi();
  try {
    const res = await app.inject({ method: 'GET', url: '/api/openapi.json', headers: AUTH });
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^application\/json/);
    const doc = res.json() as Doc;
    assert.deepEqual(openApiProblems(doc), []);

    const registry = routeRegistryOf(app)!;
    assert.ok(registry.routes.length >= 40, `only ${registry.routes.length} routes registered`);
    // A route added without a schema (in schemas.ts, or its own `schema`) fails here.
    assert.deepEqual(registry.undocumented().map((r) => `${r.method} ${r.url}`), []);
    for (const r of registry.routes) {
      assert.ok(app.hasRoute({ method: r.method as 'GET', url: r.url }), `${r.method} ${r.url} is a route`);
      const op = doc.paths[openApiPath(r.url)]?.[r.method.toLowerCase()];
      assert.ok(op, `${r.method} ${r.url} is in the document`);
    }
    // ... and the table names no route that does not exist (a typo there would leave a route unvalidated).
    const registered = new Set(registry.routes.map((r) => routeKey(r.method, r.url)));
    for (const key of Object.keys(ROUTE_SCHEMAS)) {
      if (/ \/api\/(login|logout|me|users|tokens)\b/.test(key) && !registered.has('POST /api/login')) continue;
      assert.ok(registered.has(key), `schema table entry ${key} matches a registered route`);
    }

    // Wildcard and parameters, request bodies, responses with the JSON shapes, security.
    const read = doc.paths['/api/clients/{ep}/{path}']!.get!;
    assert.deepEqual(read.parameters!.filter((p) => p.in === 'path').map((p) => p.name), ['ep', 'path']);
    assert.ok(read.parameters!.some((p) => p.in === 'query' && p.name === 'timeout'));
    const create = doc.paths['/api/campaigns']!.post!;
    assert.deepEqual((create.requestBody!.content['application/json']!.schema as { required: string[] }).required, ['package', 'target']);
    assert.deepEqual(create.responses['201']!.content!['application/json']!.schema, { $ref: '#/components/schemas/FirmwareCampaign' });
    assert.ok(doc.paths['/api/firmware']!.post!.requestBody!.content['application/octet-stream']);
    assert.deepEqual(Object.keys(doc.components.securitySchemes).sort(), ['bearerAuth', 'cookieAuth']);
    assert.deepEqual(doc.paths['/healthz']!.get!.security, []);
    assert.ok(doc.paths['/metrics']!.get, '/metrics documented');
  } finally {
    await app.close();
  }
});

test('the OpenAPI document and /metrics need credentials like every route but /healthz', async () => {
  const { app } = await fullApi();
  try {
    for (const url of ['/api/openapi.json', '/metrics']) {
      const res = await app.inject({ method: 'GET', url });
      assert.equal(res.statusCode, 401, url);
      assert.equal(typeof res.json().message, 'string');
    }
  } finally {
    await app.close();
  }
});

test('schema violations answer 400 naming the field, before the handler runs; valid requests pass unchanged', async () => {
  const { app, fake } = await fullApi();
  try {
    const cases: { method: 'GET' | 'PUT' | 'POST'; url: string; payload?: unknown; message: RegExp }[] = [
      { method: 'POST', url: '/api/campaigns', payload: { package: 'p' }, message: /^body field "target" is required$/ },
      { method: 'POST', url: '/api/campaigns', payload: { package: 'p', target: { group: 'g' }, maxConcurrent: '5' }, message: /^body field "maxConcurrent" must be integer$/ },
      { method: 'POST', url: '/api/campaigns', payload: { package: 'p', target: { group: 'g' }, delivery: 'carrier-pigeon' }, message: /^body field "delivery" must be one of: pull, push$/ },
      { method: 'PUT', url: '/api/security/clients', payload: { endpoint: 'e', tls: { mode: 'psk', details: 'k3y-s3cret' } }, message: /^body field "tls\.details" must be object$/ },
      { method: 'GET', url: '/api/clients?limit=many', message: /^query parameter "limit" is invalid/ },
      { method: 'GET', url: '/api/clients/dev1/3/0/0?timeout=soon', message: /^query parameter "timeout" is invalid: Seconds/ },
      { method: 'GET', url: '/api/clients/dev1/3/0/0?timeout=1&timeout=2', message: /^query parameter "timeout" must be string$/ },
      { method: 'GET', url: '/api/campaigns/first', message: /^path parameter "id" is invalid/ },
      { method: 'PUT', url: '/api/clients/dev1/3/0/14', payload: { kind: 'banana', value: 'x' }, message: /^body field "kind" must be one of: obj, instance/ },
      { method: 'PUT', url: '/api/clients/dev1/3/0/14', payload: [1, 2], message: /^the body must be object or null$/ },
      { method: 'POST', url: '/api/clients/dev1/3/0/4', payload: { args: 5 }, message: /^body field "args" must be string or null$/ },
      { method: 'POST', url: '/api/clients/dev1/3', payload: [{ kind: 'instance', id: 70000 }], message: /^body field "0\.id" / },
      { method: 'POST', url: '/api/credentials/rotations', payload: { all: 'yes' }, message: /^body field "all" must be true$/ },
    ];
    for (const c of cases) {
      const res = await app.inject({ method: c.method, url: c.url, headers: AUTH, ...(c.payload !== undefined ? { payload: c.payload as object } : {}) });
      assert.equal(res.statusCode, 400, `${c.method} ${c.url}`);
      const body = res.json() as { message: string };
      assert.deepEqual(Object.keys(body), ['message']);
      assert.match(body.message, c.message, `${c.method} ${c.url}`);
      assert.doesNotMatch(body.message, /k3y-s3cret/);
    }
    assert.equal(fake.calls.length, 0, 'no request reached the server');

    // The handlers still see strings as sent, and keep their own precise errors.
    let res = await app.inject({ method: 'GET', url: '/api/clients/dev1/3/0/0?timeout=12&format=tlv', headers: AUTH });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(fake.last().args[1], { timeout: 12000, format: 11542 });
    res = await app.inject({ method: 'PUT', url: '/api/clients/dev1/3/0/14', headers: AUTH, payload: { id: 14 } });
    assert.equal(res.statusCode, 400);
    assert.match(res.json().message, /^invalid node/);
    // Execute arguments as text/plain are not JSON and are not checked by the JSON schema.
    res = await app.inject({ method: 'POST', url: '/api/clients/dev1/3/0/4', headers: { ...AUTH, 'content-type': 'text/plain' }, payload: '5,7' });
    assert.equal(res.statusCode, 200);
    assert.equal(fake.last().args[1], '5,7');
  } finally {
    await app.close();
  }
});

test('describeValidationError words Ajv errors without the value sent', () => {
  assert.equal(describeValidationError({ keyword: 'required', instancePath: '/target', params: { missingProperty: 'group' } }, 'body'), 'body field "target.group" is required');
  assert.equal(describeValidationError({ keyword: 'type', instancePath: '', params: { type: 'object' } }, 'body'), 'the body must be object');
  assert.equal(describeValidationError({ keyword: 'required', instancePath: '', params: { missingProperty: '*' } }, 'params'), 'path parameter "path" is required');
  assert.equal(describeValidationError({ keyword: 'enum', instancePath: '/replace', params: { allowedValues: ['', 'true', 'false'] } }, 'querystring'), 'query parameter "replace" must be one of: (empty), true, false');
  assert.equal(describeValidationError({ keyword: 'maxLength', instancePath: '/name', message: 'must NOT have more than 200 characters', params: {} }, 'querystring'), 'query parameter "name" must NOT have more than 200 characters');
  assert.equal(describeValidationError(undefined, 'body'), 'invalid body');
});

test('bad input over a real socket: 413, 400, 404, 415 and schema 400, all {message}, and the server keeps serving', async () => {
  const { app, fake } = await fullApi();
  await app.listen({ port: 0, host: '127.0.0.1' });
  try {
    const address = app.server.address();
    const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    const send = async (method: string, path: string, body?: string, type = 'application/json') => {
      const res = await fetch(`${base}${path}`, { method, headers: { ...AUTH, ...(body !== undefined ? { 'content-type': type } : {}) }, ...(body !== undefined ? { body } : {}) });
      const text = await res.text();
      return { status: res.status, body: JSON.parse(text) as { message: string } };
    };
    const checks: [number, Promise<{ status: number; body: { message: string } }>, RegExp][] = [
      [413, send('PUT', '/api/clients/dev1/3/0/14', JSON.stringify({ value: 'x'.repeat(BODY_LIMIT) })), /./],
      [400, send('POST', '/api/campaigns', '{"package": "p", "target": '), /^invalid JSON body/],
      [404, send('GET', '/api/no/such/thing'), /^no route GET \/api\/no\/such\/thing$/],
      [415, send('PUT', '/api/clients/dev1/3/0/14', '<value>x</value>', 'application/xml'), /./],
      [400, send('POST', '/api/campaigns', JSON.stringify({ package: 'p', target: { group: 'g' }, waves: 5 })), /^body field "waves" must be array or string$/],
    ];
    for (const [status, pending, message] of checks) {
      const r = await pending;
      assert.equal(r.status, status);
      assert.deepEqual(Object.keys(r.body), ['message']);
      assert.match(r.body.message, message);
    }
    assert.equal(fake.calls.length, 0);
    const ok = await fetch(`${base}/api/clients/dev1`, { headers: AUTH });
    assert.equal(ok.status, 200);
    assert.equal(((await ok.json()) as { endpoint: string }).endpoint, 'dev1');
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
  } finally {
    await app.close();
  }
});
