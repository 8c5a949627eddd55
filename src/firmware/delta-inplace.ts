/**
 * In-place delta mode for single-slot devices: the new image is written over the old one page by page, each page
 * assembled in RAM first (so a page may read itself). Pages are written in an order the patch chooses (runs of
 * ascending or descending pages, e.g. descending where content moved up), and every diff byte reads only old pages
 * not yet rewritten when its page is assembled: the encoder orders pages to keep readable what later pages need
 * (a greedy topological order of the "page p reads old page q" graph, R. Burns, D. Long, L. Stockmeyer, "In-place
 * reconstruction of version differences", 2003) and then matches only within the readable region.
 *
 * The instruction stream (delta-format.ts) is ONE stream that describes the pages in write order. A device that
 * lost power resumes with the number of pages it had committed: it decodes the stream from the start and, for the
 * committed pages, replays the diff bytes against the new bytes already in flash (old = new − diff, which is all
 * the diff model needs), writing nothing until the first page not committed.
 *
 * Layout: the 88-byte header of delta-format.ts with flag DELTA_FLAG_IN_PLACE, then page size u32 (big-endian),
 * run count varint, per run: lowest page varint, (pages × 2 + descending) varint; the runs are the write order and
 * cover every page of the new image once. Then, to the end, the Brotli stream (lgwin 14) of the instruction
 * stream, whose new-byte positions run through the pages in write order.
 */
import { createHash } from 'node:crypto';
import { brotliCompressSync, brotliDecompressSync, constants as zc, createBrotliDecompress } from 'node:zlib';
import { APPLY_PIECE, DecodeCore } from './delta-apply.js';
import { diffTriples, encodeInstructions, foldEmpty, readableLength, type ReadLimit } from './delta-encode.js';
import {
  DELTA_FLAG_IN_PLACE,
  DELTA_HEADER_LENGTH,
  DELTA_LGWIN,
  encodeDeltaHeader,
  parseDeltaHeader,
  pushVarint,
  type BatchView,
  type DeltaHeader,
  type Triple,
} from './delta-format.js';
import { suffixArray } from './delta-suffix-array.js';
import { FirmwareError } from './error.js';

/** Largest page size an in-place patch may name (the applier holds one page). */
export const MAX_PAGE_SIZE = 65536;

/** Pages `first .. first + count - 1`, written in ascending order or (descending) from the last down. */
export interface InPlaceRun {
  readonly first: number;
  readonly count: number;
  readonly descending: boolean;
}

/** What a device needs to apply (or resume) an in-place patch. */
export interface InPlaceLayout {
  readonly header: DeltaHeader;
  readonly pageSize: number;
  /** The write order. */
  readonly runs: readonly InPlaceRun[];
  /** Where the Brotli stream starts in the patch. */
  readonly streamOffset: number;
}

/** In-place encoder options. */
export interface InPlaceOptions {
  /** Page write order: 'up' (ascending), 'down' (descending) or 'auto' (default: chosen from the content). */
  readonly direction?: 'up' | 'down' | 'auto';
  readonly pageSize?: number;
  readonly quality?: number;
}

/** A run of new bytes made either from old bytes (diff) or literally (`lost`: a copy the write order forbids). */
interface Op {
  newPos: number;
  oldPos: number;
  len: number;
  copy: boolean;
  lost?: boolean;
}

/** The triples (describing new bytes from `start`) as copy/literal runs at physical new positions. */
function opsOf(triples: readonly Triple[], start = 0): Op[] {
  const ops: Op[] = [];
  let o = 0;
  let n = start;
  for (const t of triples) {
    if (t.diff > 0) ops.push({ newPos: n, oldPos: o, len: t.diff, copy: true });
    n += t.diff;
    o += t.diff;
    if (t.extra > 0) ops.push({ newPos: n, oldPos: 0, len: t.extra, copy: false });
    n += t.extra;
    o += t.seek;
  }
  return ops;
}

