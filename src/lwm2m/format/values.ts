/** Value helpers shared by the content formats: errors, integer ranges, object links, base64, typing by the model. */
import { Lwm2mError, ResponseCode } from '../error.js';
import type { Model, ResourceDefinition, ResourceType } from '../model.js';
import type { ObjectLink, ResourceValue } from '../node.js';
import type { Lwm2mPath } from '../path.js';

/** Malformed payload: 4.00 Bad Request. */
export function badRequest(message: string): Lwm2mError {
  return new Lwm2mError(ResponseCode.BadRequest, message);
}

/** A node or value the format cannot carry: 4.06 Not Acceptable. */
export function notAcceptable(message: string): Lwm2mError {
  return new Lwm2mError(ResponseCode.NotAcceptable, message);
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

/** A bigint that fits a safe integer becomes a number; others stay bigint. */
export function normalizeInteger(v: number | bigint): number | bigint {
  if (typeof v === 'number') return v;
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/** Checks a signed 64-bit integer (Core Appendix C) and normalises it; throws 4.00 otherwise. */
export function checkInteger(v: number | bigint, where: string): number | bigint {
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw badRequest(`${where}: integer expected, got ${v}`);
    if (Number.isSafeInteger(v)) return v;
    v = BigInt(v);
  }
  if (v < INT64_MIN || v > INT64_MAX) throw badRequest(`${where}: integer ${v} is outside the signed 64-bit range`);
  return normalizeInteger(v);
}

/** Checks an unsigned 64-bit integer (Core Appendix C) and normalises it; throws 4.00 otherwise. */
export function checkUnsigned(v: number | bigint, where: string): number | bigint {
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw badRequest(`${where}: unsigned integer expected, got ${v}`);
    if (Number.isSafeInteger(v)) {
      if (v < 0) throw badRequest(`${where}: unsigned integer expected, got ${v}`);
      return v;
    }
    v = BigInt(v);
  }
  if (v < 0n || v > UINT64_MAX) throw badRequest(`${where}: unsigned integer ${v} is outside the 64-bit range`);
  return normalizeInteger(v);
}

/** "3:0" (Core Appendix C, Objlnk). */
export function formatObjlnk(link: ObjectLink): string {
  return `${link.objectId}:${link.instanceId}`;
}

const OBJLNK = /^(\d{1,5}):(\d{1,5})$/;

/** Parses "3:0"; throws 4.00 on anything else. */
export function parseObjlnk(text: string, where: string): ObjectLink {
  const m = OBJLNK.exec(text);
  const objectId = m ? Number(m[1]) : NaN;
  const instanceId = m ? Number(m[2]) : NaN;
  if (!(objectId <= 65535 && instanceId <= 65535)) throw badRequest(`${where}: invalid object link "${text}"`);
  return { objectId, instanceId };
}

/** Whole seconds since the epoch of a Date (LwM2M time, Core Appendix C). */
export function timeToSeconds(date: Date): number {
  const ms = date.getTime();
  if (!Number.isFinite(ms)) throw new Lwm2mError(ResponseCode.InternalServerError, 'invalid Date in time value');
  return Math.floor(ms / 1000);
}

