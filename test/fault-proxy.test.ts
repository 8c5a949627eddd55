/** The fault proxy on raw UDP: seeded loss, duplication, reordering, order-keeping delay, NAT rebinding, a fleet. */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { FaultProxy, type FaultProxyOptions } from './fault-proxy.js';
import { until } from './helpers.js';

interface Peer {
  socket: Socket;
  port: number;
  /** Datagrams received, with the sender's port. */
  got: { n: number; from: number }[];
  send(n: number, port: number): Promise<void>;
}

async function peer(t: TestContext): Promise<Peer> {
  const socket = createSocket('udp4');
  await new Promise<void>((ok) => socket.bind(0, '127.0.0.1', () => ok()));
  const got: Peer['got'] = [];
  socket.on('message', (msg: Buffer, rinfo: RemoteInfo) => got.push({ n: msg.readUInt32BE(0), from: rinfo.port }));
  t.after(() => new Promise<void>((ok) => socket.close(() => ok())));
  return {
    socket, got, port: socket.address().port,
    send: (n, port) => new Promise<void>((ok, fail) => {
      const b = Buffer.alloc(4);
      b.writeUInt32BE(n);
      socket.send(b, port, '127.0.0.1', (err) => (err ? fail(err) : ok()));
    }),
  };
}

async function proxyTo(t: TestContext, server: Peer, opts: Omit<FaultProxyOptions, 'target'>): Promise<FaultProxy> {
  const proxy = await FaultProxy.start({ target: { address: '127.0.0.1', port: server.port }, ...opts });
  t.after(() => proxy.close());
  return proxy;
}

/**
 * Sends 0..count-1 through `proxy` to `to` one at a time, keeping at most 8 on their way (loopback UDP drops what
 * overflows a socket buffer, and these tests count every datagram).
 */
async function sendAll(from: Peer, proxy: FaultProxy, to: Peer, count: number): Promise<void> {
  const { up } = proxy.counters;
  const deadline = Date.now() + 10_000;
  for (let i = 0; i < count; i++) {
    await from.send(i, proxy.port);
    const onTheWay = () => i + 1 - (up.passed + up.dropped) + (up.passed + up.duplicated - to.got.length);
    while (onTheWay() > 8) {
      if (Date.now() > deadline) throw new Error(`datagrams lost on loopback (${onTheWay()} unaccounted)`);
      await new Promise((r) => setImmediate(r));
    }
  }
}

/** Which of `count` datagrams a proxy with these options drops toward the server (seeded, so repeatable). */
async function droppedSet(t: TestContext, opts: Omit<FaultProxyOptions, 'target'>, count: number): Promise<{ missing: number[]; proxy: FaultProxy; server: Peer }> {
  const server = await peer(t);
  const client = await peer(t);
  const proxy = await proxyTo(t, server, opts);
  await sendAll(client, proxy, server, count);
  const { up } = proxy.counters;
  await until(() => up.passed + up.dropped === count && server.got.length === up.passed, 5000, 'every passed datagram delivered');
  const seen = new Set(server.got.map((g) => g.n));
  const missing: number[] = [];
  for (let i = 0; i < count; i++) if (!seen.has(i)) missing.push(i);
  return { missing, proxy, server };
}

test('loss: drops about the rate, exactly the same datagrams for the same seed, other seeds differ', async (t) => {
  const a = await droppedSet(t, { loss: 0.3, seed: 7 }, 1000);
  assert.equal(a.proxy.counters.up.dropped + a.proxy.counters.up.passed, 1000);
  assert.equal(a.missing.length, a.proxy.counters.up.dropped, 'what is counted dropped never arrives');
  assert.ok(a.missing.length > 250 && a.missing.length < 350, `about 30% dropped, got ${a.missing.length}`);
  const b = await droppedSet(t, { loss: 0.3, seed: 7 }, 1000);
  assert.deepEqual(b.missing, a.missing, 'same seed, same fate for every datagram');
  const c = await droppedSet(t, { loss: 0.3, seed: 8 }, 1000);
  assert.notDeepEqual(c.missing, a.missing);
  const none = await droppedSet(t, { seed: 7 }, 200);
  assert.equal(none.missing.length, 0);
  assert.deepEqual(none.server.got.map((g) => g.n), [...Array(200).keys()], 'no fault: everything, in order');
});

