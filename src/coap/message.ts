import { CoapError } from './error.js';
import type { CoapMessage, CoapOption, MessageType } from './types.js';

const EMPTY = new Uint8Array(0);

function extLen(n: number): number {
  return n < 13 ? 0 : n < 269 ? 1 : 2;
}

/** Encode a message (RFC 7252 §3). Options must be sorted by number; the endpoint keeps them so. */
export function encodeMessage(msg: CoapMessage): Buffer {
  const tkl = msg.token.length;
  if (tkl > 8) throw new RangeError('token longer than 8 bytes');
  const opts = msg.options;
  let size = 4 + tkl;
  let prev = 0;
  for (let i = 0; i < opts.length; i++) {
    const o = opts[i]!;
    const delta = o.number - prev;
    if (delta < 0) throw new RangeError('options not sorted by number');
    const len = o.value.length;
    if (len > 65804) throw new RangeError('option value too long');
    size += 1 + extLen(delta) + extLen(len) + len;
    prev = o.number;
  }
  const plen = msg.payload.length;
  if (plen > 0) size += 1 + plen;

  const buf = Buffer.allocUnsafe(size);
  buf[0] = 0x40 | ((msg.type & 3) << 4) | tkl;
  buf[1] = msg.code & 0xff;
  buf[2] = (msg.messageId >>> 8) & 0xff;
  buf[3] = msg.messageId & 0xff;
  let p = 4;
  for (let i = 0; i < tkl; i++) buf[p++] = msg.token[i]!;
  prev = 0;
  for (let i = 0; i < opts.length; i++) {
    const o = opts[i]!;
    const delta = o.number - prev;
    prev = o.number;
    const len = o.value.length;
    const dn = delta < 13 ? delta : delta < 269 ? 13 : 14;
    const ln = len < 13 ? len : len < 269 ? 13 : 14;
    buf[p++] = (dn << 4) | ln;
    if (dn === 13) buf[p++] = delta - 13;
    else if (dn === 14) {
      buf.writeUInt16BE(delta - 269, p);
      p += 2;
    }
    if (ln === 13) buf[p++] = len - 13;
    else if (ln === 14) {
      buf.writeUInt16BE(len - 269, p);
      p += 2;
    }
    buf.set(o.value, p);
    p += len;
  }
  if (plen > 0) {
    buf[p++] = 0xff;
    buf.set(msg.payload, p);
  }
  return buf;
}

/**
 * Decode a datagram (RFC 7252 §3). Option values and payload are views into `buf` (no copies).
 * Throws CoapError ('TRUNCATED', 'BAD_VERSION', 'BAD_TOKEN_LENGTH', 'BAD_OPTION', 'PAYLOAD_MARKER', 'BAD_CODE')
 * carrying messageId/type when the 4-byte header was readable.
 */
export function decodeMessage(buf: Uint8Array): CoapMessage {
  const n = buf.length;
  if (n < 4) throw new CoapError('TRUNCATED', `datagram of ${n} bytes is shorter than the CoAP header`);
  const b0 = buf[0]!;
  const type = ((b0 >>> 4) & 3) as MessageType;
  const messageId = (buf[2]! << 8) | buf[3]!;
  const header = { messageId, type };
  // §3: a version other than 1 is silently ignored (no messageId/type attached, so no RST)
  if (b0 >>> 6 !== 1) throw new CoapError('BAD_VERSION', `unknown CoAP version ${b0 >>> 6}`);
  const tkl = b0 & 0x0f;
  if (tkl > 8) throw new CoapError('BAD_TOKEN_LENGTH', `token length ${tkl} is reserved`, header);
  const code = buf[1]!;
  // §4.1: an Empty message (0.00) has no token, options or payload
  if (code === 0 && n !== 4) throw new CoapError('BAD_CODE', 'empty message with content', header);
  // classes 1, 6, 7 are reserved (§12.1)
  const cls = code >>> 5;
  if (cls === 1 || cls === 6 || cls === 7) throw new CoapError('BAD_CODE', `reserved code class ${cls}`, header);
  let p = 4;
  if (p + tkl > n) throw new CoapError('TRUNCATED', 'token truncated', header);
  const token = buf.subarray(p, p + tkl);
  p += tkl;
  const options: CoapOption[] = [];
  let num = 0;
  let payload: Uint8Array = EMPTY;
  while (p < n) {
    const b = buf[p++]!;
    if (b === 0xff) {
      if (p === n) throw new CoapError('PAYLOAD_MARKER', 'payload marker followed by no payload', header);
      payload = buf.subarray(p);
      break;
    }
    let delta = b >>> 4;
    let len = b & 0x0f;
    if (delta === 15 || len === 15) throw new CoapError('BAD_OPTION', 'reserved option nibble 15', header);
    if (delta === 13) {
      if (p >= n) throw new CoapError('TRUNCATED', 'option delta truncated', header);
      delta = buf[p++]! + 13;
    } else if (delta === 14) {
      if (p + 1 >= n) throw new CoapError('TRUNCATED', 'option delta truncated', header);
      delta = ((buf[p]! << 8) | buf[p + 1]!) + 269;
      p += 2;
    }
    if (len === 13) {
      if (p >= n) throw new CoapError('TRUNCATED', 'option length truncated', header);
      len = buf[p++]! + 13;
    } else if (len === 14) {
      if (p + 1 >= n) throw new CoapError('TRUNCATED', 'option length truncated', header);
      len = ((buf[p]! << 8) | buf[p + 1]!) + 269;
      p += 2;
    }
    if (p + len > n) throw new CoapError('TRUNCATED', 'option value truncated', header);
    num += delta;
    if (num > 0xffff) throw new CoapError('BAD_OPTION', 'option number above 65535', header);
    options.push({ number: num, value: buf.subarray(p, p + len) });
    p += len;
  }
  return { type, code, messageId, token, options, payload };
}
