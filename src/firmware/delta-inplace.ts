/**
 * In-place delta mode for single-slot devices: the new image is written over the old one page by page. The
 * instruction stream is cut into segments of `segmentPages` pages, each its own Brotli stream whose first triple
 * may seek. Segments are applied in ascending order (direction 0) or descending order (direction 1, for images
 * whose content moved up); the pages of a segment are always written in ascending order, each assembled in RAM
 * first (so a page may read itself). A diff byte may only read old pages not yet overwritten when its page is
 * assembled; the encoder turns bytes that would read an overwritten page into extra bytes. A device that lost power
 * resumes with the number of pages it had committed (in write order): earlier pages of that segment are decoded
 * but not written.
 *
 * Layout: the 88-byte header of delta-format.ts with flag DELTA_FLAG_IN_PLACE, then page size u32, pages per
 * segment u32, direction u32, segment count u32, count × body length u32, then the bodies in new-image order.
 * Segment i produces new bytes [i × pageSize × segmentPages, min(newSize, (i + 1) × pageSize × segmentPages)).
 */
import { createHash } from 'node:crypto';
import { brotliCompressSync, brotliDecompressSync, constants as zc } from 'node:zlib';
import {
  DELTA_FLAG_IN_PLACE,
  DELTA_HEADER_LENGTH,
  DELTA_LGWIN,
  encodeDeltaHeader,
  parseDeltaHeader,
  type DeltaHeader,
  type Triple,
} from './delta-format.js';
import { diffTriples, encodeInstructions, foldEmpty } from './delta-encode.js';
import { FirmwareError } from './error.js';
import { applyInstructions } from './delta-apply.js';

/** Largest page size an in-place patch may name (the applier holds one page). */
export const MAX_PAGE_SIZE = 65536;

/** One independently decodable piece of an in-place patch. */
export interface InPlaceSegment {
  /** First new-image page it produces, and how many. */
  readonly firstPage: number;
  readonly pageCount: number;
  /** Where its Brotli stream lies in the patch, in bytes. */
  readonly patchOffset: number;
  readonly patchLength: number;
}

/** What a device needs to apply (or resume) an in-place patch. */
export interface InPlaceLayout {
  readonly header: DeltaHeader;
  /** 0: segments in ascending order; 1: descending. */
  readonly direction: 0 | 1;
  readonly pageSize: number;
  readonly segmentPages: number;
  readonly segments: readonly InPlaceSegment[];
}

/** In-place encoder options. */
export interface InPlaceOptions {
  /** 'up', 'down', or 'auto' (default: both, keep the smaller). */
  readonly direction?: 'up' | 'down' | 'auto';
  readonly pageSize?: number;
  readonly segmentPages?: number;
  readonly quality?: number;
}

interface Op {
  newPos: number;
  oldPos: number;
  len: number;
  copy: boolean;
}

/** The triples as copy/literal runs, with copies that would read overwritten pages turned into literals. */
function constrainedOps(triples: readonly Triple[], pageSize: number, segmentPages: number, down: boolean, oldSize: number): Op[] {
  const segBytes = pageSize * segmentPages;
  // old bytes [o, o + k) for new bytes in page starting at ps: not yet overwritten when that page is assembled
  const allowed = (o: number, k: number, ps: number): boolean => {
    if (o < 0 || o + k > oldSize) return false;
    if (!down) return o >= ps;
    const segStart = Math.floor(ps / segBytes) * segBytes;
    return o + k <= segStart || (o >= ps && o + k <= segStart + segBytes);
  };
  const ops: Op[] = [];
  const add = (op: Op): void => {
    const last = ops[ops.length - 1];
    if (last && last.copy === op.copy && last.newPos + last.len === op.newPos && (!op.copy || last.oldPos + last.len === op.oldPos)) last.len += op.len;
    else ops.push(op);
  };
  let o = 0;
  let n = 0;
  for (const t of triples) {
    let i = 0;
    while (i < t.diff) {
      const np = n + i;
      const op = o + i;
      const pageEnd = (Math.floor(np / pageSize) + 1) * pageSize;
      const k = Math.min(t.diff - i, pageEnd - np);
      const ps = Math.floor(np / pageSize) * pageSize;
      const segStart = Math.floor(ps / segBytes) * segBytes;
      // cut where the old side crosses a boundary of the allowed ranges, so each piece is wholly allowed or not
      let c = k;
      for (const edge of [segStart, ps, segStart + segBytes, oldSize]) if (edge > op && edge - op < c) c = edge - op;
      add({ newPos: np, oldPos: op, len: c, copy: allowed(op, c, ps) });
      i += c;
    }
    n += t.diff;
    o += t.diff;
    if (t.extra > 0) add({ newPos: n, oldPos: 0, len: t.extra, copy: false });
    n += t.extra;
    o += t.seek;
  }
  return ops;
}

