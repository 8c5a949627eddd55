/**
 * cbor-x set up for the firmware layer's deterministic encoding (RFC 8949 §4.2.1: preferred integer and length
 * encodings, definite lengths; maps are written in the key order the caller gives, which is always ascending).
 * Decoding is strict by re-encoding: an item whose encoding is not exactly the deterministic one (duplicate keys,
 * non-preferred lengths, indefinite lengths, floats for integers, trailing bytes) is refused.
 */
import { Decoder, Encoder, Tag } from 'cbor-x';
import { FirmwareError } from './error.js';

const encoder = new Encoder({ mapsAsObjects: false, useRecords: false, tagUint8Array: false, variableMapSize: true, pack: false });
const decoder = new Decoder({ mapsAsObjects: false, useRecords: false, copyBuffers: true });

export { Tag };

/** Encodes one item; integers beyond 32 bits go as bigint so cbor-x writes them as CBOR integers, not floats. */
export function encodeCbor(value: unknown): Uint8Array {
  // A plain copy: cbor-x returns a Buffer view with extra properties over its own scratch memory.
  return Uint8Array.from(encoder.encode(value));
}

/** Decodes exactly one deterministically encoded item, or throws MALFORMED naming `what`. */
export function decodeCbor(data: Uint8Array, what: string): unknown {
  if (data.byteLength === 0) throw new FirmwareError('MALFORMED', `${what}: empty`);
  let value: unknown;
  try {
    // A copy: cbor-x caches a DataView on the buffer it reads, and the caller's bytes stay untouched.
    value = decoder.decode(Uint8Array.from(data));
  } catch {
    throw new FirmwareError('MALFORMED', `${what}: not one CBOR item`);
  }
  let again: Uint8Array;
  try {
    again = encoder.encode(value);
  } catch {
    throw new FirmwareError('MALFORMED', `${what}: not deterministic CBOR`);
  }
  if (Buffer.compare(again, data) !== 0) throw new FirmwareError('MALFORMED', `${what}: not deterministic CBOR`);
  return value;
}

/** A CBOR unsigned integer as cbor-x hands it out (number, or bigint beyond 32 bits) as a safe JS integer. */
export function safeUint(v: unknown): number | undefined {
  if (typeof v === 'bigint') return v >= 0n && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : undefined;
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : undefined;
}

/** The encoder's form of a safe uint: bigint above 32 bits (cbor-x writes larger numbers as floats). */
export function uintItem(n: number): number | bigint {
  return n > 0xffffffff ? BigInt(n) : n;
}

/** Checks that `m` is a Map whose keys are exactly among `allowed` and include `required`. */
export function checkKeys(m: unknown, what: string, required: readonly number[], allowed: readonly number[]): Map<number, unknown> {
  if (!(m instanceof Map)) throw new FirmwareError('MALFORMED', `${what}: not a map`);
  for (const k of m.keys()) if (!allowed.includes(k as number)) throw new FirmwareError('MALFORMED', `${what}: unknown key ${String(k)}`);
  for (const k of required) if (!m.has(k)) throw new FirmwareError('MALFORMED', `${what}: missing key ${k}`);
  return m as Map<number, unknown>;
}

/** A byte string of exactly `length` bytes (any length if undefined). */
export function bytesItem(v: unknown, what: string, length?: number): Uint8Array {
  if (!(v instanceof Uint8Array)) throw new FirmwareError('MALFORMED', `${what}: not a byte string`);
  if (length !== undefined && v.byteLength !== length) throw new FirmwareError('MALFORMED', `${what}: ${v.byteLength} bytes, want ${length}`);
  return new Uint8Array(v);
}
