/**
 * The diff-byte coder of delta format v2: a binary range coder (LZMA's carry-less scheme, I. Pavlov) driving an
 * adaptive context model of bsdiff's diff bytes (new − old). Per diff byte one bit says "nonzero", in a context of
 * the previous old byte, which of the last four diff bytes were nonzero and whether more than 8 zeros precede it (on
 * code, a relocated address sits after an opcode byte: the old byte before a diff predicts it). A nonzero byte is
 * then either "the same as the last nonzero byte in its slot" (slot: position in the nonzero run, capped at 3, and
 * the top two bits of the previous old byte; one bit, in a context of the slot and the last two outcomes) or its
 * 8 bits in a binary tree whose context is whether the previous diff byte was nonzero. Probabilities are 16-bit with
 * count-based adaptation (fast while a context is new, rate 1/(LIMIT + 1.5) once seen LIMIT times).
 *
 * Model memory is fixed: MODEL_BYTES (8192 flag, 64 repeat and 2 × 256 tree contexts of u16 probability + u8
 * count, and 16 slot bytes).
 */

const FLAG_CTX = 8192;
const EQ_BASE = FLAG_CTX;
const EQ_CTX = 64;
const VALUE_BASE = EQ_BASE + EQ_CTX;
const VALUE_CTX = 512;
const CONTEXTS = VALUE_BASE + VALUE_CTX;
const LIMIT = 20;
/** Renormalisation threshold; with a range below 2^31 every decoder quantity stays a positive int32. */
const TOP = 0x800000;
const HALF = 0x8000;
/** Bytes of model state a decoder holds. */
export const MODEL_BYTES = CONTEXTS * 3 + 16;

/** rate[n] = 65536 / (n + 1.5): the adaptation step of a context seen n times. */
const RATE = Uint32Array.from({ length: LIMIT + 1 }, (_, n) => Math.floor(65536 / (n + 1.5)));

/** The adaptive state; encoder and decoder evolve it identically. */
export class DiffModel {
  /** Probability that the bit is 0, in 1/65536 units, and how often the context was seen. */
  readonly p = new Uint16Array(CONTEXTS).fill(HALF);
  readonly n = new Uint8Array(CONTEXTS);
  /** The last nonzero diff byte per slot. */
  readonly pred = new Uint8Array(16).fill(1);
  /** Nonzero flags of the last four diff bytes (bit 0 = latest), the last old byte, zeros in a row (capped), nonzero
   * bytes in a row (capped) and the last two repeat outcomes. */
  hist = 0;
  prevOld = 0;
  zeros = 0;
  run = 0;
  hits = 0;

  /** A copy of the state (the encoder retries a batch that came out too large). */
  clone(): DiffModel {
    const m = new DiffModel();
    m.p.set(this.p);
    m.n.set(this.n);
    m.pred.set(this.pred);
    m.hist = this.hist;
    m.prevOld = this.prevOld;
    m.zeros = this.zeros;
    m.run = this.run;
    m.hits = this.hits;
    return m;
  }
}

function adapt(m: DiffModel, j: number, bit: number): void {
  const q = m.p[j]!;
  const c = m.n[j]!;
  const r = RATE[c]!;
  let v = bit ? q - ((q * r) >>> 16) : q + (((65536 - q) * r) >>> 16);
  if (v < 32) v = 32;
  else if (v > 65504) v = 65504;
  m.p[j] = v;
  if (c < LIMIT) m.n[j] = c + 1;
}

/** Range encoder writing into a growable byte array. */
export class RangeEncoder {
  #out: number[] = [];
  #low = 0;
  #range = 0x7fffffff;
  #cache = 0;
  #cacheSize = 0;
  #first = true;

  /** Bytes written so far (a lower bound of the final length). */
  get length(): number {
    return this.#out.length + this.#cacheSize;
  }

