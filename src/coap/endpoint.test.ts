import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeBlock, encodeBlock } from './block.js';
import { ManualClock } from './clock.js';
import { CoapEndpoint, type CoapEndpointOptions } from './endpoint.js';
import { CoapError } from './error.js';
import { MemoryTransport } from './memory.js';
import { decodeMessage, encodeMessage } from './message.js';
import { getOption, getUint, Method, ResponseCode, sortOptions, uintOption, uriPathOptions } from './option.js';
import { MessageType, OptionNumber, type CoapMessage, type CoapOption, type CoapResponse, type ObserveRelation } from './types.js';

const flush = () => new Promise<void>((r) => setImmediate(r));
const EMPTY = new Uint8Array(0);

/** An endpoint under test and a raw peer that sends and records hand-made messages. */
function setup(opts: CoapEndpointOptions = {}) {
  const clock = new ManualClock(1000);
  const [epT, rawT] = MemoryTransport.pair();
  let counter = 0;
  const ep = new CoapEndpoint(epT, { clock, random: (n) => new Uint8Array(n).map(() => counter++ & 0xff), ...opts });
  const received: CoapMessage[] = [];
  rawT.onDatagram((d) => received.push(decodeMessage(Uint8Array.from(d))));
  const peer = rawT.address;
  const send = (m: Partial<CoapMessage> & { code: number }) =>
    rawT.send(
      encodeMessage({
        type: MessageType.CON,
        messageId: 1,
        token: EMPTY,
        payload: EMPTY,
        ...m,
        options: sortOptions(m.options ?? []),
      }),
      epT.address,
    );
  const sendRaw = (bytes: number[]) => rawT.send(Uint8Array.from(bytes), epT.address);
  return { clock, ep, received, peer, send, sendRaw, epT, rawT };
}

function errorCode(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => 'resolved',
    (e: unknown) => (e instanceof CoapError ? e.code : String(e)),
  );
}

const tok = Uint8Array.of(9, 9, 9, 9);
const block = (num: number, more: boolean, szx: number): CoapOption => ({ number: OptionNumber.Block1, value: encodeBlock({ num, more, szx }) });

test('CON request retransmits with doubling timeouts, then rejects TIMEOUT (RFC 7252 §4.2)', async () => {
  const { clock, ep, received, peer } = setup({ random: (n) => new Uint8Array(n) });
  const outcome = errorCode(ep.request(peer, { code: Method.GET, options: uriPathOptions('/x') }, { timeout: 1e9 }));
  await flush();
  assert.equal(received.length, 1);
  const intervals = [2000, 4000, 8000, 16000];
  for (const iv of intervals) {
    clock.advance(iv - 1);
    await flush();
    const before: number = received.length;
    clock.advance(1);
    await flush();
    assert.equal(received.length, before + 1, `retransmitted after ${iv} ms`);
  }
  assert.ok(received.every((m) => m.messageId === received[0]!.messageId && m.type === MessageType.CON));
  clock.advance(32000);
  assert.equal(await outcome, 'TIMEOUT');
  assert.equal(received.length, 5);
  assert.equal(ep.stats().transmissions, 0);
  assert.equal(clock.pending, 0);
  await ep.close();
});

test('initial timeout lies within [ACK_TIMEOUT, ACK_TIMEOUT * ACK_RANDOM_FACTOR]', async () => {
  const { clock, ep, received, peer } = setup({ random: (n) => new Uint8Array(n).fill(0xff) });
  void ep.request(peer, { code: Method.GET }).catch(() => {});
  await flush();
  clock.advance(2999);
  await flush();
  assert.equal(received.length, 1);
  clock.advance(1);
  await flush();
  assert.equal(received.length, 2);
  await ep.close();
});

test('piggybacked, separate and NON responses; RST rejects RESET', async () => {
  const { ep, received, peer, send } = setup();
  // piggybacked
  let p = ep.request(peer, { code: Method.GET });
  await flush();
  let req = received.at(-1)!;
  assert.equal(req.token.length, 8);
  send({ type: MessageType.ACK, code: ResponseCode.Content, messageId: req.messageId, token: req.token, payload: Buffer.from('a') });
  assert.equal(Buffer.from((await p).payload).toString(), 'a');
  // separate: empty ACK, then a CON response which we must ACK
  p = ep.request(peer, { code: Method.GET });
  await flush();
  req = received.at(-1)!;
  send({ type: MessageType.ACK, code: 0, messageId: req.messageId });
  await flush();
  send({ type: MessageType.CON, code: ResponseCode.Content, messageId: 777, token: req.token, payload: Buffer.from('b') });
  assert.equal(Buffer.from((await p).payload).toString(), 'b');
  await flush();
  const ack = received.at(-1)!;
  assert.equal(ack.type, MessageType.ACK);
  assert.equal(ack.messageId, 777);
  assert.equal(ack.code, 0);
  // a duplicate of that CON response gets the same ACK again
  send({ type: MessageType.CON, code: ResponseCode.Content, messageId: 777, token: req.token, payload: Buffer.from('b') });
  await flush();
  assert.deepEqual(received.at(-1), ack);
  // NON request, NON response
  p = ep.request(peer, { code: Method.GET, confirmable: false });
  await flush();
  req = received.at(-1)!;
  assert.equal(req.type, MessageType.NON);
  send({ type: MessageType.NON, code: ResponseCode.Content, messageId: 778, token: req.token, payload: Buffer.from('c') });
  assert.equal(Buffer.from((await p).payload).toString(), 'c');
  // RST
  const r = errorCode(ep.request(peer, { code: Method.GET }));
  await flush();
  send({ type: MessageType.RST, code: 0, messageId: received.at(-1)!.messageId });
  assert.equal(await r, 'RESET');
  assert.deepEqual(ep.stats().exchanges, 0);
  await ep.close();
});