/** A Date from seconds since the epoch; throws 4.00 if the result is not a valid Date. */
export function secondsToTime(seconds: number | bigint, where: string): Date {
  const s = typeof seconds === 'bigint' ? Number(seconds) : seconds;
  const d = new Date(Math.floor(s) * 1000);
  if (!Number.isFinite(d.getTime())) throw badRequest(`${where}: time ${seconds} is out of range`);
  return d;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const BASE64URL = /^[A-Za-z0-9_-]*$/;

/** Standard base64 with padding (RFC 4648 §4). */
export function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/** Base64url without padding (RFC 4648 §5), as SenML JSON "vd" requires (RFC 8428 §4.3). */
export function toBase64Url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

/** Decodes base64 or base64url, with or without padding; throws 4.00 on other characters. */
export function fromBase64(text: string, where: string): Uint8Array {
  const stripped = text.replace(/=+$/, '');
  if (stripped.length % 4 === 1) throw badRequest(`${where}: invalid base64 length`);
  if (BASE64.test(text)) return new Uint8Array(Buffer.from(text, 'base64'));
  if (BASE64URL.test(stripped)) return new Uint8Array(Buffer.from(stripped, 'base64url'));
  throw badRequest(`${where}: invalid base64 "${text.length > 40 ? text.slice(0, 40) + '...' : text}"`);
}

const utf8Decoder = new TextDecoder('utf-8', { fatal: true });
/** Strict UTF-8 decoding; throws 4.00 on invalid sequences. */
export function decodeUtf8(bytes: Uint8Array, where: string): string {
  try {
    return utf8Decoder.decode(bytes);
  } catch {
    throw badRequest(`${where}: invalid UTF-8`);
  }
}

/** The model's definition of the resource `path` names (path of 3 or 4 levels), if any. */
export function resourceDef(model: Model, path: Lwm2mPath): ResourceDefinition | undefined {
  const o = path.objectId;
  const r = path.resourceId;
  return o === undefined || r === undefined ? undefined : model.resource(o, r);
}

/**
 * A value as a format carries it before the model types it: numbers, strings, booleans, bytes,
 * dates (CBOR tag 1), object links (SenML "vlo"), or null (no value).
 */
export type RawValue = number | bigint | string | boolean | Uint8Array | Date | ObjectLink | null;

function rawKind(raw: RawValue): string {
  if (raw === null) return 'no value';
  if (raw instanceof Uint8Array) return 'bytes';
  if (raw instanceof Date) return 'time';
  if (typeof raw === 'object') return 'object link';
  return typeof raw;
}

/**
 * Types a raw value: as the model's `type` when known, otherwise from the raw value itself
 * (integral numbers are integers, other numbers floats). Throws 4.00 when they disagree.
 */
export function typeValue(raw: RawValue, type: ResourceType | undefined, where: string): ResourceValue {
  if (type === undefined) return untypedValue(raw, where);
  const mismatch = (): Lwm2mError => badRequest(`${where}: ${type} expected, got ${rawKind(raw)}`);
  switch (type) {
    case 'string':
    case 'corelnk':
      if (typeof raw !== 'string') throw mismatch();
      return { type, value: raw };
    case 'integer':
      if (typeof raw !== 'number' && typeof raw !== 'bigint') throw mismatch();
      return { type, value: checkInteger(raw, where) };
    case 'unsignedInteger':
      if (typeof raw !== 'number' && typeof raw !== 'bigint') throw mismatch();
      return { type, value: checkUnsigned(raw, where) };
    case 'float':
      if (typeof raw === 'number') return { type, value: raw };
      if (typeof raw === 'bigint') return { type, value: Number(raw) };
      throw mismatch();
    case 'boolean':
      if (typeof raw !== 'boolean') throw mismatch();
      return { type, value: raw };
    case 'opaque':
      if (raw instanceof Uint8Array) return { type, value: raw };
      if (typeof raw === 'string') return { type, value: fromBase64(raw, where) };
      throw mismatch();
    case 'time':
      // LwM2M time is whole seconds (Core Appendix C); a CBOR date with a fraction is cut to the second.
      if (raw instanceof Date) return { type, value: secondsToTime(raw.getTime() / 1000, where) };
      if (typeof raw === 'number' || typeof raw === 'bigint') {
        if (typeof raw === 'number' && !Number.isFinite(raw)) throw mismatch();
        return { type, value: secondsToTime(raw, where) };
      }
      throw mismatch();
    case 'objlnk':
      if (typeof raw === 'string') return { type, value: parseObjlnk(raw, where) };
      if (raw !== null && typeof raw === 'object' && !(raw instanceof Uint8Array) && !(raw instanceof Date)) {
        return { type, value: raw };
      }
      throw mismatch();
    case 'none':
      return { type, value: null };
  }
}

function untypedValue(raw: RawValue, where: string): ResourceValue {
  if (raw === null) return { type: 'none', value: null };
  switch (typeof raw) {
    case 'string':
      return { type: 'string', value: raw };
    case 'boolean':
      return { type: 'boolean', value: raw };
    case 'number':
      return Number.isInteger(raw) ? { type: 'integer', value: checkInteger(raw, where) } : { type: 'float', value: raw };
    case 'bigint':
      return raw > INT64_MAX
        ? { type: 'unsignedInteger', value: checkUnsigned(raw, where) }
        : { type: 'integer', value: checkInteger(raw, where) };
  }
  if (raw instanceof Uint8Array) return { type: 'opaque', value: raw };
  if (raw instanceof Date) return { type: 'time', value: secondsToTime(raw.getTime() / 1000, where) };
  return { type: 'objlnk', value: raw };
}
