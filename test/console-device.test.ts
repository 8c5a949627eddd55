/**
 * The console's device page in a real browser (Debian's Chromium driven by playwright-core) against a real Warden
 * (API + CoAP + CoAPs on loopback) with real simulated devices, one of them on PSK over DTLS: every operation
 * (execute with arguments, create, delete, discover, write-attributes, composite read), the security panel (the
 * identity, never the key), the firmware panel, the timeline, and a viewer who gets no button that changes a device.
 * The screenshot goes to test-results/console/device-page.png.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Lwm2mClient } from '../src/client/index.js';
import { createTestPki } from '../src/dtls/test-pki.js';
import { addUsers, assertBrowserReady, cleanup, openBrowser, screenshot, signIn, signOut, startConsoleWarden, tempDir } from './browser.js';

const TOKEN = 'console-device-test-token-0123456789';
const OPERATOR = 'ops';
const VIEWER = 'watcher';
const PSK = Buffer.from('7a3c91e0d45b2f8866aa10c3e9b4d2f1', 'hex');
const PSK_IDENTITY = 'psk-device-identity';

const pem = (label: string, der: Uint8Array) =>
  `-----BEGIN ${label}-----\n${Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END ${label}-----\n`;

test('the device page: every operation, security info without keys, firmware state, timeline; viewers cannot change a device', async (t) => {
  assertBrowserReady();
  const defer = cleanup(t);
  const dir = tempDir(defer, 'warden-console-device-');
  await addUsers(dir, [[OPERATOR, 'operator'], [VIEWER, 'viewer']]);

  // CoAP and CoAPs (the test PKI's server chain; PSK devices need no certificate of their own).
  const pki = createTestPki();
  writeFileSync(join(dir, 'server.pem'), pki.server.chain.map((c) => pem('CERTIFICATE', c)).join(''));
  writeFileSync(join(dir, 'server.key'), pki.server.key.export({ format: 'pem', type: 'pkcs8' }));
  const { warden, register } = await startConsoleWarden(defer, dir, TOKEN, {
    coapsPort: 0, dtls: { certFile: join(dir, 'server.pem'), keyFile: join(dir, 'server.key') },
  });
  warden.security.add({ endpoint: 'psk-device', mode: 'psk', pskIdentity: PSK_IDENTITY, pskKey: PSK });
  await register(new Lwm2mClient({
    endpoint: 'psk-device', serverUri: `coaps://127.0.0.1:${warden.coapsPort}`, lifetime: 300, valueUpdateInterval: 0,
    security: { mode: 'psk', identity: PSK_IDENTITY, key: PSK }, standard: { device: { firmwareVersion: '4.5.6-dtls' } },
  }));
  await register(new Lwm2mClient({ endpoint: 'plain-device', serverUri: `coap://127.0.0.1:${warden.coapPort}`, lifetime: 300, valueUpdateInterval: 0 }));
  assert.deepEqual(warden.server.getRegistration('psk-device')?.identity, { mode: 'psk', name: PSK_IDENTITY });

  const { page, problems } = await openBrowser(defer, { width: 1280, height: 900 });
  page.on('dialog', (d) => void d.accept());
  const resultHas = async (text: string | RegExp) => {
    await page.locator('#op-result', { hasText: text }).waitFor();
    return (await page.locator('#op-result').textContent()) ?? '';
  };
  const run = async (path: string, button: string, expect: string | RegExp) => {
    await page.fill('#op-path', path);
    await page.click(button);
    return resultHas(expect);
  };

  await signIn(page, warden.apiUrl, OPERATOR, 'operator');
  await page.goto(`${warden.apiUrl}/#/devices/psk-device`);
  await page.locator('#registration dd', { hasText: 'psk-device' }).first().waitFor();
  await page.locator('details.object[data-object="3"]').waitFor();

  // Security panel: the mode and the identity, never the key.
  await page.locator('#sec-mode', { hasText: 'PSK' }).waitFor();
  assert.equal(await page.locator('#sec-identity').textContent(), PSK_IDENTITY);
  assert.equal(await page.locator('#sec-registered-identity').textContent(), `${PSK_IDENTITY} (psk)`);
  assert.equal(await page.locator('#sec-pending').textContent(), 'no');

  // Firmware panel: the version the device reports, read live, and again on Refresh.
  await page.locator('#fw-version', { hasText: '4.5.6-dtls' }).waitFor();
  await page.locator('#fw-update-state', { hasText: 'Idle' }).waitFor();
  await page.click('#fw-refresh');
  await page.locator('#fw-status', { hasText: /^read / }).waitFor();
  assert.equal(await page.locator('#fw-version').textContent(), '4.5.6-dtls');
  await page.locator('#fw-campaigns', { hasText: 'No firmware campaign' }).waitFor();

  // Timeline: the registration and the first use of the PSK (credential audit), from the server's records.
  await page.locator('#timeline tr[data-kind="registered"]').waitFor();
  await page.locator('#timeline tr[data-kind="credential-used-first"]', { hasText: PSK_IDENTITY }).waitFor();

  // Execute with arguments: the Registration Update Trigger takes them; arguments the device refuses show its 4.00.
  await page.fill('#op-args', "0='now',1");
  assert.match(await run('/1/0/8', '#op-execute', 'CHANGED(204)'), /with arguments 0='now',1/);
  await page.fill('#op-args', 'x=1');
  await run('/1/0/8', '#op-execute', 'BAD_REQUEST(400)');
  await page.fill('#op-args', '');
  // ... and the Update it triggered reaches the timeline live.
  await page.locator('#timeline tr.live[data-kind="updated"]').first().waitFor();

  // Composite read of two checked resources.
  await page.locator('[data-read="/3/0"]').click();
  await page.locator('[data-pick="/3/0/3"]').waitFor();
  await page.check('[data-pick="/3/0/0"]');
  await page.check('[data-pick="/3/0/3"]');
  await page.click('#composite-read');
  const composite = await resultHas('/3/0/3 = 4.5.6-dtls');
  assert.match(composite, /^CONTENT\(205\)\n/);
  assert.match(composite, /\/3\/0\/0 = Warden \(STRING\)/);

  // Write-Attributes on /3/0/9 (battery level), then Discover shows them.
  await page.fill('#attr-pmin', '10');
  await page.fill('#attr-pmax', '120');
  await page.fill('#attr-gt', '50');
  await run('/3/0/9', '#op-attributes', 'CHANGED(204)');
  const discovered = await run('/3/0/9', '#op-discover', 'pmin=10');
  assert.match(discovered, /^CONTENT\(205\)\n<\/3\/0\/9>/);
  assert.match(discovered, /pmax=120/);
  assert.match(discovered, /gt=50/);
  const instance = await run('/3/0', '#op-discover', '</3/0/0>');
  assert.match(instance, /<\/3\/0\/9>/);

  // Create an Access Control instance (a multi-instance object the client lets servers create) from the form, then delete it.
  await page.locator('[data-create="2"]').click();
  const form = page.locator('#create-form-2');
  await form.waitFor();
  await form.locator('[data-create-field="id"]').fill('7');
  await form.locator('[data-create-field="3"]').fill('101');
  await page.click('#create-submit-2');
  assert.match(await resultHas('CREATED(201)'), /location \/2\/7/);
  await page.locator('[data-instance="/2/7"]').waitFor();
  await page.locator('[data-read="/2/7"]').click();
  await page.locator('[data-value-of="/2/7/3"]', { hasText: '101' }).waitFor();
  await page.locator('[data-delete="/2/7"]').click();
  await resultHas('DELETED(202)');
  await page.locator('[data-instance="/2/7"]').waitFor({ state: 'detached' });
  await run('/2/7', '#op-read', 'NOT_FOUND(404)');

  // Composite observe of a checked resource: a change made elsewhere shows up live.
  await page.locator('[data-read="/3/0"]').click();
  await page.locator('[data-pick="/3/0/14"]').waitFor();
  await page.uncheck('[data-pick="/3/0/0"]');
  await page.uncheck('[data-pick="/3/0/3"]');
  await page.check('[data-pick="/3/0/14"]');
  await page.check('[data-pick="/3/0/15"]');
  await page.click('#composite-observe');
  await resultHas('/3/0/14 =');
  await page.locator('[data-observed="/3/0/15"]').waitFor();
  const put = await fetch(`${warden.apiUrl}/api/clients/psk-device/3/0/14`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ id: 14, kind: 'singleResource', type: 'STRING', value: '+09:30' }),
  });
  assert.equal(((await put.json()) as { status: string }).status, 'CHANGED(204)');
  await page.locator('[data-observed="/3/0/14"]', { hasText: '+09:30' }).waitFor();
  await page.locator('#timeline tr.live[data-kind="notification"]').first().waitFor();

  const text = (await page.locator('body').innerText()).toLowerCase();
  assert.ok(!text.includes(PSK.toString('hex')), 'no PSK bytes (hex) on the page');
  assert.ok(!text.includes(PSK.toString('base64').toLowerCase()), 'no PSK bytes (base64) on the page');
  await screenshot(page, 'device-page');

  // A plain CoAP device: no security info.
  await page.goto(`${warden.apiUrl}/#/devices/plain-device`);
  await page.locator('#security-status', { hasText: 'plain CoAP' }).waitFor();

  // A viewer reads but gets no write, execute, create, delete or write-attributes control.
  await signOut(page);
  await signIn(page, warden.apiUrl, VIEWER, 'viewer');
  await page.goto(`${warden.apiUrl}/#/devices/psk-device`);
  await page.locator('details.object[data-object="3"]').waitFor();
  await page.locator('#sec-identity', { hasText: PSK_IDENTITY }).waitFor();
  await run('/3/0/0', '#op-read', 'CONTENT(205)');
  for (const sel of ['#op-write', '#op-execute', '#op-attributes', '#op-delete', '[data-create]', '[data-delete]']) {
    assert.equal(await page.locator(sel).count(), 0, `a viewer sees no ${sel}`);
  }
  // ... and the API refuses a viewer's change anyway.
  const refused = await page.evaluate(async () => (await fetch('/api/clients/psk-device/3/0/4', { method: 'POST' })).status);
  assert.equal(refused, 403);
  assert.deepEqual(problems, [], 'no CSP violation or page error');
});