test('message IDs increase per message, tokens are random unless given', async () => {
  const { ep, received, peer } = setup();
  void ep.request(peer, { code: Method.GET }).catch(() => {});
  void ep.request(peer, { code: Method.GET }, { token: Uint8Array.of(1, 2) }).catch(() => {});
  await flush();
  assert.equal(received[1]!.messageId, (received[0]!.messageId + 1) & 0xffff);
  assert.notDeepEqual([...received[0]!.token], [...received[1]!.token]);
  assert.deepEqual([...received[1]!.token], [1, 2]);
  await ep.close();
});

test('abort signal, overall timeout and close reject pending requests', async () => {
  const { clock, ep, peer } = setup();
  const ac = new AbortController();
  const a = errorCode(ep.request(peer, { code: Method.GET }, { signal: ac.signal }));
  ac.abort();
  assert.equal(await a, 'ABORTED');
  const t = errorCode(ep.request(peer, { code: Method.GET }, { timeout: 500 }));
  clock.advance(500);
  assert.equal(await t, 'TIMEOUT');
  const c = errorCode(ep.request(peer, { code: Method.GET }));
  await ep.close();
  assert.equal(await c, 'CLOSED');
  assert.equal(clock.pending, 0);
  assert.equal(await errorCode(ep.request(peer, { code: Method.GET })), 'CLOSED');
});

test('server dedup: a duplicate CON gets the cached reply without a second handler call', async () => {
  const { ep, received, send } = setup();
  let calls = 0;
  ep.onRequest(() => ({ code: ResponseCode.Changed, payload: Buffer.from(String(++calls)) }));
  send({ code: Method.POST, messageId: 42, token: tok });
  send({ code: Method.POST, messageId: 42, token: tok });
  await flush();
  assert.equal(calls, 1);
  assert.equal(received.length, 2);
  assert.deepEqual(received[0], received[1]);
  assert.equal(received[0]!.type, MessageType.ACK);
  assert.equal(received[0]!.messageId, 42);
  // NON duplicates are dropped
  send({ type: MessageType.NON, code: Method.GET, messageId: 43, token: tok });
  send({ type: MessageType.NON, code: Method.GET, messageId: 43, token: tok });
  await flush();
  assert.equal(calls, 2);
  assert.equal(received.length, 3);
  assert.equal(received[2]!.type, MessageType.NON);
  await ep.close();
});

test('server dedup: a duplicate CON GET is served again rather than from a kept reply (RFC 7252 §4.5)', async () => {
  const { ep, received, send } = setup();
  let calls = 0;
  ep.onRequest(() => ({ code: ResponseCode.Content, payload: Buffer.from('block') }));
  const before = ep.stats().dedup;
  send({ code: Method.GET, messageId: 44, token: tok });
  await flush();
  assert.equal(ep.stats().dedup, before, 'nothing kept once answered');
  ep.onRequest(() => ({ code: ResponseCode.Content, payload: Buffer.from(`again ${++calls}`) }));
  send({ code: Method.GET, messageId: 44, token: tok });
  await flush();
  assert.equal(calls, 1);
  assert.equal(received.length, 2);
  assert.equal(received[1]!.messageId, 44);
  assert.equal(Buffer.from(received[1]!.payload).toString(), 'again 1');
  await ep.close();
});

test('dedup entries expire after EXCHANGE_LIFETIME', async () => {
  const { clock, ep, send } = setup({ exchangeLifetime: 1000 });
  let calls = 0;
  ep.onRequest(() => ({ code: ResponseCode.Changed, payload: Buffer.from(String(++calls)) }));
  send({ code: Method.POST, messageId: 42, token: tok });
  await flush();
  clock.advance(500);
  send({ code: Method.POST, messageId: 42, token: tok });
  await flush();
  assert.equal(calls, 1);
  clock.advance(2500);
  send({ code: Method.POST, messageId: 42, token: tok });
  await flush();
  assert.equal(calls, 2);
  await ep.close();
});

