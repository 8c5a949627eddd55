/** The ceiling: a raw UDP echo on loopback, driven with the same window as the LwM2M figures. */
import { createSocket } from 'node:dgram';

/** Round trips per second of `window` outstanding datagrams for `durationMs`. */
export async function udpEcho(durationMs: number, window: number): Promise<number> {
  const server = createSocket('udp4');
  server.on('message', (msg, rinfo) => server.send(msg, rinfo.port, rinfo.address));
  await new Promise<void>((r) => server.bind(0, '127.0.0.1', r));
  const port = server.address().port;
  const client = createSocket('udp4');
  await new Promise<void>((r) => client.bind(0, '127.0.0.1', r));
  const payload = Buffer.alloc(40, 1);
  let received = 0;
  let stop = false;
  const done = new Promise<void>((resolve) => {
    client.on('message', () => {
      received++;
      if (!stop) client.send(payload, port, '127.0.0.1');
      else if (received >= sent) resolve();
    });
  });
  let sent = 0;
  const start = performance.now();
  for (let i = 0; i < window; i++) {
    client.send(payload, port, '127.0.0.1');
  }
  await new Promise((r) => setTimeout(r, durationMs));
  stop = true;
  const elapsed = performance.now() - start;
  const count = received;
  sent = received + 1; // resolve on the next echo, or give up shortly
  await Promise.race([done, new Promise((r) => setTimeout(r, 200))]);
  client.close();
  server.close();
  return count / (elapsed / 1000);
}
