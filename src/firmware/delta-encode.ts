/**
 * The delta encoder: bsdiff's matcher (C. Percival 2003) over an SA-IS suffix array of the old image, with
 * varint control triples and range-coded diff bytes cut into batches, in one Brotli stream at quality 11 with a
 * 16 KiB window
 * (format: delta-format.ts).
 */
import { createHash } from 'node:crypto';
import { brotliCompressSync, constants as zc } from 'node:zlib';
import {
  DELTA_HEADER_LENGTH,
  DELTA_LGWIN,
  encodeDeltaHeader,
  MAX_BATCH_DIFF,
  MAX_BATCH_EXTRA,
  MAX_CODED,
  MAX_IMAGE_SIZE,
  MAX_TRIPLES,
  pushVarint,
  zigzag,
  type Triple,
} from './delta-format.js';
import { DiffModel, encodeDiff, RangeEncoder } from './delta-model.js';
import { suffixArray } from './delta-suffix-array.js';

/** Encoder options. */
export interface CreatePatchOptions {
  /** Brotli quality 0..11 (default 11). */
  readonly quality?: number;
  /** Brotli window log2 (default 14: the device's decoder holds 16 KiB). */
  readonly lgwin?: number;
}

function sha256(b: Uint8Array): Uint8Array {
  return createHash('sha256').update(b).digest();
}

function matchLen(a: Uint8Array, ai: number, b: Uint8Array, bi: number, max = Infinity): number {
  const n = Math.min(a.length - ai, b.length - bi, max);
  let i = 0;
  while (i < n && a[ai + i] === b[bi + i]) i++;
  return i;
}

/** bsdiff's bisection of the suffix array: the entry new[scan..] sorts after (the next one is the entry it sorts before). */
function bisect(sa: Int32Array, oldB: Buffer, newB: Buffer, scan: number): number {
  let st = 0;
  let en = oldB.length;
  while (en - st >= 2) {
    const x = st + ((en - st) >> 1);
    const ox = sa[x]!;
    const n = Math.min(oldB.length - ox, newB.length - scan);
    if (oldB.compare(newB, scan, scan + n, ox, ox + n) < 0) st = x;
    else en = x;
  }
  return st;
}

/** bsdiff's search: the longer match of new[scan..] of the two suffixes it sorts between. */
function search(sa: Int32Array, oldB: Buffer, newB: Buffer, scan: number, res: { pos: number }): number {
  const st = bisect(sa, oldB, newB, scan);
  const en = Math.min(st + 1, oldB.length);
  const x = matchLen(oldB, sa[st]!, newB, scan);
  const y = matchLen(oldB, sa[en]!, newB, scan);
  if (x > y) {
    res.pos = sa[st]!;
    return x;
  }
  res.pos = sa[en]!;
  return y;
}

/**
 * Which old bytes a new byte may be made from when the new image overwrites the old one page by page (in-place
 * mode): old page q is still intact while new page p is assembled iff q >= rank.length (never rewritten) or
 * rank[q] >= rank[p], rank being each page's position in the write order (a page may read itself: it is assembled
 * in RAM before it is written).
 */
export interface ReadLimit {
  readonly pageSize: number;
  readonly rank: Int32Array;
}

/** Whether old byte `o` may be read for new byte `n`. */
function readable(lim: ReadLimit, o: number, n: number): boolean {
  const q = Math.floor(o / lim.pageSize);
  return q >= lim.rank.length || lim.rank[q]! >= lim.rank[Math.floor(n / lim.pageSize)]!;
}

/** How many of old bytes [o, o + len) may be read for new bytes [n, n + len), from the start. */
export function readableLength(lim: ReadLimit, o: number, n: number, len: number): number {
  const ps = lim.pageSize;
  let k = 0;
  while (k < len) {
    const q = Math.floor((o + k) / ps);
    const p = Math.floor((n + k) / ps);
    if (q < lim.rank.length && lim.rank[q]! < lim.rank[p]!) return k;
    k += Math.min((q + 1) * ps - (o + k), (p + 1) * ps - (n + k));
  }
  return len;
}