test('slow handler: empty ACK, then a retransmitted separate CON response', async () => {
  const { clock, ep, received, send } = setup({ random: (n) => new Uint8Array(n) });
  let finish!: (r: { code: number; payload: Uint8Array }) => void;
  ep.onRequest(() => new Promise((r) => (finish = r)));
  send({ code: Method.GET, messageId: 5, token: tok });
  await flush();
  assert.equal(received.length, 0);
  clock.advance(1000);
  await flush();
  assert.equal(received.length, 1);
  assert.equal(received[0]!.type, MessageType.ACK);
  assert.equal(received[0]!.code, 0);
  // a duplicate meanwhile gets the empty ACK again
  send({ code: Method.GET, messageId: 5, token: tok });
  await flush();
  assert.equal(received.length, 2);
  assert.equal(received[1]!.code, 0);
  finish({ code: ResponseCode.Content, payload: Buffer.from('late') });
  await flush();
  const resp = received[2]!;
  assert.equal(resp.type, MessageType.CON);
  assert.deepEqual([...resp.token], [...tok]);
  clock.advance(2000);
  await flush();
  assert.equal(received.length, 4, 'separate response retransmitted');
  send({ type: MessageType.ACK, code: 0, messageId: resp.messageId });
  await flush();
  clock.advance(100000);
  await flush();
  assert.equal(received.length, 4);
  assert.equal(ep.stats().transmissions, 0);
  await ep.close();
});

test('ping, malformed datagrams, bad options, unknown methods and throwing handlers', async () => {
  const { ep, received, send, sendRaw } = setup();
  let calls = 0;
  ep.onRequest((req) => {
    calls++;
    if (req.path[0] === 'throw') throw new Error('boom');
    if (req.path[0] === 'reject') return Promise.reject(new Error('boom'));
    return { code: ResponseCode.Content };
  });
  const last = () => received.at(-1)!;
  sendRaw([0x40, 0x00, 0x12, 0x34]); // CoAP ping
  await flush();
  assert.equal(last().type, MessageType.RST);
  assert.equal(last().messageId, 0x1234);
  sendRaw([0x49, 0x01, 0x00, 0x07, 1, 2, 3, 4, 5, 6, 7, 8, 9]); // TKL 9
  await flush();
  assert.equal(last().type, MessageType.RST);
  assert.equal(last().messageId, 7);
  sendRaw([0x40, 0x01, 0x00, 0x08, 0xff]); // payload marker, no payload
  await flush();
  assert.equal(last().messageId, 8);
  assert.equal(last().type, MessageType.RST);
  const n = received.length;
  sendRaw([0x50, 0x01, 0x00, 0x09, 0xff]); // NON format error: dropped
  sendRaw([0x40, 0x01]); // no header
  sendRaw([0x80, 0x01, 0x00, 0x0a]); // version 2: ignored
  await flush();
  assert.equal(received.length, n);
  send({ code: Method.GET, messageId: 10, token: tok, options: [{ number: 2049, value: EMPTY }] });
  await flush();
  assert.equal(last().code, ResponseCode.BadOption);
  assert.equal(last().type, MessageType.ACK);
  send({ code: Method.GET, messageId: 11, token: tok, options: [uintOption(OptionNumber.Accept, 0), uintOption(OptionNumber.Accept, 40)] });
  await flush();
  assert.equal(last().code, ResponseCode.BadOption, 'repeated non-repeatable critical option');
  send({ code: Method.GET, messageId: 12, token: tok, options: [{ number: 2048, value: EMPTY }] });
  await flush();
  assert.equal(last().code, ResponseCode.Content, 'unknown elective options are ignored');
  send({ code: 9, messageId: 13, token: tok });
  await flush();
  assert.equal(last().code, ResponseCode.MethodNotAllowed);
  send({ code: Method.GET, messageId: 14, token: tok, options: uriPathOptions('/throw') });
  await flush();
  assert.equal(last().code, ResponseCode.InternalServerError);
  send({ code: Method.GET, messageId: 15, token: tok, options: uriPathOptions('/reject') });
  await flush();
  await flush();
  assert.equal(last().code, ResponseCode.InternalServerError);
  send({ code: Method.GET, messageId: 16, token: tok, options: [{ number: OptionNumber.ProxyUri, value: Buffer.from('coap://x/') }] });
  await flush();
  assert.equal(last().code, ResponseCode.ProxyingNotSupported);
  assert.equal(calls, 3);
  // a response with an unknown critical option is rejected with RST
  send({ type: MessageType.CON, code: ResponseCode.Content, messageId: 17, token: tok, options: [{ number: 2049, value: EMPTY }] });
  await flush();
  assert.equal(last().type, MessageType.RST);
  assert.equal(last().messageId, 17);
  await ep.close();
});

