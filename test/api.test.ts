/** The REST API in front of a real server and a real device: token checks, reads, writes, observe and events. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createApi } from '../src/api/index.js';
import { Lwm2mClient } from '../src/client/index.js';
import { once, startTestServer } from './helpers.js';

const TOKEN = 'test-token-0123456789';

async function setup(t: import('node:test').TestContext) {
  const ts = await startTestServer();
  const client = new Lwm2mClient({ endpoint: 'api-dev', serverUri: ts.uri, lifetime: 300 });
  const registered = once(ts.server, 'registered');
  await client.start();
  await registered;
  const api = await createApi({ server: ts.server, model: ts.model, apiToken: TOKEN });
  await api.listen({ port: 0, host: '127.0.0.1' });
  const address = api.server.address();
  const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  t.after(async () => {
    await api.close();
    await client.stop().catch(() => {});
    await ts.close();
  });
  const call = (method: string, url: string, body?: unknown, token: string | null = TOKEN) =>
    fetch(base + url, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
  return { ts, base, call };
}

test('every route wants the token: none or a wrong one is 401 and reaches no device', async (t) => {
  const { call } = await setup(t);
  for (const token of [null, 'wrong-token']) {
    const res = await call('GET', '/api/clients', undefined, token);
    assert.equal(res.status, 401);
    assert.match(((await res.json()) as { message: string }).message, /token/);
    assert.equal((await call('GET', '/api/clients/api-dev/3/0/0', undefined, token)).status, 401);
    assert.equal((await call('PUT', '/api/clients/api-dev/3/0/14', { value: 'x' }, token)).status, 401);
  }
  assert.equal((await call('GET', '/healthz', undefined, null)).status, 200);
});

test('list, read, write and read back through the API', async (t) => {
  const { call } = await setup(t);
  const list = await call('GET', '/api/clients');
  assert.equal(list.status, 200);
  const clients = (await list.json()) as { endpoint: string }[];
  assert.deepEqual(clients.map((c) => c.endpoint), ['api-dev']);
  const read = (await (await call('GET', '/api/clients/api-dev/3/0/0')).json()) as { status: string; content: { kind: string; value: unknown } };
  assert.equal(read.status, 'CONTENT(205)');
  assert.equal(read.content.kind, 'singleResource');
  const write = await call('PUT', '/api/clients/api-dev/3/0/14', { id: 14, kind: 'singleResource', value: '+03:00', type: 'STRING' });
  assert.equal(((await write.json()) as { status: string }).status, 'CHANGED(204)');
  const back = (await (await call('GET', '/api/clients/api-dev/3/0/14?format=SENML_CBOR')).json()) as { content: { value: unknown } };
  assert.equal(back.content.value, '+03:00');
  const missing = (await (await call('GET', '/api/clients/api-dev/3/0/999')).json()) as { status: string; success: boolean };
  assert.equal(missing.status, 'NOT_FOUND(404)');
  assert.equal(missing.success, false);
  const nobody = await call('GET', '/api/clients/nobody/3/0/0');
  assert.equal(nobody.status, 404);
  assert.match(((await nobody.json()) as { message: string }).message, /nobody/);
});

test('observe through the API delivers a NOTIFICATION server-sent event', async (t) => {
  const { call, base } = await setup(t);
  const abort = new AbortController();
  t.after(() => abort.abort());
  const events = await fetch(`${base}/api/event?ep=api-dev`, { headers: { authorization: `Bearer ${TOKEN}` }, signal: abort.signal });
  assert.equal(events.status, 200);
  const observed = (await (await call('POST', '/api/clients/api-dev/3/0/14/observe')).json()) as { status: string };
  assert.equal(observed.status, 'CONTENT(205)');
  await call('PUT', '/api/clients/api-dev/3/0/14', { id: 14, kind: 'singleResource', value: '+07:00', type: 'STRING' });
  const reader = events.body!.getReader();
  let text = '';
  while (!text.includes('event: NOTIFICATION')) {
    const { value, done } = await reader.read();
    if (done) break;
    text += Buffer.from(value).toString('utf8');
  }
  assert.match(text, /event: NOTIFICATION/);
  assert.match(text, /\+07:00/);
});
