/**
 * The console's credentials and audit pages in a real browser: Debian's Chromium driven by playwright-core against a
 * real Warden (bootstrap server with factory keys, DTLS-PSK DM server) and three real LwM2M clients that bootstrap
 * from their factory key and register with fresh DM PSKs. Sign in as an operator, read the credential-age chart,
 * start a rotation of the three devices from the form and watch it reach done through ROTATION events, then find the
 * rotation in the audit log and narrow it by endpoint; a viewer sees the pages without the form. Screenshots go to
 * test-results/console/credentials.png, credentials-rotation.png and audit.png.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { defaultWebRoot, hasConsole } from '../src/api/index.js';
import { Lwm2mClient } from '../src/client/index.js';
import { until } from './helpers.js';
import { startWardenWithFactoryKeys } from './warden-fixtures.js';

const CHROMIUM = '/usr/bin/chromium';
const ADMIN_TOKEN = 'console-credentials-token';
const PASSWORD = 'correct horse battery staple';
/** Flags this machine needs (.library node.md): no sandbox as root, no GPU, and no background connections. */
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const SHOTS = 'test-results/console';
const SERIALS = ['cred-ui-1', 'cred-ui-2', 'cred-ui-3'];

test('the console credentials and audit pages: age chart, a rotation started from the browser reaches done live, audit filters', { timeout: 180_000 }, async (t) => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: install the Debian package chromium (apt-get install chromium)`);
  assert.ok(hasConsole(defaultWebRoot()), `the console is not built in ${defaultWebRoot()}: run npm run build`);
  const { warden, factory } = await startWardenWithFactoryKeys(t, SERIALS, ADMIN_TOKEN);
  const clients = factory.map((f) => new Lwm2mClient({
    endpoint: f.endpoint,
    bootstrap: { serverUri: `coaps://127.0.0.1:${warden.bootstrapsPort}`, security: { mode: 'psk', identity: f.pskIdentity, key: f.pskKey }, timeout: 10_000 },
    valueUpdateInterval: 0,
    retry: { initialDelay: 300, attempts: 50 },
    requestTimeout: 5000,
    dtls: { retransmitInitial: 200 },
  }));
  t.after(async () => {
    await Promise.all(clients.map((c) => c.stop({ deregister: false }).catch(() => {})));
    await warden.close();
  });
  const api = (path: string, init: RequestInit = {}) =>
    fetch(`${warden.apiUrl}${path}`, { ...init, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' } });
  for (const [name, role] of [['cred-ops', 'operator'], ['cred-view', 'viewer']]) {
    const made = await api('/api/users', { method: 'POST', body: JSON.stringify({ name, role, password: PASSWORD }) });
    assert.equal(made.status, 201, await made.text());
  }
  await Promise.all(clients.map((c) => c.start()));
  await until(() => warden.server.listRegistrations({ limit: 10 }).length === 3, 60_000, 'three devices registered');
  const endpoints = factory.map((f) => f.endpoint).sort();
  const firstIdentities = new Map(endpoints.map((ep) => [ep, warden.server.getRegistration(ep)!.identity!.name]));

  mkdirSync(SHOTS, { recursive: true });
  const profile = mkdtempSync(join(tmpdir(), 'warden-chromium-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: FLAGS });
  t.after(async () => {
    await context.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text())) problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(String(e)));
  const signIn = async (user: string, role: string) => {
    await page.goto(`${warden.apiUrl}/`);
    await page.locator('#login-form').waitFor();
    await page.fill('#login-user', user);
    await page.fill('#login-password', PASSWORD);
    await page.click('#login-submit');
    await page.locator('#whoami', { hasText: `${user} (${role})` }).waitFor();
  };

  // The age chart: three PSK credentials set moments ago, all in the first bucket.
  await signIn('cred-ops', 'operator');
  await page.click('#nav-credentials');
  await page.locator('#age-chart').waitFor();
  assert.equal(await page.locator('[data-bucket-count="< 1d"]').textContent(), '3');
  assert.equal(await page.locator('[data-bucket-count="> 1y"]').textContent(), '0');
  assert.equal(await page.locator('[data-mode-count="psk"]').textContent(), '3');
  assert.equal(await page.locator('#age-total').textContent(), '3');
  assert.equal(await page.locator('#age-chart tr').count(), 6, 'the six default buckets');
  assert.equal(await page.locator('#age-chart rect[data-mode="psk"]').count(), 1, 'one bar, in the first bucket');

  // Start a rotation of the three devices from the form; its page follows it live to done.
  await page.selectOption('#rot-target-kind', 'endpoints');
  await page.fill('#rot-target', endpoints.join(', '));
  await page.fill('#rot-concurrency', '3');
  await page.fill('#rot-attempts', '3');
  await page.click('#rot-create');
  await page.locator('#rotation-state').waitFor();
  const id = Number(/#\/credentials\/rotations\/(\d+)$/.exec(page.url())?.[1]);
  assert.ok(id > 0, page.url());
  await page.evaluate(() => ((window as unknown as { __noReload?: number }).__noReload = 1));
  assert.equal(await page.locator('#rotation-actor').textContent(), 'cred-ops', 'the signed-in user started it');
  await page.locator('[data-count="done"]', { hasText: /^3$/ }).waitFor({ timeout: 120_000 }).catch((err: Error) => {
    throw new Error(`${err.message}\nserver: ${JSON.stringify(warden.rotation.status(id))}`);
  });
  await page.locator('#rotation-state', { hasText: 'finished' }).waitFor({ timeout: 10_000 });
  assert.equal(await page.locator('#rotation-device-rows tr[data-state="done"]').count(), 3);
  assert.equal(await page.evaluate(() => (window as unknown as { __noReload?: number }).__noReload), 1, 'the page was not reloaded');
  await page.locator(`#rotation-device-rows tr[data-endpoint="${endpoints[1]}"] .history-link`).click();
  await page.locator('#rotation-history', { hasText: 'delivered → done' }).waitFor();
  await page.screenshot({ path: join(SHOTS, 'credentials-rotation.png'), fullPage: true });
  for (const ep of endpoints) {
    const reg = warden.server.getRegistration(ep);
    assert.equal(reg?.identity?.name, `${ep}~r${id}`, `${ep} registered with the new credential`);
    assert.notEqual(reg?.identity?.name, firstIdentities.get(ep));
  }

  // Back on the list: the campaign is finished, the chart still counts three fresh credentials.
  await page.click('#nav-credentials');
  await page.locator(`#rotation-rows tr[data-rotation="${id}"] .rotation-state`, { hasText: 'finished' }).waitFor();
  assert.equal(await page.locator('[data-bucket-count="< 1d"]').textContent(), '3');
  await page.screenshot({ path: join(SHOTS, 'credentials.png'), fullPage: true });

  // The audit log lists the rotation's events; filtering by endpoint narrows it, and the filter stays in the URL.
  await page.click('#nav-audit');
  await page.locator('#audit-rows tr[data-kind="rotated"]').nth(2).waitFor();
  assert.deepEqual((await page.locator('#audit-rows tr[data-kind="rotated"]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-endpoint')))).sort(), endpoints);
  const allRows = await page.locator('#audit-rows tr[data-audit]').count();
  await page.fill('#audit-endpoint', endpoints[0]!);
  await page.click('#audit-apply');
  await page.waitForFunction((ep) => location.hash.includes(`endpoint=${encodeURIComponent(ep)}`), endpoints[0]!);
  await page.locator('#audit-rows tr[data-audit]').first().waitFor();
  await page.waitForFunction((n) => document.querySelectorAll('#audit-rows tr[data-audit]').length < n, allRows, { timeout: 10_000 });
  const filtered = await page.locator('#audit-rows tr[data-audit]').evaluateAll((rows) => rows.map((r) => [r.getAttribute('data-endpoint'), r.getAttribute('data-kind')]));
  assert.ok(filtered.length > 0 && filtered.every(([ep]) => ep === endpoints[0]), JSON.stringify(filtered));
  assert.ok(filtered.some(([, kind]) => kind === 'rotated'));
  await page.selectOption('#audit-kind', 'rotated');
  await page.click('#audit-apply');
  await page.waitForFunction(() => location.hash.includes('kind=rotated'));
  await page.waitForFunction(() => document.querySelectorAll('#audit-rows tr[data-audit]').length === 1, undefined, { timeout: 10_000 });
  assert.match((await page.locator('#audit-rows tr[data-audit] .audit-actor').textContent()) ?? '', new RegExp(`^rotation:${id}$`));
  await page.screenshot({ path: join(SHOTS, 'audit.png'), fullPage: true });
  // A reload keeps the filters (they live in the hash).
  await page.reload();
  await page.locator('#audit-endpoint').waitFor();
  assert.equal(await page.inputValue('#audit-endpoint'), endpoints[0]);
  assert.equal(await page.inputValue('#audit-kind'), 'rotated');

  // A viewer sees the chart and the campaigns but not the form that starts one.
  await page.click('#sign-out');
  await page.locator('#login-form').waitFor();
  await signIn('cred-view', 'viewer');
  await page.click('#nav-credentials');
  await page.locator(`#rotation-rows tr[data-rotation="${id}"]`).waitFor();
  assert.equal(await page.locator('#rotation-form').count(), 0, 'no rotation form for a viewer');
  await page.click('#nav-firmware');
  await page.locator('#campaigns').waitFor();
  assert.equal(await page.locator('#campaign-form').count(), 0, 'no campaign form for a viewer');
  assert.equal(await page.locator('#fw-upload').count(), 0, 'no upload for a viewer');
  assert.deepEqual(problems, [], 'no CSP violation or page error');
  await context.close();
});
