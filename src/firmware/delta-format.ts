/**
 * The Warden delta patch format (version 3; version 2 had the same streaming format and segmented in-place
 * patches, see delta-inplace.ts): bsdiff's control/diff/extra scheme (C. Percival, "Naive differences
 * of executable code", 2003). Control triples and extra bytes travel in one Brotli stream (RFC 7932, 16 KiB window);
 * the diff bytes inside it are range-coded with a context model (delta-model.ts), so the whole patch decodes in one
 * pass with a fixed working set: Brotli window 16 KiB + one batch (BATCH_BUFFER, 11.8 KiB) + model (MODEL_BYTES,
 * 25.7 KiB) + one 4 KiB old/new piece: 57.5 KiB.
 *
 * Header, 88 bytes, integers big-endian:
 *   0  magic "WDLT"            4  version u8 (3)        5  flags u8 (bit 0: in-place; others 0)   6  reserved u16 (0)
 *   8  old size u64 (< 2^32)  16  old SHA-256 (32)     48  new size u64 (< 2^32)  56  new SHA-256 (32)
 * Then, to the end of the patch, one Brotli stream (lgwin 14) whose decoded bytes are a sequence of batches:
 *   batch   = count varint, count × (diffLen varint, extraLen varint, seek zigzag-varint),
 *             codedLen varint, codedLen bytes of range-coded diff bytes, extra bytes
 * with 1 <= count <= MAX_TRIPLES, the batch's diffLen sum <= MAX_BATCH_DIFF, extraLen sum <= MAX_BATCH_EXTRA and
 * codedLen <= min(MAX_CODED, maxCoded(diffLen sum)); a batch with count 0 ends the stream and nothing may follow it. The coded section decodes
 * to exactly the sum of diffLen diff bytes (the model's state carries over from batch to batch; the coder restarts
 * per batch). Each triple adds diffLen bytes of old (from the old cursor) to its diffLen diff bytes (mod 256),
 * appends extraLen extra bytes, advances the old cursor by diffLen, then moves it by seek. Only the first triple of
 * the stream may have diffLen = extraLen = 0. Varints are LEB128, at most 5 bytes.
 */
import { FirmwareError } from './error.js';

/** "WDLT". */
export const DELTA_MAGIC = Uint8Array.of(0x57, 0x44, 0x4c, 0x54);
/** The format version. */
export const DELTA_VERSION = 3;
/** Header length in bytes. */
export const DELTA_HEADER_LENGTH = 88;
/** Flag bit: the patch was made for in-place application. */
export const DELTA_FLAG_IN_PLACE = 1;
/** Largest sum of diffLen in one batch (diff bytes are decoded straight into the output, not buffered). */
export const MAX_BATCH_DIFF = 1 << 20;
/** Largest sum of extraLen in one batch. */
export const MAX_BATCH_EXTRA = 4096;
/** Largest range-coded diff section of one batch. */
export const MAX_CODED = 4096;
/**
 * Longest coded section `n` diff bytes can need: 9 binary decisions a byte at most 11 bits each (probabilities are
 * kept within [2^-11, 1 - 2^-11]), and the coder's flush.
 */
export function maxCoded(n: number): number {
  return 13 * n + 8;
}
/** Most triples in one batch. */
export const MAX_TRIPLES = 128;
/** Largest control section of one batch: the count and MAX_TRIPLES triples of three 5-byte varints. */
export const MAX_CONTROL = 5 + MAX_TRIPLES * 15;
/** The decoder's batch buffer: control, coded length, coded diff section and extra bytes. */
export const BATCH_BUFFER = MAX_CONTROL + 5 + MAX_CODED + MAX_BATCH_EXTRA;
/** Largest image either side of a patch. */
export const MAX_IMAGE_SIZE = 0xffffffff;
/** Brotli window (log2) the encoder uses, so a decoder's ring buffer is 16 KiB. */
export const DELTA_LGWIN = 14;

/** The fixed part of a patch. */
export interface DeltaHeader {
  readonly flags: number;
  readonly oldSize: number;
  readonly oldSha256: Uint8Array;
  readonly newSize: number;
  readonly newSha256: Uint8Array;
}

/** Encodes the 88-byte header. */
export function encodeDeltaHeader(h: DeltaHeader): Uint8Array {
  const out = new Uint8Array(DELTA_HEADER_LENGTH);
  const v = new DataView(out.buffer);
  out.set(DELTA_MAGIC, 0);
  out[4] = DELTA_VERSION;
  out[5] = h.flags;
  v.setUint32(12, h.oldSize);
  out.set(h.oldSha256, 16);
  v.setUint32(52, h.newSize);
  out.set(h.newSha256, 56);
  return out;
}