/** A binary min-heap of (key, page) with stale entries skipped by the caller. */
class Heap {
  readonly keys: number[] = [];
  readonly vals: number[] = [];
  push(k: number, v: number): void {
    const K = this.keys;
    const V = this.vals;
    let i = K.length;
    K.push(k);
    V.push(v);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (K[p]! <= k) break;
      K[i] = K[p]!;
      V[i] = V[p]!;
      i = p;
    }
    K[i] = k;
    V[i] = v;
  }
  /** Removes the smallest entry; returns its page (the key stays readable in `lastKey`). */
  pop(): number {
    const K = this.keys;
    const V = this.vals;
    const v = V[0]!;
    this.lastKey = K[0]!;
    const k = K.pop()!;
    const x = V.pop()!;
    if (K.length > 0) {
      let i = 0;
      for (;;) {
        let c = 2 * i + 1;
        if (c >= K.length) break;
        if (c + 1 < K.length && K[c + 1]! < K[c]!) c++;
        if (K[c]! >= k) break;
        K[i] = K[c]!;
        V[i] = V[c]!;
        i = c;
      }
      K[i] = k;
      V[i] = x;
    }
    return v;
  }
  lastKey = 0;
  get size(): number {
    return this.keys.length;
  }
}

/**
 * A page write order for the copies in `ops`: page p reading old page q (q != p, q a page the new image rewrites)
 * wants p written before q, weighted by the equal bytes it would lose. Greedy topological order: write a page no
 * unwritten page still reads (preferring the neighbour that continues the current run), else the one whose readers
 * lose the fewest bytes.
 */
function chooseOrder(ops: readonly Op[], old: Uint8Array, neu: Uint8Array, pageSize: number): Int32Array {
  const pages = Math.ceil(neu.length / pageSize);
  const order = new Int32Array(pages);
  if (pages === 0) return order;
  const edges = new Map<number, number>();
  for (const op of ops) {
    if (!op.copy) continue;
    let k = 0;
    while (k < op.len) {
      const n = op.newPos + k;
      const o = op.oldPos + k;
      const p = Math.floor(n / pageSize);
      const q = Math.floor(o / pageSize);
      const step = Math.min(op.len - k, (p + 1) * pageSize - n, (q + 1) * pageSize - o);
      if (q !== p && q < pages) {
        let w = 0;
        for (let i = 0; i < step; i++) if (old[o + i] === neu[n + i]) w++;
        if (w > 0) edges.set(p * pages + q, (edges.get(p * pages + q) ?? 0) + w);
      }
      k += step;
    }
  }
  const inW = new Float64Array(pages);
  const outStart = new Int32Array(pages + 1);
  for (const key of edges.keys()) outStart[Math.floor(key / pages) + 1]!++;
  for (let i = 0; i < pages; i++) outStart[i + 1]! += outStart[i]!;
  const fill = outStart.slice(0, pages);
  const outTo = new Int32Array(edges.size);
  const outW = new Float64Array(edges.size);
  for (const [key, w] of edges) {
    const p = Math.floor(key / pages);
    const q = key - p * pages;
    const at = fill[p]!++;
    outTo[at] = q;
    outW[at] = w;
    inW[q]! += w;
  }
  const written = new Uint8Array(pages);
  const ready: number[] = [];
  const heap = new Heap();
  for (let q = pages - 1; q >= 0; q--) {
    if (inW[q] === 0) ready.push(q);
    else heap.push(inW[q]!, q);
  }
  const free = (q: number): boolean => q >= 0 && q < pages && written[q] === 0 && inW[q] === 0;
  let last = -2;
  let dir = 1;
  for (let k = 0; k < pages; k++) {
    let c = -1;
    if (free(last + dir)) c = last + dir;
    else if (free(last - dir)) {
      dir = -dir;
      c = last + dir;
    } else {
      while (ready.length > 0) {
        const q = ready.pop()!;
        if (free(q)) {
          c = q;
          break;
        }
      }
      if (c < 0) {
        // a cycle: break it at the page whose pending readers lose the fewest bytes
        while (heap.size > 0) {
          const q = heap.pop();
          if (written[q] === 0 && heap.lastKey === inW[q]) {
            c = q;
            break;
          }
        }
      }
      // start the run towards whichever neighbour is free
      dir = free(c + 1) || !free(c - 1) ? 1 : -1;
    }
    written[c] = 1;
    order[k] = c;
    last = c;
    for (let e = outStart[c]!; e < outStart[c + 1]!; e++) {
      const q = outTo[e]!;
      if (written[q]) continue;
      inW[q]! -= outW[e]!;
      if (inW[q] === 0) ready.push(q);
      else heap.push(inW[q]!, q);
    }
  }
  return order;
}

