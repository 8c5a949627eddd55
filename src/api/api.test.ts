import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { ContentFormat, Lwm2mPath } from '../lwm2m/index.js';
import { ServerError } from '../server/index.js';
import { FakeServer, fakeRegistration, testModel } from './fake-server.js';
import { createApi } from './index.js';

const TOKEN = 'test-token-0123456789';
const AUTH = { authorization: `Bearer ${TOKEN}` };

async function setup(): Promise<{ app: FastifyInstance; fake: FakeServer }> {
  const fake = new FakeServer();
  fake.add(fakeRegistration('dev1'));
  const app = await createApi({ server: fake, model: testModel(), apiToken: TOKEN });
  return { app, fake };
}

async function call(app: FastifyInstance, opts: InjectOptions) {
  const res = await app.inject({ ...opts, headers: { ...AUTH, ...opts.headers } });
  return { status: res.statusCode, headers: res.headers, body: res.body === '' ? undefined : JSON.parse(res.body) };
}

const P = (s: string) => Lwm2mPath.parse(s);

const ROUTES: InjectOptions[] = [
  { method: 'GET', url: '/api/clients' },
  { method: 'GET', url: '/api/clients/dev1' },
  { method: 'GET', url: '/api/clients/dev1/3/0/0' },
  { method: 'PUT', url: '/api/clients/dev1/3/0/14', payload: { value: '+01' } },
  { method: 'POST', url: '/api/clients/dev1/3/0/4' },
  { method: 'POST', url: '/api/clients/dev1/3', payload: { id: 1, resources: [] } },
  { method: 'DELETE', url: '/api/clients/dev1/3/1' },
  { method: 'POST', url: '/api/clients/dev1/3/0/9/observe' },
  { method: 'DELETE', url: '/api/clients/dev1/3/0/9/observe' },
  { method: 'GET', url: '/api/clients/dev1/3/discover' },
  { method: 'GET', url: '/api/clients/dev1/discover' },
  { method: 'PUT', url: '/api/clients/dev1/3/0/9/attributes?pmin=10' },
  { method: 'GET', url: '/api/clients/dev1/composite?paths=/3/0/9' },
  { method: 'PUT', url: '/api/clients/dev1/composite', payload: { '/3/0/14': { value: 'x' } } },
  { method: 'POST', url: '/api/clients/dev1/composite/observe?paths=/3/0/9' },
  { method: 'DELETE', url: '/api/clients/dev1/composite/observe?paths=/3/0/9' },
  { method: 'GET', url: '/api/clients/dev1/observations' },
  { method: 'GET', url: '/api/event' },
  { method: 'GET', url: '/api/nope' },
];

test('every route but /healthz answers 401 without a token or with a wrong one', async () => {
  const { app, fake } = await setup();
  try {
    for (const r of ROUTES) {
      for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: TOKEN }, { authorization: `Basic ${TOKEN}` }]) {
        const res = await app.inject({ ...r, headers });
        assert.equal(res.statusCode, 401, `${r.method} ${r.url} ${JSON.stringify(headers)}`);
        assert.deepEqual(res.json(), { message: 'missing or invalid API token' });
        assert.match(String(res.headers['www-authenticate']), /^Bearer/);
      }
    }
    assert.equal(fake.calls.length, 0, 'no request reached the server');
    const health = await app.inject({ method: 'GET', url: '/healthz' });
    assert.equal(health.statusCode, 200);
    assert.deepEqual(health.json(), { status: 'ok' });
    assert.equal(health.headers['x-content-type-options'], 'nosniff');
    // The token is never taken from the URL.
    const inUrl = await app.inject({ method: 'GET', url: `/api/clients?token=${TOKEN}` });
    assert.equal(inUrl.statusCode, 401);
  } finally {
    await app.close();
  }
});