/** Triples for new bytes [start, end) from `ops`, relative to that range; the first may only seek. */
function segmentTriples(ops: readonly Op[], start: number, end: number): Triple[] {
  const out: Triple[] = [];
  let cursor = 0;
  for (const op of ops) {
    const a = Math.max(op.newPos, start);
    const b = Math.min(op.newPos + op.len, end);
    if (a >= b) continue;
    const last = out[out.length - 1];
    if (op.copy) {
      const from = op.oldPos + (a - op.newPos);
      if (from !== cursor) {
        if (last) last.seek += from - cursor;
        else out.push({ diff: 0, extra: 0, seek: from });
      }
      out.push({ diff: b - a, extra: 0, seek: 0 });
      cursor = from + (b - a);
    } else if (last && last.seek === 0) last.extra += b - a;
    else out.push({ diff: 0, extra: b - a, seek: 0 });
  }
  return out;
}

/** Makes an in-place patch (see the file comment); larger than createPatch's. */
export function createInPlacePatch(old: Uint8Array, neu: Uint8Array, options: InPlaceOptions = {}): Uint8Array {
  const pageSize = options.pageSize ?? 4096;
  const segmentPages = options.segmentPages ?? 16;
  if (!(pageSize >= 1 && pageSize <= MAX_PAGE_SIZE && segmentPages >= 1 && segmentPages <= 65536)) throw new RangeError('in-place delta: page geometry');
  const triples = foldEmpty(diffTriples(old, neu));
  const dir = options.direction ?? 'auto';
  const build = (down: boolean): Uint8Array => {
    const segBytes = pageSize * segmentPages;
    const ops = constrainedOps(triples, pageSize, segmentPages, down, old.length);
    const bodies: Uint8Array[] = [];
    for (let s = 0; s < neu.length; s += segBytes) {
      const e = Math.min(neu.length, s + segBytes);
      const stream = encodeInstructions(old, neu.subarray(s, e), segmentTriples(ops, s, e));
      bodies.push(brotliCompressSync(stream, { params: { [zc.BROTLI_PARAM_QUALITY]: options.quality ?? 11, [zc.BROTLI_PARAM_LGWIN]: DELTA_LGWIN } }));
    }
    const sha = (b: Uint8Array) => createHash('sha256').update(b).digest();
    const table = Buffer.alloc(16 + 4 * bodies.length);
    table.writeUInt32BE(pageSize, 0);
    table.writeUInt32BE(segmentPages, 4);
    table.writeUInt32BE(down ? 1 : 0, 8);
    table.writeUInt32BE(bodies.length, 12);
    bodies.forEach((b, i) => table.writeUInt32BE(b.length, 16 + 4 * i));
    const header = encodeDeltaHeader({ flags: DELTA_FLAG_IN_PLACE, oldSize: old.length, oldSha256: sha(old), newSize: neu.length, newSha256: sha(neu) });
    return new Uint8Array(Buffer.concat([header, table, ...bodies]));
  };
  if (dir === 'up') return build(false);
  if (dir === 'down') return build(true);
  const up = build(false);
  const down = build(true);
  return down.length < up.length ? down : up;
}

/** Parses an in-place patch's header and segment table; throws FirmwareError. */
export function parseInPlaceLayout(patch: Uint8Array): InPlaceLayout {
  const header = parseDeltaHeader(patch);
  if ((header.flags & DELTA_FLAG_IN_PLACE) === 0) throw new FirmwareError('MALFORMED', 'delta patch: not an in-place patch');
  const b = Buffer.from(patch.buffer, patch.byteOffset, patch.byteLength);
  const T = DELTA_HEADER_LENGTH + 16;
  if (b.length < T) throw new FirmwareError('TRUNCATED', 'in-place patch: segment table');
  const pageSize = b.readUInt32BE(DELTA_HEADER_LENGTH);
  const segmentPages = b.readUInt32BE(DELTA_HEADER_LENGTH + 4);
  const direction = b.readUInt32BE(DELTA_HEADER_LENGTH + 8);
  const count = b.readUInt32BE(DELTA_HEADER_LENGTH + 12);
  if (direction !== 0 && direction !== 1) throw new FirmwareError('MALFORMED', 'in-place patch: direction');
  if (pageSize === 0 || pageSize > MAX_PAGE_SIZE || segmentPages === 0 || segmentPages > 65536) throw new FirmwareError('MALFORMED', 'in-place patch: page geometry');
  const segBytes = pageSize * segmentPages;
  if (count !== Math.ceil(header.newSize / segBytes)) throw new FirmwareError('MALFORMED', 'in-place patch: segment count');
  let off = T + 4 * count;
  if (b.length < off) throw new FirmwareError('TRUNCATED', 'in-place patch: segment table');
  const segments: InPlaceSegment[] = [];
  for (let i = 0; i < count; i++) {
    const len = b.readUInt32BE(T + 4 * i);
    const bytes = Math.min(segBytes, header.newSize - i * segBytes);
    segments.push({ firstPage: i * segmentPages, pageCount: Math.ceil(bytes / pageSize), patchOffset: off, patchLength: len });
    off += len;
  }
  if (off !== b.length) throw new FirmwareError(off > b.length ? 'TRUNCATED' : 'MALFORMED', 'in-place patch: length differs from its segment table');
  return { header, direction, pageSize, segmentPages, segments };
}