  bit(m: DiffModel, j: number, bit: number): void {
    const bound = (this.#range >>> 16) * m.p[j]!;
    if (bit === 0) this.#range = bound;
    else {
      this.#low += bound;
      this.#range -= bound;
    }
    adapt(m, j, bit);
    while (this.#range < TOP) {
      this.#range *= 256;
      this.#shiftLow();
    }
  }

  #shiftLow(): void {
    if (this.#low < 0xff000000 || this.#low >= 0x100000000) {
      const carry = this.#low >= 0x100000000 ? 1 : 0;
      // LZMA's first output byte is always 0: left out, the decoder starts as if it had read it.
      if (!this.#first) this.#out.push((this.#cache + carry) & 0xff);
      this.#first = false;
      for (; this.#cacheSize > 0; this.#cacheSize--) this.#out.push((0xff + carry) & 0xff);
      this.#cache = Math.floor(this.#low / 0x1000000) & 0xff;
    } else this.#cacheSize++;
    this.#low = (this.#low % 0x1000000) * 256;
  }

  /** Flushes and returns the coded bytes. */
  finish(): Uint8Array {
    for (let i = 0; i < 5; i++) this.#shiftLow();
    // Trailing zero bytes are implied: the decoder reads 0 past the end.
    let n = this.#out.length;
    while (n > 0 && this.#out[n - 1] === 0) n--;
    return Uint8Array.from(this.#out.slice(0, n));
  }
}

/** Encodes `n` diff bytes `d[0..n)` whose old bytes are `o[0..n)`. */
export function encodeDiff(m: DiffModel, enc: RangeEncoder, o: Uint8Array, d: Uint8Array, n: number): void {
  let hist = m.hist;
  let prev = m.prevOld;
  let zeros = m.zeros;
  let run = m.run;
  let hits = m.hits;
  for (let i = 0; i < n; i++) {
    const v = d[i]!;
    const nz = v !== 0 ? 1 : 0;
    enc.bit(m, hist | (prev << 4) | (zeros > 8 ? 4096 : 0), nz);
    if (nz) {
      const slot = run | ((prev >> 6) << 2);
      const eq = v === m.pred[slot] ? 1 : 0;
      enc.bit(m, EQ_BASE + (slot | (hits << 4)), eq);
      hits = ((hits << 1) | eq) & 3;
      m.pred[slot] = v;
      if (!eq) {
        const base = VALUE_BASE + ((hist & 1) << 8);
        let node = 1;
        for (let b = 7; b >= 0; b--) {
          const bit = (v >> b) & 1;
          enc.bit(m, base + node, bit);
          node = (node << 1) | bit;
          if (node > 255) node &= 255;
        }
      }
      zeros = 0;
      if (run < 3) run++;
    } else {
      run = 0;
      if (zeros < 9) zeros++;
    }
    hist = ((hist << 1) | nz) & 15;
    prev = o[i]!;
  }
  m.hist = hist;
  m.prevOld = prev;
  m.zeros = zeros;
  m.run = run;
  m.hits = hits;
}

/**
 * Range decoder over `buf[start..end)` (bytes past `end` read as 0, so a corrupt stream decodes to wrong bytes,
 * caught by the image digest, and never reads outside the section).
 */
export class DiffDecoder {
  #buf: Uint8Array = new Uint8Array(0);
  #pos = 0;
  #end = 0;
  #code = 0;
  #range = 0;

  /** Starts decoding the section `buf[start..end)`. */
  begin(buf: Uint8Array, start: number, end: number): void {
    this.#buf = buf;
    this.#pos = start;
    this.#end = end;
    this.#range = 0x7fffffff;
    let c = 0;
    for (let i = 0; i < 4; i++) c = c * 256 + this.#byte();
    this.#code = c & 0x7fffffff;
  }

  #byte(): number {
    return this.#pos < this.#end ? this.#buf[this.#pos++]! : 0;
  }

  /** Decodes one bit of context `j` (the slow path: repeat flags and value trees). */
  #bit(m: DiffModel, j: number): number {
    let q = m.p[j]!;
    const c = m.n[j]!;
    const bound = (this.#range >>> 16) * q;
    let bit: number;
    if (this.#code < bound) {
      this.#range = bound;
      bit = 0;
      q += ((65536 - q) * RATE[c]!) >>> 16;
      if (q > 65504) q = 65504;
    } else {
      this.#code -= bound;
      this.#range -= bound;
      bit = 1;
      q -= (q * RATE[c]!) >>> 16;
      if (q < 32) q = 32;
    }
    m.p[j] = q;
    if (c < LIMIT) m.n[j] = c + 1;
    while (this.#range < TOP) {
      this.#range <<= 8;
      this.#code = ((this.#code << 8) | (this.#pos < this.#end ? this.#buf[this.#pos++]! : 0)) & 0x7fffffff;
    }
    return bit;
  }

  /** Adds the next `n` diff bytes to the old bytes in `out[at..at+n)`. */
  addInto(m: DiffModel, out: Uint8Array, at: number, n: number): void {
    this.#run(m, out, at, n, false);
  }

  /**
   * Replays the next `n` diff bytes over the NEW bytes in `out[at..at+n)`, turning them back into the old bytes
   * (old = new − diff) and advancing the model exactly as addInto would: an in-place applier resuming after a
   * power cut re-decodes pages it already committed, whose old bytes are gone.
   */
  subInto(m: DiffModel, out: Uint8Array, at: number, n: number): void {
    this.#run(m, out, at, n, true);
  }

  #run(m: DiffModel, out: Uint8Array, at: number, n: number, replay: boolean): void {
    const p = m.p;
    const cnt = m.n;
    let hist = m.hist;
    let prev = m.prevOld;
    let zeros = m.zeros;
    let run = m.run;
    let hits = m.hits;
    const end = at + n;
    const buf = this.#buf;
    const bufEnd = this.#end;
    let pos = this.#pos;
    let code = this.#code;
    let range = this.#range;
    for (let i = at; i < end; i++) {
      if (hist === 0 && zeros > 8) {
        // A long zero run through saturated contexts (p = 65504, seen LIMIT times): a zero leaves the context as it
        // is (adapt rounds 65504 + 1 back to the cap), so only the range moves. Stops at the first other case.
        while (i < end) {
          const j = (prev << 4) | 4096;
          if (p[j] !== 65504 || cnt[j] !== LIMIT) break;
          const bound = (range >>> 16) * 65504;
          if (code >= bound) break;
          range = bound;
          if (range < TOP) {
            range <<= 8;
            code = ((code << 8) | (pos < bufEnd ? buf[pos++]! : 0)) & 0x7fffffff;
          }
          prev = out[i++]!;
        }
        if (i === end) break;
      }
      const j = hist | (prev << 4) | (zeros > 8 ? 4096 : 0);
      let q = p[j]!;
      const c = cnt[j]!;
      const bound = (range >>> 16) * q;
      const before = prev;
      prev = out[i]!;
      if (code < bound) {
        range = bound;
        q += ((65536 - q) * RATE[c]!) >>> 16;
        p[j] = q > 65504 ? 65504 : q;
        if (c < LIMIT) cnt[j] = c + 1;
        if (range < TOP) {
          range <<= 8;
          code = ((code << 8) | (pos < bufEnd ? buf[pos++]! : 0)) & 0x7fffffff;
          if (range < TOP) {
            range <<= 8;
            code = ((code << 8) | (pos < bufEnd ? buf[pos++]! : 0)) & 0x7fffffff;
          }
        }
        run = 0;
        if (zeros < 9) zeros++;
        hist = (hist << 1) & 15;
        continue;
      }
      code -= bound;
      range -= bound;
      q -= (q * RATE[c]!) >>> 16;
      p[j] = q < 32 ? 32 : q;
      if (c < LIMIT) cnt[j] = c + 1;
      this.#pos = pos;
      this.#code = code;
      this.#range = range;
      if (range < TOP) this.#normalize();
      const slot = run | ((before >> 6) << 2);
      const eq = this.#bit(m, EQ_BASE + (slot | (hits << 4)));
      hits = ((hits << 1) | eq) & 3;
      let v = m.pred[slot]!;
      if (!eq) {
        const base = VALUE_BASE + ((hist & 1) << 8);
        let node = 1;
        for (let b = 0; b < 8; b++) node = (node << 1) | this.#bit(m, base + node);
        v = node & 255;
        m.pred[slot] = v;
      }
      pos = this.#pos;
      code = this.#code;
      range = this.#range;
      zeros = 0;
      if (run < 3) run++;
      hist = ((hist << 1) | 1) & 15;
      if (replay) out[i] = prev = (prev - v) & 255;
      else out[i] = prev + v;
    }
    this.#pos = pos;
    this.#code = code;
    this.#range = range;
    m.hist = hist;
    m.prevOld = prev;
    m.zeros = zeros;
    m.run = run;
    m.hits = hits;
  }

  #normalize(): void {
    while (this.#range < TOP) {
      this.#range <<= 8;
      this.#code = ((this.#code << 8) | (this.#pos < this.#end ? this.#buf[this.#pos++]! : 0)) & 0x7fffffff;
    }
  }
}
