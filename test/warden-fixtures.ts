/** `startWarden` set-ups several end-to-end tests share. */
import type { TestContext } from 'node:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { keysInit, openKeyStore, FACTORY_MASTER_LABEL, type KeysCliIo } from '../src/cli/keys.js';
import { startWarden, type Warden } from '../src/cli/warden.js';
import { createTestPki, type TestPki } from '../src/dtls/test-pki.js';
import { FactoryKeyDeriver, type FactoryCredential } from '../src/keys/index.js';
import { silentLogger } from '../src/log.js';

const pem = (label: string, der: Uint8Array) =>
  `-----BEGIN ${label}-----\n${Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END ${label}-----\n`;

/** Warden with CoAPs on loopback presenting the test PKI's server chain (`--cert`/`--key` files in `dir`). */
export async function startWardenWithTestPki(dir: string, apiToken: string): Promise<{ warden: Warden; pki: TestPki }> {
  const pki = createTestPki();
  writeFileSync(join(dir, 'server.pem'), pki.server.chain.map((c) => pem('CERTIFICATE', c)).join(''));
  writeFileSync(join(dir, 'server.key'), pki.server.key.export({ format: 'pem', type: 'pkcs8' }));
  const warden = await startWarden({
    dataDir: dir, coapsPort: 0, coapHost: '127.0.0.1', apiPort: 0, apiHost: '127.0.0.1', apiToken,
    dtls: { certFile: join(dir, 'server.pem'), keyFile: join(dir, 'server.key') }, logger: silentLogger,
  });
  return { warden, pki };
}

const io = (env: NodeJS.ProcessEnv): KeysCliIo => ({
  env, out: () => {}, err: () => {}, progress: () => {}, askSecret: () => Promise.reject(new Error('no prompt in tests')),
});

/**
 * A data directory with a software key store (`warden keys init`), the factory credentials of `serials` derived from
 * it, and Warden started on it with CoAPs and the CoAPs bootstrap server on loopback. `WARDEN_KEYSTORE_PASS` is set
 * for the test and restored after; the directory is removed after. The caller closes `warden` (after its devices).
 */
export async function startWardenWithFactoryKeys(t: TestContext, serials: string[], apiToken: string): Promise<{ warden: Warden; factory: FactoryCredential[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'warden-factory-'));
  const pass = 'test keystore passphrase';
  const previous = process.env.WARDEN_KEYSTORE_PASS;
  process.env.WARDEN_KEYSTORE_PASS = pass;
  t.after(() => {
    if (previous === undefined) delete process.env.WARDEN_KEYSTORE_PASS;
    else process.env.WARDEN_KEYSTORE_PASS = previous;
    rmSync(dir, { recursive: true, force: true });
  });
  await keysInit({ data: dir }, io({ WARDEN_KEYSTORE_PASS: pass }));
  const keyStore = await openKeyStore({ data: dir }, io({ WARDEN_KEYSTORE_PASS: pass }));
  const deriver = new FactoryKeyDeriver(keyStore, { masterLabel: FACTORY_MASTER_LABEL, keyVersion: 1 });
  const factory = await Promise.all(serials.map((s) => deriver.credentialFor(s)));
  await keyStore.close();
  const warden = await startWarden({
    dataDir: dir, coapsPort: 0, bootstrapsPort: 0, coapHost: '127.0.0.1', apiPort: 0, apiHost: '127.0.0.1', apiToken, logger: silentLogger,
  });
  return { warden, factory };
}
