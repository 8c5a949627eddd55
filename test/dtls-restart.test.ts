/**
 * Issue 3 item 6: DTLS sessions survive a server restart. The server saves its associations sealed in the
 * store and restores them at start; a device keeps talking with no new handshake and no new registration.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lwm2mClient } from '../src/client/index.js';
import { startWarden, type Warden } from '../src/cli/warden.js';
import { Lwm2mPath } from '../src/lwm2m/path.js';
import { silentLogger } from '../src/log.js';
import { until } from './helpers.js';

test('a DTLS device keeps its session and registration across a server restart', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-dtls-restart-'));
  let handshakes = 0;
  const start = (coapsPort: number) =>
    startWarden({
      dataDir: dir, coapsPort, coapHost: '127.0.0.1', apiPort: 0, apiHost: '127.0.0.1', apiToken: 'test-token-restart',
      logger: silentLogger, onDtlsHandshake: () => handshakes++,
    });
  let warden: Warden = await start(0);
  const port = warden.coapsPort!;
  const key = randomBytes(16);
  warden.security.add({ endpoint: 'kept', mode: 'psk', pskIdentity: 'kept-id', pskKey: key });
  const client = new Lwm2mClient({ endpoint: 'kept', serverUri: `coaps://127.0.0.1:${port}`, security: { mode: 'psk', identity: 'kept-id', key }, lifetime: 300 });
  t.after(async () => {
    await client.stop({ deregister: false }).catch(() => {});
    await warden.close().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  });
  await client.start();
  await until(() => warden.server.getRegistration('kept') !== undefined);
  const registrationId = warden.server.getRegistration('kept')!.registrationId;
  assert.equal(handshakes, 1);

  await warden.close();
  warden = await start(port);
  const reg = warden.server.getRegistration('kept');
  assert.equal(reg?.registrationId, registrationId, 'the registration is restored');
  const read = await warden.server.read('kept', Lwm2mPath.parse('/3/0/0'), { timeout: 5000 });
  assert.equal(read.code, 69, 'the server reaches the device through the restored session');
  await client.update();
  assert.equal(handshakes, 1, 'no new handshake after the restart');
  assert.equal(warden.server.getRegistration('kept')?.registrationId, registrationId, 'and no new registration');
});
