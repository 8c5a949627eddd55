/**
 * Child process for the notifications benchmark: runs `count` Warden clients (endpoint names prefix + first..)
 * against the server in argv. On { go: true } the clients' Battery Level (/3/0/9) changes as fast as the process
 * can change it, `BATCH` clients per event-loop turn (a burst of all of them would overflow the server's socket
 * buffer and measure drops); on { stop: true } it reports its CPU seconds since { go } and exits.
 */
import { DeviceObject, DeviceResource, int, Lwm2mClient } from '../src/client/index.js';

const [port, count, prefix, first] = [Number(process.argv[2]), Number(process.argv[3]), process.argv[4] ?? 'notify-', Number(process.argv[5] ?? 0)];
const BATCH = 50;
const clients: Lwm2mClient[] = [];
for (let i = 0; i < count; i += 100) {
  const batch = Array.from({ length: Math.min(100, count - i) }, (_, j) =>
    new Lwm2mClient({ endpoint: `${prefix}${first + i + j}`, serverUri: `coap://127.0.0.1:${port}`, lifetime: 3600, valueUpdateInterval: 0 }));
  await Promise.all(batch.map((c) => c.start()));
  clients.push(...batch);
}
const devices = clients.map((c) => (c.tree.enabler(3) as DeviceObject).device);
let running = false;
let value = 0;
let cursor = 0;
let changes = 0;
let cpu0 = process.cpuUsage();
const values = Array.from({ length: 100 }, (_, v) => int(v));

function turn(): void {
  if (!running) return;
  for (let n = 0; n < BATCH; n++) {
    if (cursor === 0) value = (value + 1) % 100;
    devices[cursor]!.set(DeviceResource.BatteryLevel, values[value]!);
    cursor = (cursor + 1) % devices.length;
  }
  changes += BATCH;
  setImmediate(turn);
}

process.send!({ ready: clients.length });
process.on('message', async (m: { go?: boolean; stop?: boolean }) => {
  if (m.go) {
    running = true;
    cpu0 = process.cpuUsage();
    setImmediate(turn);
  }
  if (m.stop) {
    running = false;
    const cpu = process.cpuUsage(cpu0);
    process.send!({ cpuSeconds: (cpu.user + cpu.system) / 1e6, changes });
    await Promise.all(clients.map((c) => c.stop({ deregister: false })));
    process.disconnect();
    process.exit(0);
  }
});