/** Suffix-array neighbours a limited search tries on each side of the best match. */
const WALK = 48;

/**
 * search() within a ReadLimit: walks the suffix array outward from the insertion point of new[scan..] (the common
 * prefix with the query only shrinks that way) and keeps the longest match whose readable prefix is longest.
 */
function searchLimited(sa: Int32Array, oldB: Buffer, newB: Buffer, scan: number, res: { pos: number }, lim: ReadLimit): number {
  const st = bisect(sa, oldB, newB, scan);
  const en = Math.min(st + 1, oldB.length);
  const best = BEST;
  best.len = 0;
  best.pos = sa[en]!;
  walkLimited(sa, oldB, newB, scan, lim, st, -1, best);
  walkLimited(sa, oldB, newB, scan, lim, en, 1, best);
  res.pos = best.pos;
  return best.len;
}

/** searchLimited's best match so far: one object for every call (this runs once per position of the new image). */
const BEST = { len: 0, pos: 0 };

/** One direction of searchLimited's walk from `start`, improving `best`. */
function walkLimited(sa: Int32Array, oldB: Buffer, newB: Buffer, scan: number, lim: ReadLimit, start: number, step: 1 | -1, best: { len: number; pos: number }): void {
  for (let k = start, w = 0; k >= 0 && k < sa.length && w < WALK; k += step, w++) {
    const p = sa[k]!;
    const r = readableLength(lim, p, scan, Math.min(oldB.length - p, newB.length - scan));
    if (r <= best.len) continue;
    const m = matchLen(oldB, p, newB, scan, r);
    if (m > best.len) {
      best.len = m;
      best.pos = p;
    } else if (m < r) break;
  }
}

/** Options of diffTriples. */
export interface DiffOptions {
  /** The suffix array of `old` (suffixArray(old)), when the caller already has it. */
  readonly sa?: Int32Array;
  /** Only read old bytes still intact under this in-place write order. */
  readonly limit?: ReadLimit;
  /** Describe only new bytes [from, to) (the triples start with the old cursor at 0). */
  readonly from?: number;
  readonly to?: number;
}

