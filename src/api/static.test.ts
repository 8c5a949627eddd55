import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeServer, fakeRegistration, testModel } from './fake-server.js';
import { CONSOLE_CSP, createApi, routeRegistryOf } from './index.js';

const TOKEN = 'test-token-0123456789';

function webDir(t: import('node:test').TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'warden-web-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'assets'));
  writeFileSync(join(dir, 'index.html'), '<!doctype html><script type="module" src="/assets/app-1a2b.js"></script>');
  writeFileSync(join(dir, 'assets', 'app-1a2b.js'), 'console.log(1)');
  writeFileSync(join(dir, 'assets', 'app-3c4d.css'), 'body{}');
  writeFileSync(join(dir, 'secret.txt'), 'not served');
  return dir;
}

async function api(webRoot: string | undefined) {
  const fake = new FakeServer();
  fake.add(fakeRegistration('dev1'));
  const app = await createApi({ server: fake, model: testModel(), apiToken: TOKEN, ...(webRoot !== undefined ? { webRoot } : {}) });
  await app.ready();
  return app;
}

test('the console is served at / and /assets/* without credentials, with a strict CSP and cache headers', async (t) => {
  const app = await api(webDir(t));
  t.after(() => app.close());
  const index = await app.inject({ method: 'GET', url: '/' });
  assert.equal(index.statusCode, 200);
  assert.match(String(index.headers['content-type']), /^text\/html/);
  assert.equal(index.headers['content-security-policy'], CONSOLE_CSP);
  assert.doesNotMatch(CONSOLE_CSP, /unsafe-inline|unsafe-eval/);
  assert.equal(index.headers['cache-control'], 'no-cache');
  assert.equal(index.headers['x-frame-options'], 'DENY');
  assert.equal(index.headers['x-content-type-options'], 'nosniff');
  const js = await app.inject({ method: 'GET', url: '/assets/app-1a2b.js' });
  assert.equal(js.statusCode, 200);
  assert.equal(js.body, 'console.log(1)');
  assert.match(String(js.headers['content-type']), /^text\/javascript/);
  assert.equal(js.headers['cache-control'], 'public, max-age=31536000, immutable');
  assert.match(String((await app.inject({ method: 'GET', url: '/assets/app-3c4d.css' })).headers['content-type']), /^text\/css/);
});

test('only the built files exist: traversal, unknown names and other paths are not served', async (t) => {
  const app = await api(webDir(t));
  t.after(() => app.close());
  for (const url of ['/assets/..%2Fsecret.txt', '/assets/../secret.txt', '/assets/%2e%2e/secret.txt', '/assets/nope.js', '/assets/']) {
    const res = await app.inject({ method: 'GET', url });
    assert.notEqual(res.statusCode, 200, url);
    assert.doesNotMatch(res.body, /not served/, url);
  }
  assert.equal((await app.inject({ method: 'GET', url: '/secret.txt' })).statusCode, 401);
  assert.equal((await app.inject({ method: 'GET', url: '/api/clients' })).statusCode, 401);
  assert.equal((await app.inject({ method: 'POST', url: '/' })).statusCode, 401);
  assert.equal((await app.inject({ method: 'GET', url: '/api/clients', headers: { authorization: `Bearer ${TOKEN}` } })).statusCode, 200);
  assert.deepEqual(routeRegistryOf(app)?.undocumented(), [], 'the console routes are in the OpenAPI document');
});

test('without a built console (or without webRoot) / needs credentials as before', async (t) => {
  const empty = mkdtempSync(join(tmpdir(), 'warden-web-empty-'));
  t.after(() => rmSync(empty, { recursive: true, force: true }));
  for (const root of [undefined, empty]) {
    const app = await api(root);
    assert.equal((await app.inject({ method: 'GET', url: '/' })).statusCode, 401);
    assert.equal((await app.inject({ method: 'GET', url: '/assets/x.js' })).statusCode, 401);
    await app.close();
  }
});
