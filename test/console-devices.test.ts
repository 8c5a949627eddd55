/**
 * The console's device list in a real browser (Debian's Chromium via playwright-core) against a real Warden: three
 * real simulated devices (one in queue mode, two firmware versions) and one device known only by the PSK credential
 * the API added. Filters by online state, firmware version and security mode; the hash keeps them across a reload.
 * Screenshot: test-results/console/devices-filters.png.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { Lwm2mClient } from '../src/client/index.js';
import { until } from './helpers.js';
import { addUsers, assertBrowserReady, cleanup, openBrowser, screenshot, signIn, startConsoleWarden, tempDir } from './browser.js';

const TOKEN = 'console-devices-token-0123456789';
const USER = 'viewer1';

const rows = (page: Page) => page.locator('#device-rows tr[data-endpoint]').evaluateAll((trs) => trs.map((r) => r.getAttribute('data-endpoint')));

/** Waits until the list shows exactly `want`, with the summary's total matching (each filter change reloads). */
async function showing(page: Page, want: string[]): Promise<void> {
  const deadline = Date.now() + 10_000;
  let seen: (string | null)[] = [];
  let summary = '';
  while (Date.now() < deadline) {
    seen = await rows(page);
    summary = (await page.locator('#device-summary').textContent()) ?? '';
    if (JSON.stringify(seen) === JSON.stringify(want) && summary.endsWith(`of ${want.length}`)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.deepEqual(seen, want, `the list (summary "${summary}")`);
}

test('the device list: filters on online state, firmware version and security mode, kept in the hash', async (t) => {
  assertBrowserReady();
  const defer = cleanup(t);
  const dir = tempDir(defer, 'warden-console-devices-');
  await addUsers(dir, [[USER, 'viewer']]);

  const { warden, clients } = await startConsoleWarden(defer, dir, TOKEN);
  const serverUri = `coap://127.0.0.1:${warden.coapPort}`;
  const devices: [string, string, boolean][] = [['list-a', '1.0.0', false], ['list-b', '2.0.0', true], ['list-c', '2.0.0', false]];
  for (const [endpoint, firmwareVersion, queueMode] of devices) {
    const c = new Lwm2mClient({ endpoint, serverUri, lifetime: 300, valueUpdateInterval: 0, queueMode, standard: { device: { firmwareVersion } } });
    clients.push(c);
    await c.start();
  }
  // The registration read (/3/0/3) tells the inventory each firmware version.
  await until(() => devices.every(([ep, v]) => warden.inventory.get(ep)?.firmwareVersion === v), 15_000, 'the firmware versions read at registration');
  // A device known only by its credential, added through the API.
  const put = await fetch(`${warden.apiUrl}/api/security/clients`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ endpoint: 'list-d-psk', tls: { mode: 'psk', details: { identity: 'list-d-id', key: '00112233445566778899aabbccddeeff' } } }),
  });
  assert.ok(put.ok, `PUT /api/security/clients: ${put.status}`);
  const api = await fetch(`${warden.apiUrl}/api/devices`, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(api.headers.get('x-total-count'), '4');
  assert.doesNotMatch(await api.text(), /00112233445566778899aabbccddeeff|list-d-id/, 'no key or identity in the list');

  const { page, problems } = await openBrowser(defer);
  await signIn(page, warden.apiUrl, USER, 'viewer');
  await showing(page, ['list-a', 'list-b', 'list-c', 'list-d-psk']);
  assert.equal(await page.locator('#device-rows tr[data-endpoint="list-b"] .device-state').textContent(), 'online (queue)');
  assert.equal(await page.locator('#device-rows tr[data-endpoint="list-a"] .device-firmware').textContent(), '1.0.0');
  assert.equal(await page.locator('#device-rows tr[data-endpoint="list-d-psk"] .device-security').textContent(), 'PSK');
  assert.equal(await page.locator('#device-rows tr[data-endpoint="list-d-psk"] .device-credential-age').textContent(), 'today');

  // Offline: only the device known by its credential, greyed.
  await page.selectOption('#filter-online', 'false');
  await showing(page, ['list-d-psk']);
  assert.equal(await page.locator('#device-rows tr.offline').count(), 1);
  await until(() => page.url().includes('online=false'), 5000, 'the filter in the hash');
  await page.reload();
  await page.locator('#whoami').waitFor();
  await showing(page, ['list-d-psk']);
  assert.equal(await page.inputValue('#filter-online'), 'false', 'the reload kept the filter');

  // Firmware version from the dropdown the API fills.
  await page.click('#filter-clear');
  await showing(page, ['list-a', 'list-b', 'list-c', 'list-d-psk']);
  await page.locator('#filter-firmware option[value="2.0.0"]', { hasText: '2.0.0 (2)' }).waitFor({ state: 'attached' });
  await page.selectOption('#filter-firmware', '2.0.0');
  await showing(page, ['list-b', 'list-c']);

  // Security mode, combined with the firmware filter, then alone.
  await page.selectOption('#filter-security', 'none');
  await showing(page, ['list-b', 'list-c']);
  await page.selectOption('#filter-security', 'psk');
  await page.locator('#device-rows td', { hasText: 'No device matches.' }).waitFor();
  await page.selectOption('#filter-firmware', '');
  await showing(page, ['list-d-psk']);
  await page.selectOption('#filter-online', 'true');
  await page.locator('#device-rows td', { hasText: 'No device matches.' }).waitFor();
  await page.selectOption('#filter-online', '');
  await page.selectOption('#filter-security', 'none');
  await page.selectOption('#filter-queue', 'true');
  await showing(page, ['list-b']);
  await page.selectOption('#filter-queue', '');
  await showing(page, ['list-a', 'list-b', 'list-c']);
  await screenshot(page, 'devices-filters');
  await page.click('#filter-clear');
  await showing(page, ['list-a', 'list-b', 'list-c', 'list-d-psk']);
  // A credential added meanwhile (no registration happens) shows up live: a DEVICE event, no reload.
  const live = await fetch(`${warden.apiUrl}/api/security/clients`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ endpoint: 'list-e-live', tls: { mode: 'psk', details: { identity: 'list-e-id', key: 'ffeeddccbbaa99887766554433221100' } } }),
  });
  assert.ok(live.ok, `PUT /api/security/clients: ${live.status}`);
  await showing(page, ['list-a', 'list-b', 'list-c', 'list-d-psk', 'list-e-live']);
  // A device that de-registers stays listed, offline, with when it was last seen.
  await clients.find((c) => c.endpointName === 'list-c')!.stop();
  await page.locator('#device-rows tr[data-endpoint="list-c"].offline').waitFor({ timeout: 10_000 });
  assert.match((await page.locator('#device-rows tr[data-endpoint="list-c"] .device-seen').textContent()) ?? '', /^offline since /);
  await showing(page, ['list-a', 'list-b', 'list-c', 'list-d-psk', 'list-e-live']);
  await screenshot(page, 'devices-all');
  assert.deepEqual(problems, []);
});
