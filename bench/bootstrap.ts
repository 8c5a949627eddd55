/** Bootstrap sequences per second over DTLS (issue 4): factory-PSK devices against the bootstrap server. */
import { fork } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BootstrapServer, bootstrapPskLookup } from '../src/bootstrap/index.js';
import { DtlsServer } from '../src/dtls/index.js';
import { ModelRegistry } from '../src/lwm2m/registry.js';
import { SecretBox, SecurityStore, SqliteStore } from '../src/store/index.js';

const here = new URL('.', import.meta.url).pathname;
/** The bench fleet's factory keys (stand-ins for keys derived in the key store). */
export const factoryKey = (i: number) => createHash('sha256').update(`bench-factory-${i}`).digest().subarray(0, 16);

/** Complete bootstrap sequences (request, deletes, writes, finish, new DM key stored) per second. */
export async function benchBootstrap(count: number, window = 32): Promise<{ perSecond: number; finished: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'warden-bench-bs-'));
  const store = new SqliteStore(join(dir, 'warden.db'));
  const box = SecretBox.fromKey(randomBytes(32));
  const security = new SecurityStore(store, box);
  const factoryKeys = { keyFor: async (id: string) => (id.startsWith('bs-') ? factoryKey(Number(id.slice(3))) : undefined) };
  const dtls = await DtlsServer.bind(0, '127.0.0.1', { pskLookup: bootstrapPskLookup({ factoryKeys }) });
  const server = await BootstrapServer.start({
    secureTransport: dtls, store, security, box, model: new ModelRegistry(), factoryKeys, dmServerUri: 'coaps://127.0.0.1:9',
  });
  let finished = 0;
  server.on('bootstrap-finished', () => finished++);
  const start = performance.now();
  const child = fork(join(here, 'bootstrap-clients.js'), [String(dtls.address().port), String(count), String(window)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await new Promise((resolve, reject) => {
    child.once('message', resolve);
    child.once('exit', (code) => reject(new Error(`bootstrap-clients exited with ${code}`)));
  });
  const seconds = (performance.now() - start) / 1000;
  child.send({ stop: true });
  await new Promise((r) => child.once('exit', r));
  await server.close();
  store.close();
  rmSync(dir, { recursive: true, force: true });
  return { perSecond: finished / seconds, finished };
}
