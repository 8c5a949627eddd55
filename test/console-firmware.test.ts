/**
 * The console's firmware pages in a real browser: Debian's Chromium driven by playwright-core against a real Warden
 * with a trusted firmware key and three simulated MCUboot-class devices (test/firmware-rig.ts). Sign in as an operator,
 * see the stored package, upload another through the file input, create and start a campaign, and watch it reach
 * 3 succeeded through CAMPAIGN/FIRMWARE events without a reload. Screenshots go to test-results/console/.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { imagePackage, imagePair } from '../src/device/test-helpers.js';
import { startFirmwareRig } from './firmware-rig.js';
import { until } from './helpers.js';
import { assertBrowserReady, cleanup, openBrowser, postUser, screenshot, signIn } from './browser.js';

const ADMIN_TOKEN = 'firmware-rig-token';
const USER = 'fw-ops';

const [v1, v2] = imagePair(31, 16 * 1024);
const V1 = imagePackage(v1, 1, '1.0.0');
const V2 = imagePackage(v2, 2, '2.0.0');
const V3 = imagePackage(v1, 3, '3.0.0');

test('the console firmware page: packages, upload, a campaign started from the browser progresses live to 3 succeeded', { timeout: 180_000 }, async (t) => {
  assertBrowserReady();
  const rig = await startFirmwareRig(t);
  const api = rig.warden.apiUrl;
  await postUser(api, ADMIN_TOKEN, USER, 'operator');

  const v2Id = await rig.upload(V2);
  const runners = ['fw-ui-1', 'fw-ui-2', 'fw-ui-3'].map((ep) => rig.device(ep, V1));
  await Promise.all(runners.map((r) => r.start()));
  await until(() => rig.warden.server.listRegistrations({ limit: 10 }).length === 3, 60_000, 'three devices registered');

  // node:test runs `after` hooks in the order they were added, so this clean-up runs after the rig's: the test body
  // closes the browser itself on success; this covers a failure.
  const { context, page, problems } = await openBrowser(cleanup(t));
  const shot = (name: string) => screenshot(page, name);

  // Sign in and open Firmware: the stored package is listed.
  await signIn(page, api, USER, 'operator');
  await page.click('#nav-firmware');
  const v2Row = page.locator(`#package-rows tr[data-package="${v2Id}"]`);
  await v2Row.waitFor();
  assert.equal(await v2Row.locator('.pkg-version').textContent(), '2.0.0');
  assert.match((await v2Row.textContent()) ?? '', /image/);

  // Upload another package through the file input (POST /api/firmware as application/octet-stream).
  await page.setInputFiles('#fw-file', { name: 'v3.wfp', mimeType: 'application/octet-stream', buffer: Buffer.from(V3) });
  await page.fill('#fw-name', 'three');
  await page.click('#fw-upload');
  await page.locator('#fw-upload-result', { hasText: 'Stored 3.0.0' }).waitFor();
  await page.locator('#package-rows tr[data-package] .pkg-version', { hasText: '3.0.0' }).waitFor();
  assert.equal(await page.locator('#package-rows tr[data-package]').count(), 2);
  assert.equal(rig.warden.firmware.list({}).length, 2, 'the upload reached the repository');
  await shot('10-firmware');

  // Create a campaign for the three devices (no canary, one wave, pull over CoAPs) and start it.
  await page.selectOption('#cmp-package', v2Id);
  await page.fill('#cmp-endpoint', 'fw-ui-*');
  await page.fill('#cmp-canary', '0');
  await page.fill('#cmp-waves', '100');
  await page.fill('#cmp-max', '3');
  // The targets beyond the glob (current version /3/0/3, registration attributes) and the thresholds.
  await page.fill('#cmp-version', '1.0.0');
  await page.fill('#cmp-attributes', 'secure=true');
  await page.fill('#cmp-success', '90');
  await page.fill('#cmp-error', '50');
  await page.fill('#cmp-min-sample', '2');
  await page.fill('#cmp-attempts', '4');
  await page.selectOption('#cmp-delivery', 'pull');
  await page.selectOption('#cmp-scheme', 'coaps');
  await page.click('#cmp-create');
  await page.locator('#campaign-state', { hasText: 'created' }).waitFor();
  const url = page.url();
  const id = Number(/#\/firmware\/campaigns\/(\d+)$/.exec(url)?.[1]);
  assert.ok(id > 0, url);
  const created = rig.warden.campaigns.summary(id)!;
  assert.deepEqual(created.target, { filter: { endpoint: 'fw-ui-*', version: '1.0.0', attributes: { secure: 'true' } } });
  assert.equal(created.settings.successThreshold, 0.9);
  assert.equal(created.settings.errorThreshold, 0.5);
  assert.equal(created.settings.minSample, 2);
  assert.equal(created.settings.maxAttempts, 4);
  await page.locator('#campaign-thresholds', { hasText: 'success ≥ 90% per wave' }).waitFor();
  // A marker on the page: a reload would lose it.
  await page.evaluate(() => ((window as unknown as { __noReload?: number }).__noReload = 1));
  await page.click('[data-action="start"]');
  // Start snapshots the targets: the three devices appear.
  await page.locator('#campaign-device-rows tr[data-endpoint]').nth(2).waitFor();
  assert.equal(rig.warden.campaigns.summary(id)?.total, 3);

  // Live: every device moves past queued, and the chart and table end at 3 succeeded — with no reload.
  await page.locator('#campaign-device-rows tr[data-state="downloading"], #campaign-device-rows tr[data-state="downloaded"], #campaign-device-rows tr[data-state="updating"], #campaign-device-rows tr[data-state="verifying"]').first().waitFor({ timeout: 120_000 });
  await shot('11-campaign-progress');
  await page.locator('[data-count="succeeded"]', { hasText: /^3$/ }).waitFor({ timeout: 150_000 });
  await page.locator('#campaign-state', { hasText: 'finished' }).waitFor();
  assert.equal(await page.locator('#campaign-device-rows tr[data-state="succeeded"]').count(), 3);
  assert.equal(await page.locator('.progress-chart rect[data-state="succeeded"]').count(), 1);
  assert.equal(await page.evaluate(() => (window as unknown as { __noReload?: number }).__noReload), 1, 'the page was not reloaded');
  for (const r of runners) assert.equal(r.version, '2.0.0');
  // Each device answered the Execute of /5/0/2 before restarting: one attempt each on this clean link.
  for (const r of runners) assert.equal(rig.warden.campaigns.device(id, r.endpoint)?.attempts, 1, r.endpoint);

  // A device's history opens from its row.
  await page.locator('#campaign-device-rows tr[data-endpoint="fw-ui-1"] .history-link').click();
  await page.locator('#device-history', { hasText: 'verifying → succeeded' }).waitFor();
  await shot('12-campaign-done');

  // Back on the list, the campaign shows as finished.
  await page.click('#nav-firmware');
  await page.locator(`#campaign-rows tr[data-campaign="${id}"] .campaign-state`, { hasText: 'finished' }).waitFor();
  assert.deepEqual(problems, [], 'no CSP violation or page error');
  await context.close();
});
