/**
 * The LwM2M server against CoAP stacks we did not write (Debian libcoap3-bin): coap-client-notls speaks the
 * Registration interface, and coap-server-notls plays a device whose resources the server reads, writes and observes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lwm2mPath } from '../src/lwm2m/path.js';
import type { Notification } from '../src/server/index.js';
import { once, runTool, startTestServer } from './helpers.js';

const CLIENT = 'coap-client-notls';
const SERVER = 'coap-server-notls';

function requireLibcoap(): void {
  const r = spawnSync(CLIENT, ['-h'], { encoding: 'utf8' });
  if (r.error) throw new Error(`${CLIENT} not found: install the Debian package libcoap3-bin`);
}

async function freePort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const coapClient = (args: string[]) => runTool(CLIENT, args);

test('libcoap coap-client registers, updates and de-registers', async (t) => {
  requireLibcoap();
  const ts = await startTestServer();
  t.after(() => ts.close());
  const base = `coap://127.0.0.1:${ts.port}`;
  const reg = await coapClient(['-m', 'post', '-t', '40', '-e', '</1/0>,</3/0>,</5/0>', '-v', '7', `${base}/rd?ep=libcoap-dev&lt=60&lwm2m=1.1&b=U`]);
  assert.match(reg.stdout + reg.stderr, /c:2\.01/);
  const registration = ts.server.getRegistration('libcoap-dev');
  assert.ok(registration);
  assert.match(reg.stdout + reg.stderr, new RegExp(`Location-Path:${registration.registrationId}`));
  assert.deepEqual([...registration.objects.keys()], [1, 3, 5]);

  const upd = await coapClient(['-m', 'post', '-v', '7', `${base}/rd/${registration.registrationId}?lt=120`]);
  assert.match(upd.stdout + upd.stderr, /c:2\.04/);
  assert.equal(ts.server.getRegistration('libcoap-dev')?.lifetime, 120);

  const bad = await coapClient(['-m', 'post', '-t', '40', '-e', '</1/0>', '-v', '7', `${base}/rd?lt=60`]);
  assert.match(bad.stdout + bad.stderr, /c:4\.00/);

  const del = await coapClient(['-m', 'delete', '-v', '7', `${base}/rd/${registration.registrationId}`]);
  assert.match(del.stdout + del.stderr, /c:2\.02/);
  assert.equal(ts.server.getRegistration('libcoap-dev'), undefined);
});

test('a libcoap coap-server device: read, write, block-wise read, observe and delete from the LwM2M server', async (t) => {
  requireLibcoap();
  const ts = await startTestServer();
  const devPort = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'warden-libcoap-'));
  let device: ChildProcess | undefined;
  t.after(async () => {
    device?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    await ts.close();
  });
  // The device registers from the port it will then serve on (coap-client -p).
  const reg = await coapClient(['-m', 'post', '-p', String(devPort), '-t', '40', '-e', '</3/0>,</5/0>', `coap://127.0.0.1:${ts.port}/rd?ep=lc&lt=60&lwm2m=1.0`]);
  assert.equal(reg.status, 0);
  assert.equal(ts.server.getRegistration('lc')?.port, devPort);
  device = spawn(SERVER, ['-A', '127.0.0.1', '-p', String(devPort), '-d', '20'], { stdio: 'ignore' });
  const dev = `coap://127.0.0.1:${devPort}`;
  // coap-server creates resources on PUT (-d); wait until it answers.
  for (let i = 0; ; i++) {
    const put = await coapClient(['-m', 'put', '-t', '0', '-e', 'libcoap-device', `${dev}/3/0/0`]);
    if (put.status === 0 && !/4\.04|5\.0/.test(put.stdout)) break;
    if (i > 50) throw new Error('coap-server-notls did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
  const p = (s: string) => Lwm2mPath.parse(s);

  const read = await ts.server.read('lc', p('/3/0/0'), { format: 0 });
  assert.equal(read.code, 69);
  assert.deepEqual(read.content, { kind: 'singleResource', id: 0, value: { type: 'string', value: 'libcoap-device' } });

  const write = await ts.server.write('lc', p('/3/0/0'), { kind: 'singleResource', id: 0, value: { type: 'string', value: 'written by warden' } }, { format: 0 });
  assert.equal(write.code, 68);
  assert.deepEqual((await ts.server.read('lc', p('/3/0/0'), { format: 0 })).content,
    { kind: 'singleResource', id: 0, value: { type: 'string', value: 'written by warden' } });

  const image = randomBytes(200_000);
  writeFileSync(join(dir, 'image.bin'), image);
  const upload = await coapClient(['-m', 'put', '-t', '42', '-b', '512', '-f', join(dir, 'image.bin'), `${dev}/5/0/0`]);
  assert.equal(upload.status, 0);
  const big = await ts.server.read('lc', p('/5/0/0'), { format: 42, timeout: 20_000 });
  assert.equal(big.code, 69);
  assert.ok(big.content?.kind === 'singleResource' && big.content.value.type === 'opaque');
  const bytes = big.content.value.value as Uint8Array;
  assert.equal(createHash('sha256').update(bytes).digest('hex'), createHash('sha256').update(image).digest('hex'), 'Block2 read is byte-exact');

  const obs = await ts.server.observe('lc', p('/3/0/0'), { format: 0 });
  assert.equal(obs.code, 69);
  assert.ok(obs.observationId, 'libcoap accepted the observation');
  const notified = once<Notification>(ts.server, 'notification');
  await coapClient(['-m', 'put', '-t', '0', '-e', 'changed on the device', `${dev}/3/0/0`]);
  const n = await notified;
  assert.deepEqual(n.content, { kind: 'singleResource', id: 0, value: { type: 'string', value: 'changed on the device' } });
  assert.equal(await ts.server.cancelObservation('lc', p('/3/0/0'), { active: true }), 1);

  await coapClient(['-m', 'put', '-t', '0', '-e', 'instance', `${dev}/9/1`]);
  assert.equal((await ts.server.delete('lc', p('/9/1'))).code, 66, 'Delete reaches the device');
  assert.equal((await ts.server.read('lc', p('/9/1'), { format: 0 })).code, 132, 'and the instance is gone');
});
