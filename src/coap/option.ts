import { OptionNumber, type CoapMessage, type CoapOption } from './types.js';

/** Request method codes (RFC 7252 §12.1.1, RFC 8132 for FETCH/PATCH/iPATCH). */
export const Method = {
  GET: 1,
  POST: 2,
  PUT: 3,
  DELETE: 4,
  FETCH: 5,
  PATCH: 6,
  iPATCH: 7,
} as const;

/** Response codes (RFC 7252 §12.1.2, RFC 7959 2.31/4.08/4.13). */
export const ResponseCode = {
  Created: 65,
  Deleted: 66,
  Valid: 67,
  Changed: 68,
  Content: 69,
  Continue: 95,
  BadRequest: 128,
  Unauthorized: 129,
  BadOption: 130,
  Forbidden: 131,
  NotFound: 132,
  MethodNotAllowed: 133,
  NotAcceptable: 134,
  RequestEntityIncomplete: 136,
  Conflict: 137,
  PreconditionFailed: 140,
  RequestEntityTooLarge: 141,
  UnsupportedContentFormat: 143,
  InternalServerError: 160,
  NotImplemented: 161,
  BadGateway: 162,
  ServiceUnavailable: 163,
  GatewayTimeout: 164,
  ProxyingNotSupported: 165,
} as const;

/** Build a code from class and detail: `code(2, 5) === 69`. */
export function code(cls: number, detail: number): number {
  return ((cls & 0x07) << 5) | (detail & 0x1f);
}

/** Dotted form of a code: `codeToString(69) === '2.05'`. */
export function codeToString(c: number): string {
  const d = c & 0x1f;
  return `${c >>> 5}.${d < 10 ? '0' : ''}${d}`;
}

/** True for 0.01..0.31 (requests). */
export function isRequestCode(c: number): boolean {
  return c >= 1 && c <= 31;
}

/** True for 2.00..5.31 (responses). */
export function isResponseCode(c: number): boolean {
  return c >= 64 && c <= 191;
}

/** True for 2.xx. */
export function isSuccess(c: number): boolean {
  return c >>> 5 === 2;
}

/** RFC 7252 §5.4.1: odd option numbers are critical. */
export function isCritical(num: number): boolean {
  return (num & 1) === 1;
}

/** RFC 7252 §5.4.6: "unsafe to forward" bit. */
export function isUnsafe(num: number): boolean {
  return (num & 2) === 2;
}

/** Encode an unsigned integer minimally, big-endian, zero as empty (RFC 7252 §3.2). */
export function encodeUint(n: number): Uint8Array {
  if (n < 0 || !Number.isInteger(n)) throw new RangeError(`not a uint: ${n}`);
  if (n === 0) return new Uint8Array(0);
  if (n < 0x100) return Uint8Array.of(n);
  if (n < 0x10000) return Uint8Array.of(n >>> 8, n & 0xff);
  if (n < 0x1000000) return Uint8Array.of(n >>> 16, (n >>> 8) & 0xff, n & 0xff);
  if (n <= 0xffffffff) return Uint8Array.of(n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
  throw new RangeError(`uint option too large: ${n}`);
}

/** Decode a big-endian unsigned integer of up to 4 bytes (leading zeros tolerated). */
export function decodeUint(v: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < v.length; i++) n = n * 256 + v[i]!;
  return n;
}

/** An option with a uint value. */
export function uintOption(num: number, n: number): CoapOption {
  return { number: num, value: encodeUint(n) };
}

/** An option with a UTF-8 string value. */
export function stringOption(num: number, s: string): CoapOption {
  return { number: num, value: Buffer.from(s, 'utf8') };
}

/** An option with an opaque value. */
export function opaqueOption(num: number, v: Uint8Array): CoapOption {
  return { number: num, value: v };
}

/** Uri-Path options for `'/rd/abc'` or `['rd', 'abc']` (an empty path gives no option, RFC 7252 §6.4). */
export function uriPathOptions(path: string | readonly string[]): CoapOption[] {
  const segs = typeof path === 'string' ? path.split('/') : path;
  const out: CoapOption[] = [];
  for (let i = 0; i < segs.length; i++) {
    const s = segs[i]!;
    if (s === '' && typeof path === 'string') continue;
    out.push(stringOption(OptionNumber.UriPath, s));
  }
  return out;
}

/** Uri-Query options, one per item (`['ep=dev1', 'lt=300']`). */
export function uriQueryOptions(items: readonly string[]): CoapOption[] {
  return items.map((q) => stringOption(OptionNumber.UriQuery, q));
}

/** Location-Path options for `'/rd/abc'`. */
export function locationPathOptions(path: string | readonly string[]): CoapOption[] {
  return uriPathOptions(path).map((o) => ({ number: OptionNumber.LocationPath, value: o.value }));
}

/** A message, response or bare option list. */
export type HasOptions = Pick<CoapMessage, 'options'> | readonly CoapOption[];

function listOf(msg: HasOptions): readonly CoapOption[] {
  return Array.isArray(msg) ? (msg as readonly CoapOption[]) : (msg as Pick<CoapMessage, 'options'>).options;
}

/** First option with this number, or undefined. */
export function getOption(msg: HasOptions, num: number): CoapOption | undefined {
  const opts = listOf(msg);
  for (let i = 0; i < opts.length; i++) if (opts[i]!.number === num) return opts[i];
  return undefined;
}

/** Every option with this number, in order. */
export function getOptions(msg: HasOptions, num: number): CoapOption[] {
  return listOf(msg).filter((o) => o.number === num);
}

/** True if an option with this number is present. */
export function hasOption(msg: HasOptions, num: number): boolean {
  return getOption(msg, num) !== undefined;
}

/** The uint value of the first option with this number, or undefined. */
export function getUint(msg: HasOptions, num: number): number | undefined {
  const o = getOption(msg, num);
  return o ? decodeUint(o.value) : undefined;
}

/** The UTF-8 value of the first option with this number, or undefined. */
export function getString(msg: HasOptions, num: number): string | undefined {
  const o = getOption(msg, num);
  return o ? Buffer.from(o.value.buffer, o.value.byteOffset, o.value.byteLength).toString('utf8') : undefined;
}

/** Every value of a repeatable string option, e.g. Uri-Path segments. */
export function getStrings(msg: HasOptions, num: number): string[] {
  const out: string[] = [];
  const opts = listOf(msg);
  for (let i = 0; i < opts.length; i++) {
    const o = opts[i]!;
    if (o.number === num) out.push(Buffer.from(o.value.buffer, o.value.byteOffset, o.value.byteLength).toString('utf8'));
  }
  return out;
}

/** The options without those numbered in `nums`. */
export function withoutOptions(options: readonly CoapOption[], ...nums: number[]): CoapOption[] {
  return options.filter((o) => !nums.includes(o.number));
}

/** Stable sort by option number (repeats keep their order), as the codec and RFC 7252 §3.1 want. */
export function sortOptions(options: CoapOption[]): CoapOption[] {
  for (let i = 1; i < options.length; i++) {
    if (options[i - 1]!.number > options[i]!.number) {
      return options
        .map((o, idx) => ({ o, idx }))
        .sort((a, b) => a.o.number - b.o.number || a.idx - b.idx)
        .map((x) => x.o);
    }
  }
  return options;
}