test('incoming Block1: 2.31 Continue, handler once, 4.08 out of order, 4.13 over the cap, expiry', async () => {
  const { clock, ep, received, send } = setup({ maxBlockTransfer: 100, exchangeLifetime: 5000 });
  const bodies: string[] = [];
  ep.onRequest((req) => {
    bodies.push(Buffer.from(req.payload).toString());
    return { code: ResponseCode.Changed };
  });
  const path = uriPathOptions('/up');
  const last = () => received.at(-1)!;
  const chunk = (c: string) => Buffer.alloc(16, c);
  send({ code: Method.PUT, messageId: 1, token: tok, options: [...path, block(0, true, 0)], payload: chunk('a') });
  await flush();
  assert.equal(last().code, ResponseCode.Continue);
  assert.deepEqual(decodeBlock(getOption(last(), OptionNumber.Block1)!.value), { num: 0, more: true, szx: 0 });
  send({ code: Method.PUT, messageId: 2, token: tok, options: [...path, block(1, true, 0)], payload: chunk('b') });
  send({ code: Method.PUT, messageId: 3, token: tok, options: [...path, block(2, false, 0)], payload: Buffer.from('cc') });
  await flush();
  assert.equal(last().code, ResponseCode.Changed);
  assert.deepEqual(decodeBlock(getOption(last(), OptionNumber.Block1)!.value), { num: 2, more: false, szx: 0 });
  assert.deepEqual(bodies, ['a'.repeat(16) + 'b'.repeat(16) + 'cc']);
  // out of order / missing start
  send({ code: Method.PUT, messageId: 4, token: tok, options: [...path, block(3, true, 0)], payload: chunk('d') });
  await flush();
  assert.equal(last().code, ResponseCode.RequestEntityIncomplete);
  // Size1 over the cap
  send({ code: Method.PUT, messageId: 5, token: tok, options: [...path, block(0, true, 0), uintOption(OptionNumber.Size1, 1000)], payload: chunk('e') });
  await flush();
  assert.equal(last().code, ResponseCode.RequestEntityTooLarge);
  assert.equal(getUint(last(), OptionNumber.Size1), 100);
  // growing over the cap without Size1
  for (let i = 0; i < 7; i++) send({ code: Method.PUT, messageId: 10 + i, token: tok, options: [...path, block(i, true, 0)], payload: chunk('f') });
  await flush();
  assert.equal(last().code, ResponseCode.RequestEntityTooLarge);
  assert.equal(ep.stats().reassemblies, 0);
  // a vanished client's half transfer is dropped after EXCHANGE_LIFETIME
  send({ code: Method.PUT, messageId: 20, token: tok, options: [...path, block(0, true, 0)], payload: chunk('g') });
  await flush();
  assert.equal(ep.stats().reassemblies, 1);
  clock.advance(4999);
  assert.equal(ep.stats().reassemblies, 1);
  clock.advance(20000);
  assert.equal(ep.stats().reassemblies, 0, 'expired by the housekeeping timer, no datagram needed');
  assert.equal(clock.pending, 0);
  assert.equal(bodies.length, 1);
  await ep.close();
});

test('outgoing Block1 follows a smaller SZX from the server (RFC 7959 §2.5) and continues with Block2', async () => {
  const { ep, received, peer, send } = setup({ blockSize: 64 });
  const payload = Buffer.alloc(200).map((_, i) => i);
  const p = ep.request(peer, { code: Method.POST, options: uriPathOptions('/u'), payload });
  const got: Buffer[] = [];
  let offset = 0;
  for (;;) {
    await flush();
    const m = received.at(-1)!;
    const b1 = decodeBlock(getOption(m, OptionNumber.Block1)!.value)!;
    if (b1.num === 0) assert.equal(getUint(m, OptionNumber.Size1), 200);
    assert.equal(b1.num * (16 << b1.szx), offset);
    got.push(Buffer.from(m.payload));
    offset += m.payload.length;
    if (!b1.more) {
      send({
        type: MessageType.ACK,
        code: ResponseCode.Changed,
        messageId: m.messageId,
        token: m.token,
        options: [block(b1.num, false, b1.szx), { number: OptionNumber.Block2, value: encodeBlock({ num: 0, more: true, szx: 0 }) }],
        payload: Buffer.alloc(16, 'x'),
      });
      break;
    }
    // ask for 32-byte blocks
    send({ type: MessageType.ACK, code: ResponseCode.Continue, messageId: m.messageId, token: m.token, options: [block(b1.num, true, Math.min(b1.szx, 1))] });
  }
  assert.deepEqual(Buffer.concat(got), payload);
  assert.deepEqual(
    got.map((g) => g.length),
    [64, 32, 32, 32, 32, 8],
  );
  await flush();
  const m = received.at(-1)!;
  assert.equal(m.code, Method.POST);
  assert.equal(m.payload.length, 0);
  assert.deepEqual(decodeBlock(getOption(m, OptionNumber.Block2)!.value), { num: 1, more: false, szx: 0 });
  send({
    type: MessageType.ACK,
    code: ResponseCode.Changed,
    messageId: m.messageId,
    token: m.token,
    options: [{ number: OptionNumber.Block2, value: encodeBlock({ num: 1, more: false, szx: 0 }) }],
    payload: Buffer.from('yy'),
  });
  const r = await p;
  assert.equal(r.code, ResponseCode.Changed);
  assert.equal(Buffer.from(r.payload).toString(), 'x'.repeat(16) + 'yy');
  await ep.close();
});

