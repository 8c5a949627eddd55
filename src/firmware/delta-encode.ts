/**
 * The delta encoder: bsdiff's matcher (C. Percival 2003) over an SA-IS suffix array of the old image, with
 * varint control triples cut into batches and one Brotli stream at quality 11 with a 64 KiB window
 * (format: delta-format.ts).
 */
import { createHash } from 'node:crypto';
import { brotliCompressSync, constants as zc } from 'node:zlib';
import {
  DELTA_HEADER_LENGTH,
  DELTA_LGWIN,
  encodeDeltaHeader,
  MAX_BATCH_DATA,
  MAX_IMAGE_SIZE,
  MAX_TRIPLES,
  pushVarint,
  zigzag,
  type Triple,
} from './delta-format.js';
import { suffixArray } from './delta-suffix-array.js';

/** Encoder options. */
export interface CreatePatchOptions {
  /** Brotli quality 0..11 (default 11). */
  readonly quality?: number;
  /** Brotli window log2 (default 16: the device's decoder holds 64 KiB). */
  readonly lgwin?: number;
}

function sha256(b: Uint8Array): Uint8Array {
  return createHash('sha256').update(b).digest();
}

function matchLen(a: Uint8Array, ai: number, b: Uint8Array, bi: number): number {
  const n = Math.min(a.length - ai, b.length - bi);
  let i = 0;
  while (i < n && a[ai + i] === b[bi + i]) i++;
  return i;
}

/** bsdiff's binary search over the suffix array for the longest match of new[scan..]. */
function search(sa: Int32Array, oldB: Buffer, newB: Buffer, scan: number, res: { pos: number }): number {
  let st = 0;
  let en = oldB.length;
  while (en - st >= 2) {
    const x = st + ((en - st) >> 1);
    const ox = sa[x]!;
    const n = Math.min(oldB.length - ox, newB.length - scan);
    if (oldB.compare(newB, scan, scan + n, ox, ox + n) < 0) st = x;
    else en = x;
  }
  const x = matchLen(oldB, sa[st]!, newB, scan);
  const y = matchLen(oldB, sa[en]!, newB, scan);
  if (x > y) {
    res.pos = sa[st]!;
    return x;
  }
  res.pos = sa[en]!;
  return y;
}

/** The control triples turning `old` into `neu` (bsdiff 4.3's scan loop). */
export function diffTriples(old: Uint8Array, neu: Uint8Array): Triple[] {
  const oldB = Buffer.from(old.buffer, old.byteOffset, old.byteLength);
  const newB = Buffer.from(neu.buffer, neu.byteOffset, neu.byteLength);
  const oldsize = old.length;
  const newsize = neu.length;
  const triples: Triple[] = [];
  if (newsize === 0) return triples;
  if (oldsize === 0) return [{ diff: 0, extra: newsize, seek: 0 }];
  const sa = suffixArray(old);
  const res = { pos: 0 };
  let scan = 0;
  let len = 0;
  let pos = 0;
  let lastscan = 0;
  let lastpos = 0;
  let lastoffset = 0;
  while (scan < newsize) {
    let oldscore = 0;
    let scsc = (scan += len);
    for (; scan < newsize; scan++) {
      len = search(sa, oldB, newB, scan, res);
      pos = res.pos;
      for (; scsc < scan + len; scsc++) if (scsc + lastoffset < oldsize && old[scsc + lastoffset] === neu[scsc]) oldscore++;
      if ((len === oldscore && len !== 0) || len > oldscore + 8) break;
      if (scan + lastoffset < oldsize && old[scan + lastoffset] === neu[scan]) oldscore--;
    }
    if (len !== oldscore || scan === newsize) {
      let s = 0;
      let sf = 0;
      let lenf = 0;
      for (let i = 0; lastscan + i < scan && lastpos + i < oldsize; ) {
        if (old[lastpos + i] === neu[lastscan + i]) s++;
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
          if (old[pos - i] === neu[scan - i]) s++;
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
          if (neu[lastscan + lenf - overlap + i] === old[lastpos + lenf - overlap + i]) s++;
          if (neu[scan - lenb + i] === old[pos - lenb + i]) s--;
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
 * Serialises triples into the decoded instruction stream: batches of at most MAX_TRIPLES triples and
 * MAX_BATCH_DATA diff + extra bytes (a triple that does not fit is split: its diff continues with seek 0),
 * then the end batch.
 */
export function encodeInstructions(old: Uint8Array, neu: Uint8Array, triples: readonly Triple[]): Uint8Array {
  const parts: Uint8Array[] = [];
  let ctrl: number[] = [];
  let count = 0;
  let dataLen = 0;
  let pending: [number, number, number][] = [];
  let oldPos = 0;
  let newPos = 0;
  const flush = (): void => {
    if (count === 0) return;
    ctrl = [];
    pushVarint(ctrl, count);
    for (const [d, e, z] of pending) {
      pushVarint(ctrl, d);
      pushVarint(ctrl, e);
      pushVarint(ctrl, zigzag(z));
    }
    // diff runs over every triple's diff bytes, then extra bytes of every triple (see delta-format.ts)
    const diff = new Uint8Array(dataLen);
    let dp = 0;
    let op = batchOld;
    let np = batchNew;
    const extraAt: number[] = [];
    for (const [d, e, z] of pending) {
      for (let i = 0; i < d; i++) diff[dp++] = (neu[np + i]! - old[op + i]!) & 0xff;
      np += d;
      extraAt.push(np);
      np += e;
      op += d + z;
    }
    const runs: number[] = [];
    for (let i = 0; i < dp; ) {
      const z0 = i;
      while (i < dp && diff[i] === 0) i++;
      const l0 = i;
      while (i < dp && diff[i] !== 0) i++;
      pushVarint(runs, l0 - z0);
      pushVarint(runs, i - l0);
      for (let j = l0; j < i; j++) runs.push(diff[j]!);
    }
    const extra = new Uint8Array(dataLen - dp);
    let xp = 0;
    pending.forEach(([, e], i) => {
      extra.set(neu.subarray(extraAt[i]!, extraAt[i]! + e), xp);
      xp += e;
    });
    parts.push(Uint8Array.from(ctrl), Uint8Array.from(runs), extra);
    pending = [];
    count = 0;
    dataLen = 0;
    batchOld = oldPos;
    batchNew = newPos;
  };
  let batchOld = 0;
  let batchNew = 0;
  for (const t of triples) {
    let { diff, extra } = t;
    // split so each piece fits the batch's remaining room
    for (;;) {
      if (count === MAX_TRIPLES || dataLen === MAX_BATCH_DATA) flush();
      const room = MAX_BATCH_DATA - dataLen;
      if (diff + extra <= room) {
        pending.push([diff, extra, t.seek]);
        count++;
        dataLen += diff + extra;
        oldPos += diff + t.seek;
        newPos += diff + extra;
        break;
      }
      if (diff > 0) {
        const d = Math.min(diff, room);
        pending.push([d, 0, 0]);
        count++;
        dataLen += d;
        oldPos += d;
        newPos += d;
        diff -= d;
      } else {
        const e = Math.min(extra, room);
        pending.push([0, e, 0]);
        count++;
        dataLen += e;
        newPos += e;
        extra -= e;
      }
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