test('GET /api/clients pages, searches and reports X-Total-Count; security headers set', async () => {
  const { app, fake } = await setup();
  try {
    for (const ep of ['dev3', 'dev2', 'other']) fake.add(fakeRegistration(ep));
    let r = await call(app, { method: 'GET', url: '/api/clients' });
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-total-count'], '4');
    assert.deepEqual(
      r.body.map((x: { endpoint: string }) => x.endpoint),
      ['dev1', 'dev2', 'dev3', 'other'],
    );
    assert.equal(r.headers['cache-control'], 'no-store');
    assert.equal(r.headers['x-frame-options'], 'DENY');
    assert.equal(r.headers['referrer-policy'], 'no-referrer');
    assert.equal(r.headers['x-content-type-options'], 'nosniff');
    r = await call(app, { method: 'GET', url: '/api/clients?offset=1&limit=1&search=dev' });
    assert.equal(r.headers['x-total-count'], '3');
    assert.deepEqual(
      r.body.map((x: { endpoint: string }) => x.endpoint),
      ['dev2'],
    );
    for (let i = 0; i < 150; i++) fake.add(fakeRegistration(`bulk-${i}`));
    r = await call(app, { method: 'GET', url: '/api/clients?search=bulk&limit=10' });
    assert.equal(r.headers['x-total-count'], '150', 'the total counts every match, not one page');
    r = await call(app, { method: 'GET', url: '/api/clients?limit=-1' });
    assert.equal(r.status, 400);
    assert.match(r.body.message, /limit/);
  } finally {
    await app.close();
  }
});

test('GET /api/clients/:ep gives the registration JSON, or 404', async () => {
  const { app, fake } = await setup();
  try {
    fake.add(fakeRegistration('v6', { address: '::1', port: 5683, identity: { mode: 'psk', name: 'v6' }, secure: true, queueMode: true }));
    let r = await call(app, { method: 'GET', url: '/api/clients/dev1' });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, {
      endpoint: 'dev1',
      registrationId: 'reg-dev1',
      registrationDate: '2024-01-01T12:00:00.000Z',
      lastUpdate: '2024-01-01T12:05:00.000Z',
      address: '127.0.0.1:56830',
      lwM2mVersion: '1.1',
      lifetime: 300,
      bindingMode: 'U',
      queueMode: false,
      rootPath: '/',
      objectLinks: [
        { url: '/', attributes: { rt: 'oma.lwm2m', ct: '11543' } },
        { url: '/1/0', attributes: {} },
        { url: '/3/0', attributes: {} },
        { url: '/5', attributes: { ver: '1.0' } },
      ],
      supportedContentFormats: [11543, 112],
      secure: false,
      sleeping: false,
    });
    fake.emit('sleeping', fake.getRegistration('v6'));
    r = await call(app, { method: 'GET', url: '/api/clients/v6' });
    assert.equal(r.body.address, '[::1]:5683');
    assert.equal(r.body.secure, true);
    assert.equal(r.body.sleeping, true);
    fake.emit('awake', fake.getRegistration('v6'));
    r = await call(app, { method: 'GET', url: '/api/clients/v6' });
    assert.equal(r.body.sleeping, false);
    r = await call(app, { method: 'GET', url: '/api/clients/ghost' });
    assert.equal(r.status, 404);
    assert.deepEqual(r.body, { message: 'device ghost is not registered' });
  } finally {
    await app.close();
  }
});

test('read: format and timeout reach the server; content is node JSON', async () => {
  const { app, fake } = await setup();
  try {
    fake.next = { code: 69, content: { kind: 'singleResource', id: 0, value: { type: 'string', value: 'ACME' } } };
    const r = await call(app, { method: 'GET', url: '/api/clients/dev1/3/0/0?format=tlv&timeout=12' });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, {
      status: 'CONTENT(205)',
      valid: true,
      success: true,
      failure: false,
      content: { kind: 'singleResource', id: 0, type: 'STRING', value: 'ACME' },
    });
    const c = fake.last();
    assert.equal(c.method, 'read');
    assert.equal(c.endpoint, 'dev1');
    assert.ok((c.args[0] as Lwm2mPath).equals(P('/3/0/0')));
    assert.deepEqual(c.args[1], { timeout: 12000, format: ContentFormat.TLV });
    await call(app, { method: 'GET', url: '/api/clients/dev1/3' });
    assert.deepEqual(fake.last().args[1], { timeout: 5000 });
    for (const url of ['/api/clients/dev1/3?format=XML', '/api/clients/dev1/3?timeout=301', '/api/clients/dev1/3?timeout=abc', '/api/clients/dev1/3/x']) {
      const bad = await call(app, { method: 'GET', url });
      assert.equal(bad.status, 400, url);
      assert.equal(typeof bad.body.message, 'string');
    }
  } finally {
    await app.close();
  }
});