test('Block2: early negotiation, cache, cap TOO_LARGE and ETag change restarts', async () => {
  const [a, b] = MemoryTransport.pair();
  const server = new CoapEndpoint(a);
  const client = new CoapEndpoint(b, { maxBlockTransfer: 1000 });
  let version = 0;
  let calls = 0;
  server.onRequest((req) => {
    calls++;
    if (req.path[0] === 'huge') return { code: ResponseCode.Content, payload: Buffer.alloc(5000) };
    return { code: ResponseCode.Content, payload: Buffer.alloc(600, version) };
  });
  const sizes: number[] = [];
  b.filter = (d) => {
    const m = decodeMessage(Uint8Array.from(d));
    const o = getOption(m, OptionNumber.Block2);
    if (o) sizes.push(16 << decodeBlock(o.value)!.szx);
    return true;
  };
  const r = await client.request(a.address, { code: Method.GET, options: uriPathOptions('/x') }, { blockSize: 128 });
  assert.equal(r.payload.length, 600);
  assert.ok(sizes.length === 5 && sizes.every((s) => s === 128), `block sizes ${sizes}`);
  assert.equal(calls, 1);
  assert.equal(await errorCode(client.request(a.address, { code: Method.GET, options: uriPathOptions('/huge') })), 'TOO_LARGE');
  // change the representation while the client is fetching it: the ETag changes and the client starts over
  calls = 0;
  a.filter = (d) => {
    const m = decodeMessage(Uint8Array.from(d));
    const o = getOption(m, OptionNumber.Block2);
    if (o && decodeBlock(o.value)!.num === 1 && version === 0) {
      version = 1;
      // drop the cache so block 2 comes from a fresh (different) representation
      (server as unknown as { representations: Map<string, unknown> }).representations.clear();
    }
    return true;
  };
  const r2 = await client.request(a.address, { code: Method.GET, options: uriPathOptions('/y') }, { blockSize: 128 });
  assert.ok(r2.payload.every((x) => x === 1), 'whole payload from the new representation');
  await server.close();
  await client.close();
});

test('client observe: freshness, unknown tokens RST, cancel, attachObservation', async () => {
  const { clock, ep, received, peer, send } = setup();
  const got: string[] = [];
  const p = ep.observe(peer, { code: Method.GET, options: uriPathOptions('/o') }, (n) => got.push(Buffer.from(n.payload).toString()));
  await flush();
  const req = received.at(-1)!;
  assert.equal(getUint(req, OptionNumber.Observe), 0);
  const token = req.token;
  const obsOpt = (v: number) => [uintOption(OptionNumber.Observe, v)];
  send({ type: MessageType.ACK, code: ResponseCode.Content, messageId: req.messageId, token, options: obsOpt(5), payload: Buffer.from('v5') });
  const obs = await p;
  assert.equal(Buffer.from(obs.response.payload).toString(), 'v5');
  const notify = (mid: number, seq: number, body: string, type = MessageType.NON) =>
    send({ type, code: ResponseCode.Content, messageId: mid, token, options: obsOpt(seq), payload: Buffer.from(body) });
  notify(100, 7, 'v7');
  notify(101, 6, 'v6-stale');
  notify(102, 7, 'v7-again-stale');
  notify(103, 8, 'v8', MessageType.CON);
  await flush();
  assert.deepEqual(got, ['v7', 'v8']);
  assert.equal(received.at(-1)!.type, MessageType.ACK);
  assert.equal(received.at(-1)!.messageId, 103);
  // a jump of 2^23 or more forward is stale; wrap-around 0xe00000 -> 3 is fresh (V1 > V2 and V1 - V2 > 2^23)
  notify(104, 8 + (1 << 23), 'too-far');
  notify(105, 0x700000, 'mid');
  notify(106, 0xe00000, 'high');
  notify(107, 3, 'wrapped');
  await flush();
  assert.deepEqual(got.slice(2), ['mid', 'high', 'wrapped']);
  // 128 s later even an older number is accepted
  clock.advance(129_000);
  notify(117, 2, 'late');
  await flush();
  assert.equal(got.at(-1), 'late');
  // unknown token: RST even for NON
  send({ type: MessageType.NON, code: ResponseCode.Content, messageId: 207, token: tok, options: obsOpt(1) });
  await flush();
  assert.equal(received.at(-1)!.type, MessageType.RST);
  assert.equal(received.at(-1)!.messageId, 207);
  // cancel() forgets; the next notification gets RST
  await obs.cancel();
  notify(208, 50, 'after-cancel');
  await flush();
  assert.equal(received.at(-1)!.type, MessageType.RST);
  assert.equal(got.at(-1), 'late');
  // re-attached after a "restart": accepted and ACKed
  const seen: string[] = [];
  const detach = ep.attachObservation(token, (n) => seen.push(Buffer.from(n.payload).toString()));
  notify(209, 51, 'attached', MessageType.CON);
  await flush();
  assert.deepEqual(seen, ['attached']);
  assert.equal(received.at(-1)!.type, MessageType.ACK);
  detach();
  notify(210, 52, 'detached', MessageType.CON);
  await flush();
  assert.equal(received.at(-1)!.type, MessageType.RST);
  assert.equal(ep.stats().observations, 0);
  await ep.close();
});

