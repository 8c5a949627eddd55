/**
 * Child process for the bootstrap benchmark: `count` Warden clients that hold only a factory PSK bootstrap over DTLS
 * against the server in argv, `window` at a time; stopped on request.
 */
import { Lwm2mClient } from '../src/client/index.js';
import { factoryKey } from './bootstrap.js';

const [port, count, window] = [Number(process.argv[2]), Number(process.argv[3]), Number(process.argv[4])];

const clients: Lwm2mClient[] = [];
let next = 0;
const finished = new Set<number>();
await Promise.all(Array.from({ length: window }, async () => {
  for (let i = next++; i < count; i = next++) {
    const client = new Lwm2mClient({
      endpoint: `bs-${i}`,
      bootstrap: { serverUri: `coaps://127.0.0.1:${port}`, security: { mode: 'psk', identity: `bs-${i}`, key: factoryKey(i) } },
    });
    clients.push(client);
    await new Promise<void>((resolve) => {
      client.once('bootstrap-finished', () => (finished.add(i), resolve()));
      client.once('bootstrap-failed', () => resolve());
      void client.start().catch(() => {});
    });
  }
}));
process.send!({ finished: finished.size });
process.on('message', async () => {
  await Promise.all(clients.map((c) => c.stop({ deregister: false }).catch(() => {})));
  process.exit(0);
});
