/** Malformed and hostile input to the LwM2M server: answered or dropped, never fatal, nothing stored lost. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import {
  decodeMessage, encodeMessage, MessageType, OptionNumber, uintOption, uriPathOptions, uriQueryOptions, type CoapMessage,
} from '../src/coap/index.js';
import { rawEndpoint, startTestServer } from './helpers.js';

const LINKS = Buffer.from('</1/0>,</3/0>');

async function socket(): Promise<Socket> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  return s;
}

/** Sends a datagram and returns the decoded answer, or undefined if none came within `ms`. */
function exchange(s: Socket, port: number, datagram: Uint8Array, ms = 300): Promise<CoapMessage | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      s.off('message', onMessage);
      resolve(undefined);
    }, ms);
    const onMessage = (msg: Buffer) => {
      clearTimeout(timer);
      s.off('message', onMessage);
      resolve(decodeMessage(msg));
    };
    s.on('message', onMessage);
    s.send(datagram, port, '127.0.0.1');
  });
}

test('malformed CoAP gets RST or 4.02 or is dropped, and the server keeps serving', async (t) => {
  const ts = await startTestServer();
  const s = await socket();
  const dev = await rawEndpoint();
  t.after(async () => {
    s.close();
    await dev.close();
    await ts.close();
  });
  await dev.request(ts.peer, {
    code: 2, options: [...uriPathOptions('/rd'), uintOption(OptionNumber.ContentFormat, 40), ...uriQueryOptions(['ep=keep'])], payload: LINKS,
  });

  // CON GET, message id 0x1234, then a broken tail in each case.
  const header = (tkl: number) => Buffer.from([0x40 | tkl, 0x01, 0x12, 0x34]);
  const cases: [string, Buffer, 'RST' | 'none'][] = [
    ['truncated header', Buffer.from([0x40, 0x01]), 'none'],
    ['token length 9', Buffer.concat([header(9), Buffer.alloc(9)]), 'RST'],
    ['token shorter than TKL', Buffer.concat([header(4), Buffer.alloc(2)]), 'RST'],
    ['option delta 15 not a payload marker', Buffer.concat([header(0), Buffer.from([0xf1, 0x00])]), 'RST'],
    ['option length 15', Buffer.concat([header(0), Buffer.from([0xbf])]), 'RST'],
    ['payload marker with no payload', Buffer.concat([header(0), Buffer.from([0xff])]), 'RST'],
    ['option running past the end', Buffer.concat([header(0), Buffer.from([0xb5, 0x72])]), 'RST'],
    ['version 2', Buffer.from([0x80, 0x01, 0x12, 0x34]), 'none'],
  ];
  for (const [why, datagram, expected] of cases) {
    const answer = await exchange(s, ts.port, datagram);
    if (expected === 'none') assert.equal(answer, undefined, `${why}: dropped`);
    else {
      assert.ok(answer, `${why}: answered`);
      assert.equal(answer.type, MessageType.RST, `${why}: RST`);
      assert.equal(answer.messageId, 0x1234, `${why}: RST echoes the message id`);
    }
  }

  const critical = encodeMessage({
    type: MessageType.CON, code: 1, messageId: 0x2222, token: Uint8Array.of(1, 2),
    options: [{ number: 9, value: Uint8Array.of(1) }, ...uriPathOptions('/rd')], payload: new Uint8Array(0),
  });
  const badOption = await exchange(s, ts.port, critical);
  assert.equal(badOption?.code, 130, 'unknown critical option in a request is 4.02 Bad Option');
  assert.deepEqual([...badOption!.token], [1, 2]);

  const ping = await exchange(s, ts.port, Buffer.from([0x40, 0x00, 0x33, 0x33]));
  assert.equal(ping?.type, MessageType.RST, 'CoAP ping gets RST');

  const res = await dev.request(ts.peer, {
    code: 2, options: [...uriPathOptions('/rd'), uintOption(OptionNumber.ContentFormat, 40), ...uriQueryOptions(['ep=after'])], payload: LINKS,
  });
  assert.equal(res.code, 65, 'still serving');
  assert.deepEqual(ts.store.loadRegistrations().map((r) => r.endpoint).sort(), ['after', 'keep']);
});

test('an undecodable Send payload is 4.00 and an unknown path is 4.04', async (t) => {
  const ts = await startTestServer();
  const dev = await rawEndpoint();
  t.after(async () => {
    await dev.close();
    await ts.close();
  });
  await dev.request(ts.peer, {
    code: 2, options: [...uriPathOptions('/rd'), uintOption(OptionNumber.ContentFormat, 40), ...uriQueryOptions(['ep=d'])], payload: LINKS,
  });
  for (const [format, payload] of [[112, Buffer.from([0xff, 0x00, 0x13])], [110, Buffer.from('{not json')]] as const) {
    const res = await dev.request(ts.peer, { code: 2, options: [...uriPathOptions('/dp'), uintOption(OptionNumber.ContentFormat, format)], payload });
    assert.equal(res.code, 128, `format ${format}`);
  }
  const unsupported = await dev.request(ts.peer, { code: 2, options: [...uriPathOptions('/dp'), uintOption(OptionNumber.ContentFormat, 50)], payload: Buffer.from('{}') });
  assert.equal(unsupported.code, 143);
  assert.equal((await dev.request(ts.peer, { code: 1, options: uriPathOptions('/nowhere') })).code, 132);
  assert.equal((await dev.request(ts.peer, { code: 3, options: uriPathOptions('/rd') })).code, 133, 'PUT /rd is 4.05');
  assert.ok(ts.server.getRegistration('d'));
});

test('a device that vanishes in the middle of a block-wise read times out alone', async (t) => {
  const ts = await startTestServer();
  const s = await socket();
  const dev = await rawEndpoint();
  t.after(async () => {
    s.close();
    await dev.close();
    await ts.close();
  });
  // The vanishing device registers from a bare socket, answers the first block of a read, then goes silent.
  const reg = encodeMessage({
    type: MessageType.CON, code: 2, messageId: 1, token: Uint8Array.of(9),
    options: [...uriPathOptions('/rd'), uintOption(OptionNumber.ContentFormat, 40), ...uriQueryOptions(['ep=ghost'])], payload: LINKS,
  });
  assert.equal((await exchange(s, ts.port, reg))?.code, 65);
  let answered = 0;
  s.on('message', (msg) => {
    const req = decodeMessage(msg);
    if (req.type !== MessageType.CON || answered++ > 0) return;
    s.send(encodeMessage({
      type: MessageType.ACK, code: 69, messageId: req.messageId, token: req.token,
      options: [uintOption(OptionNumber.ContentFormat, 0), uintOption(OptionNumber.Block2, 0x0a /* num 0, more, 64 B */)],
      payload: Buffer.alloc(64, 0x41),
    }), ts.port, '127.0.0.1');
  });
  const pending = ts.server.read('ghost', (await import('../src/lwm2m/path.js')).Lwm2mPath.parse('/3/0/0'), { timeout: 1500 });
  await dev.request(ts.peer, {
    code: 2, options: [...uriPathOptions('/rd'), uintOption(OptionNumber.ContentFormat, 40), ...uriQueryOptions(['ep=other'])], payload: LINKS,
  });
  assert.ok(ts.server.getRegistration('other'), 'others are served meanwhile');
  await assert.rejects(pending, { code: 'TIMEOUT' });
  assert.ok(ts.server.getRegistration('ghost'), 'a timeout does not drop the registration');
});
