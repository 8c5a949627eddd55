/**
 * The API and console over HTTPS (`--api-cert`/`--api-key`): a real Warden with a certificate from the test PKI,
 * reached by Node's TLS client, by `openssl s_client` and by the `warden` CLI.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startWarden } from '../src/cli/warden.js';
import { SqliteStore, UserStore } from '../src/store/index.js';
import { silentLogger } from '../src/log.js';
import { createDtlsFixtures } from './fixtures-dtls.js';
import { runTool } from './helpers.js';

const TOKEN = 'https-test-token-0123456789abcdef';
const MAIN = new URL('../src/cli/main.js', import.meta.url).pathname;

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

function get(url: string, ca: Buffer, opts: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { method: opts.method ?? 'GET', ca, headers: opts.headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

test('the API over HTTPS: security headers and HSTS, Secure __Host- session cookies, openssl and the CLI connect, TLS 1.1 and plain HTTP refused', async (t) => {
  const fx = createDtlsFixtures();
  const dir = mkdtempSync(join(tmpdir(), 'warden-https-'));
  t.after(() => {
    fx.remove();
    rmSync(dir, { recursive: true, force: true });
  });
  const store = new SqliteStore(join(dir, 'warden.db'));
  try {
    await new UserStore(store).add('ops', 'operator', 'correct horse battery staple');
  } finally {
    store.close();
  }
  const warden = await startWarden({
    dataDir: dir, coapPort: 0, coapHost: '127.0.0.1', apiPort: 0, apiHost: '127.0.0.1', apiToken: TOKEN, logger: silentLogger,
    apiTls: { certFile: fx.files.serverDirectCert, keyFile: fx.files.serverDirectKey },
  });
  t.after(() => warden.close());
  assert.match(warden.apiUrl, /^https:\/\/127\.0\.0\.1:\d+$/);
  const ca = readFileSync(fx.files.rootCa);

  const health = await get(`${warden.apiUrl}/healthz`, ca);
  assert.equal(health.status, 200);
  assert.equal(health.headers['strict-transport-security'], 'max-age=31536000');
  assert.equal(health.headers['x-content-type-options'], 'nosniff');
  assert.equal(health.headers['x-frame-options'], 'DENY');

  const anonymous = await get(`${warden.apiUrl}/api/clients`, ca);
  assert.equal(anonymous.status, 401);
  const listed = await get(`${warden.apiUrl}/api/clients`, ca, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(listed.status, 200);

  // Under TLS the session cookie is Secure and __Host- prefixed without any flag (RFC 6265bis §4.1.3.2).
  const login = await get(`${warden.apiUrl}/api/login`, ca, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'ops', password: 'correct horse battery staple' }),
  });
  assert.equal(login.status, 200, login.body);
  const cookie = String(login.headers['set-cookie']);
  assert.match(cookie, /^__Host-/);
  for (const attr of ['Secure', 'HttpOnly', 'SameSite=Strict', 'Path=/']) assert.ok(cookie.includes(attr), `${attr} in ${cookie}`);
  const me = await get(`${warden.apiUrl}/api/me`, ca, { headers: { cookie: cookie.split(';')[0]! } });
  assert.equal(me.status, 200);
  assert.equal(JSON.parse(me.body).username, 'ops');

  const port = new URL(warden.apiUrl).port;
  const s = await runTool('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-CAfile', fx.files.rootCa, '-verify_return_error', '-brief'], 'openssl');
  assert.match(s.out, /Verification: OK/, s.out);
  assert.match(s.out, /Protocol version: TLSv1\.[23]/, s.out);
  const old = await runTool('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-tls1_1', '-cipher', 'DEFAULT:@SECLEVEL=0', '-brief'], 'openssl');
  assert.doesNotMatch(old.out, /Protocol version: TLSv1\.1/, old.out);
  assert.notEqual(old.status, 0, 'a TLS 1.1 handshake must fail');

  // Plain HTTP on the HTTPS port gets no API answer.
  const plain = await new Promise<number | Error>((resolve) => {
    const req = httpRequest(`http://127.0.0.1:${port}/api/clients`, { headers: { authorization: `Bearer ${TOKEN}` } }, (res) => {
      res.resume();
      resolve(res.statusCode!);
    });
    req.on('error', resolve);
    req.end();
  });
  assert.ok(plain instanceof Error || plain === 400, `plain HTTP got ${String(plain)}`);

  // The CLI reaches it, trusting the CA through Node's NODE_EXTRA_CA_CERTS.
  const cli = await new Promise<{ code: number; out: string }>((resolve) => {
    execFile(process.execPath, [MAIN, 'firmware', 'list', '--api', warden.apiUrl], {
      env: { ...process.env, WARDEN_API_TOKEN: TOKEN, NODE_EXTRA_CA_CERTS: fx.files.rootCa },
    }, (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, out: stdout + stderr }));
  });
  assert.equal(cli.code, 0, cli.out);
});