/** The runs of an order (consecutive pages one apart in one direction). */
function runsOf(order: Int32Array): InPlaceRun[] {
  const runs: InPlaceRun[] = [];
  let i = 0;
  while (i < order.length) {
    let j = i + 1;
    const step = j < order.length && Math.abs(order[j]! - order[i]!) === 1 ? order[j]! - order[i]! : 1;
    while (j < order.length && order[j]! - order[j - 1]! === step) j++;
    const count = j - i;
    runs.push({ first: step === 1 ? order[i]! : order[j - 1]!, count, descending: step === -1 });
    i = j;
  }
  return runs;
}

/** Each page's position in the write order. */
function rankOf(runs: readonly InPlaceRun[], pages: number): Int32Array {
  const rank = new Int32Array(pages);
  let k = 0;
  for (const r of runs) for (let i = 0; i < r.count; i++) rank[r.descending ? r.first + r.count - 1 - i : r.first + i] = k++;
  return rank;
}

/** Copies that read a page already rewritten (the matcher avoids them; this is the guarantee) become literals. */
function enforce(ops: readonly Op[], lim: ReadLimit): Op[] {
  const out: Op[] = [];
  const add = (op: Op): void => {
    const last = out[out.length - 1];
    if (last && last.copy === op.copy && last.lost === op.lost && last.newPos + last.len === op.newPos && (!op.copy || last.oldPos + last.len === op.oldPos)) last.len += op.len;
    else out.push(op);
  };
  for (const op of ops) {
    if (!op.copy) {
      add({ ...op });
      continue;
    }
    let k = 0;
    while (k < op.len) {
      const ok = readableLength(lim, op.oldPos + k, op.newPos + k, op.len - k);
      if (ok > 0) add({ newPos: op.newPos + k, oldPos: op.oldPos + k, len: ok, copy: true });
      k += ok;
      if (k >= op.len) break;
      // skip to where the old byte becomes readable again (at most the end of the current new or old page)
      let bad = 1;
      while (k + bad < op.len && readableLength(lim, op.oldPos + k + bad, op.newPos + k + bad, 1) === 0) bad++;
      add({ newPos: op.newPos + k, oldPos: 0, len: bad, copy: false, lost: true });
      k += bad;
    }
  }
  return out;
}

/** The triples of the stream that describes the pages in write order, and that stream's new bytes. */
function streamOf(ops: readonly Op[], runs: readonly InPlaceRun[], neu: Uint8Array, pageSize: number): { triples: Triple[]; bytes: Uint8Array } {
  const triples: Triple[] = [];
  const bytes = new Uint8Array(neu.length);
  let at = 0;
  let cursor = 0;
  for (const r of runs) {
    for (let i = 0; i < r.count; i++) {
      const page = r.descending ? r.first + r.count - 1 - i : r.first + i;
      const start = page * pageSize;
      const end = Math.min(neu.length, start + pageSize);
      bytes.set(neu.subarray(start, end), at);
      at += end - start;
      let lo = 0;
      let hi = ops.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (ops[mid]!.newPos + ops[mid]!.len <= start) lo = mid + 1;
        else hi = mid;
      }
      for (let k = lo; k < ops.length && ops[k]!.newPos < end; k++) {
        const op = ops[k]!;
        const a = Math.max(op.newPos, start);
        const b = Math.min(op.newPos + op.len, end);
        const last = triples[triples.length - 1];
        if (op.copy) {
          const from = op.oldPos + (a - op.newPos);
          if (from === cursor && last && last.diff > 0 && last.extra === 0 && last.seek === 0) last.diff += b - a;
          else {
            if (from !== cursor) {
              if (last) last.seek += from - cursor;
              else triples.push({ diff: 0, extra: 0, seek: from });
            }
            triples.push({ diff: b - a, extra: 0, seek: 0 });
          }
          cursor = from + (b - a);
        } else if (last && last.seek === 0) last.extra += b - a;
        else triples.push({ diff: 0, extra: b - a, seek: 0 });
      }
    }
  }
  return { triples, bytes };
}