test('client observe: error notification ends it; first response without Observe means no relation', async () => {
  const { ep, received, peer, send } = setup();
  const got: number[] = [];
  let p = ep.observe(peer, { code: Method.GET }, (n) => got.push(n.code));
  await flush();
  let req = received.at(-1)!;
  send({ type: MessageType.ACK, code: ResponseCode.Content, messageId: req.messageId, token: req.token, options: [uintOption(OptionNumber.Observe, 1)] });
  await p;
  send({ type: MessageType.NON, code: ResponseCode.NotFound, messageId: 200, token: req.token });
  await flush();
  assert.deepEqual(got, [ResponseCode.NotFound]);
  assert.equal(ep.stats().observations, 0);
  p = ep.observe(peer, { code: Method.GET }, () => assert.fail('no notifications expected'));
  await flush();
  req = received.at(-1)!;
  send({ type: MessageType.ACK, code: ResponseCode.Content, messageId: req.messageId, token: req.token });
  const o = await p;
  assert.equal(o.response.code, ResponseCode.Content);
  assert.equal(ep.stats().observations, 0);
  await ep.close();
});

test('server observe: Observe numbers, NON/CON notifications, cancellation by RST, Observe=1 and CON timeout', async () => {
  const { clock, ep, received, send } = setup({ random: (n) => new Uint8Array(n) });
  const relations: ObserveRelation[] = [];
  const cancels: number[] = [];
  ep.onRequest((req) => ({
    code: ResponseCode.Content,
    payload: Buffer.from(`obs=${req.observe}`),
    observe: (rel) => {
      const i = relations.push(rel) - 1;
      rel.onCancel(() => cancels.push(i));
    },
  }));
  const path = uriPathOptions('/r');
  const last = () => received.at(-1)!;
  // register
  send({ code: Method.GET, messageId: 1, token: tok, options: [...path, uintOption(OptionNumber.Observe, 0)] });
  await flush();
  const seq0 = getUint(last(), OptionNumber.Observe)!;
  assert.notEqual(seq0, undefined);
  assert.equal(relations.length, 1);
  relations[0]!.notify({ code: ResponseCode.Content, payload: Buffer.from('n1') });
  await flush();
  assert.equal(last().type, MessageType.NON);
  assert.deepEqual([...last().token], [...tok]);
  const seq1 = getUint(last(), OptionNumber.Observe)!;
  assert.ok(seq1 > seq0);
  // RST to a NON notification cancels
  send({ type: MessageType.RST, code: 0, messageId: last().messageId });
  await flush();
  assert.deepEqual(cancels, [0]);
  assert.equal(relations[0]!.cancelled, true);
  relations[0]!.notify({ code: ResponseCode.Content, payload: Buffer.from('ignored') });
  await flush();
  assert.equal(Buffer.from(last().payload).toString(), 'n1');
  // a new registration with the same token replaces the old relation
  send({ code: Method.GET, messageId: 2, token: tok, options: [...path, uintOption(OptionNumber.Observe, 0)] });
  send({ code: Method.GET, messageId: 3, token: tok, options: [...path, uintOption(OptionNumber.Observe, 0)] });
  await flush();
  assert.equal(relations.length, 3);
  assert.deepEqual(cancels, [0, 1]);
  assert.equal(ep.stats().relations, 1);
  // GET with Observe=1 cancels and is answered without Observe
  send({ code: Method.GET, messageId: 4, token: tok, options: [...path, uintOption(OptionNumber.Observe, 1)] });
  await flush();
  assert.deepEqual(cancels, [0, 1, 2]);
  assert.equal(getUint(last(), OptionNumber.Observe), undefined);
  assert.equal(Buffer.from(last().payload).toString(), 'obs=1');
  // CON notifications: a newer one replaces an unacknowledged one; a timeout ends the relation
  send({ code: Method.GET, messageId: 5, token: tok, options: [...path, uintOption(OptionNumber.Observe, 0)] });
  await flush();
  const rel = relations.at(-1)!;
  rel.notify({ code: ResponseCode.Content, payload: Buffer.from('c1') }, true);
  rel.notify({ code: ResponseCode.Content, payload: Buffer.from('c2') });
  await flush();
  assert.equal(last().type, MessageType.CON, 'a notification replacing an unacknowledged CON one is CON too');
  assert.equal(ep.stats().transmissions, 1);
  const n = received.length;
  clock.advance(2000);
  await flush();
  assert.equal(received.length, n + 1);
  assert.equal(Buffer.from(last().payload).toString(), 'c2');
  clock.advance(100_000);
  await flush();
  assert.deepEqual(cancels, [0, 1, 2, 3]);
  assert.equal(ep.stats().relations, 0);
  assert.equal(ep.stats().transmissions, 0);
  // the handler declining observation (no callback) gives a plain response
  ep.onRequest(() => ({ code: ResponseCode.Content }));
  send({ code: Method.GET, messageId: 6, token: tok, options: [...path, uintOption(OptionNumber.Observe, 0)] });
  await flush();
  assert.equal(getUint(last(), OptionNumber.Observe), undefined);
  await ep.close();
});

