/**
 * NAT rebinding under DTLS with Connection ID: the device's address changes without it knowing (no Update);
 * its next message moves the association, and the server's requests follow at once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lwm2mClient } from '../src/client/index.js';
import { startWarden } from '../src/cli/warden.js';
import { Lwm2mPath } from '../src/lwm2m/path.js';
import { silentLogger } from '../src/log.js';
import type { SendData } from '../src/server/index.js';
import { once, until } from './helpers.js';

test('a silently rebound DTLS device keeps its registration and the server reaches its new address', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-rebind-'));
  let handshakes = 0;
  const warden = await startWarden({
    dataDir: dir, coapsPort: 0, coapHost: '127.0.0.1', apiPort: 0, apiHost: '127.0.0.1', apiToken: 'test-token-rebind',
    logger: silentLogger, onDtlsHandshake: () => handshakes++,
  });
  const key = randomBytes(16);
  warden.security.add({ endpoint: 'roamer', mode: 'psk', pskIdentity: 'roamer', pskKey: key });
  const client = new Lwm2mClient({ endpoint: 'roamer', serverUri: `coaps://127.0.0.1:${warden.coapsPort}`, security: { mode: 'psk', identity: 'roamer', key } });
  t.after(async () => {
    await client.stop().catch(() => {});
    await warden.close();
    rmSync(dir, { recursive: true, force: true });
  });
  await client.start();
  await until(() => warden.server.getRegistration('roamer') !== undefined);
  const before = warden.server.getRegistration('roamer')!;

  await client.dtls!.rebind(); // the NAT gives the device a new port; nothing is sent yet
  const sent = once<SendData>(warden.server, 'send');
  await client.send([Lwm2mPath.parse('/3/0/9')]); // its next message comes from the new port, with its CID
  assert.equal((await sent).endpoint, 'roamer', 'the Send is attributed to the device at its new address');
  const after = warden.server.getRegistration('roamer')!;
  assert.equal(after.registrationId, before.registrationId);
  assert.notEqual(after.port, before.port, 'the registration follows the association');
  const read = await warden.server.read('roamer', Lwm2mPath.parse('/3/0/0'), { timeout: 3000 });
  assert.equal(read.code, 69, 'the server reaches the device at its new address, before any Update');
  assert.equal(handshakes, 1, 'no new handshake');
});
