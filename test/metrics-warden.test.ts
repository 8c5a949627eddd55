/** /metrics and /api/openapi.json of a running Warden: real DTLS handshakes (one refused), a registration, a device read. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lwm2mClient } from '../src/client/index.js';
import { startWarden } from '../src/cli/warden.js';
import { DtlsClient } from '../src/dtls/index.js';
import { silentLogger } from '../src/log.js';
import { until } from './helpers.js';

const TOKEN = 'test-token-metrics-warden';

test('a running Warden counts DTLS handshakes by result, secure registrations and device requests at /metrics', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-metrics-'));
  const warden = await startWarden({
    dataDir: dir, coapsPort: 0, coapHost: '127.0.0.1', apiPort: 0, apiHost: '127.0.0.1', apiToken: TOKEN, logger: silentLogger,
  });
  const key = randomBytes(16);
  warden.security.add({ endpoint: 'meter', mode: 'psk', pskIdentity: 'meter', pskKey: key });
  const client = new Lwm2mClient({ endpoint: 'meter', serverUri: `coaps://127.0.0.1:${warden.coapsPort}`, security: { mode: 'psk', identity: 'meter', key } });
  t.after(async () => {
    await client.stop().catch(() => {});
    await warden.close();
    rmSync(dir, { recursive: true, force: true });
  });
  await client.start();
  await until(() => warden.server.getRegistration('meter') !== undefined);
  // A wrong key: the server cannot verify the Finished and refuses the handshake.
  await assert.rejects(DtlsClient.connect({ address: '127.0.0.1', port: warden.coapsPort! }, { psk: { identity: 'meter', key: randomBytes(16) } }));

  const auth = { authorization: `Bearer ${TOKEN}` };
  const read = await fetch(`${warden.apiUrl}/api/clients/meter/3/0/0`, { headers: auth });
  assert.equal(read.status, 200);
  assert.equal(((await read.json()) as { success: boolean }).success, true);

  // The server records the failure when it sends its alert, which may come after the client gave up.
  let text = '';
  for (let i = 0; i < 50 && !/result="failure"/.test(text); i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, 100));
    const res = await fetch(`${warden.apiUrl}/metrics`, { headers: auth });
    assert.equal(res.status, 200);
    text = await res.text();
  }
  assert.match(text, /^warden_dtls_handshakes_total\{listener="dm",result="failure",reason="[a-z_]+"\} 1$/m);
  assert.match(text, /^warden_dtls_handshakes_total\{listener="dm",result="success",reason="psk"\} 1$/m);
  assert.match(text, /^warden_registrations\{secure="true",queue_mode="false"\} 1$/m);
  assert.match(text, /^warden_registration_events_total\{kind="registered"\} 1$/m);
  assert.match(text, /^warden_device_requests_total\{source="api",operation="read",result="CONTENT"\} 1$/m);
  assert.match(text, /^warden_api_requests_total\{method="GET",route="\/api\/clients\/:ep\/\*",status="2xx"\} 1$/m);

  assert.equal((await fetch(`${warden.apiUrl}/metrics`)).status, 401, 'no scrape without the token');
  const doc = await fetch(`${warden.apiUrl}/api/openapi.json`, { headers: auth });
  assert.equal(doc.status, 200);
  const paths = Object.keys(((await doc.json()) as { paths: Record<string, unknown> }).paths);
  for (const p of ['/api/clients/{ep}/{path}', '/api/campaigns', '/api/firmware', '/api/certificates', '/metrics', '/healthz']) assert.ok(paths.includes(p), p);
});