/** The control triples turning `old` into `neu` (bsdiff 4.3's scan loop). */
export function diffTriples(old: Uint8Array, whole: Uint8Array, options: DiffOptions = {}): Triple[] {
  const from = options.from ?? 0;
  const neu = whole.subarray(0, options.to ?? whole.length);
  const oldB = Buffer.from(old.buffer, old.byteOffset, old.byteLength);
  const newB = Buffer.from(neu.buffer, neu.byteOffset, neu.byteLength);
  const oldsize = old.length;
  const newsize = neu.length;
  const triples: Triple[] = [];
  if (newsize <= from) return triples;
  if (oldsize === 0) return [{ diff: 0, extra: newsize - from, seek: 0 }];
  const sa = options.sa ?? suffixArray(old);
  const lim = options.limit;
  // old[o] === neu[n], and readable under the limit
  const same = lim ? (o: number, n: number): boolean => old[o] === neu[n] && readable(lim, o, n) : (o: number, n: number): boolean => old[o] === neu[n];
  const res = { pos: 0 };
  let scan = from;
  let len = 0;
  let pos = 0;
  let lastscan = from;
  let lastpos = 0;
  let lastoffset = 0;
  while (scan < newsize) {
    let oldscore = 0;
    let scsc = (scan += len);
    for (; scan < newsize; scan++) {
      len = lim ? searchLimited(sa, oldB, newB, scan, res, lim) : search(sa, oldB, newB, scan, res);
      pos = res.pos;
      for (; scsc < scan + len; scsc++) if (scsc + lastoffset < oldsize && same(scsc + lastoffset, scsc)) oldscore++;
      if ((len === oldscore && len !== 0) || len > oldscore + 8) break;
      if (scan + lastoffset < oldsize && same(scan + lastoffset, scan)) oldscore--;
    }
    if (len !== oldscore || scan === newsize) {
      let s = 0;
      let sf = 0;
      let lenf = 0;
      for (let i = 0; lastscan + i < scan && lastpos + i < oldsize; ) {
        // an unreadable byte counts as a mismatch: the run goes on past it, and the in-place encoder sends it literally
        if (same(lastpos + i, lastscan + i)) s++;
        i++;
        if (s * 2 - i > sf * 2 - lenf) {
          sf = s;
          lenf = i;
        }
      }
      let lenb = 0;
      if (scan < newsize) {
        s = 0;
        let sb = 0;
        for (let i = 1; scan >= lastscan + i && pos >= i; i++) {
          if (same(pos - i, scan - i)) s++;
          if (s * 2 - i > sb * 2 - lenb) {
            sb = s;
            lenb = i;
          }
        }
      }
      if (lastscan + lenf > scan - lenb) {
        const overlap = lastscan + lenf - (scan - lenb);
        s = 0;
        let ss = 0;
        let lens = 0;
        for (let i = 0; i < overlap; i++) {
          if (same(lastpos + lenf - overlap + i, lastscan + lenf - overlap + i)) s++;
          if (same(pos - lenb + i, scan - lenb + i)) s--;
          if (s > ss) {
            ss = s;
            lens = i + 1;
          }
        }
        lenf += lens - overlap;
        lenb -= lens;
      }
      triples.push({ diff: lenf, extra: scan - lenb - (lastscan + lenf), seek: pos - lenb - (lastpos + lenf) });
      lastscan = scan - lenb;
      lastpos = pos - lenb;
      lastoffset = pos - scan;
    }
  }
  return triples;
}

/**
 * Serialises triples into the decoded instruction stream: batches within MAX_TRIPLES, MAX_BATCH_DIFF,
 * MAX_BATCH_EXTRA and MAX_CODED (a triple that does not fit is split: its diff continues with seek 0), then the end
 * batch. The diff model starts fresh (one per stream).
 */
