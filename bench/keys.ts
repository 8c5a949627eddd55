/**
 * Key derivation speed: factory keys per second from the software store (HMAC-SHA256 and AES-CMAC master keys) and
 * from SoftHSM2 (C_Sign per PRF block), and the time to write a one-million-device factory list (target: < 60 s).
 * Run alone with `node dist/bench/keys.js [devices]`, or through run.ts via benchKeys().
 */
import { createWriteStream, existsSync } from 'node:fs';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { FactoryKeyDeriver, generateFactoryList, Pkcs11KeyStore, type KeyStore, type SecretKeyType } from '../src/keys/index.js';
import { softHsmToken, SOFTHSM2_MODULE } from '../src/keys/softhsm.js';
import { tempSoftwareStore } from '../src/keys/test-helpers.js';

async function keysPerSecond(store: KeyStore, n: number): Promise<number> {
  const d = new FactoryKeyDeriver(store, { masterLabel: 'master', keyVersion: 1 });
  const start = performance.now();
  for (let i = 0; i < n; i++) await d.keyFor(`warden:v1:SN${i}`);
  return n / ((performance.now() - start) / 1000);
}

export interface KeysBenchResult {
  softwareHmacKeysPerSec: number;
  softwareCmacKeysPerSec: number;
  softhsmHmacKeysPerSec?: number;
  softhsmCmacKeysPerSec?: number;
  factoryListDevices: number;
  factoryListSeconds: number;
}

/** Measures the figures; SoftHSM2 ones are left out (undefined) if the package is not installed. */
export async function benchKeys(devices = 1_000_000): Promise<KeysBenchResult> {
  const r: Partial<KeysBenchResult> = {};
  for (const type of ['hmac-sha256', 'aes-256'] as SecretKeyType[]) {
    const t = await tempSoftwareStore(type);
    try {
      const kps = await keysPerSecond(t.store, 200_000);
      if (type === 'hmac-sha256') {
        r.softwareHmacKeysPerSec = kps;
        const file = join(t.dir, 'factory.csv');
        const out = createWriteStream(file, { mode: 0o600 });
        function* serials() {
          for (let i = 0; i < devices; i++) yield `SN${String(i).padStart(9, '0')}`;
        }
        const start = performance.now();
        r.factoryListDevices = await generateFactoryList(new FactoryKeyDeriver(t.store, { masterLabel: 'master', keyVersion: 1 }), serials(), out);
        out.end();
        await finished(out);
        r.factoryListSeconds = (performance.now() - start) / 1000;
      } else r.softwareCmacKeysPerSec = kps;
    } finally {
      await t.cleanup();
    }
  }
  if (existsSync(SOFTHSM2_MODULE)) {
    for (const type of ['hmac-sha256', 'aes-256'] as SecretKeyType[]) {
      const hsm = softHsmToken();
      try {
        const s = await Pkcs11KeyStore.open({ module: hsm.module, tokenLabel: hsm.tokenLabel, pin: hsm.pin });
        await s.generateSecretKey('master', { type });
        const kps = await keysPerSecond(s, 20_000);
        await s.close();
        if (type === 'hmac-sha256') r.softhsmHmacKeysPerSec = kps;
        else r.softhsmCmacKeysPerSec = kps;
      } finally {
        hsm.cleanup();
      }
    }
  }
  return r as KeysBenchResult;
}

/** Lines for a report. */
export function formatKeysBench(r: KeysBenchResult): string[] {
  const k = (n: number | undefined) => (n === undefined ? 'n/a (apt-get install softhsm2)' : `${Math.round(n).toLocaleString('en')} keys/s`);
  return [
    `factory keys, software store, HMAC-SHA256 master: ${k(r.softwareHmacKeysPerSec)}`,
    `factory keys, software store, AES-256-CMAC master: ${k(r.softwareCmacKeysPerSec)}`,
    `factory keys, SoftHSM2, CKM_SHA256_HMAC:          ${k(r.softhsmHmacKeysPerSec)}`,
    `factory keys, SoftHSM2, CKM_AES_CMAC:             ${k(r.softhsmCmacKeysPerSec)}`,
    `factory list, ${r.factoryListDevices.toLocaleString('en')} devices (software, to a file): ${r.factoryListSeconds.toFixed(1)} s (target < 60 s)`,
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const devices = Number(process.argv[2] ?? 1_000_000);
  for (const line of formatKeysBench(await benchKeys(devices))) console.log(line);
}
