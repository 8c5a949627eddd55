import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeBlock, encodeBlock, sizeToSzx, szxToSize } from './block.js';
import { CoapError } from './error.js';
import { decodeMessage, encodeMessage } from './message.js';
import {
  code,
  codeToString,
  decodeUint,
  encodeUint,
  getOption,
  getString,
  getStrings,
  getUint,
  isCritical,
  Method,
  ResponseCode,
  sortOptions,
  stringOption,
  uintOption,
  uriPathOptions,
  uriQueryOptions,
} from './option.js';
import { MessageType, OptionNumber, type CoapMessage } from './types.js';

function decodeError(bytes: number[]): CoapError {
  try {
    decodeMessage(Uint8Array.from(bytes));
  } catch (e) {
    assert.ok(e instanceof CoapError);
    return e;
  }
  assert.fail('expected a CoapError');
}

test('encodes RFC 7252 headers, tokens, options and payload byte-exact', () => {
  const msg: CoapMessage = {
    type: MessageType.CON,
    code: Method.GET,
    messageId: 0x7d34,
    token: Uint8Array.of(0xaa, 0xbb),
    options: [...uriPathOptions('/temperature')],
    payload: new Uint8Array(0),
  };
  const b = encodeMessage(msg);
  assert.deepEqual([...b.subarray(0, 6)], [0x42, 0x01, 0x7d, 0x34, 0xaa, 0xbb]);
  // Uri-Path (11), length 11: delta 11, length 11
  assert.equal(b[6], 0xbb);
  assert.equal(Buffer.from(b.subarray(7)).toString(), 'temperature');
});

test('round-trips extended option deltas and lengths and payloads', () => {
  const long = Buffer.alloc(300, 0x61);
  const msg: CoapMessage = {
    type: MessageType.NON,
    code: ResponseCode.Content,
    messageId: 65535,
    token: Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8),
    options: sortOptions([
      uintOption(OptionNumber.Size1, 5_000_000),
      stringOption(OptionNumber.UriPath, 'x'.repeat(13)),
      { number: OptionNumber.UriPath, value: long },
      { number: 2048, value: Uint8Array.of(9) },
      uintOption(OptionNumber.ContentFormat, 0),
    ]),
    payload: Buffer.from('hello'),
  };
  const d = decodeMessage(encodeMessage(msg));
  assert.equal(d.type, MessageType.NON);
  assert.equal(d.code, 69);
  assert.equal(d.messageId, 65535);
  assert.deepEqual([...d.token], [1, 2, 3, 4, 5, 6, 7, 8]);
  assert.deepEqual(
    d.options.map((o) => o.number),
    [11, 11, 12, 60, 2048],
  );
  assert.deepEqual(getStrings(d, OptionNumber.UriPath), ['x'.repeat(13), 'a'.repeat(300)]);
  assert.equal(getUint(d, OptionNumber.ContentFormat), 0);
  assert.equal(getOption(d, OptionNumber.ContentFormat)!.value.length, 0);
  assert.equal(getUint(d, OptionNumber.Size1), 5_000_000);
  assert.equal(Buffer.from(d.payload).toString(), 'hello');
});