test('error mapping: not registered 404, timeout 504, invalid 400, device 4.04 is HTTP 200', async () => {
  const { app, fake } = await setup();
  try {
    let r = await call(app, { method: 'GET', url: '/api/clients/ghost/3/0' });
    assert.equal(r.status, 404);
    assert.deepEqual(r.body, { message: 'device ghost is not registered' });

    fake.nextError = new ServerError('TIMEOUT', 'timed out');
    r = await call(app, { method: 'GET', url: '/api/clients/dev1/3/0?timeout=7' });
    assert.equal(r.status, 504);
    assert.match(r.body.message, /dev1/);
    assert.match(r.body.message, /7 s/);

    fake.nextError = new ServerError('INVALID_REQUEST', 'Delete targets an object instance');
    r = await call(app, { method: 'DELETE', url: '/api/clients/dev1/3' });
    assert.equal(r.status, 400);
    assert.equal(r.body.message, 'Delete targets an object instance');

    fake.nextError = new ServerError('UNSUPPORTED_FORMAT', 'no codec');
    r = await call(app, { method: 'GET', url: '/api/clients/dev1/3' });
    assert.equal(r.status, 400);

    fake.nextError = new ServerError('BAD_RESPONSE', 'garbled TLV');
    r = await call(app, { method: 'GET', url: '/api/clients/dev1/3' });
    assert.equal(r.status, 502);

    fake.nextError = new Error('boom');
    r = await call(app, { method: 'GET', url: '/api/clients/dev1/3' });
    assert.equal(r.status, 500);
    assert.deepEqual(r.body, { message: 'internal error' });

    fake.nextError = undefined;
    fake.next = { code: 132, errorMessage: 'no such instance' };
    r = await call(app, { method: 'GET', url: '/api/clients/dev1/3/7' });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { status: 'NOT_FOUND(404)', valid: true, success: false, failure: true, errormessage: 'no such instance' });
  } finally {
    await app.close();
  }
});

test('write: node, replace flag and format reach the server; bad node JSON is 400', async () => {
  const { app, fake } = await setup();
  try {
    fake.next = { code: 68 };
    let r = await call(app, { method: 'PUT', url: '/api/clients/dev1/3/0/14?format=SENML_JSON', payload: { id: 14, kind: 'singleResource', value: '+01' } });
    assert.equal(r.status, 200);
    assert.equal(r.body.status, 'CHANGED(204)');
    let c = fake.last();
    assert.equal(c.method, 'write');
    assert.ok((c.args[0] as Lwm2mPath).equals(P('/3/0/14')));
    assert.deepEqual(c.args[1], { kind: 'singleResource', id: 14, value: { type: 'string', value: '+01' } });
    assert.deepEqual(c.args[2], { timeout: 5000, format: ContentFormat.SENML_JSON, replace: true });

    r = await call(app, { method: 'PUT', url: '/api/clients/dev1/3/0?replace=false', payload: { kind: 'instance', id: 0, resources: [{ id: 13, value: 10 }] } });
    assert.equal(r.status, 200);
    c = fake.last();
    assert.deepEqual(c.args[1], { kind: 'instance', id: 0, resources: [{ kind: 'singleResource', id: 13, value: { type: 'time', value: new Date(10000) } }] });
    assert.equal((c.args[2] as { replace: boolean }).replace, false);

    const n = fake.calls.length;
    r = await call(app, { method: 'PUT', url: '/api/clients/dev1/3/0/9', payload: { value: 'high' } });
    assert.equal(r.status, 400);
    assert.match(r.body.message, /value: expected an integer/);
    r = await call(app, { method: 'PUT', url: '/api/clients/dev1/3/0?replace=maybe', payload: { resources: [] } });
    assert.equal(r.status, 400);
    assert.equal(fake.calls.length, n, 'invalid writes never reach the server');
  } finally {
    await app.close();
  }
});