test('server observe over an endpoint pair: large notification, error notification ends relation', async () => {
  const [a, b] = MemoryTransport.pair();
  const server = new CoapEndpoint(a);
  const client = new CoapEndpoint(b);
  let rel: ObserveRelation | undefined;
  server.onRequest(() => ({ code: ResponseCode.Content, payload: Buffer.alloc(3000, 1), observe: (r) => (rel = r) }));
  const got: CoapResponse[] = [];
  let wake!: () => void;
  let next = new Promise<void>((r) => (wake = r));
  const obs = await client.observe(a.address, { code: Method.GET, options: uriPathOptions('/big') }, (n) => {
    got.push(n);
    wake();
  });
  assert.equal(obs.response.payload.length, 3000);
  rel!.notify({ code: ResponseCode.Content, payload: Buffer.alloc(5000, 2) });
  await next;
  assert.equal(got[0]!.payload.length, 5000);
  assert.ok(got[0]!.payload.every((x) => x === 2));
  next = new Promise<void>((r) => (wake = r));
  rel!.notify({ code: ResponseCode.NotFound });
  await next;
  assert.equal(got[1]!.code, ResponseCode.NotFound);
  assert.equal(rel!.cancelled, true);
  assert.equal(server.stats().relations, 0);
  assert.equal(client.stats().observations, 0);
  await server.close();
  await client.close();
});

test('server Block2: later blocks from the cache, handler again on a miss, out-of-range block', async () => {
  const { clock, ep, received, send } = setup({ blockSize: 16, exchangeLifetime: 5000 });
  let calls = 0;
  const body = Buffer.from('0123456789abcdef0123456789ABCDEF--');
  ep.onRequest(() => {
    calls++;
    return { code: ResponseCode.Content, payload: body };
  });
  const path = uriPathOptions('/b');
  const b2 = (num: number, szx = 0): CoapOption => ({ number: OptionNumber.Block2, value: encodeBlock({ num, more: false, szx }) });
  const last = () => received.at(-1)!;
  send({ code: Method.GET, messageId: 1, token: tok, options: path });
  await flush();
  assert.deepEqual(decodeBlock(getOption(last(), OptionNumber.Block2)!.value), { num: 0, more: true, szx: 0 });
  assert.equal(getUint(last(), OptionNumber.Size2), body.length);
  const etag = getOption(last(), OptionNumber.ETag)!.value;
  assert.ok(etag.length > 0);
  send({ code: Method.GET, messageId: 2, token: tok, options: [...path, b2(2)] });
  await flush();
  assert.equal(calls, 1);
  assert.equal(Buffer.from(last().payload).toString(), '--');
  assert.deepEqual(decodeBlock(getOption(last(), OptionNumber.Block2)!.value), { num: 2, more: false, szx: 0 });
  assert.deepEqual([...getOption(last(), OptionNumber.ETag)!.value], [...etag]);
  // a larger SZX than ours is answered with our size and the block number scaled (RFC 7959 §2.4)
  send({ code: Method.GET, messageId: 3, token: tok, options: [...path, b2(1, 1)] });
  await flush();
  assert.deepEqual(decodeBlock(getOption(last(), OptionNumber.Block2)!.value), { num: 2, more: false, szx: 0 });
  send({ code: Method.GET, messageId: 4, token: tok, options: [...path, b2(9)] });
  await flush();
  assert.equal(last().code, ResponseCode.BadOption);
  // the cache expires; a later block then calls the handler again and slices
  clock.advance(20000);
  send({ code: Method.GET, messageId: 5, token: tok, options: [...path, b2(1)] });
  await flush();
  assert.equal(calls, 2);
  assert.equal(Buffer.from(last().payload).toString(), '0123456789ABCDEF');
  assert.deepEqual(decodeBlock(getOption(last(), OptionNumber.Block2)!.value), { num: 1, more: true, szx: 0 });
  await ep.close();
});

test('observe with FETCH: block-wise notification fetched with FETCH carrying the request payload', async () => {
  const [a, b] = MemoryTransport.pair();
  const server = new CoapEndpoint(a);
  const client = new CoapEndpoint(b);
  const fetches: string[] = [];
  let rel: ObserveRelation | undefined;
  server.onRequest((req) => {
    fetches.push(`${req.code}:${Buffer.from(req.payload).toString()}:${req.observe}`);
    return { code: ResponseCode.Content, payload: Buffer.from('small'), observe: (r) => (rel = r) };
  });
  let resolve!: (r: CoapResponse) => void;
  const next = new Promise<CoapResponse>((r) => (resolve = r));
  await client.observe(a.address, { code: Method.FETCH, options: uriPathOptions('/c'), payload: Buffer.from('q') }, (n) => resolve(n));
  const followUps: string[] = [];
  b.filter = (d) => {
    const m = decodeMessage(Uint8Array.from(d));
    if (m.code === Method.FETCH) followUps.push(`${Buffer.from(m.payload).toString()}:${getUint(m, OptionNumber.Observe)}:${decodeBlock(getOption(m, OptionNumber.Block2)!.value)!.num}`);
    return true;
  };
  rel!.notify({ code: ResponseCode.Content, payload: Buffer.alloc(2500, 7) });
  const n = await next;
  assert.deepEqual(followUps, ['q:undefined:1', 'q:undefined:2']);
  assert.equal(n.payload.length, 2500);
  assert.ok(getUint(n, OptionNumber.Observe) !== undefined, 'the notification keeps its Observe number');
  // one registration; the two later blocks came from the cache with FETCH + payload (handler not called)
  assert.deepEqual(fetches, ['5:q:0']);
  b.filter = undefined;
  await server.close();
  await client.close();
});