/** Equal bytes the copies in `ops` would lose under `lim` (what a write order costs, roughly). */
function lostBytes(ops: readonly Op[], lim: ReadLimit, old: Uint8Array, neu: Uint8Array): number {
  let lost = 0;
  for (const op of ops) {
    if (!op.copy) continue;
    let k = 0;
    while (k < op.len) {
      const ok = readableLength(lim, op.oldPos + k, op.newPos + k, op.len - k);
      k += ok;
      if (k >= op.len) break;
      const n = op.newPos + k;
      const o = op.oldPos + k;
      const step = Math.min(op.len - k, lim.pageSize - (n % lim.pageSize), lim.pageSize - (o % lim.pageSize));
      for (let i = 0; i < step; i++) if (old[o + i] === neu[n + i]) lost++;
      k += step;
    }
  }
  return lost;
}

/** Gaps shorter than this stay literal (matching inside them would not pay for a triple). */
const MIN_GAP = 24;

/** Re-matches the bytes of lost copies within the readable region (bsdiff's loop on each gap alone). */
function repair(ops: readonly Op[], lim: ReadLimit, old: Uint8Array, neu: Uint8Array, sa: Int32Array): Op[] {
  const out: Op[] = [];
  for (const op of ops) {
    if (!op.lost || op.len < MIN_GAP) out.push(op);
    else out.push(...enforce(opsOf(foldEmpty(diffTriples(old, neu, { sa, limit: lim, from: op.newPos, to: op.newPos + op.len })), op.newPos), lim));
  }
  return out;
}

/** Makes an in-place patch (see the file comment). */
export function createInPlacePatch(old: Uint8Array, neu: Uint8Array, options: InPlaceOptions = {}): Uint8Array {
  const pageSize = options.pageSize ?? 4096;
  if (!(Number.isInteger(pageSize) && pageSize >= 1 && pageSize <= MAX_PAGE_SIZE)) throw new RangeError('in-place delta: page size');
  const pages = Math.ceil(neu.length / pageSize);
  const sa = suffixArray(old);
  const base = opsOf(foldEmpty(diffTriples(old, neu, { sa })));
  const dir = options.direction ?? 'auto';
  const up: InPlaceRun[] = pages > 0 ? [{ first: 0, count: pages, descending: false }] : [];
  const down: InPlaceRun[] = pages > 0 ? [{ first: 0, count: pages, descending: true }] : [];
  const candidates = dir === 'up' ? [up] : dir === 'down' ? [down] : [up, down, runsOf(chooseOrder(base, old, neu, pageSize))];
  // Rank the orders by the equal bytes they lose (and a little per run), then encode the two best and keep the
  // smaller: the estimate misses what fragmenting the order costs the compressor.
  const scored = candidates
    .map((runs) => {
      const limit: ReadLimit = { pageSize, rank: rankOf(runs, pages) };
      return { runs, limit, cost: lostBytes(base, limit, old, neu) + 16 * runs.length };
    })
    .sort((a, b) => a.cost - b.cost);
  let body: Buffer | undefined;
  let runs: InPlaceRun[] = [];
  for (const c of scored.slice(0, 2)) {
    if (body && c.cost > 2 * scored[0]!.cost + 4096) break;
    const ops = repair(enforce(base, c.limit), c.limit, old, neu, sa);
    const { triples, bytes } = streamOf(ops, c.runs, neu, pageSize);
    const stream = encodeInstructions(old, bytes, foldEmpty(triples));
    const b = brotliCompressSync(stream, {
      params: { [zc.BROTLI_PARAM_QUALITY]: options.quality ?? 11, [zc.BROTLI_PARAM_LGWIN]: DELTA_LGWIN, [zc.BROTLI_PARAM_SIZE_HINT]: stream.length },
    });
    if (!body || b.length + 3 * c.runs.length < body.length + 3 * runs.length) {
      body = b;
      runs = c.runs;
    }
  }
  const table: number[] = [0, 0, 0, 0];
  table[0] = (pageSize >>> 24) & 0xff;
  table[1] = (pageSize >>> 16) & 0xff;
  table[2] = (pageSize >>> 8) & 0xff;
  table[3] = pageSize & 0xff;
  pushVarint(table, runs.length);
  for (const r of runs) {
    pushVarint(table, r.first);
    pushVarint(table, r.count * 2 + (r.descending ? 1 : 0));
  }
  const sha = (b: Uint8Array) => createHash('sha256').update(b).digest();
  const header = encodeDeltaHeader({ flags: DELTA_FLAG_IN_PLACE, oldSize: old.length, oldSha256: sha(old), newSize: neu.length, newSha256: sha(neu) });
  return new Uint8Array(Buffer.concat([header, Uint8Array.from(table), body!]));
}

