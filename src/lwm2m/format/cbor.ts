/** cbor-x configured for the LwM2M CBOR formats: Maps with integer keys, plain byte strings, exact integers. */
import { Decoder, Encoder } from 'cbor-x';
import { badRequest } from './values.js';

const encoder = new Encoder({
  mapsAsObjects: false,
  useRecords: false,
  // Uint8Array as a plain byte string, not tag 64 (RFC 8746).
  tagUint8Array: false,
  variableMapSize: true,
  pack: false,
});

// Byte strings are copied so decoded opaque values never alias the input buffer.
const decoder = new Decoder({ mapsAsObjects: false, useRecords: false, copyBuffers: true });

/** Encodes one CBOR data item. */
export function cborEncode(value: unknown): Uint8Array {
  return encoder.encode(value);
}

/** Decodes exactly one CBOR data item; throws 4.00 on malformed input or trailing bytes. */
export function cborDecode(payload: Uint8Array, what: string): unknown {
  if (payload.byteLength === 0) throw badRequest(`${what}: empty payload`);
  try {
    return decoder.decode(payload);
  } catch (e) {
    throw badRequest(`${what}: malformed CBOR (${e instanceof Error ? e.message : String(e)})`);
  }
}

/**
 * A number as cbor-x must see it to write a CBOR integer: cbor-x writes integral numbers beyond
 * 32 bits as floats, so those go as bigint (major type 0/1, RFC 8949 §3.1).
 */
export function cborInteger(v: number | bigint): number | bigint {
  return typeof v === 'number' && Number.isInteger(v) && (v > 0xffffffff || v < -0x100000000) && Math.abs(v) < 2 ** 63
    ? BigInt(v)
    : v;
}