test('an RST to the NON response of a NON registration, or to a separate response, ends the relation', async () => {
  const { clock, ep, received, send } = setup({ random: (n) => new Uint8Array(n) });
  const cancels: string[] = [];
  let slow = false;
  ep.onRequest(async (req) => {
    if (slow) await new Promise<void>((r) => clock.setTimeout(r, 1500));
    return { code: ResponseCode.Content, observe: (rel) => rel.onCancel(() => cancels.push(req.path[0]!)) };
  });
  send({ type: MessageType.NON, code: Method.GET, messageId: 1, token: tok, options: [...uriPathOptions('/n'), uintOption(OptionNumber.Observe, 0)] });
  await flush();
  await flush();
  assert.equal(received.at(-1)!.type, MessageType.NON);
  send({ type: MessageType.RST, code: 0, messageId: received.at(-1)!.messageId });
  await flush();
  assert.deepEqual(cancels, ['n']);
  slow = true;
  send({ code: Method.GET, messageId: 2, token: tok, options: [...uriPathOptions('/s'), uintOption(OptionNumber.Observe, 0)] });
  await flush();
  clock.advance(1000);
  await flush();
  assert.equal(received.at(-1)!.code, 0, 'empty ACK');
  clock.advance(500);
  await flush();
  await flush();
  const sep = received.at(-1)!;
  assert.equal(sep.type, MessageType.CON);
  assert.notEqual(getUint(sep, OptionNumber.Observe), undefined);
  send({ type: MessageType.RST, code: 0, messageId: sep.messageId });
  await flush();
  assert.deepEqual(cancels, ['n', 's']);
  assert.equal(ep.stats().relations, 0);
  await ep.close();
});

test('CoAP ping: resolved by the RST an endpoint answers, TIMEOUT when nobody answers', async () => {
  const [a, b] = MemoryTransport.pair();
  const clock = new ManualClock();
  const x = new CoapEndpoint(a, { clock });
  const y = new CoapEndpoint(b);
  await x.ping(b.address);
  a.filter = () => false;
  const lost = errorCode(x.ping(b.address));
  clock.advance(200_000);
  assert.equal(await lost, 'TIMEOUT');
  const closing = errorCode(x.ping(b.address));
  await x.close();
  assert.equal(await closing, 'CLOSED');
  await y.close();
});

test('message ID reused too early with another token: a new request, and a foreign-token ACK is ignored', async () => {
  const { ep, received, peer, send } = setup();
  let calls = 0;
  ep.onRequest(() => ({ code: ResponseCode.Content, payload: Buffer.from(String(++calls)) }));
  send({ code: Method.GET, messageId: 42, token: Uint8Array.of(1) });
  send({ code: Method.GET, messageId: 42, token: Uint8Array.of(2) });
  await flush();
  assert.equal(calls, 2);
  assert.deepEqual([...received[1]!.token], [2]);
  assert.equal(Buffer.from(received[1]!.payload).toString(), '2');
  const p = ep.request(peer, { code: Method.GET });
  await flush();
  const req = received.at(-1)!;
  send({ type: MessageType.ACK, code: ResponseCode.Content, messageId: req.messageId, token: Uint8Array.of(7), payload: Buffer.from('stale') });
  await flush();
  assert.equal(ep.stats().transmissions, 1, 'still waiting for our ACK');
  send({ type: MessageType.ACK, code: ResponseCode.Content, messageId: req.messageId, token: req.token, payload: Buffer.from('ours') });
  assert.equal(Buffer.from((await p).payload).toString(), 'ours');
  await ep.close();
});

test('message IDs count per peer: traffic to others never makes a peer see an ID again within EXCHANGE_LIFETIME', async () => {
  const clock = new ManualClock(0);
  const [t] = MemoryTransport.pair();
  const ep = new CoapEndpoint(t, { clock, exchangeLifetime: 247_000 });
  const a = { address: '10.0.0.1', port: 5683 };
  const first = ep.nextMessageId(a);
  for (let i = 0; i < 70_000; i++) ep.nextMessageId({ address: '10.0.0.2', port: 5683 + (i % 7) });
  assert.equal(ep.nextMessageId(a), (first + 1) & 0xffff, "another peer's traffic does not advance this peer's IDs");
  clock.advance(200_000);
  assert.equal(ep.nextMessageId(a), (first + 2) & 0xffff, 'a peer active within the lifetime keeps its counter');
  clock.advance(2 * 247_000 + 1);
  ep.nextMessageId({ address: '10.0.0.3', port: 1 });
  clock.advance(247_000);
  ep.nextMessageId({ address: '10.0.0.3', port: 1 });
  assert.equal((ep as unknown as { midsCurrent: Map<string, number>; midsPrevious: Map<string, number> }).midsPrevious.has('10.0.0.1:5683'), false,
    'a peer idle for a whole lifetime is forgotten');
  await ep.close();
});