test('windowed loss: exactly 3 in every 10 at random positions, never more than 6 in a row', async (t) => {
  const { missing } = await droppedSet(t, { loss: 0.3, lossWindow: 10, seed: 5 }, 1000);
  for (let w = 0; w < 100; w++) assert.equal(missing.filter((n) => Math.floor(n / 10) === w).length, 3, `window ${w}`);
  let run = 1;
  let longest = 1;
  for (let i = 1; i < missing.length; i++) longest = Math.max(longest, (run = missing[i] === missing[i - 1]! + 1 ? run + 1 : 1));
  assert.ok(longest <= 6, `longest burst ${longest}`);
  const positions = new Set(missing.map((n) => n % 10));
  assert.ok(positions.size > 5, 'the positions vary from window to window');
});

test('rates per direction: loss down only leaves the way up intact', async (t) => {
  const server = await peer(t);
  const client = await peer(t);
  const proxy = await proxyTo(t, server, { down: { loss: 1 }, seed: 3 });
  await sendAll(client, proxy, server, 50);
  await until(() => server.got.length === 50, 5000, 'all 50 up');
  const back = server.got[0]!.from;
  for (let i = 0; i < 50; i++) await server.send(i, back);
  await until(() => proxy.counters.down.dropped === 50, 5000, 'all 50 down dropped');
  assert.equal(proxy.counters.up.dropped, 0);
  assert.equal(proxy.counters.down.passed, 0);
  assert.equal(client.got.length, 0);
});

test('duplicate: the far side gets a second copy of exactly the duplicated datagrams', async (t) => {
  const server = await peer(t);
  const client = await peer(t);
  const proxy = await proxyTo(t, server, { duplicate: 0.2, seed: 11 });
  await sendAll(client, proxy, server, 500);
  await until(() => proxy.counters.up.passed === 500, 5000, 'all 500 through the proxy');
  const { passed, duplicated } = proxy.counters.up;
  assert.ok(duplicated > 60 && duplicated < 140, `about 20% duplicated, got ${duplicated}`);
  await until(() => server.got.length === passed + duplicated, 5000, 'originals and copies delivered');
  const times = new Map<number, number>();
  for (const g of server.got) times.set(g.n, (times.get(g.n) ?? 0) + 1);
  assert.equal(times.size, 500);
  assert.equal([...times.values()].filter((n) => n === 2).length, duplicated);
  assert.ok([...times.values()].every((n) => n === 1 || n === 2));
});

test('reorder: held datagrams arrive after the next one, each counted once; nothing is lost', async (t) => {
  const server = await peer(t);
  const client = await peer(t);
  const proxy = await proxyTo(t, server, { reorder: 0.2, seed: 5, reorderHoldMs: 5000 });
  await sendAll(client, proxy, server, 300);
  // The last datagram, if held, has nothing to overtake it: one more releases it.
  await client.send(300, proxy.port);
  await until(() => server.got.length >= 300 && server.got.some((g) => g.n === 299), 5000, 'delivered');
  const order = server.got.map((g) => g.n).filter((n) => n < 300);
  assert.deepEqual([...order].sort((x, y) => x - y), [...Array(300).keys()], 'every datagram once');
  let inversions = 0;
  for (let i = 1; i < order.length; i++) if (order[i]! < order[i - 1]!) inversions++;
  assert.ok(inversions > 20, `order changed at the far side (${inversions} inversions)`);
  const reordered = proxy.counters.up.reordered;
  assert.ok(reordered === inversions || reordered === inversions + 1, `${reordered} reordered, ${inversions} inversions among the first 300`);
});