export function encodeInstructions(old: Uint8Array, neu: Uint8Array, triples: readonly Triple[]): Uint8Array {
  const parts: Uint8Array[] = [];
  let model = new DiffModel();
  let pending: [number, number, number][] = [];
  let count = 0;
  let diffLen = 0;
  let extraLen = 0;
  let oldPos = 0;
  let newPos = 0;
  let batchOld = 0;
  let batchNew = 0;
  // Writes one batch of `list` starting at old/new offsets (o0, n0); halves it while its coded section is too long.
  const emit = (list: [number, number, number][], o0: number, n0: number): void => {
    let dTotal = 0;
    for (const [d] of list) dTotal += d;
    const ob = new Uint8Array(dTotal);
    const db = new Uint8Array(dTotal);
    let dp = 0;
    let op = o0;
    let np = n0;
    const extras: Uint8Array[] = [];
    for (const [d, e, z] of list) {
      ob.set(old.subarray(op, op + d), dp);
      for (let i = 0; i < d; i++) db[dp + i] = (neu[np + i]! - old[op + i]!) & 0xff;
      dp += d;
      np += d;
      extras.push(neu.subarray(np, np + e));
      np += e;
      op += d + z;
    }
    const m = model.clone();
    const enc = new RangeEncoder();
    encodeDiff(m, enc, ob, db, dTotal);
    const coded = enc.finish();
    if (coded.length > MAX_CODED) {
      // split at half the diff bytes; the first half's last triple keeps no extra and no seek
      const first: [number, number, number][] = [];
      const second: [number, number, number][] = [];
      let acc = 0;
      for (const t of list) {
        if (second.length > 0 || acc >= dTotal / 2) second.push(t);
        else if (acc + t[0] <= dTotal / 2) {
          first.push(t);
          acc += t[0];
        } else {
          const k = Math.max(1, Math.floor(dTotal / 2) - acc);
          first.push([k, 0, 0]);
          second.push([t[0] - k, t[1], t[2]]);
          acc += k;
        }
      }
      let o1 = o0;
      let n1 = n0;
      for (const [d, e, z] of first) {
        o1 += d + z;
        n1 += d + e;
      }
      emit(first, o0, n0);
      emit(second, o1, n1);
      return;
    }
    model = m;
    const ctrl: number[] = [];
    pushVarint(ctrl, list.length);
    for (const [d, e, z] of list) {
      pushVarint(ctrl, d);
      pushVarint(ctrl, e);
      pushVarint(ctrl, zigzag(z));
    }
    pushVarint(ctrl, coded.length);
    parts.push(Uint8Array.from(ctrl), coded, ...extras);
  };
  const flush = (): void => {
    if (count > 0) emit(pending, batchOld, batchNew);
    pending = [];
    count = 0;
    diffLen = 0;
    extraLen = 0;
    batchOld = oldPos;
    batchNew = newPos;
  };
  const add = (d: number, e: number, z: number): void => {
    pending.push([d, e, z]);
    count++;
    diffLen += d;
    extraLen += e;
    oldPos += d + z;
    newPos += d + e;
  };
  for (const t of triples) {
    let { diff, extra } = t;
    // split so each piece fits the batch's remaining room
    for (;;) {
      if (count === MAX_TRIPLES || diffLen === MAX_BATCH_DIFF || extraLen === MAX_BATCH_EXTRA) flush();
      const dRoom = MAX_BATCH_DIFF - diffLen;
      const eRoom = MAX_BATCH_EXTRA - extraLen;
      if (diff <= dRoom && extra <= eRoom) {
        add(diff, extra, t.seek);
        break;
      }
      if (diff > dRoom) {
        add(dRoom, 0, 0);
        diff -= dRoom;
      } else {
        add(diff, eRoom, 0);
        diff = 0;
        extra -= eRoom;
      }
      flush();
    }
  }
  flush();
  parts.push(Uint8Array.of(0));
  return Buffer.concat(parts);
}

/** Folds triples that write nothing into the previous triple's seek (the format allows one only first). */
export function foldEmpty(triples: readonly Triple[]): Triple[] {
  const out: Triple[] = [];
  for (const t of triples) {
    const last = out[out.length - 1];
    if (t.diff === 0 && t.extra === 0 && last) last.seek += t.seek;
    else out.push({ ...t });
  }
  return out;
}

/** Makes a patch turning `old` into `neu` (format: delta-format.ts). */
export function createPatch(old: Uint8Array, neu: Uint8Array, options: CreatePatchOptions = {}): Uint8Array {
  if (old.length > MAX_IMAGE_SIZE || neu.length > MAX_IMAGE_SIZE) throw new RangeError('delta: images are limited to 4 GiB - 1');
  const stream = encodeInstructions(old, neu, foldEmpty(diffTriples(old, neu)));
  const body = brotliCompressSync(stream, {
    params: {
      [zc.BROTLI_PARAM_QUALITY]: options.quality ?? 11,
      [zc.BROTLI_PARAM_LGWIN]: options.lgwin ?? DELTA_LGWIN,
      [zc.BROTLI_PARAM_SIZE_HINT]: stream.length,
    },
  });
  const header = encodeDeltaHeader({ flags: 0, oldSize: old.length, oldSha256: sha256(old), newSize: neu.length, newSha256: sha256(neu) });
  const out = new Uint8Array(DELTA_HEADER_LENGTH + body.length);
  out.set(header, 0);
  out.set(body, DELTA_HEADER_LENGTH);
  return out;
}