/** A single-slot flash as the in-place applier sees it. */
export interface InPlaceFlash {
  /** Reads the slot (old bytes for pages not yet committed). */
  read(offset: number, length: number): Uint8Array;
  /** Writes and commits one whole page (the last page may be short). */
  writePage(page: number, data: Uint8Array): void;
}

/** Pages in the order an in-place patch writes them (what `committed` counts). */
export function inPlaceWriteOrder(layout: InPlaceLayout): number[] {
  const segs = layout.direction === 1 ? [...layout.segments].reverse() : layout.segments;
  return segs.flatMap((s) => Array.from({ length: s.pageCount }, (_, i) => s.firstPage + i));
}

/**
 * Applies an in-place patch over `flash`, after the first `committed` pages in write order (0, or what the
 * journal recorded before a power cut), then reads the new image back and checks its SHA-256 (DIGEST_MISMATCH). The old
 * image's digest is the caller's to check before the first run (pages before fromPage are already new).
 */
export function applyInPlace(flash: InPlaceFlash, patch: Uint8Array, committed = 0): void {
  const { header, pageSize, segments, direction } = parseInPlaceLayout(patch);
  let done = 0;
  for (const seg of direction === 1 ? [...segments].reverse() : segments) {
    const skip = committed - done;
    done += seg.pageCount;
    if (skip >= seg.pageCount) continue;
    const fromPage = seg.firstPage + Math.max(0, skip);
    const start = seg.firstPage * pageSize;
    const size = Math.min(header.newSize - start, seg.pageCount * pageSize);
    const body = patch.subarray(seg.patchOffset, seg.patchOffset + seg.patchLength);
    let stream: Uint8Array;
    try {
      stream = brotliDecompressSync(body, { maxOutputLength: (size + 2) * 24 + 64 });
    } catch (err) {
      throw new FirmwareError('MALFORMED', `in-place patch: segment at page ${seg.firstPage}: ${(err as Error).message}`);
    }
    const page = new Uint8Array(pageSize);
    let fill = 0;
    let pageNo = seg.firstPage;
    const segEnd = start + size;
    // Pages already rewritten when page `pageNo` is assembled: [0, page) going up; going down, the earlier pages of
    // this segment and every later segment. A patch that reads them is refused (a sound encoder never does).
    const read = (o: number, n: number): Uint8Array => {
      const ps = pageNo * pageSize;
      const hits = (a: number, b: number): boolean => a < b && o < b && o + n > a;
      const ok = direction === 0 ? !hits(0, ps) : !hits(start, ps) && !hits(segEnd, header.newSize);
      if (!ok) throw new FirmwareError('MALFORMED', `in-place patch: page ${pageNo} reads [${o}, ${o + n}), already rewritten`);
      return flash.read(o, n);
    };
    applyInstructions({ ...header, newSize: size }, stream, read, false, (chunk) => {
      for (let p = 0; p < chunk.length; ) {
        const k = Math.min(chunk.length - p, pageSize - fill);
        page.set(chunk.subarray(p, p + k), fill);
        fill += k;
        p += k;
        const pageLen = Math.min(pageSize, header.newSize - pageNo * pageSize);
        if (fill === pageLen) {
          if (pageNo >= fromPage) flash.writePage(pageNo, page.slice(0, pageLen));
          pageNo++;
          fill = 0;
        }
      }
    });
  }
  const h = createHash('sha256');
  for (let o = 0; o < header.newSize; o += pageSize) h.update(flash.read(o, Math.min(pageSize, header.newSize - o)));
  if (!h.digest().equals(header.newSha256)) throw new FirmwareError('DIGEST_MISMATCH', 'in-place patch: new image SHA-256 differs');
}