/** Parses the header from the first 88 bytes of `b`; throws FirmwareError MALFORMED or TRUNCATED. */
export function parseDeltaHeader(b: Uint8Array): DeltaHeader {
  if (b.length < DELTA_HEADER_LENGTH) throw new FirmwareError('TRUNCATED', `delta patch: header needs ${DELTA_HEADER_LENGTH} bytes, got ${b.length}`);
  for (let i = 0; i < 4; i++) if (b[i] !== DELTA_MAGIC[i]) throw new FirmwareError('MALFORMED', 'delta patch: bad magic');
  if (b[4] !== DELTA_VERSION) throw new FirmwareError('MALFORMED', `delta patch: unknown version ${b[4]}`);
  const flags = b[5]!;
  if ((flags & ~DELTA_FLAG_IN_PLACE) !== 0 || b[6] !== 0 || b[7] !== 0) throw new FirmwareError('MALFORMED', 'delta patch: unknown flags');
  const v = new DataView(b.buffer, b.byteOffset, DELTA_HEADER_LENGTH);
  if (v.getUint32(8) !== 0 || v.getUint32(48) !== 0) throw new FirmwareError('MALFORMED', 'delta patch: image size over 4 GiB');
  return {
    flags,
    oldSize: v.getUint32(12),
    oldSha256: b.slice(16, 48),
    newSize: v.getUint32(52),
    newSha256: b.slice(56, 88),
  };
}

/** One control triple. */
export interface Triple {
  diff: number;
  extra: number;
  seek: number;
}

/** Appends `v` (0 <= v < 2^32) as LEB128. */
export function pushVarint(out: number[], v: number): void {
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
}

/** Zigzag: signed to unsigned (|v| < 2^31 maps below 2^32). */
export function zigzag(v: number): number {
  return v >= 0 ? v * 2 : -v * 2 - 1;
}

/**
 * A parsed batch inside a decode buffer: triples in `ctrl` (3 entries each), the coded diff section at
 * [dataStart, extraStart), extra bytes at `extraStart`. `length` is the batch's total length in the buffer; count 0
 * marks the end of the stream.
 */
export interface BatchView {
  count: number;
  dataStart: number;
  extraStart: number;
  diffTotal: number;
  extraTotal: number;
  length: number;
}

/**
 * Parses the batch at the start of `buf[0..len)` into `ctrl` (Float64Array of 3 × MAX_TRIPLES: diff, extra, seek).
 * Returns undefined if more bytes are needed; throws FirmwareError MALFORMED on an invalid batch.
 */
export function parseBatch(buf: Uint8Array, len: number, ctrl: Float64Array, out: BatchView): BatchView | undefined {
  let p = 0;
  let value = 0;
  // Reads one varint at p into `value`; false if the buffer ends first.
  const varint = (): boolean => {
    let v = 0;
    let mul = 1;
    for (let i = 0; i < 5; i++) {
      if (p >= len) return false;
      const c = buf[p++]!;
      v += (c & 0x7f) * mul;
      if ((c & 0x80) === 0) {
        if (v > MAX_IMAGE_SIZE * 2 + 1) break;
        value = v;
        return true;
      }
      mul *= 128;
    }
    throw new FirmwareError('MALFORMED', 'delta patch: bad varint');
  };
  if (!varint()) return undefined;
  const count = value;
  if (count > MAX_TRIPLES) throw new FirmwareError('MALFORMED', `delta patch: batch of ${count} triples`);
  let diffTotal = 0;
  let extraTotal = 0;
  for (let i = 0; i < count; i++) {
    if (!varint()) return undefined;
    const d = value;
    if (!varint()) return undefined;
    const e = value;
    if (!varint()) return undefined;
    const z = value;
    diffTotal += d;
    extraTotal += e;
    if (diffTotal > MAX_BATCH_DIFF || extraTotal > MAX_BATCH_EXTRA) throw new FirmwareError('MALFORMED', 'delta patch: batch data over limit');
    ctrl[i * 3] = d;
    ctrl[i * 3 + 1] = e;
    ctrl[i * 3 + 2] = z % 2 === 0 ? z / 2 : -(z + 1) / 2;
  }
  if (count === 0) {
    out.count = 0;
    out.dataStart = out.extraStart = out.length = p;
    out.diffTotal = out.extraTotal = 0;
    return out;
  }
  if (!varint()) return undefined;
  const coded = value;
  if (coded > Math.min(MAX_CODED, maxCoded(diffTotal))) throw new FirmwareError('MALFORMED', `delta patch: coded diff section of ${coded} bytes for ${diffTotal} diff bytes`);
  const dataStart = p;
  const extraStart = p + coded;
  const length = extraStart + extraTotal;
  if (length > len) return undefined;
  out.count = count;
  out.dataStart = dataStart;
  out.extraStart = extraStart;
  out.diffTotal = diffTotal;
  out.extraTotal = extraTotal;
  out.length = length;
  return out;
}