test('delay with jitter keeps the order: a delayed datagram overtakes nothing', async (t) => {
  const server = await peer(t);
  const client = await peer(t);
  const proxy = await proxyTo(t, server, { delay: { ms: 2, jitter: 30 }, seed: 9 });
  for (let i = 0; i < 100; i++) void client.send(i, proxy.port);
  await until(() => server.got.length === 100, 10_000, 'all delayed datagrams delivered');
  assert.deepEqual(server.got.map((g) => g.n), [...Array(100).keys()]);
});

test('rebind: the server sees a new source port; replies to the old one are dropped', async (t) => {
  const server = await peer(t);
  const client = await peer(t);
  const proxy = await proxyTo(t, server, { seed: 1 });
  await client.send(1, proxy.port);
  await until(() => server.got.length === 1);
  const oldPort = server.got[0]!.from;
  assert.deepEqual(proxy.backAddress({ address: '127.0.0.1', port: client.port }), { address: '127.0.0.1', port: oldPort });
  await server.send(100, oldPort);
  await until(() => client.got.length === 1);
  assert.equal(client.got[0]!.n, 100);

  assert.equal(await proxy.rebind({ address: '127.0.0.1', port: client.port }), 1);
  await client.send(2, proxy.port);
  await until(() => server.got.length === 2);
  const newPort = server.got[1]!.from;
  assert.notEqual(newPort, oldPort, 'a new NAT mapping');
  await server.send(101, oldPort);
  await until(() => proxy.counters.stale === 1, 5000, 'the reply to the old port reached the forgotten mapping');
  await server.send(102, newPort);
  await until(() => client.got.length === 2);
  assert.deepEqual(client.got.map((g) => g.n), [100, 102], 'the reply to the old port never reached the client');
  assert.equal(proxy.counters.rebound, 1);
});

test('rebind at a rate per datagram and on an interval', async (t) => {
  const server = await peer(t);
  const client = await peer(t);
  const proxy = await proxyTo(t, server, { rebind: 0.25, seed: 21 });
  await sendAll(client, proxy, server, 100);
  await until(() => server.got.length === 100);
  const ports = new Set(server.got.map((g) => g.from));
  assert.ok(proxy.counters.rebound > 10, `rebound ${proxy.counters.rebound} times`);
  assert.equal(ports.size, proxy.counters.rebound + 1, 'one source port per mapping');

  const server2 = await peer(t);
  const timed = await proxyTo(t, server2, { rebind: { intervalMs: 10 } });
  await client.send(1, timed.port);
  await until(() => timed.counters.rebound >= 2, 5000, 'rebinds on the interval');
  await client.send(2, timed.port);
  await until(() => server2.got.length === 2);
  assert.notEqual(server2.got[0]!.from, server2.got[1]!.from);
});

test('a fleet: each client its own back socket, and replies find their client', async (t) => {
  const server = await peer(t);
  const proxy = await proxyTo(t, server, { seed: 2 });
  const clients = await Promise.all(Array.from({ length: 8 }, () => peer(t)));
  for (const [i, c] of clients.entries()) await c.send(i, proxy.port);
  await until(() => server.got.length === 8);
  const byClient = new Map(server.got.map((g) => [g.n, g.from]));
  assert.equal(new Set(byClient.values()).size, 8, 'the server sees 8 distinct addresses');
  assert.equal(proxy.mappings().length, 8);
  for (const [n, from] of byClient) await server.send(1000 + n, from);
  await until(() => clients.every((c) => c.got.length === 1));
  clients.forEach((c, i) => assert.equal(c.got[0]!.n, 1000 + i));
  await proxy.close();
  assert.deepEqual(proxy.mappings(), [], 'close forgets every mapping');
});
