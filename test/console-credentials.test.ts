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
import { Lwm2mClient } from '../src/client/index.js';
import { until } from './helpers.js';
import { startWardenWithFactoryKeys } from './warden-fixtures.js';
import { assertBrowserReady, cleanup, openBrowser, postUser, screenshot, signIn, signOut } from './browser.js';

const ADMIN_TOKEN = 'console-credentials-token';
const SERIALS = ['cred-ui-1', 'cred-ui-2', 'cred-ui-3'];

test('the console credentials and audit pages: age chart, a rotation started from the browser reaches done live, audit filters', { timeout: 180_000 }, async (t) => {
  assertBrowserReady();
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
  await postUser(warden.apiUrl, ADMIN_TOKEN, 'cred-ops', 'operator');
  await postUser(warden.apiUrl, ADMIN_TOKEN, 'cred-view', 'viewer');
  await Promise.all(clients.map((c) => c.start()));
  await until(() => warden.server.listRegistrations({ limit: 10 }).length === 3, 60_000, 'three devices registered');
  const endpoints = factory.map((f) => f.endpoint).sort();
  const firstIdentities = new Map(endpoints.map((ep) => [ep, warden.server.getRegistration(ep)!.identity!.name]));

  const { context, page, problems } = await openBrowser(cleanup(t));

  // The age chart: three PSK credentials set moments ago, all in the first bucket.
  await signIn(page, warden.apiUrl, 'cred-ops', 'operator');
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
  // The device table is a page, filtered by state on the server.
  assert.equal(await page.locator('#rotation-page').textContent(), 'devices 1–3 of 3');
  await page.selectOption('#rotation-state-filter', 'failed');
  await page.locator('#rotation-device-rows td', { hasText: 'No device.' }).waitFor();
  await page.selectOption('#rotation-state-filter', 'done');
  await page.locator('#rotation-page', { hasText: 'devices 1–3 of 3' }).waitFor();
  await page.locator(`#rotation-device-rows tr[data-endpoint="${endpoints[1]}"] .history-link`).click();
  await page.locator('#rotation-history', { hasText: 'delivered → done' }).waitFor();
  await screenshot(page, 'credentials-rotation');
  for (const ep of endpoints) {
    const reg = warden.server.getRegistration(ep);
    assert.equal(reg?.identity?.name, `${ep}~r${id}`, `${ep} registered with the new credential`);
    assert.notEqual(reg?.identity?.name, firstIdentities.get(ep));
  }

  // Back on the list: the campaign is finished, the chart still counts three fresh credentials.
  await page.click('#nav-credentials');
  await page.locator(`#rotation-rows tr[data-rotation="${id}"] .rotation-state`, { hasText: 'finished' }).waitFor();
  assert.equal(await page.locator('[data-bucket-count="< 1d"]').textContent(), '3');
  await screenshot(page, 'credentials');

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
  await screenshot(page, 'audit');
  // A reload keeps the filters (they live in the hash).
  await page.reload();
  await page.locator('#audit-endpoint').waitFor();
  assert.equal(await page.inputValue('#audit-endpoint'), endpoints[0]);
  assert.equal(await page.inputValue('#audit-kind'), 'rotated');

  // A viewer sees the chart and the campaigns but not the form that starts one.
  await signOut(page);
  await signIn(page, warden.apiUrl, 'cred-view', 'viewer');
  await page.click('#nav-credentials');
  await page.locator(`#rotation-rows tr[data-rotation="${id}"]`).waitFor();
  assert.equal(await page.locator('#rotation-form').count(), 0, 'no rotation form for a viewer');
  await page.click('#nav-firmware');
  await page.locator('#campaigns').waitFor();
  assert.equal(await page.locator('#campaign-form').count(), 0, 'no campaign form for a viewer');
  assert.equal(await page.locator('#fw-upload').count(), 0, 'no upload for a viewer');
  // Viewers have no API request tab (the route is admins').
  await page.click('#nav-audit');
  await page.locator('#audit-rows tr[data-audit]').first().waitFor();
  assert.equal(await page.locator('#audit-tab-requests').count(), 0, 'no request audit tab for a viewer');

  // An admin reads the API request audit: the rotation the operator started, and new requests appear live.
  await signOut(page);
  await postUser(warden.apiUrl, ADMIN_TOKEN, 'cred-admin', 'admin');
  await signIn(page, warden.apiUrl, 'cred-admin', 'admin');
  await page.click('#nav-audit');
  await page.click('#audit-tab-requests');
  await page.locator('#audit-rows tr[data-actor="cred-ops"]').first().waitFor();
  assert.match((await page.locator('#audit-rows tr[data-actor="cred-ops"]').allTextContents()).join('\n'), /POST \/api\/credentials\/rotations.*201/);
  await page.locator('#live-state', { hasText: 'live' }).waitFor();
  const refused = await fetch(`${warden.apiUrl}/api/firmware`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: new Uint8Array(8) });
  assert.equal(refused.status, 401);
  await page.locator('#audit-rows tr[data-status="401"]').first().waitFor({ timeout: 10_000 });
  await page.selectOption('#audit-status', '2xx');
  await page.click('#audit-apply');
  await page.waitForFunction(() => location.hash.includes('status=2xx'));
  await page.waitForFunction(() => document.querySelectorAll('#audit-rows tr[data-status="401"]').length === 0, undefined, { timeout: 10_000 });
  await screenshot(page, 'audit-requests');
  assert.deepEqual(problems, [], 'no CSP violation or page error');
  await context.close();
});
