/**
 * Firmware bytes/s to a fleet as Warden delivers them today: the server pushes a package into each device's
 * Object 5 Package resource (/5/0/0) with Block1 (RFC 7959), `window` devices at a time, over CoAP on loopback.
 * (The pull figures of issue 5 come when the server serves packages itself.)
 */
import { randomBytes } from 'node:crypto';
import { Lwm2mPath } from '../src/lwm2m/path.js';
import type { Lwm2mServer } from '../src/server/index.js';

const PACKAGE = Lwm2mPath.parse('/5/0/0');

/** Pushes `size` bytes to each of `endpoints`, `window` at a time; bytes per second delivered and failures. */
export async function benchFirmwarePush(server: Lwm2mServer, endpoints: readonly string[], size: number, window: number): Promise<{ bytesPerSecond: number; failed: number }> {
  const image = randomBytes(size);
  let next = 0;
  let done = 0;
  let failed = 0;
  const start = performance.now();
  await Promise.all(Array.from({ length: window }, async () => {
    for (let i = next++; i < endpoints.length; i = next++) {
      const res = await server.write(endpoints[i]!, PACKAGE, { kind: 'singleResource', id: 0, value: { type: 'opaque', value: image } }, { timeout: 120_000 }).catch(() => undefined);
      if (res?.code === 68) done++;
      else failed++;
    }
  }));
  return { bytesPerSecond: (done * size) / ((performance.now() - start) / 1000), failed };
}