/** Where an in-place apply reads the patch: `size` bytes, in pieces through `read` (a flash or file read, say). */
export interface PatchSource {
  readonly size: number;
  /** Returns `length` bytes of the patch at `offset` (not kept, not modified). */
  read(offset: number, length: number): Uint8Array | Promise<Uint8Array>;
}

/** Bytes of the patch an in-place apply reads at a time. */
export const PATCH_PIECE = 4096;

/** Reads a patch byte by byte through a small window (the write-order table, whose length the table decides). */
class ByteCursor {
  #buf: Uint8Array = new Uint8Array(0);
  #start = 0;
  pos: number;
  constructor(
    readonly size: number,
    readonly read: (offset: number, length: number) => Uint8Array,
    pos: number,
  ) {
    this.pos = pos;
  }
  /** The next byte; TRUNCATED with `what` at the end of the patch. */
  byte(what: string): number {
    let i = this.pos - this.#start;
    if (i >= this.#buf.length) {
      if (this.pos >= this.size) throw new FirmwareError('TRUNCATED', `in-place patch: ${what}`);
      this.#start = this.pos;
      this.#buf = this.read(this.pos, Math.min(256, this.size - this.pos));
      if (this.#buf.length === 0) throw new FirmwareError('TRUNCATED', `in-place patch: ${what}`);
      i = 0;
    }
    this.pos++;
    return this.#buf[i]!;
  }
}

/**
 * Reads an in-place patch's header and write order from a patch of `size` bytes through `read` (a few hundred bytes
 * at a time, as far as the table goes); throws FirmwareError.
 */
export function readInPlaceLayout(size: number, read: (offset: number, length: number) => Uint8Array): InPlaceLayout {
  const header = parseDeltaHeader(read(0, Math.min(size, DELTA_HEADER_LENGTH)));
  if ((header.flags & DELTA_FLAG_IN_PLACE) === 0) throw new FirmwareError('MALFORMED', 'delta patch: not an in-place patch');
  const c = new ByteCursor(size, read, DELTA_HEADER_LENGTH);
  let pageSize = 0;
  for (let i = 0; i < 4; i++) pageSize = pageSize * 256 + c.byte('page size');
  if (pageSize === 0 || pageSize > MAX_PAGE_SIZE) throw new FirmwareError('MALFORMED', 'in-place patch: page size');
  const pages = Math.ceil(header.newSize / pageSize);
  const varint = (): number => {
    let v = 0;
    let mul = 1;
    for (let i = 0; i < 5; i++) {
      const b = c.byte('write order');
      v += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) return v;
      mul *= 128;
    }
    throw new FirmwareError('MALFORMED', 'in-place patch: bad varint');
  };
  const count = varint();
  if (count > pages) throw new FirmwareError('MALFORMED', 'in-place patch: more runs than pages');
  const runs: InPlaceRun[] = [];
  for (let i = 0; i < count; i++) {
    const first = varint();
    const v = varint();
    const n = Math.floor(v / 2);
    if (n === 0 || first + n > pages) throw new FirmwareError('MALFORMED', 'in-place patch: run outside the image');
    runs.push({ first, count: n, descending: v % 2 === 1 });
  }
  // the runs must cover every page exactly once
  const sorted = [...runs].sort((a, b) => a.first - b.first);
  let next = 0;
  for (const r of sorted) {
    if (r.first !== next) throw new FirmwareError('MALFORMED', 'in-place patch: write order is not a permutation of the pages');
    next += r.count;
  }
  if (next !== pages) throw new FirmwareError('MALFORMED', 'in-place patch: write order is not a permutation of the pages');
  return { header, pageSize, runs, streamOffset: c.pos };
}

