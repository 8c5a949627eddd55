/**
 * What the console's browser tests share: Debian's Chromium driven by playwright-core, a clean-up stack, temporary
 * directories, users, a Warden on loopback with its simulated devices, and the sign-in form.
 */
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { defaultWebRoot, hasConsole } from '../src/api/index.js';
import { startWarden, type Warden, type WardenOptions } from '../src/cli/warden.js';
import type { Lwm2mClient } from '../src/client/index.js';
import { silentLogger } from '../src/log.js';
import { SqliteStore, UserStore, type Role } from '../src/store/index.js';

/** Debian's Chromium (package chromium). */
export const CHROMIUM = '/usr/bin/chromium';
/** Flags this machine needs (.library node.md): no sandbox as root, no GPU, and no background connections. */
export const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
/** Where the screenshots go. */
export const SHOTS = 'test-results/console';
/** The password every test user gets. */
export const PASSWORD = 'correct horse battery staple';

/** Registers a clean-up step. */
export type Defer = (fn: () => unknown) => void;

/** A clean-up stack for `t`: the steps given to the returned function run after the test, last registered first. */
export function cleanup(t: TestContext): Defer {
  const undo: (() => unknown)[] = [];
  t.after(async () => {
    for (const fn of undo.reverse()) await fn();
  });
  return (fn) => void undo.push(fn);
}

/** Fails, naming the Debian package or the build step, unless Chromium is installed and the console is built. */
export function assertBrowserReady(): void {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: install the Debian package chromium (apt-get install chromium)`);
  assert.ok(hasConsole(defaultWebRoot()), `the console is not built in ${defaultWebRoot()}: run npm run build`);
}

/** A new temporary directory named `prefix`…, removed by `defer`. */
export function tempDir(defer: Defer, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  defer(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Adds users to the users store in `dataDir` (before Warden opens it). */
export async function addUsers(dataDir: string, users: readonly [name: string, role: Role][], password = PASSWORD): Promise<void> {
  const store = new SqliteStore(join(dataDir, 'warden.db'));
  try {
    const userStore = new UserStore(store);
    for (const [name, role] of users) await userStore.add(name, role, password);
  } finally {
    store.close();
  }
}

/** Creates a user through a running Warden's API (POST /api/users with an admin token); asserts 201. */
export async function postUser(apiUrl: string, token: string, name: string, role: Role, password = PASSWORD): Promise<void> {
  const made = await fetch(`${apiUrl}/api/users`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name, role, password }),
  });
  assert.equal(made.status, 201, await made.text());
}

/** A Warden on loopback and the simulated devices a test starts against it. */
export interface ConsoleWarden {
  warden: Warden;
  /** Devices to stop at clean-up; {@link ConsoleWarden.register} adds to it. */
  clients: Lwm2mClient[];
  /** Starts `client` (stopped at clean-up) and waits until Warden has registered it. */
  register(client: Lwm2mClient): Promise<void>;
}

/**
 * Starts Warden on 127.0.0.1 (plain CoAP and the API on ephemeral ports, plus whatever `options` adds) with its data
 * in `dataDir`; `defer` stops the devices in `clients`, then closes Warden.
 */
export async function startConsoleWarden(defer: Defer, dataDir: string, apiToken: string, options: Partial<WardenOptions> = {}): Promise<ConsoleWarden> {
  const warden = await startWarden({ dataDir, coapPort: 0, coapHost: '127.0.0.1', apiPort: 0, apiHost: '127.0.0.1', apiToken, logger: silentLogger, ...options });
  const clients: Lwm2mClient[] = [];
  defer(() => warden.close());
  defer(async () => {
    for (const c of clients) await c.stop().catch(() => {});
  });
  const register = async (client: Lwm2mClient) => {
    clients.push(client);
    const registered = new Promise<void>((resolve) => {
      const on = (r: { endpoint: string }) => r.endpoint === client.endpointName && (warden.server.off('registered', on), resolve());
      warden.server.on('registered', on);
    });
    await client.start();
    await registered;
  };
  return { warden, clients, register };
}

/** A browser for one test. */
export interface Browser {
  context: BrowserContext;
  page: Page;
  /** CSP violations and uncaught page errors seen so far; a test ends asserting it is empty. */
  problems: string[];
}

/**
 * Launches Chromium with a fresh profile; `defer` closes it and removes the profile. Also creates {@link SHOTS}.
 * `viewport` is Playwright's, when a test needs a set size.
 */
export async function openBrowser(defer: Defer, viewport?: { width: number; height: number }): Promise<Browser> {
  mkdirSync(SHOTS, { recursive: true });
  const profile = tempDir(defer, 'warden-chromium-');
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: FLAGS, ...(viewport ? { viewport } : {}) });
  defer(() => context.close().catch(() => {}));
  const page = context.pages()[0] ?? (await context.newPage());
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text())) problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(String(e)));
  return { context, page, problems };
}

/** A full-page screenshot to SHOTS/`name`.png. */
export function screenshot(page: Page, name: string): Promise<Buffer> {
  return page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

/** Fills in the sign-in form already on the page and submits it. */
export async function submitSignIn(page: Page, user: string, password = PASSWORD): Promise<void> {
  await page.fill('#login-user', user);
  await page.fill('#login-password', password);
  await page.click('#login-submit');
}

/** Opens the console at `baseUrl`, signs in, and waits until the page shows `user (role)` as signed in. */
export async function signIn(page: Page, baseUrl: string, user: string, role: Role, password = PASSWORD): Promise<void> {
  await page.goto(`${baseUrl}/`);
  await page.locator('#login-form').waitFor();
  await submitSignIn(page, user, password);
  await page.locator('#whoami', { hasText: `${user} (${role})` }).waitFor();
}

/** Signs out and waits for the sign-in form. */
export async function signOut(page: Page): Promise<void> {
  await page.click('#sign-out');
  await page.locator('#login-form').waitFor();
}
