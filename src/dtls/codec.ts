/** Bounds-checked readers and writers for TLS presentation-language structures (RFC 5246 §4). */
import { alert } from './alert.js';

/** Reads big-endian integers and length-prefixed vectors; any overrun is DtlsAlert(decode_error). */
export class Reader {
  private o: number;

  constructor(
    private readonly b: Uint8Array,
    start = 0,
    private readonly end = b.length,
  ) {
    this.o = start;
  }

  get remaining(): number {
    return this.end - this.o;
  }

  get offset(): number {
    return this.o;
  }

  private need(n: number, what: string): void {
    if (this.end - this.o < n) throw alert('decode_error', `truncated ${what}`);
  }

  u8(what = 'uint8'): number {
    this.need(1, what);
    return this.b[this.o++]!;
  }

  u16(what = 'uint16'): number {
    this.need(2, what);
    const v = (this.b[this.o]! << 8) | this.b[this.o + 1]!;
    this.o += 2;
    return v;
  }

  u24(what = 'uint24'): number {
    this.need(3, what);
    const v = (this.b[this.o]! << 16) | (this.b[this.o + 1]! << 8) | this.b[this.o + 2]!;
    this.o += 3;
    return v;
  }

  bytes(n: number, what = 'bytes'): Uint8Array {
    this.need(n, what);
    const v = this.b.subarray(this.o, this.o + n);
    this.o += n;
    return v;
  }

  /** opaque x<min..max> with an 8-bit length. */
  vec8(what: string, min = 0, max = 255): Uint8Array {
    const n = this.u8(what);
    if (n < min || n > max) throw alert('decode_error', `${what} length ${n}`);
    return this.bytes(n, what);
  }

  vec16(what: string, min = 0, max = 0xffff): Uint8Array {
    const n = this.u16(what);
    if (n < min || n > max) throw alert('decode_error', `${what} length ${n}`);
    return this.bytes(n, what);
  }

  vec24(what: string, min = 0, max = 0xffffff): Uint8Array {
    const n = this.u24(what);
    if (n < min || n > max) throw alert('decode_error', `${what} length ${n}`);
    return this.bytes(n, what);
  }

  /** Throws decode_error unless everything was consumed. */
  done(what: string): void {
    if (this.o !== this.end) throw alert('decode_error', `trailing bytes in ${what}`);
  }
}

/** Appends big-endian integers and length-prefixed vectors to a growing buffer. */
export class Writer {
  private buf: Uint8Array;
  private o = 0;

  constructor(capacity = 256) {
    this.buf = new Uint8Array(capacity);
  }

  private grow(n: number): void {
    if (this.o + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.o + n) cap *= 2;
    const b = new Uint8Array(cap);
    b.set(this.buf.subarray(0, this.o));
    this.buf = b;
  }

  get length(): number {
    return this.o;
  }

  u8(v: number): this {
    this.grow(1);
    this.buf[this.o++] = v & 0xff;
    return this;
  }

  u16(v: number): this {
    this.grow(2);
    this.buf[this.o++] = (v >>> 8) & 0xff;
    this.buf[this.o++] = v & 0xff;
    return this;
  }

  u24(v: number): this {
    this.grow(3);
    this.buf[this.o++] = (v >>> 16) & 0xff;
    this.buf[this.o++] = (v >>> 8) & 0xff;
    this.buf[this.o++] = v & 0xff;
    return this;
  }

  bytes(b: Uint8Array): this {
    this.grow(b.length);
    this.buf.set(b, this.o);
    this.o += b.length;
    return this;
  }

  vec8(b: Uint8Array): this {
    if (b.length > 0xff) throw new RangeError('vector too long');
    return this.u8(b.length).bytes(b);
  }

  vec16(b: Uint8Array): this {
    if (b.length > 0xffff) throw new RangeError('vector too long');
    return this.u16(b.length).bytes(b);
  }

  vec24(b: Uint8Array): this {
    if (b.length > 0xffffff) throw new RangeError('vector too long');
    return this.u24(b.length).bytes(b);
  }

  /** Writes a vector whose body `fill` writes, with a `size`-byte length prefix patched afterwards. */
  nested(size: 1 | 2 | 3, fill: (w: this) => void): this {
    this.grow(size);
    const at = this.o;
    this.o += size;
    fill(this);
    const n = this.o - at - size;
    if (n >= 1 << (8 * size)) throw new RangeError('vector too long');
    for (let i = size - 1; i >= 0; i--) this.buf[at + (size - 1 - i)] = (n >>> (8 * i)) & 0xff;
    return this;
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.o);
  }
}