test('execute: text/plain, JSON {"args"} or empty body', async () => {
  const { app, fake } = await setup();
  try {
    fake.next = { code: 68 };
    let r = await call(app, { method: 'POST', url: '/api/clients/dev1/3/0/4', payload: "0='x',1", headers: { 'content-type': 'text/plain' } });
    assert.equal(r.status, 200);
    assert.equal(fake.last().method, 'execute');
    assert.equal(fake.last().args[1], "0='x',1");
    await call(app, { method: 'POST', url: '/api/clients/dev1/3/0/4', payload: { args: '5' } });
    assert.equal(fake.last().args[1], '5');
    await call(app, { method: 'POST', url: '/api/clients/dev1/3/0/4' });
    assert.equal(fake.last().args[1], undefined);
    await call(app, { method: 'POST', url: '/api/clients/dev1/3/0/4', payload: '', headers: { 'content-type': 'application/json' } });
    assert.equal(fake.last().args[1], undefined);
    r = await call(app, { method: 'POST', url: '/api/clients/dev1/3/0/4', payload: { args: 5 } });
    assert.equal(r.status, 400);
    r = await call(app, { method: 'POST', url: '/api/clients/dev1/3/0', payload: {} });
    assert.equal(r.status, 400);
    assert.match(r.body.message, /object path \(create\) or a resource path \(execute\)/);
  } finally {
    await app.close();
  }
});

test('create: instance JSON, {"id","resources"} or an array; location is returned', async () => {
  const { app, fake } = await setup();
  try {
    fake.next = { code: 65, location: '/3/1' };
    let r = await call(app, { method: 'POST', url: '/api/clients/dev1/3', payload: { kind: 'instance', id: 1, resources: [{ id: 14, value: 'Z' }] } });
    assert.deepEqual(r.body, { status: 'CREATED(201)', valid: true, success: true, failure: false, location: '/3/1' });
    let c = fake.last();
    assert.equal(c.method, 'create');
    assert.ok((c.args[0] as Lwm2mPath).equals(P('/3')));
    assert.deepEqual(c.args[1], [{ kind: 'instance', id: 1, resources: [{ kind: 'singleResource', id: 14, value: { type: 'string', value: 'Z' } }] }]);
    await call(app, { method: 'POST', url: '/api/clients/dev1/3', payload: [{ id: 2, resources: [] }, { id: 3, resources: [] }] });
    c = fake.last();
    assert.deepEqual(
      (c.args[1] as { id: number }[]).map((i) => i.id),
      [2, 3],
    );
    r = await call(app, { method: 'POST', url: '/api/clients/dev1/3', payload: { resources: [] } });
    assert.equal(r.status, 400);
    assert.match(r.body.message, /id: missing/);
  } finally {
    await app.close();
  }
});

