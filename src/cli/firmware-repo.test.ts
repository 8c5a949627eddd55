import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { classIdFor, imageRef, signPackage, vendorIdFor, type Manifest } from '../firmware/index.js';
import { silentLogger } from '../log.js';
import { firmwareList, firmwareRemove, firmwareShow, firmwareUpload, type FirmwareCliIo } from './firmware.js';
import { startWarden } from './warden.js';

const MAIN = join(dirname(fileURLToPath(import.meta.url)), 'main.js');

function run(args: string[], env: NodeJS.ProcessEnv): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [MAIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

function pkgFile(dir: string, name: string, key: ReturnType<typeof generateKeyPairSync>['privateKey'], sequence: number, version: string): { path: string; id: string } {
  const image = Buffer.alloc(5000 + sequence, sequence);
  const vendorId = vendorIdFor('example.com');
  const manifest: Manifest = { version, vendorId, classId: classIdFor(vendorId, 'sensor-v2'), sequence, payload: { kind: 'image', ...imageRef(image) } };
  const pkg = signPackage(manifest, image, key);
  const path = join(dir, name);
  writeFileSync(path, pkg);
  return { path, id: createHash('sha256').update(pkg).digest('hex') };
}

test('warden firmware upload|list|show|rm against a running Warden, the token read from the data directory', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-cli-fwrepo-'));
  const savedToken = process.env.WARDEN_API_TOKEN;
  delete process.env.WARDEN_API_TOKEN;
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  writeFileSync(join(dir, 'signer.pub.pem'), createPublicKey(privateKey).export({ format: 'pem', type: 'spki' }));
  const warden = await startWarden({
    dataDir: join(dir, 'data'), coapPort: 0, coapHost: '127.0.0.1', apiPort: 0, apiHost: '127.0.0.1', logger: silentLogger,
    firmware: { trustedKeyFiles: [join(dir, 'signer.pub.pem')] },
  });
  t.after(async () => {
    await warden.close();
    if (savedToken !== undefined) process.env.WARDEN_API_TOKEN = savedToken;
    rmSync(dir, { recursive: true, force: true });
  });
  const lines: string[] = [];
  const io: FirmwareCliIo = { out: (l) => void lines.push(l), now: () => 0 };
  const flags = { api: warden.apiUrl, data: join(dir, 'data') };
  const a = pkgFile(dir, 'a.wfw', privateKey, 10, '1.0.0');
  const b = pkgFile(dir, 'b.wfw', privateKey, 11, '1.1.0');

  const up = await firmwareUpload(a.path, { ...flags, name: 'first' }, io);
  assert.equal(up.id, a.id);
  assert.match(lines.pop()!, new RegExp(`^stored ${a.id}: image 1.0.0, sequence 10`));
  await firmwareUpload(a.path, flags, io);
  assert.match(lines.pop()!, /^already stored/);
  await firmwareUpload(b.path, flags, io);

  lines.length = 0;
  const list = await firmwareList(flags, io);
  assert.deepEqual(list.map((p) => p.id), [b.id, a.id], 'newest sequence first');
  assert.match(lines[0]!, /^ID\s+VERSION\s+SEQUENCE\s+KIND\s+BYTES\s+UPLOADED\s+NAME$/);
  assert.match(lines[2]!, new RegExp(`^${a.id.slice(0, 16)}\\s+1\\.0\\.0\\s+10\\s+image\\s+\\d+\\s+\\S+Z\\s+first$`));
  assert.equal((await firmwareList({ ...flags, version: '1.1.0' }, io)).length, 1);
  assert.equal((await firmwareList({ ...flags, vendor: 'example.org' }, io)).length, 0);
  assert.equal(lines.pop(), 'no firmware packages');

  lines.length = 0;
  await firmwareShow(a.id.slice(0, 10), flags, io);
  const shown = JSON.parse(lines.join('\n'));
  assert.equal(shown.id, a.id);
  assert.equal(shown.manifest.sequence, 10);
  assert.equal(shown.uris.coap, `coap://127.0.0.1:${warden.coapPort}/fw/${a.id}`);
  assert.equal(warden.packageUri(a.id, 'coap'), shown.uris.coap);

  await firmwareRemove(a.id, flags, io);
  assert.equal(lines.pop(), `removed ${a.id}`);
  await assert.rejects(firmwareShow(a.id, flags, io), /404/);
  await assert.rejects(firmwareRemove('zz', flags, io), /not a package id/);

  // Refusals reach the user with the reason; a wrong token is refused.
  const stranger = generateKeyPairSync('ed25519').privateKey;
  const c = pkgFile(dir, 'c.wfw', stranger, 12, '1.2.0');
  await assert.rejects(firmwareUpload(c.path, flags, io), /422 package refused: UNKNOWN_KEY/);
  writeFileSync(join(dir, 'wrong-token'), 'nope\n');
  await assert.rejects(firmwareList({ ...flags, tokenFile: join(dir, 'wrong-token') }, io), /401/);

  // The real command line: the token comes from the environment, and is not accepted as an argument.
  const env = { ...process.env, WARDEN_API_TOKEN: readFileSync(join(dir, 'data', 'api-token'), 'utf8').trim() };
  const r = await run(['firmware', 'list', '--api', warden.apiUrl, '--json'], env);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout).map((p: { id: string }) => p.id), [b.id]);
  const argv = await run(['firmware', 'list', '--api', warden.apiUrl, '--api-token', 'x'], env);
  assert.notEqual(argv.status, 0);
  assert.match(argv.stderr, /unknown option '--api-token'/);
});
