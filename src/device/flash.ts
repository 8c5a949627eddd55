/**
 * Simulated NOR flash: a byte array cut into erase pages. Erasing sets a page to 0xFF; writing can only clear bits
 * (the stored byte becomes `old & new`), so a write over bytes that were not erased corrupts them, as on the real
 * part. Every write and erase goes through an optional PowerCut, so a test can lose power after any byte.
 */
import { closeSync, fstatSync, fsyncSync, openSync, readSync, writeSync } from 'node:fs';

/** Thrown by a write or erase when the power was cut: the bytes before the cut landed, the rest did not. */
export class PowerLoss extends Error {
  constructor() {
    super('power lost');
    this.name = 'PowerLoss';
  }
}

/**
 * Injects power loss: after `arm(n)`, the next `n` bytes written (an erase counts as a page of 0xFF bytes) land and
 * the write in progress tears there and throws PowerLoss; from then on every write and erase fails without landing
 * a byte until `restore()` (the device is off).
 */
export class PowerCut {
  /** Bytes that landed since this object was made (or `resetCount`): a dry run measures an operation with it. */
  written = 0;
  #budget = Infinity;
  #off = false;

  /** Cuts the power after `bytes` more bytes. */
  arm(bytes: number): void {
    this.#budget = bytes;
    this.#off = false;
  }

  /** Power back on, no cut pending. */
  restore(): void {
    this.#budget = Infinity;
    this.#off = false;
  }

  /** True once a cut happened (until `restore` or `arm`). */
  get off(): boolean {
    return this.#off;
  }

  resetCount(): void {
    this.written = 0;
  }

  /** How many of the next `n` bytes land; marks the power off when fewer than `n`. */
  take(n: number): number {
    if (this.#off) return 0;
    const k = Math.min(n, this.#budget);
    this.#budget -= k;
    this.written += k;
    if (k < n) this.#off = true;
    return k;
  }
}

/** A flash device as the bootloader and updater see it. */
export interface Flash {
  /** Total bytes (a whole number of pages). */
  readonly size: number;
  /** Erase unit in bytes. */
  readonly pageSize: number;
  /** A copy of `length` bytes at `offset`. */
  read(offset: number, length: number): Uint8Array;
  /** Programs `data` at `offset` (NOR: clears bits only). Throws PowerLoss when the power is cut. */
  write(offset: number, data: Uint8Array): void;
  /** Erases page number `page` to 0xFF. Throws PowerLoss when the power is cut. */
  erase(page: number): void;
  /** Releases the backing store (a file); the flash is unusable afterwards. */
  close(): void;
}

/** The shared part of both flashes: bounds, NOR semantics and the power-cut hook. */
abstract class PagedFlash implements Flash {
  readonly size: number;
  readonly pageSize: number;
  readonly power: PowerCut | undefined;
  readonly #ff: Uint8Array;

  constructor(size: number, pageSize: number, power: PowerCut | undefined) {
    if (!Number.isInteger(pageSize) || pageSize < 64 || !Number.isInteger(size) || size <= 0 || size % pageSize !== 0) {
      throw new RangeError('flash size must be a positive multiple of a page size of at least 64 bytes');
    }
    this.size = size;
    this.pageSize = pageSize;
    this.power = power;
    this.#ff = new Uint8Array(pageSize).fill(0xff);
  }

  protected abstract load(offset: number, out: Uint8Array): void;
  protected abstract store(offset: number, data: Uint8Array): void;

  #check(offset: number, length: number): void {
    if (!Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length < 0 || offset + length > this.size) {
      throw new RangeError(`flash access [${offset}, ${offset + length}) outside ${this.size} bytes`);
    }
  }

  read(offset: number, length: number): Uint8Array {
    this.#check(offset, length);
    const out = new Uint8Array(length);
    this.load(offset, out);
    return out;
  }

  write(offset: number, data: Uint8Array): void {
    this.#check(offset, data.length);
    const n = this.power ? this.power.take(data.length) : data.length;
    if (n > 0) {
      const cur = new Uint8Array(n);
      this.load(offset, cur);
      for (let i = 0; i < n; i++) cur[i] = cur[i]! & data[i]!;
      this.store(offset, cur);
    }
    if (n < data.length) throw new PowerLoss();
  }

  erase(page: number): void {
    this.#check(page * this.pageSize, this.pageSize);
    const n = this.power ? this.power.take(this.pageSize) : this.pageSize;
    if (n > 0) this.store(page * this.pageSize, n === this.pageSize ? this.#ff : this.#ff.subarray(0, n));
    if (n < this.pageSize) throw new PowerLoss();
  }

  abstract close(): void;
}

/** Options of both flash kinds. */
export interface FlashOptions {
  pageSize: number;
  power?: PowerCut;
}

/** Flash held in memory. */
export class MemoryFlash extends PagedFlash {
  readonly bytes: Uint8Array;

  /** A flash of `size` erased bytes, or a copy of `contents` (a snapshot of another flash). */
  constructor(sizeOrContents: number | Uint8Array, options: FlashOptions) {
    const bytes = typeof sizeOrContents === 'number' ? new Uint8Array(sizeOrContents).fill(0xff) : Uint8Array.from(sizeOrContents);
    super(bytes.length, options.pageSize, options.power);
    this.bytes = bytes;
  }

  protected load(offset: number, out: Uint8Array): void {
    out.set(this.bytes.subarray(offset, offset + out.length));
  }

  protected store(offset: number, data: Uint8Array): void {
    this.bytes.set(data, offset);
  }

  close(): void {}
}

/** Flash backed by one file, read and written with pread/pwrite; `fsync` after every write when asked. */
export class FileFlash extends PagedFlash {
  #fd: number;
  readonly #fsync: boolean;

  private constructor(fd: number, size: number, options: FlashOptions & { fsync?: boolean }) {
    super(size, options.pageSize, options.power);
    this.#fd = fd;
    this.#fsync = options.fsync ?? false;
  }

  /** Creates (or truncates) `path` as an erased flash of `size` bytes. */
  static create(path: string, size: number, options: FlashOptions & { fsync?: boolean }): FileFlash {
    const fd = openSync(path, 'w+');
    try {
      const ff = new Uint8Array(Math.min(size, 1 << 20)).fill(0xff);
      for (let o = 0; o < size; o += ff.length) writeSync(fd, ff, 0, Math.min(ff.length, size - o), o);
      return new FileFlash(fd, size, options);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  /** Opens an existing flash file; its size is the file's. */
  static open(path: string, options: FlashOptions & { fsync?: boolean }): FileFlash {
    const fd = openSync(path, 'r+');
    try {
      return new FileFlash(fd, fstatSync(fd).size, options);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  protected load(offset: number, out: Uint8Array): void {
    let done = 0;
    while (done < out.length) {
      const n = readSync(this.#fd, out, done, out.length - done, offset + done);
      if (n === 0) throw new RangeError('flash file shorter than its size');
      done += n;
    }
  }

  protected store(offset: number, data: Uint8Array): void {
    let done = 0;
    while (done < data.length) done += writeSync(this.#fd, data, done, data.length - done, offset + done);
    if (this.#fsync) fsyncSync(this.#fd);
  }

  close(): void {
    if (this.#fd >= 0) closeSync(this.#fd);
    this.#fd = -1;
  }
}
