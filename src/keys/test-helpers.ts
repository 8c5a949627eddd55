/** Test fixtures for src/keys: a throw-away software store in a temp directory. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SecretKeyType } from './key-store.js';
import { SoftwareKeyStore } from './software-store.js';

/** A new software store with one key `master` (of `type`, or the given value); `cleanup` closes it and removes the dir. */
export async function tempSoftwareStore(type: SecretKeyType = 'hmac-sha256', value?: Uint8Array): Promise<{ store: SoftwareKeyStore; dir: string; cleanup: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'warden-keys-'));
  const store = await SoftwareKeyStore.open(join(dir, 'keystore.json'), 'test passphrase', { create: true });
  if (value) await store.importSecretKey('master', type, value);
  else await store.generateSecretKey('master', { type });
  return {
    store,
    dir,
    cleanup: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