test('delete, discover (with root), observe and cancel are shaped right', async () => {
  const { app, fake } = await setup();
  try {
    fake.next = { code: 66 };
    let r = await call(app, { method: 'DELETE', url: '/api/clients/dev1/3/1' });
    assert.equal(r.body.status, 'DELETED(202)');
    assert.equal(fake.last().method, 'delete');
    assert.ok((fake.last().args[0] as Lwm2mPath).equals(P('/3/1')));

    fake.next = { code: 69, links: [{ uri: '/3/0', attributes: { pmin: '10', obs: true } }] };
    r = await call(app, { method: 'GET', url: '/api/clients/dev1/3/0/discover' });
    assert.deepEqual(r.body.objectLinks, [{ url: '/3/0', attributes: { pmin: '10', obs: '' } }]);
    assert.equal(fake.last().method, 'discover');
    assert.ok((fake.last().args[0] as Lwm2mPath).equals(P('/3/0')));
    await call(app, { method: 'GET', url: '/api/clients/dev1/discover' });
    assert.ok((fake.last().args[0] as Lwm2mPath).isRoot());

    fake.next = { code: 69, observationId: 'obs-1', content: { kind: 'singleResource', id: 9, value: { type: 'integer', value: 80 } } };
    r = await call(app, { method: 'POST', url: '/api/clients/dev1/3/0/9/observe?format=SENML_CBOR' });
    assert.equal(r.body.observationId, 'obs-1');
    assert.deepEqual(r.body.content, { kind: 'singleResource', id: 9, type: 'INTEGER', value: 80 });
    assert.equal(fake.last().method, 'observe');
    assert.deepEqual(fake.last().args[1], { timeout: 5000, format: ContentFormat.SENML_CBOR });

    r = await call(app, { method: 'DELETE', url: '/api/clients/dev1/3/0/9/observe?active' });
    assert.deepEqual(r.body, { cancelled: 1 });
    assert.equal(fake.last().method, 'cancelObservation');
    assert.deepEqual(fake.last().args[1], { active: true });
    await call(app, { method: 'DELETE', url: '/api/clients/dev1/3/0/9/observe' });
    assert.deepEqual(fake.last().args[1], { active: false });
    r = await call(app, { method: 'DELETE', url: '/api/clients/ghost/3/0/9/observe' });
    assert.equal(r.status, 404);

    fake.observationList = [{ observationId: 'obs-1', endpoint: 'dev1', paths: [P('/3/0/9')], composite: false, createdAt: 0 }];
    r = await call(app, { method: 'GET', url: '/api/clients/dev1/observations' });
    assert.deepEqual(r.body, [{ observationId: 'obs-1', paths: ['/3/0/9'], composite: false, createdAt: '1970-01-01T00:00:00.000Z' }]);
  } finally {
    await app.close();
  }
});

test('write-attributes from the query (bare name clears) or a JSON body', async () => {
  const { app, fake } = await setup();
  try {
    fake.next = { code: 68 };
    let r = await call(app, { method: 'PUT', url: '/api/clients/dev1/3/0/9/attributes?pmin=10&pmax=60&gt&timeout=3' });
    assert.equal(r.status, 200);
    let c = fake.last();
    assert.equal(c.method, 'writeAttributes');
    assert.ok((c.args[0] as Lwm2mPath).equals(P('/3/0/9')));
    assert.deepEqual(c.args[1], { pmin: 10, pmax: 60, gt: null });
    assert.deepEqual(c.args[2], { timeout: 3000 });
    r = await call(app, { method: 'PUT', url: '/api/clients/dev1/3/0/9/attributes', payload: { pmin: 5, lt: 1.5, st: null } });
    c = fake.last();
    assert.deepEqual(c.args[1], { pmin: 5, lt: 1.5, st: null });
    const n = fake.calls.length;
    r = await call(app, { method: 'PUT', url: '/api/clients/dev1/3/0/9/attributes?bogus=1' });
    assert.equal(r.status, 400);
    assert.match(r.body.message, /bogus/);
    r = await call(app, { method: 'PUT', url: '/api/clients/dev1/3/0/9/attributes', payload: { pmin: 'ten' } });
    assert.equal(r.status, 400);
    assert.equal(fake.calls.length, n);
  } finally {
    await app.close();
  }
});

