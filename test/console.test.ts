/**
 * The web console in a real browser: Debian's Chromium driven by playwright-core against a real Warden (API + CoAP on
 * loopback) with real simulated devices and a user from the users store. Screenshots go to test-results/console/.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Lwm2mClient } from '../src/client/index.js';
import { assertBrowserReady, cleanup, openBrowser, addUsers, screenshot, signOut, startConsoleWarden, submitSignIn, tempDir } from './browser.js';

const TOKEN = 'console-test-token-0123456789';
const USER = 'ops';
const EVIL = '<img src=x onerror="window.__xss=1">ACME';

test('the console: sign in, find a device, read, write, execute, observe live, device strings as text, sign out', async (t) => {
  assertBrowserReady();
  const defer = cleanup(t);
  const dir = tempDir(defer, 'warden-console-');
  await addUsers(dir, [[USER, 'operator']]);

  const { warden, clients, register } = await startConsoleWarden(defer, dir, TOKEN);
  const serverUri = `coap://127.0.0.1:${warden.coapPort}`;
  const devices: [string, string | undefined][] = [['console-dev-1', undefined], ['console-dev-2', undefined], ['console-evil', EVIL]];
  for (const [endpoint, manufacturer] of devices) {
    await register(new Lwm2mClient({ endpoint, serverUri, lifetime: 300, valueUpdateInterval: 0, ...(manufacturer ? { standard: { device: { manufacturer } } } : {}) }));
  }

  // The static route: a strict CSP, security headers, no store for index.html, a year for hashed assets; /api stays closed.
  const index = await fetch(`${warden.apiUrl}/`);
  assert.equal(index.status, 200);
  const csp = index.headers.get('content-security-policy') ?? '';
  assert.match(csp, /script-src 'self'(;|$)/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.equal(index.headers.get('x-content-type-options'), 'nosniff');
  assert.equal(index.headers.get('cache-control'), 'no-cache');
  const html = await index.text();
  assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, 'no inline script');
  const asset = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
  assert.ok(asset, 'index.html loads a hashed script');
  const js = await fetch(warden.apiUrl + asset);
  assert.equal(js.status, 200);
  assert.match(js.headers.get('cache-control') ?? '', /immutable/);
  assert.equal((await fetch(`${warden.apiUrl}/assets/..%2Fwarden.db`)).status, 404);
  assert.equal((await fetch(`${warden.apiUrl}/api/clients`)).status, 401);

  const { context, page, problems } = await openBrowser(defer);
  const shot = (name: string) => screenshot(page, name);
  const resultHas = async (text: string | RegExp) => {
    await page.locator('#op-result', { hasText: text }).waitFor();
    return (await page.locator('#op-result').textContent()) ?? '';
  };

  // Sign in (a wrong password first).
  await page.goto(`${warden.apiUrl}/`);
  await page.locator('#login-form').waitFor();
  await submitSignIn(page, USER, 'wrong password');
  await page.locator('#login-message', { hasText: 'Invalid user name or password' }).waitFor();
  await submitSignIn(page, USER);
  await page.locator('#whoami', { hasText: `${USER} (operator)` }).waitFor();
  await page.locator('#device-rows tr[data-endpoint]').nth(2).waitFor();
  assert.equal(await page.locator('#device-rows tr[data-endpoint]').count(), 3);
  await shot('01-devices');

  // Find a device by search.
  await page.fill('#device-search', 'dev-2');
  await page.locator('#device-summary', { hasText: '1–1 of 1' }).waitFor();
  assert.deepEqual(await page.locator('#device-rows tr[data-endpoint]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-endpoint'))), ['console-dev-2']);

  // A device registering now appears without a refresh (REGISTRATION event).
  await page.fill('#device-search', '');
  await page.locator('#device-summary', { hasText: 'of 3' }).waitFor();
  const late = new Lwm2mClient({ endpoint: 'console-late', serverUri, lifetime: 300, valueUpdateInterval: 0 });
  clients.push(late);
  await late.start();
  await page.locator('#device-rows tr[data-endpoint="console-late"]').waitFor();
  await page.fill('#device-search', 'dev-2');
  await page.locator('#device-summary', { hasText: '1–1 of 1' }).waitFor();
  await page.click('#device-rows a.device-link');
  await page.locator('#registration dd', { hasText: 'console-dev-2' }).first().waitFor();
  await page.locator('details.object[data-object="3"]').waitFor();

  // Read /3/0/0.
  await page.fill('#op-path', '/3/0/0');
  await page.click('#op-read');
  assert.match(await resultHas('CONTENT(205)'), /\/3\/0\/0 = Warden/);

  // Write /3/0/14 (UTC offset) and read it back.
  await page.fill('#op-path', '/3/0/14');
  await page.click('#op-read');
  await resultHas('/3/0/14 =');
  await page.fill('#op-value', '+05:30');
  await page.selectOption('#op-type', 'STRING');
  await page.click('#op-write');
  await resultHas('CHANGED(204)');
  await page.click('#op-read');
  assert.match(await resultHas('+05:30'), /CONTENT\(205\)\n\/3\/0\/14 = \+05:30 \(STRING\)/);

  // Execute /3/0/4 (Reboot).
  await page.fill('#op-path', '/3/0/4');
  await page.click('#op-execute');
  await resultHas('CHANGED(204)');
  await shot('02-device');

  // Observe /3/0/14; a change made elsewhere shows up live.
  await page.fill('#op-path', '/3/0/14');
  await page.click('#op-observe');
  await page.locator('[data-observed="/3/0/14"]', { hasText: '+05:30' }).waitFor();
  const put = await fetch(`${warden.apiUrl}/api/clients/console-dev-2/3/0/14`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ id: 14, kind: 'singleResource', type: 'STRING', value: '-02:00' }),
  });
  assert.equal(((await put.json()) as { status: string }).status, 'CHANGED(204)');
  await page.locator('[data-observed="/3/0/14"]', { hasText: '-02:00' }).waitFor();
  await shot('03-observe');

  // A device's strings are text, never markup.
  await page.goto(`${warden.apiUrl}/#/devices/console-evil`);
  await page.locator('[data-read="/3/0"]').click();
  const cell = page.locator('[data-value-of="/3/0/0"]');
  await cell.waitFor();
  assert.equal(await cell.textContent(), EVIL);
  assert.equal(await page.locator('img').count(), 0);
  assert.equal(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss), undefined);
  await shot('04-escaped');

  // A 401 anywhere (the session is gone) leads back to sign-in; signing in again continues.
  await context.clearCookies();
  await page.locator('[data-read="/3/0"]').click();
  await page.locator('#login-message', { hasText: 'session ended' }).waitFor();
  await submitSignIn(page, USER);
  await page.locator('#whoami', { hasText: USER }).waitFor();

  // Sign out: back at sign-in, and the session is gone.
  await signOut(page);
  assert.equal(await page.evaluate(async () => (await fetch('/api/me')).status), 401);
  await shot('05-signed-out');
  assert.deepEqual(problems, [], 'no CSP violation or page error');
});

