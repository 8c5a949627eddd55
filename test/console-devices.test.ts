/**
 * The console's device list in a real browser (Debian's Chromium via playwright-core) against a real Warden: three
 * real simulated devices (one in queue mode, two firmware versions) and one device known only by the PSK credential
 * the API added. Filters by online state, firmware version and security mode; the hash keeps them across a reload.
 * Screenshot: test-results/console/devices-filters.png.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Page } from 'playwright-core';
import { Lwm2mClient } from '../src/client/index.js';
import { startWarden } from '../src/cli/warden.js';
import { defaultWebRoot, hasConsole } from '../src/api/index.js';
import { SqliteStore, UserStore } from '../src/store/index.js';
import { silentLogger } from '../src/log.js';
import { until } from './helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const TOKEN = 'console-devices-token-0123456789';
const USER = 'viewer1';
const PASSWORD = 'correct horse battery staple';
/** Flags this machine needs (.library node.md): no sandbox as root, no GPU, and no background connections. */
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const SHOTS = 'test-results/console';

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
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: install the Debian package chromium (apt-get install chromium)`);
  assert.ok(hasConsole(defaultWebRoot()), `the console is not built in ${defaultWebRoot()}: run npm run build`);
  const dir = mkdtempSync(join(tmpdir(), 'warden-console-devices-'));
  const profile = mkdtempSync(join(tmpdir(), 'warden-chromium-'));
  const undo: (() => unknown)[] = [
    () => rmSync(dir, { recursive: true, force: true }),
    () => rmSync(profile, { recursive: true, force: true }),
  ];
  t.after(async () => {
    for (const fn of undo.reverse()) await fn();
  });
  const store = new SqliteStore(join(dir, 'warden.db'));
  try {
    await new UserStore(store).add(USER, 'viewer', PASSWORD);
  } finally {
    store.close();
  }

  const warden = await startWarden({ dataDir: dir, coapPort: 0, coapHost: '127.0.0.1', apiPort: 0, apiHost: '127.0.0.1', apiToken: TOKEN, logger: silentLogger });
  const clients: Lwm2mClient[] = [];
  undo.push(() => warden.close(), async () => {
    for (const c of clients) await c.stop().catch(() => {});
  });
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

  mkdirSync(SHOTS, { recursive: true });
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: FLAGS });
  undo.push(() => context.close());
  const page = context.pages()[0] ?? (await context.newPage());
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(String(e)));

  await page.goto(`${warden.apiUrl}/`);
  await page.locator('#login-form').waitFor();
  await page.fill('#login-user', USER);
  await page.fill('#login-password', PASSWORD);
  await page.click('#login-submit');
  await page.locator('#whoami', { hasText: `${USER} (viewer)` }).waitFor();
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
  await page.screenshot({ path: join(SHOTS, 'devices-filters.png'), fullPage: true });
  await page.click('#filter-clear');
  await showing(page, ['list-a', 'list-b', 'list-c', 'list-d-psk']);
  await page.screenshot({ path: join(SHOTS, 'devices-all.png'), fullPage: true });
  assert.deepEqual(problems, []);
});