test('composite read, write, observe and cancel', async () => {
  const { app, fake } = await setup();
  try {
    fake.next = {
      code: 69,
      contents: [
        { path: P('/3/0/0'), node: { kind: 'singleResource', id: 0, value: { type: 'string', value: 'ACME' } } },
        { path: P('/3/0/9'), node: { kind: 'singleResource', id: 9, value: { type: 'integer', value: 80 } } },
      ],
    };
    let r = await call(app, { method: 'GET', url: '/api/clients/dev1/composite?paths=/3/0/0,/3/0/9&pathformat=SENML_JSON&nodeformat=SENML_CBOR&timeout=2' });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.content, {
      '/3/0/0': { kind: 'singleResource', id: 0, type: 'STRING', value: 'ACME' },
      '/3/0/9': { kind: 'singleResource', id: 9, type: 'INTEGER', value: 80 },
    });
    let c = fake.last();
    assert.equal(c.method, 'readComposite');
    assert.deepEqual((c.args[0] as Lwm2mPath[]).map(String), ['/3/0/0', '/3/0/9']);
    assert.deepEqual(c.args[1], { timeout: 2000, format: ContentFormat.SENML_CBOR, requestFormat: ContentFormat.SENML_JSON });

    fake.next = { code: 68 };
    r = await call(app, { method: 'PUT', url: '/api/clients/dev1/composite?nodeformat=LWM2M_CBOR', payload: { '/3/0/14': { value: '+03' }, '/3/0/13': { value: 5 } } });
    assert.equal(r.status, 200);
    c = fake.last();
    assert.equal(c.method, 'writeComposite');
    assert.deepEqual(c.args[0], [
      { path: P('/3/0/14'), node: { kind: 'singleResource', id: 14, value: { type: 'string', value: '+03' } } },
      { path: P('/3/0/13'), node: { kind: 'singleResource', id: 13, value: { type: 'time', value: new Date(5000) } } },
    ]);
    assert.deepEqual(c.args[1], { timeout: 5000, format: ContentFormat.LWM2M_CBOR });

    fake.next = { code: 69, observationId: 'obs-c' };
    r = await call(app, { method: 'POST', url: '/api/clients/dev1/composite/observe?paths=/3/0/9&paths=/3/0/0' });
    assert.equal(r.body.observationId, 'obs-c');
    assert.equal(fake.last().method, 'observeComposite');
    assert.deepEqual((fake.last().args[0] as Lwm2mPath[]).map(String), ['/3/0/9', '/3/0/0']);

    r = await call(app, { method: 'DELETE', url: '/api/clients/dev1/composite/observe?paths=/3/0/9,/3/0/0&active=true' });
    assert.deepEqual(r.body, { cancelled: 2 });
    assert.equal(fake.last().method, 'cancelCompositeObservation');
    assert.deepEqual(fake.last().args[1], { active: true });

    r = await call(app, { method: 'GET', url: '/api/clients/dev1/composite' });
    assert.equal(r.status, 400);
    assert.match(r.body.message, /paths is required/);
    r = await call(app, { method: 'PUT', url: '/api/clients/dev1/composite', payload: { '/3/0/9': { value: 'x' } } });
    assert.equal(r.status, 400);
    assert.match(r.body.message, /\/3\/0\/9\.value/);
  } finally {
    await app.close();
  }
});

test('oversized body 413, invalid JSON 400, unknown route 404, wrong method on an action 405 — all JSON', async () => {
  const { app, fake } = await setup();
  try {
    const big = JSON.stringify({ value: 'x'.repeat(1024 * 1024) });
    let r = await call(app, { method: 'PUT', url: '/api/clients/dev1/3/0/14', payload: big, headers: { 'content-type': 'application/json' } });
    assert.equal(r.status, 413);
    assert.equal(typeof r.body.message, 'string');
    r = await call(app, { method: 'PUT', url: '/api/clients/dev1/3/0/14', payload: '{"value": ', headers: { 'content-type': 'application/json' } });
    assert.equal(r.status, 400);
    assert.match(r.body.message, /invalid JSON/);
    r = await call(app, { method: 'GET', url: '/api/nothing/here' });
    assert.equal(r.status, 404);
    assert.deepEqual(r.body, { message: 'no route GET /api/nothing/here' });
    r = await call(app, { method: 'GET', url: '/api/clients/dev1/3/0/9/observe' });
    assert.equal(r.status, 405);
    r = await call(app, { method: 'PUT', url: '/api/clients/dev1/3/0', payload: '<xml/>', headers: { 'content-type': 'application/xml' } });
    assert.equal(r.status, 415);
    assert.equal(typeof r.body.message, 'string');
    assert.equal(fake.calls.length, 0);
  } finally {
    await app.close();
  }
});
