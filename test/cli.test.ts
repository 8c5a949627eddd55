/** The `warden` command as a user runs it: help on every command, a server and a client in separate processes. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditLog, SqliteStore } from '../src/store/index.js';
import { registryDir } from './registry.js';

const MAIN = new URL('../src/cli/main.js', import.meta.url).pathname;

function run(args: string[]) {
  return spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 20_000 });
}

const logs = new WeakMap<ChildProcess, Record<string, unknown>[]>();

/** Resolves the first stdout line (pino JSON) of `child`, past or future, that matches `pred`. */
function waitForLog(child: ChildProcess, pred: (line: Record<string, unknown>) => boolean, timeoutMs = 15_000): Promise<Record<string, unknown>> {
  if (!logs.has(child)) {
    const lines: Record<string, unknown>[] = [];
    logs.set(child, lines);
    let partial = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      const parts = (partial + chunk.toString('utf8')).split('\n');
      partial = parts.pop()!;
      for (const p of parts) {
        try {
          lines.push(JSON.parse(p) as Record<string, unknown>);
        } catch {
          lines.push({ text: p });
        }
      }
      child.stdout!.emit('lines');
    });
  }
  const lines = logs.get(child)!;
  return new Promise((resolve, reject) => {
    const check = () => {
      const hit = lines.find(pred);
      if (!hit) return;
      clearTimeout(timer);
      child.stdout!.off('lines', check);
      resolve(hit);
    };
    const timer = setTimeout(() => {
      child.stdout!.off('lines', check);
      reject(new Error(`log line not seen; output so far:\n${lines.map((l) => JSON.stringify(l)).join('\n')}`));
    }, timeoutMs);
    child.stdout!.on('lines', check);
    check();
  });
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}


test('the package bin (what npx warden runs) starts the CLI', () => {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string; bin: { warden: string } };
  const bin = new URL(`../../${pkg.bin.warden}`, import.meta.url).pathname;
  assert.ok((statSync(bin).mode & 0o111) !== 0, `${pkg.bin.warden} is executable`);
  const r = spawnSync(bin, ['--version'], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), pkg.version);
});

test('every command has --help', () => {
  const top = run(['--help']);
  assert.equal(top.status, 0);
  for (const cmd of ['server', 'demo', 'client', 'security', 'keys', 'credentials']) {
    assert.match(top.stdout, new RegExp(`\\b${cmd}\\b`));
    const r = run([cmd, '--help']);
    assert.equal(r.status, 0, `${cmd} --help`);
    assert.match(r.stdout, new RegExp(`Usage: warden ${cmd}`));
  }
  for (const sub of ['add', 'list', 'remove']) {
    const r = run(['security', sub, '--help']);
    assert.equal(r.status, 0, `security ${sub} --help`);
    assert.match(r.stdout, new RegExp(`Usage: warden security ${sub}`));
  }
  const bad = run(['server', '--coap-port', 'seventy']);
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /port/);
});

test('warden security add, list and remove never print the key', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-cli-sec-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const key = '00112233445566778899aabbccddeeff';
  const add = run(['security', 'add', '--endpoint', 'dev1', '--psk-identity', 'dev1-id', '--psk-key', key, '--data', dir]);
  assert.equal(add.status, 0, add.stderr);
  const list = run(['security', 'list', '--data', dir]);
  assert.equal(list.status, 0);
  assert.match(list.stdout, /dev1-id/);
  assert.ok(!(list.stdout + list.stderr + add.stdout + add.stderr).includes(key), 'the key is never printed');
  const short = run(['security', 'add', '--endpoint', 'dev2', '--psk-identity', 'dev2', '--psk-key', '0011', '--data', dir]);
  assert.notEqual(short.status, 0, 'a 2-byte PSK is refused');
  assert.equal(run(['security', 'remove', '--endpoint', 'dev1', '--data', dir]).status, 0);
  assert.doesNotMatch(run(['security', 'list', '--data', dir]).stdout, /dev1-id/);
  const store = new SqliteStore(join(dir, 'warden.db'));
  const events = new AuditLog(store).query({ endpoint: 'dev1' });
  store.close();
  assert.deepEqual(events.map((e) => [e.kind, e.actor]), [['revoked', 'cli'], ['created', 'cli']], 'the addition and the removal are in the audit log');
  assert.ok(!JSON.stringify(events).includes(key), 'without the key');
});

test('warden server and warden client: register, serve the API, de-register on SIGTERM', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-cli-'));
  const children: ChildProcess[] = [];
  t.after(() => {
    for (const c of children) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  const server = spawn(process.execPath, [MAIN, 'server', '--data', dir, '--coap-port', '0', '--coaps-port', '0', '--bootstrap-port', '0', '--bootstraps-port', '0', '--coap-host', '127.0.0.1', '--api-port', '0', '--firmware-http-port', '0', '--models', registryDir], {
    stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, WARDEN_API_TOKEN: '' },
  });
  children.push(server);
  const models = await waitForLog(server, (l) => l.msg === 'object models loaded');
  assert.ok((models.loaded as number) > 300, `--models loads the registry (${String(models.loaded)} objects)`);
  const started = await waitForLog(server, (l) => l.msg === 'Warden server started');
  const tokenFile = join(dir, 'api-token');
  assert.equal(statSync(tokenFile).mode & 0o777, 0o600, 'the generated token file is private');
  const token = readFileSync(tokenFile, 'utf8').trim();
  assert.ok(!JSON.stringify(started).includes(token), 'the log never shows the token');
  const registered = waitForLog(server, (l) => l.msg === 'registered' && l.endpoint === 'cli-dev');
  const client = spawn(process.execPath, [MAIN, 'client', '--endpoint', 'cli-dev', '--server', `coap://127.0.0.1:${started.coapPort}`], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(client);
  await registered;
  const list = await fetch(`${started.api}/api/clients`, { headers: { authorization: `Bearer ${token}` } });
  assert.deepEqual(((await list.json()) as { endpoint: string }[]).map((c) => c.endpoint), ['cli-dev']);
  const deregistered = waitForLog(server, (l) => l.msg === 'de-registered' && l.endpoint === 'cli-dev');
  client.kill('SIGTERM');
  assert.equal(await exited(client), 0);
  await deregistered;
  server.kill('SIGTERM');
  assert.equal(await exited(server), 0);
});

test('warden demo starts the server with simulated devices, one of them over DTLS', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-demo-'));
  const children: ChildProcess[] = [];
  t.after(() => {
    for (const c of children) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  const demo = spawn(process.execPath, [MAIN, 'demo', '--devices', '3', '--data', dir, '--coap-port', '0', '--coaps-port', '0', '--no-bootstrap', '--coap-host', '127.0.0.1', '--api-port', '0', '--firmware-http-port', '0', '--api-token', 'demo-token-123'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(demo);
  const started = await waitForLog(demo, (l) => l.msg === 'Warden server started');
  await waitForLog(demo, (l) => typeof l.msg === 'string' && l.msg.startsWith('simulated devices registered'));
  const res = await fetch(`${started.api}/api/clients`, { headers: { authorization: 'Bearer demo-token-123' } });
  const clients = (await res.json()) as { endpoint: string; secure: boolean }[];
  assert.deepEqual(clients.map((c) => [c.endpoint, c.secure]), [['warden-demo-1', true], ['warden-demo-2', false], ['warden-demo-3', false]]);
  demo.kill('SIGTERM');
  assert.equal(await exited(demo), 0);
});