test('decoding rejects format errors with header fields for the RST', () => {
  let e = decodeError([0x49, 0x01, 0x12, 0x34, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.equal(e.code, 'BAD_TOKEN_LENGTH');
  assert.equal(e.messageId, 0x1234);
  assert.equal(e.type, MessageType.CON);
  e = decodeError([0x40, 0x01, 0, 1, 0xf1, 0x00]);
  assert.equal(e.code, 'BAD_OPTION');
  e = decodeError([0x40, 0x01, 0, 1, 0x1f, 0x00]);
  assert.equal(e.code, 'BAD_OPTION');
  e = decodeError([0x50, 0x45, 0, 2, 0xff]);
  assert.equal(e.code, 'PAYLOAD_MARKER');
  assert.equal(e.type, MessageType.NON);
  e = decodeError([0x40, 0x01, 0, 1, 0xb5, 0x61]);
  assert.equal(e.code, 'TRUNCATED');
  e = decodeError([0x42, 0x01, 0, 1, 0xaa]);
  assert.equal(e.code, 'TRUNCATED');
  e = decodeError([0x40, 0x01]);
  assert.equal(e.code, 'TRUNCATED');
  assert.equal(e.messageId, undefined);
  e = decodeError([0x80, 0x01, 0, 1]);
  assert.equal(e.code, 'BAD_VERSION');
  assert.equal(e.messageId, undefined, 'unknown versions are silently ignored');
  e = decodeError([0x40, 0x00, 0, 1, 0xb1, 0x61]);
  assert.equal(e.code, 'BAD_CODE');
  e = decodeError([0x40, 0x21, 0, 1]);
  assert.equal(e.code, 'BAD_CODE');
});

test('option helpers', () => {
  assert.equal(codeToString(69), '2.05');
  assert.equal(codeToString(ResponseCode.RequestEntityIncomplete), '4.08');
  assert.equal(code(2, 5), 69);
  assert.equal(code(2, 31), ResponseCode.Continue);
  assert.equal(code(4, 13), ResponseCode.RequestEntityTooLarge);
  assert.equal(code(5, 5), ResponseCode.ProxyingNotSupported);
  assert.equal(isCritical(OptionNumber.UriPath), true);
  assert.equal(isCritical(OptionNumber.ContentFormat), false);
  assert.deepEqual([...encodeUint(0)], []);
  assert.deepEqual([...encodeUint(255)], [255]);
  assert.deepEqual([...encodeUint(256)], [1, 0]);
  assert.deepEqual([...encodeUint(0x1000000)], [1, 0, 0, 0]);
  assert.equal(decodeUint(Uint8Array.of(0, 1, 0)), 256);
  assert.deepEqual(
    uriPathOptions('/rd/abc').map((o) => Buffer.from(o.value).toString()),
    ['rd', 'abc'],
  );
  assert.deepEqual(uriPathOptions('/'), []);
  assert.deepEqual(
    uriQueryOptions(['ep=a', 'lt=3']).map((o) => o.number),
    [15, 15],
  );
  assert.equal(getString({ options: [stringOption(3, 'héllo')] }, 3), 'héllo');
  const sorted = sortOptions([stringOption(15, 'q1'), stringOption(11, 'a'), stringOption(15, 'q2'), stringOption(11, 'b')]);
  assert.deepEqual(
    sorted.map((o) => Buffer.from(o.value).toString()),
    ['a', 'b', 'q1', 'q2'],
  );
});

test('block option values (RFC 7959 §2.2)', () => {
  assert.deepEqual([...encodeBlock({ num: 0, more: false, szx: 0 })], []);
  assert.deepEqual([...encodeBlock({ num: 0, more: true, szx: 6 })], [0x0e]);
  assert.deepEqual([...encodeBlock({ num: 1, more: false, szx: 6 })], [0x16]);
  assert.deepEqual([...encodeBlock({ num: 4096, more: true, szx: 2 })], [0x01, 0x00, 0x0a]);
  assert.deepEqual(decodeBlock(Uint8Array.of(0x01, 0x00, 0x0a)), { num: 4096, more: true, szx: 2 });
  assert.deepEqual(decodeBlock(new Uint8Array(0)), { num: 0, more: false, szx: 0 });
  assert.equal(decodeBlock(Uint8Array.of(0x07)), undefined, 'szx 7 is reserved');
  assert.equal(decodeBlock(Uint8Array.of(1, 2, 3, 4)), undefined);
  assert.throws(() => encodeBlock({ num: 1 << 20, more: false, szx: 0 }));
  assert.equal(szxToSize(6), 1024);
  assert.equal(szxToSize(0), 16);
  assert.equal(sizeToSzx(1024), 6);
  assert.equal(sizeToSzx(512), 5);
  assert.equal(sizeToSzx(500), 4);
  assert.equal(sizeToSzx(16), 0);
  assert.equal(sizeToSzx(4096), 6);
});
