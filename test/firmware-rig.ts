/**
 * A Warden with a trusted firmware key and simulated MCUboot-class devices (src/device under the LwM2M client, through
 * DeviceRunner), reaching the server's CoAPs port through a FaultProxy: the firmware end-to-end and fleet tests.
 */
import type { TestContext } from 'node:test';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeviceRunner, type DeviceRunnerOptions } from '../src/cli/device-runner.js';
import { startWarden, type Warden } from '../src/cli/warden.js';
import type { CoapEndpointOptions } from '../src/coap/index.js';
import type { FirmwareCampaignSummary } from '../src/firmware/index.js';
import { deviceOptions, factoryFlash, identity, signer, testLayout } from '../src/device/test-helpers.js';
import { PowerCut, type Layout } from '../src/device/index.js';
import { silentLogger } from '../src/log.js';
import { FaultProxy, type FaultProxyOptions } from './fault-proxy.js';

/** CoAP timing for lossy links: short ACK_TIMEOUT (s), enough retransmissions to outlast bursts. */
export const LOSSY_COAP: Omit<CoapEndpointOptions, 'logger'> = { ackTimeout: 1, maxRetransmit: 8 };

export interface FirmwareRig {
  warden: Warden;
  /** The CoAPs proxy every device (and its downloads) goes through. */
  proxy: FaultProxy;
  layout: Layout;
  /** Stores a package in the repository; returns its id. */
  upload(pkg: Uint8Array): Promise<string>;
  /** A device running `factory` (a signed package) on a fresh flash (`layout`: default the rig's A/B one), with its PSK registered; not started. */
  device(endpoint: string, factory: Uint8Array, o?: Partial<DeviceRunnerOptions> & { layout?: Layout }): DeviceRunner & { power: PowerCut };
  /** Waits until the campaign is finished, cancelled or paused. */
  settle(id: number, timeoutMs: number): Promise<FirmwareCampaignSummary>;
}

export async function startFirmwareRig(t: TestContext, faults: Omit<FaultProxyOptions, 'target'> = {}, slotKiB = 64): Promise<FirmwareRig> {
  const dir = mkdtempSync(join(tmpdir(), 'warden-fw-'));
  const keyFile = join(dir, 'firmware-key.pem');
  writeFileSync(keyFile, signer.publicKey.export({ type: 'spki', format: 'pem' }));
  let proxyPort = 0;
  let warden: Warden | undefined;
  warden = await startWarden({
    dataDir: dir, coapsPort: 0, coapHost: '127.0.0.1', apiPort: 0, apiHost: '127.0.0.1', apiToken: 'firmware-rig-token',
    logger: silentLogger, coap: LOSSY_COAP,
    firmware: { trustedKeyFiles: [keyFile], httpPort: 0 },
    // Devices pull over CoAPs through the proxy (the same lossy path as their LwM2M traffic); HTTP goes direct.
    campaignPackages: {
      get: (id) => warden!.firmware.get(id),
      uri: (id, scheme) => (scheme === 'coaps' ? `coaps://127.0.0.1:${proxyPort}/fw/${id}` : warden!.packageUri(id, scheme as 'http')),
      content: async (id) => (await warden!.firmware.open(id))!,
    },
    campaignDriver: { pollInterval: 500, requestTimeout: 60_000 },
  });
  const proxy = await FaultProxy.start({ ...faults, target: { address: '127.0.0.1', port: warden.coapsPort! } });
  proxyPort = proxy.port;
  const layout = testLayout(slotKiB);
  const runners: DeviceRunner[] = [];
  t.after(async () => {
    await Promise.all(runners.map((r) => r.stop()));
    await proxy.close();
    await warden!.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    warden,
    proxy,
    layout,
    async upload(pkg) {
      return (await warden!.firmware.upload(pkg)).package.id;
    },
    device(endpoint, factory, { layout: own, ...o } = {}) {
      const flashLayout = own ?? layout;
      const key = randomBytes(16);
      warden!.security.add({ endpoint, mode: 'psk', pskIdentity: endpoint, pskKey: key });
      const power = new PowerCut();
      const runner = new DeviceRunner({
        flash: factoryFlash(flashLayout, factory, power),
        power,
        device: deviceOptions(flashLayout, { trustedKeys: identity.trustedKeys }),
        client: {
          endpoint,
          serverUri: `coaps://127.0.0.1:${proxy.port}`,
          security: { mode: 'psk', identity: endpoint, key },
          lifetime: 600,
          coap: LOSSY_COAP,
          requestTimeout: 60_000,
          retry: { initialDelay: 500, attempts: 20 },
          dtls: { retransmitInitial: 300, maxRetransmissions: 10 },
          logger: silentLogger,
        },
        fetcher: { coap: LOSSY_COAP, retries: 8, retryDelay: 200 },
        ...o,
      });
      runners.push(runner);
      return Object.assign(runner, { power });
    },
    async settle(id, timeoutMs) {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const s = warden!.campaigns.summary(id)!;
        if (s.state === 'finished' || s.state === 'cancelled' || s.state === 'paused') return s;
        if (Date.now() > end) throw new Error(`campaign ${id} still ${s.state} after ${timeoutMs} ms: ${JSON.stringify(s)}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    },
  };
}