/** More of the patch's prefix is needed (readLayout). */
const MORE = Symbol('more');

/** readInPlaceLayout over a source whose reads may be async: parses a prefix, doubling it until the table fits. */
async function readLayout(source: PatchSource): Promise<InPlaceLayout> {
  let prefix = await source.read(0, Math.min(source.size, 512));
  for (;;) {
    const have = prefix;
    try {
      return readInPlaceLayout(source.size, (o, n) => {
        if (o + n > have.length && have.length < source.size) throw MORE;
        return have.subarray(o, o + n);
      });
    } catch (err) {
      if (err !== MORE) throw err;
    }
    const n = Math.min(source.size, Math.max(512, prefix.length * 2));
    prefix = await source.read(0, n);
    if (prefix.length !== n) throw new FirmwareError('TRUNCATED', `in-place patch: read returned ${prefix.length} of ${n} bytes`);
  }
}

/** Parses an in-place patch's header and write order; throws FirmwareError. */
export function parseInPlaceLayout(patch: Uint8Array): InPlaceLayout {
  return readInPlaceLayout(patch.length, (o, n) => patch.subarray(o, o + n));
}

/** A single-slot flash as the in-place applier sees it. */
export interface InPlaceFlash {
  /** Reads the slot (old bytes for pages not yet committed, new bytes for committed ones). */
  read(offset: number, length: number): Uint8Array;
  /** Writes and commits one whole page (the last page may be short); `data` is a view valid only during the call. */
  writePage(page: number, data: Uint8Array): void;
}

/** Pages in the order an in-place patch writes them (what `committed` counts). */
export function inPlaceWriteOrder(layout: InPlaceLayout): number[] {
  const out: number[] = [];
  for (const r of layout.runs) for (let i = 0; i < r.count; i++) out.push(r.descending ? r.first + r.count - 1 - i : r.first + i);
  return out;
}

/** The page an in-place patch writes `k`-th (0-based), or -1 past the last; without a per-page table. */
export function inPlacePageAt(layout: InPlaceLayout, k: number): number {
  if (!Number.isInteger(k) || k < 0) return -1;
  for (const r of layout.runs) {
    if (k < r.count) return r.descending ? r.first + r.count - 1 - k : r.first + k;
    k -= r.count;
  }
  return -1;
}

/** Page ranks by run, without a per-page table: rank(q) in O(log runs). */
class Ranks {
  readonly #lows: number[];
  readonly #starts: number[];
  readonly #runs: InPlaceRun[];
  constructor(runs: readonly InPlaceRun[]) {
    const idx = runs.map((r, i) => ({ r, start: 0, i }));
    let k = 0;
    for (const x of idx) {
      x.start = k;
      k += x.r.count;
    }
    idx.sort((a, b) => a.r.first - b.r.first);
    this.#lows = idx.map((x) => x.r.first);
    this.#starts = idx.map((x) => x.start);
    this.#runs = idx.map((x) => x.r);
  }
  /** Position of page `q` in the write order. */
  rank(q: number): number {
    let lo = 0;
    let hi = this.#lows.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.#lows[mid]! <= q) lo = mid;
      else hi = mid - 1;
    }
    const r = this.#runs[lo]!;
    return this.#starts[lo]! + (r.descending ? r.first + r.count - 1 - q : q - r.first);
  }
}

/**
 * The in-place page writer, fed the decoded instruction stream in pieces of any size (both appliers use it): it
 * assembles each page in one page buffer, replays the committed pages, writes the others through the flash and,
 * at `end`, reads the new image back and checks its SHA-256.
 */
class InPlaceWriter {
  readonly #flash: InPlaceFlash;
  readonly #pageSize: number;
  readonly #pages: number;
  readonly #runs: readonly InPlaceRun[];
  readonly #committed: number;
  readonly #ranks: Ranks;
  readonly #page: Uint8Array;
  readonly #core: DecodeCore;
  /** The current page: its index in the write order, run, index in the run, number, length and fill. */
  #k = -1;
  #run = 0;
  #inRun = 0;
  #pageNo = 0;
  #pageLen = 0;
  #fill = 0;

