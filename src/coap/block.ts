/** RFC 7959 §2.2: the value of a Block1/Block2 option. */
export interface BlockValue {
  /** Block number (up to 2^20 - 1). */
  num: number;
  /** More blocks follow. */
  more: boolean;
  /** Size exponent: block size is 2^(szx + 4), 0..6 (7 is reserved for BERT). */
  szx: number;
}

/** Encode a Block option value (minimal length, 0 as empty). */
export function encodeBlock(b: BlockValue): Uint8Array {
  if (b.num < 0 || b.num > 0xfffff || !Number.isInteger(b.num)) throw new RangeError(`block number out of range: ${b.num}`);
  if (b.szx < 0 || b.szx > 6) throw new RangeError(`bad szx: ${b.szx}`);
  const v = b.num * 16 + (b.more ? 8 : 0) + b.szx;
  if (v === 0) return new Uint8Array(0);
  if (v < 0x100) return Uint8Array.of(v);
  if (v < 0x10000) return Uint8Array.of(v >>> 8, v & 0xff);
  return Uint8Array.of(v >>> 16, (v >>> 8) & 0xff, v & 0xff);
}

/** Decode a Block option value; undefined if it is longer than 3 bytes or uses szx 7 (RFC 7959 §2.2). */
export function decodeBlock(v: Uint8Array): BlockValue | undefined {
  if (v.length > 3) return undefined;
  let n = 0;
  for (let i = 0; i < v.length; i++) n = (n << 8) | v[i]!;
  const szx = n & 7;
  if (szx === 7) return undefined;
  return { num: n >>> 4, more: (n & 8) !== 0, szx };
}

/** Block size in bytes for an szx: 16 << szx. */
export function szxToSize(szx: number): number {
  return 16 << szx;
}

/** The largest szx whose block size does not exceed `size` (16..1024). */
export function sizeToSzx(size: number): number {
  if (size >= 1024) return 6;
  let szx = 0;
  while (szx < 6 && 16 << (szx + 1) <= size) szx++;
  return szx;
}
