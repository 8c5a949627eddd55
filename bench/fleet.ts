/** Child process: runs `count` Warden clients against the server in argv, reports over IPC when all registered. */
import { Lwm2mClient } from '../src/client/index.js';

const [port, count, prefix] = [Number(process.argv[2]), Number(process.argv[3]), process.argv[4] ?? 'bench-'];
const clients: Lwm2mClient[] = [];
for (let i = 0; i < count; i += 100) {
  const batch = Array.from({ length: Math.min(100, count - i) }, (_, j) =>
    new Lwm2mClient({ endpoint: `${prefix}${i + j}`, serverUri: `coap://127.0.0.1:${port}`, lifetime: 3600 }));
  await Promise.all(batch.map((c) => c.start()));
  clients.push(...batch);
}
process.send!({ ready: clients.length });
process.on('message', async (m: { stop?: boolean }) => {
  if (m.stop) {
    await Promise.all(clients.map((c) => c.stop({ deregister: false })));
    process.disconnect();
    process.exit(0);
  }
});
