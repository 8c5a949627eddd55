/**
 * Child process for fleet benchmarks: `warden server`'s own wiring (SQLite file, DTLS, API) on loopback, in a process
 * of its own so that its resident memory is the server's alone. Tells the parent its ports over IPC, answers
 * `{memory: true}` with its memory after a full GC, and stops on `{stop: true}`. With WARDEN_BENCH_FIRMWARE_KEY (a
 * public key PEM file) it trusts that firmware signing key and runs the HTTP download listener on an ephemeral port.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startWarden } from '../src/cli/warden.js';
import { silentLogger } from '../src/log.js';

const dir = mkdtempSync(join(tmpdir(), 'warden-bench-server-'));
const firmwareKey = process.env.WARDEN_BENCH_FIRMWARE_KEY;
const warden = await startWarden({
  dataDir: dir, coapPort: 0, coapsPort: 0, coapHost: '127.0.0.1', apiPort: 0, apiHost: '127.0.0.1',
  apiToken: process.env.WARDEN_API_TOKEN!, logger: silentLogger,
  ...(firmwareKey ? { firmware: { trustedKeyFiles: [firmwareKey], httpPort: 0 } } : {}),
});
process.send!({ coapPort: warden.coapPort, coapsPort: warden.coapsPort, api: warden.apiUrl, firmwareHttpPort: warden.firmwareHttpPort });
const gc = (globalThis as { gc?: () => void }).gc;
process.on('message', async (m: { memory?: boolean; stop?: boolean }) => {
  if (m.memory) {
    gc?.();
    gc?.();
    const u = process.memoryUsage();
    process.send!({ rss: u.rss, heap: u.heapUsed + u.external + u.arrayBuffers, registrations: warden.server.registrationCount() });
  }
  if (m.stop) {
    await warden.close();
    rmSync(dir, { recursive: true, force: true });
    process.disconnect();
    process.exit(0);
  }
});