  constructor(flash: InPlaceFlash, layout: InPlaceLayout, committed: number) {
    const { header, pageSize, runs } = layout;
    this.#pages = Math.ceil(header.newSize / pageSize);
    if (!(Number.isInteger(committed) && committed >= 0 && committed <= this.#pages)) throw new RangeError(`in-place patch: ${committed} committed pages of ${this.#pages}`);
    this.#flash = flash;
    this.#pageSize = pageSize;
    this.#runs = runs;
    this.#committed = committed;
    this.#ranks = new Ranks(runs);
    this.#page = new Uint8Array(Math.min(pageSize, Math.max(1, header.newSize)));
    this.#core = new DecodeCore(header);
    this.#nextPage();
  }

  #nextPage(): void {
    this.#k++;
    if (this.#k >= this.#pages) return;
    if (this.#inRun === this.#runs[this.#run]!.count) {
      this.#run++;
      this.#inRun = 0;
    }
    const r = this.#runs[this.#run]!;
    this.#pageNo = r.descending ? r.first + r.count - 1 - this.#inRun : r.first + this.#inRun;
    this.#inRun++;
    this.#pageLen = Math.min(this.#pageSize, this.#core.header.newSize - this.#pageNo * this.#pageSize);
    this.#fill = 0;
  }

  #pageDone(): void {
    if (this.#fill < this.#pageLen) return;
    if (this.#k >= this.#committed) this.#flash.writePage(this.#pageNo, this.#page.subarray(0, this.#pageLen));
    this.#nextPage();
  }

  #read(o: number, n: number): Uint8Array {
    const got = this.#flash.read(o, n);
    if (got.length !== n) throw new FirmwareError('TRUNCATED', `in-place: flash read returned ${got.length} of ${n} bytes`);
    return got;
  }

  /** Takes the next decoded bytes of the instruction stream. */
  feed(d: Uint8Array): void {
    const core = this.#core;
    let from = 0;
    while (from < d.length) {
      from += core.take(d, from);
      for (let b = core.next(); b; b = core.next()) {
        if (b.count > 0) this.#apply(b);
        core.consume(b);
      }
    }
  }

  #apply(b: BatchView): void {
    const core = this.#core;
    const page = this.#page;
    const ps = this.#pageSize;
    let ep = b.extraStart;
    core.begin(b);
    for (let i = 0; i < b.count; i++) {
      let d = core.ctrl[i * 3]!;
      while (d > 0) {
        const n = Math.min(d, APPLY_PIECE, this.#pageLen - this.#fill);
        if (this.#k < this.#committed) {
          // committed: the flash holds the new bytes; old = new − diff keeps the model in step
          page.set(this.#read(this.#pageNo * ps + this.#fill, n), this.#fill);
          core.replayDiff(page, this.#fill, n);
        } else {
          for (let q = Math.floor(core.oldPos / ps); q * ps < core.oldPos + n && q < this.#pages; q++)
            if (this.#ranks.rank(q) < this.#k) throw new FirmwareError('MALFORMED', `in-place patch: page ${this.#pageNo} reads [${core.oldPos}, ${core.oldPos + n}), already rewritten`);
          page.set(this.#read(core.oldPos, n), this.#fill);
          core.addDiff(page, this.#fill, n);
        }
        this.#fill += n;
        d -= n;
        core.oldPos += n;
        core.newPos += n;
        this.#pageDone();
      }
      let e = core.ctrl[i * 3 + 1]!;
      while (e > 0) {
        const n = Math.min(e, this.#pageLen - this.#fill);
        if (this.#k >= this.#committed) page.set(core.buf.subarray(ep, ep + n), this.#fill);
        this.#fill += n;
        ep += n;
        e -= n;
        core.newPos += n;
        this.#pageDone();
      }
      core.oldPos += core.ctrl[i * 3 + 2]!;
    }
  }

  /** The stream ended: checks the end state, then reads the new image back and checks its SHA-256. */
  end(): void {
    const { newSize, newSha256 } = this.#core.header;
    this.#core.finish(false);
    const h = createHash('sha256');
    for (let o = 0; o < newSize; o += this.#pageSize) h.update(this.#read(o, Math.min(this.#pageSize, newSize - o)));
    if (!h.digest().equals(newSha256)) throw new FirmwareError('DIGEST_MISMATCH', 'in-place patch: new image SHA-256 differs');
  }
}

/** A Brotli decoder error as the patch error it is. */
function streamError(err: unknown): FirmwareError {
  const m = (err as Error).message;
  const truncated = (err as { code?: string }).code === 'ERR__ERROR_FORMAT_PADDING_1' || /unexpected end/i.test(m);
  return new FirmwareError(truncated ? 'TRUNCATED' : 'MALFORMED', `in-place patch: compressed stream: ${m}`);
}

/**
 * Applies an in-place patch over `flash`, streaming: reads the patch through `patch` PATCH_PIECE bytes at a time,
 * decodes it with an incremental Brotli decoder into DecodeCore's batch buffer and assembles one page at a time, so
 * the working set is bounded (batch buffer, diff model, one page, one patch piece, one 8 KiB decoded chunk, the
 * decoder's 16 KiB window) whatever the image size. Resumes after the first `committed` pages in write order (0, or
 * what the journal recorded before a power cut: those pages are replayed from the new bytes in flash, not
 * written), then reads the new image back and checks its SHA-256 (DIGEST_MISMATCH). The old image's digest is the
 * caller's to check before the first run. A patch that reads a page already rewritten is refused (MALFORMED).
 * Errors thrown by the flash (a power loss) reach the caller unchanged.
 */
export async function applyInPlaceStream(flash: InPlaceFlash, patch: PatchSource, committed = 0): Promise<void> {
  const layout = await readLayout(patch);
  const writer = new InPlaceWriter(flash, layout, committed);
  const dec = createBrotliDecompress({ chunkSize: 8192 });
  // Set from the decoder's callbacks: the first error, and whether the decoder ended or closed.
  const st: { failure: { err: unknown } | undefined; closed: boolean } = { failure: undefined, closed: false };
  // Whoever waits for the decoder: a write's callback, or its end (a decoder error never calls the write back).
  let wake: (() => void) | undefined;
  const wakeUp = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const done = new Promise<void>((resolve) => {
    const fin = (): void => {
      st.closed = true;
      resolve();
      wakeUp();
    };
    dec.on('data', (d: Buffer) => {
      if (st.failure) return;
      try {
        writer.feed(d);
      } catch (err) {
        st.failure = { err };
        // not from inside the decoder's output callback
        process.nextTick(() => dec.destroy());
      }
    });
    dec.on('error', (err) => {
      st.failure ??= { err: streamError(err) };
      fin();
    });
    dec.on('end', fin);
    dec.on('close', fin);
  });
  try {
    for (let o = layout.streamOffset; o < patch.size && !st.failure && !st.closed; o += PATCH_PIECE) {
      const n = Math.min(PATCH_PIECE, patch.size - o);
      const piece = await patch.read(o, n);
      if (piece.length !== n) throw new FirmwareError('TRUNCATED', `in-place patch: read returned ${piece.length} of ${n} bytes`);
      // One piece in the decoder at a time: when the callback runs, its output has been produced.
      await new Promise<void>((resolve) => {
        wake = resolve;
        dec.write(piece, wakeUp);
      });
    }
    if (!st.failure && !st.closed) dec.end();
    await done;
  } finally {
    if (!dec.destroyed) dec.destroy();
  }
  if (st.failure) throw st.failure.err;
  writer.end();
}

/**
 * Applies an in-place patch held whole in memory, synchronously (for tools and the fuzzer; a device uses
 * applyInPlaceStream): same checks and resume as applyInPlaceStream. Decoded output is bounded by a limit derived
 * from the header sizes, so a hostile patch cannot exhaust memory.
 */
export function applyInPlace(flash: InPlaceFlash, patch: Uint8Array, committed = 0): void {
  const layout = parseInPlaceLayout(patch);
  const writer = new InPlaceWriter(flash, layout, committed);
  let stream: Uint8Array;
  try {
    // Same bound as applyPatchSync: at most newSize + 1 triples, batches, coded sections and extra bytes.
    stream = brotliDecompressSync(patch.subarray(layout.streamOffset), { maxOutputLength: (layout.header.newSize + 2) * 48 + 64 });
  } catch (err) {
    throw streamError(err);
  }
  writer.feed(stream);
  writer.end();
}
