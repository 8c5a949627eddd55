/** DTLS 1.2 record layer framing (RFC 6347 §4.1, RFC 9146 §4 for tls12_cid records). */
import { alert } from './alert.js';

/** RFC 5246 §6.2.1 ContentType, RFC 9146 tls12_cid. */
export const ContentType = {
  change_cipher_spec: 20,
  alert: 21,
  handshake: 22,
  application_data: 23,
  tls12_cid: 25,
} as const;

/** DTLS 1.2 is {254, 253}; DTLS 1.0 {254, 255} (RFC 6347 §4.1). */
export const DTLS1_2 = 0xfefd;
export const DTLS1_0 = 0xfeff;

/** type(1) version(2) epoch(2) sequence_number(6) length(2). */
export const RECORD_HEADER_LENGTH = 13;
/** RFC 6347 §4.1 / RFC 5246 §6.2.3: DTLSCiphertext.length MUST NOT exceed 2^14 + 2048. */
export const MAX_RECORD_LENGTH = 16384 + 2048;
/** 2^48 - 1: the last usable sequence number in an epoch. */
export const MAX_SEQUENCE_NUMBER = 0xffff_ffff_ffff;

/** One record as read off the wire. `fragment` is a view into the datagram. */
export interface DtlsRecord {
  type: number;
  version: number;
  epoch: number;
  /** 48-bit sequence number (exact in a JS number). */
  sequenceNumber: number;
  /** Present only for tls12_cid records. */
  cid?: Uint8Array;
  fragment: Uint8Array;
  /** The record header bytes (a view), for the CBC/AEAD additional data. */
  header: Uint8Array;
}

/** Reads a 48-bit big-endian unsigned integer. */
export function readUint48(b: Uint8Array, o: number): number {
  return (b[o]! * 0x10000 + (b[o + 1]! << 8) + b[o + 2]!) * 0x1000000 + ((b[o + 3]! << 16) | (b[o + 4]! << 8) | b[o + 5]!);
}

/** Writes a 48-bit big-endian unsigned integer. */
export function writeUint48(b: Uint8Array, o: number, v: number): void {
  const hi = Math.floor(v / 0x1000000);
  const lo = v % 0x1000000;
  b[o] = (hi >>> 16) & 0xff;
  b[o + 1] = (hi >>> 8) & 0xff;
  b[o + 2] = hi & 0xff;
  b[o + 3] = (lo >>> 16) & 0xff;
  b[o + 4] = (lo >>> 8) & 0xff;
  b[o + 5] = lo & 0xff;
}

/**
 * Splits a datagram into records (RFC 6347 §4.1.1: several records may share one datagram).
 * `cidLength` is the length of the CID we asked peers to send (RFC 9146: the CID length is not on the
 * wire, the receiver knows it). Throws DtlsAlert(decode_error) for a truncated record and
 * DtlsAlert(record_overflow) for one longer than 2^14 + 2048 bytes; callers drop the datagram.
 */
export function decodeRecords(datagram: Uint8Array, cidLength = 0): DtlsRecord[] {
  const out: DtlsRecord[] = [];
  let o = 0;
  while (o < datagram.length) {
    if (datagram.length - o < RECORD_HEADER_LENGTH) throw alert('decode_error', 'truncated record header');
    const type = datagram[o]!;
    const version = (datagram[o + 1]! << 8) | datagram[o + 2]!;
    const epoch = (datagram[o + 3]! << 8) | datagram[o + 4]!;
    const sequenceNumber = readUint48(datagram, o + 5);
    let p = o + 11;
    let cid: Uint8Array | undefined;
    if (type === ContentType.tls12_cid) {
      if (datagram.length - p < cidLength + 2) throw alert('decode_error', 'truncated cid record header');
      cid = datagram.subarray(p, p + cidLength);
      p += cidLength;
    }
    const length = (datagram[p]! << 8) | datagram[p + 1]!;
    p += 2;
    if (length > MAX_RECORD_LENGTH) throw alert('record_overflow', `record of ${length} bytes`);
    if (datagram.length - p < length) throw alert('decode_error', 'truncated record');
    if (datagram[o + 1] !== 0xfe) throw alert('protocol_version', 'not a DTLS record');
    const rec: DtlsRecord = {
      type,
      version,
      epoch,
      sequenceNumber,
      fragment: datagram.subarray(p, p + length),
      header: datagram.subarray(o, p),
    };
    if (cid) rec.cid = cid;
    out.push(rec);
    o = p + length;
  }
  return out;
}

/** The header length of a record carrying `cidLength` bytes of CID (0 = a plain record). */
export function recordHeaderLength(cidLength: number): number {
  return cidLength > 0 ? RECORD_HEADER_LENGTH + cidLength : RECORD_HEADER_LENGTH;
}

/**
 * Writes a record header at `out[o]` and returns the offset where the fragment goes.
 * With a non-empty `cid` the record type must be tls12_cid (RFC 9146 §4).
 */
export function writeRecordHeader(
  out: Uint8Array,
  o: number,
  type: number,
  version: number,
  epoch: number,
  sequenceNumber: number,
  length: number,
  cid?: Uint8Array,
): number {
  out[o] = type;
  out[o + 1] = version >>> 8;
  out[o + 2] = version & 0xff;
  out[o + 3] = epoch >>> 8;
  out[o + 4] = epoch & 0xff;
  writeUint48(out, o + 5, sequenceNumber);
  let p = o + 11;
  if (cid && cid.length > 0) {
    out.set(cid, p);
    p += cid.length;
  }
  out[p] = length >>> 8;
  out[p + 1] = length & 0xff;
  return p + 2;
}

/** Encodes one whole record (header + fragment). */
export function encodeRecord(
  type: number,
  epoch: number,
  sequenceNumber: number,
  fragment: Uint8Array,
  cid?: Uint8Array,
  version = DTLS1_2,
): Uint8Array {
  const out = new Uint8Array(recordHeaderLength(cid?.length ?? 0) + fragment.length);
  const p = writeRecordHeader(out, 0, type, version, epoch, sequenceNumber, fragment.length, cid);
  out.set(fragment, p);
  return out;
}

/** RFC 9146 §4: DTLSInnerPlaintext = content | real_type | zeros. */
export function encodeInnerPlaintext(content: Uint8Array, realType: number, padding = 0): Uint8Array {
  const out = new Uint8Array(content.length + 1 + padding);
  out.set(content, 0);
  out[content.length] = realType;
  return out;
}

/** Strips the zero padding and the real content type; undefined when there is no non-zero byte. */
export function decodeInnerPlaintext(inner: Uint8Array): { type: number; content: Uint8Array } | undefined {
  let i = inner.length - 1;
  while (i >= 0 && inner[i] === 0) i--;
  if (i < 0) return undefined;
  return { type: inner[i]!, content: inner.subarray(0, i) };
}
