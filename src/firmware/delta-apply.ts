/**
 * The device side of a delta patch (format: delta-format.ts): a one-pass streaming applier with a bounded working
 * set (one batch buffer of BATCH_BUFFER bytes, 4 KiB old/new pieces, the diff model, the Brotli decoder's 16 KiB
 * window), and a synchronous whole-buffer variant for tools and fuzzing.
 */
import { createHash, type Hash } from 'node:crypto';
import { createBrotliDecompress, brotliDecompressSync, type BrotliDecompress } from 'node:zlib';
import {
  BATCH_BUFFER,
  DELTA_FLAG_IN_PLACE,
  DELTA_HEADER_LENGTH,
  MAX_TRIPLES,
  parseBatch,
  parseDeltaHeader,
  type BatchView,
  type DeltaHeader,
} from './delta-format.js';
import { DiffDecoder, DiffModel } from './delta-model.js';
import { FirmwareError } from './error.js';

/** Size of the old-image reads and new-image writes the applier makes. */
export const APPLY_PIECE = 4096;

/** Where a PatchApplier reads the old image and writes the new one. */
export interface PatchTarget {
  /** Returns `length` bytes of the old image at `offset` (inside the old image; not kept, not modified). */
  readOld(offset: number, length: number): Uint8Array | Promise<Uint8Array>;
  /** Receives the next bytes of the new image, in order; the chunk is the applier's to give away. */
  write(chunk: Uint8Array): void | Promise<void>;
  /** Check the old image's SHA-256 against the patch before writing anything (default true). */
  readonly verifyBase?: boolean;
}

/**
 * Shared decode state: the batch buffer and cursors, with every bound the format promises checked (also the
 * in-place applier's, delta-inplace.ts).
 */
export class DecodeCore {
  readonly buf = new Uint8Array(BATCH_BUFFER);
  len = 0;
  readonly ctrl = new Float64Array(MAX_TRIPLES * 3);
  readonly view: BatchView = { count: 0, dataStart: 0, extraStart: 0, diffTotal: 0, extraTotal: 0, length: 0 };
  /** The diff model (state carries over between batches) and the current batch's coded section. */
  readonly model = new DiffModel();
  readonly coder = new DiffDecoder();
  oldPos = 0;
  newPos = 0;
  ended = false;
  first = true;
  readonly hash: Hash = createHash('sha256');
  constructor(readonly header: DeltaHeader) {}

  /** Appends decoded bytes; returns how many of `src[from..]` it took (it stops when the buffer is full). */
  take(src: Uint8Array, from: number): number {
    if (this.ended && from < src.length) throw new FirmwareError('MALFORMED', 'delta patch: data after the end batch');
    const n = Math.min(src.length - from, this.buf.length - this.len);
    this.buf.set(src.subarray(from, from + n), this.len);
    this.len += n;
    return n;
  }

  /** The next complete batch, checked against the images' bounds; undefined if more data is needed. */
  next(): BatchView | undefined {
    if (this.ended || this.len === 0) return undefined;
    const b = parseBatch(this.buf, this.len, this.ctrl, this.view);
    if (!b) {
      if (this.len === this.buf.length) throw new FirmwareError('MALFORMED', 'delta patch: batch over limit');
      return undefined;
    }
    if (b.count === 0) {
      this.ended = true;
      if (this.len > b.length) throw new FirmwareError('MALFORMED', 'delta patch: data after the end batch');
      return b;
    }
    const { oldSize, newSize } = this.header;
    let o = this.oldPos;
    let n = this.newPos;
    for (let i = 0; i < b.count; i++) {
      const d = this.ctrl[i * 3]!;
      const e = this.ctrl[i * 3 + 1]!;
      if (d === 0 && e === 0 && !(this.first && i === 0)) throw new FirmwareError('MALFORMED', 'delta patch: empty triple');
      if (d > 0 && (o < 0 || o + d > oldSize)) throw new FirmwareError('MALFORMED', `delta patch: reads old [${o}, ${o + d}) outside ${oldSize} bytes`);
      n += d + e;
      if (n > newSize) throw new FirmwareError('SIZE_MISMATCH', `delta patch: writes past the new size ${newSize}`);
      o += d + this.ctrl[i * 3 + 2]!;
      if (o < -newSize - oldSize - 1 || o > 2 * (oldSize + 1)) throw new FirmwareError('MALFORMED', 'delta patch: seek out of range');
    }
    this.first = false;
    return b;
  }

  /** Starts decoding the coded diff section of batch `b`. */
  begin(b: BatchView): void {
    this.coder.begin(this.buf, b.dataStart, b.extraStart);
  }

  /** Adds the next `n` diff bytes to the old bytes in `out[at..at+n)`. */
  addDiff(out: Uint8Array, at: number, n: number): void {
    this.coder.addInto(this.model, out, at, n);
  }

  /** Turns the next `n` diff bytes' NEW bytes in `out[at..at+n)` back into old bytes (DiffDecoder.subInto). */
  replayDiff(out: Uint8Array, at: number, n: number): void {
    this.coder.subInto(this.model, out, at, n);
  }

  /** Drops the applied batch from the buffer. */
  consume(b: BatchView): void {
    this.buf.copyWithin(0, b.length, this.len);
    this.len -= b.length;
  }

  /** Checks the end state: the end batch seen, the new size reached, the digest equal. */
  finish(checkDigest = true): void {
    if (!this.ended) throw new FirmwareError('TRUNCATED', 'delta patch: stream ends before the end batch');
    if (this.newPos !== this.header.newSize) throw new FirmwareError('SIZE_MISMATCH', `delta patch: produced ${this.newPos} of ${this.header.newSize} bytes`);
    const d = this.hash.digest();
    if (checkDigest && !d.equals(this.header.newSha256)) throw new FirmwareError('DIGEST_MISMATCH', 'delta patch: new image SHA-256 differs');
  }
}

/** The header of a streaming (not in-place) patch. */
function streamHeader(b: Uint8Array): DeltaHeader {
  const h = parseDeltaHeader(b);
  if ((h.flags & DELTA_FLAG_IN_PLACE) !== 0) throw new FirmwareError('MALFORMED', 'delta patch: an in-place patch (apply with applyInPlace)');
  return h;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

function checkRead(r: Uint8Array, length: number): Uint8Array {
  if (r.length !== length) throw new FirmwareError('TRUNCATED', `delta: old image read returned ${r.length} of ${length} bytes`);
  return r;
}

/**
 * Applies a patch as it arrives: `push` each chunk (awaiting each), then `finish`. Reads the old image and writes
 * the new one in order through `target`; the result's SHA-256 is checked at the end. Errors are FirmwareError:
 * MALFORMED, TRUNCATED, WRONG_BASE, SIZE_MISMATCH, DIGEST_MISMATCH.
 */
export class PatchApplier {
  #target: PatchTarget;
  #head = new Uint8Array(DELTA_HEADER_LENGTH);
  #headLen = 0;
  #core: DecodeCore | undefined;
  #dec: BrotliDecompress | undefined;
  #loop: Promise<void> | undefined;
  #failure: unknown;
  #failed: Promise<never> | undefined;

  constructor(target: PatchTarget) {
    this.#target = target;
  }

  /** The header, once its 88 bytes have arrived. */
  get header(): DeltaHeader | undefined {
    return this.#core?.header;
  }

  /** Feeds the next bytes of the patch. */
  async push(chunk: Uint8Array): Promise<void> {
    this.#throwIfFailed();
    let from = 0;
    if (!this.#core) {
      const n = Math.min(chunk.length, DELTA_HEADER_LENGTH - this.#headLen);
      this.#head.set(chunk.subarray(0, n), this.#headLen);
      this.#headLen += n;
      from = n;
      if (this.#headLen < DELTA_HEADER_LENGTH) return;
      await this.#start(streamHeader(this.#head));
    }
    if (from >= chunk.length) return;
    const dec = this.#dec!;
    const more = dec.write(chunk.subarray(from));
    if (!more) await Promise.race([new Promise((r) => dec.once('drain', r)), this.#failed]);
    this.#throwIfFailed();
  }

  /** Ends the patch; resolves when the new image has been written in full and its digest checked. */
  async finish(): Promise<void> {
    this.#throwIfFailed();
    if (!this.#core) throw new FirmwareError('TRUNCATED', `delta patch: header needs ${DELTA_HEADER_LENGTH} bytes, got ${this.#headLen}`);
    this.#dec!.end();
    await this.#loop;
    this.#throwIfFailed();
    this.#core.finish();
  }

  #throwIfFailed(): void {
    if (this.#failure !== undefined) throw this.#failure;
  }

  async #start(header: DeltaHeader): Promise<void> {
    if (this.#target.verifyBase !== false) {
      const h = createHash('sha256');
      for (let off = 0; off < header.oldSize; off += APPLY_PIECE) {
        const n = Math.min(APPLY_PIECE, header.oldSize - off);
        const piece = await this.#target.readOld(off, n);
        // Shorter than the patch's base: it is another image.
        if (piece.length !== n) throw (this.#failure = new FirmwareError('WRONG_BASE', 'delta patch: old image is shorter than the patch base'));
        h.update(piece);
      }
      if (!equalBytes(h.digest(), header.oldSha256)) throw (this.#failure = new FirmwareError('WRONG_BASE', 'delta patch: old image SHA-256 differs from the patch base'));
    }
    this.#core = new DecodeCore(header);
    const dec = createBrotliDecompress({ chunkSize: 8192 });
    this.#dec = dec;
    let fail!: (e: unknown) => void;
    this.#failed = new Promise<never>((_, rej) => (fail = rej));
    this.#failed.catch(() => undefined);
    this.#loop = (async () => {
      try {
        for await (const d of dec) await this.#decoded(d as Buffer);
      } catch (err) {
        const e =
          err instanceof FirmwareError
            ? err
            : (err as { code?: string }).code === 'ERR__ERROR_FORMAT_PADDING_1' || /unexpected end/i.test(String((err as Error).message))
              ? new FirmwareError('TRUNCATED', 'delta patch: compressed stream ends early')
              : new FirmwareError('MALFORMED', `delta patch: compressed stream: ${(err as Error).message}`);
        this.#failure = e;
        dec.destroy();
        fail(e);
      }
    })();
  }

  async #decoded(d: Uint8Array): Promise<void> {
    const core = this.#core!;
    let from = 0;
    while (from < d.length) {
      from += core.take(d, from);
      for (let b = core.next(); b; b = core.next()) {
        if (b.count > 0) await this.#apply(core, b);
        core.consume(b);
      }
    }
  }

  async #apply(core: DecodeCore, b: BatchView): Promise<void> {
    const t = this.#target;
    let ep = b.extraStart;
    core.begin(b);
    for (let i = 0; i < b.count; i++) {
      let d = core.ctrl[i * 3]!;
      while (d > 0) {
        const n = Math.min(d, APPLY_PIECE);
        const out = new Uint8Array(n);
        out.set(checkRead(await t.readOld(core.oldPos, n), n));
        core.addDiff(out, 0, n);
        core.hash.update(out);
        await t.write(out);
        d -= n;
        core.oldPos += n;
        core.newPos += n;
      }
      const e = core.ctrl[i * 3 + 1]!;
      if (e > 0) {
        const out = core.buf.slice(ep, ep + e);
        core.hash.update(out);
        await t.write(out);
        ep += e;
        core.newPos += e;
      }
      core.oldPos += core.ctrl[i * 3 + 2]!;
    }
  }
}

/** Applies a whole patch to `old` in memory (through PatchApplier); returns the new image. */
export async function applyPatch(old: Uint8Array, patch: Uint8Array, chunkSize = 65536): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const a = new PatchApplier({ readOld: (o, n) => old.subarray(o, o + n), write: (c) => void parts.push(c) });
  for (let i = 0; i < patch.length; i += chunkSize) await a.push(patch.subarray(i, i + chunkSize));
  await a.finish();
  return Buffer.concat(parts);
}

/**
 * Applies a whole patch synchronously (for tools and the fuzzer): same checks as PatchApplier. Decoded output is
 * bounded by a limit derived from the header sizes, so a hostile patch cannot exhaust memory.
 */
export function applyPatchSync(old: Uint8Array, patch: Uint8Array): Uint8Array {
  const header = streamHeader(patch);
  if (old.length !== header.oldSize || !equalBytes(createHash('sha256').update(old).digest(), header.oldSha256))
    throw new FirmwareError('WRONG_BASE', 'delta patch: old image SHA-256 differs from the patch base');
  // Only the first triple may write nothing, so a legal stream has at most newSize + 1 triples (15 bytes each),
  // as many batches (5-byte count and coded length), coded sections of at most maxCoded(diff bytes), extra bytes
  // and the end batch.
  const limit = (header.newSize + 2) * 48 + 64;
  let stream: Uint8Array;
  try {
    stream = brotliDecompressSync(patch.subarray(DELTA_HEADER_LENGTH), { maxOutputLength: limit });
  } catch (err) {
    const m = (err as Error).message;
    throw new FirmwareError(/unexpected end/i.test(m) ? 'TRUNCATED' : 'MALFORMED', `delta patch: compressed stream: ${m}`);
  }
  const out = new Uint8Array(header.newSize);
  let at = 0;
  applyInstructions(header, stream, (o, n) => old.subarray(o, o + n), true, (c) => {
    out.set(c, at);
    at += c.length;
  });
  return out;
}

/**
 * Runs a whole decoded instruction stream (for the synchronous and in-place appliers): reads old bytes through
 * `readOld` (offsets already checked against the header's old size), hands each produced piece to `write` (a view
 * valid only during the call), checks the end state and, with `checkDigest`, the new image's SHA-256.
 */
export function applyInstructions(
  header: DeltaHeader,
  stream: Uint8Array,
  readOld: (offset: number, length: number) => Uint8Array,
  checkDigest: boolean,
  write: (chunk: Uint8Array) => void,
): void {
  const core = new DecodeCore(header);
  const piece = new Uint8Array(APPLY_PIECE);
  let from = 0;
  while (from < stream.length || core.len > 0) {
    from += core.take(stream, from);
    const b = core.next();
    if (!b) {
      if (from >= stream.length) break;
      continue;
    }
    let ep = b.extraStart;
    core.begin(b);
    for (let i = 0; i < b.count; i++) {
      let d = core.ctrl[i * 3]!;
      while (d > 0) {
        const n = Math.min(d, APPLY_PIECE);
        const out = piece.subarray(0, n);
        out.set(checkRead(readOld(core.oldPos, n), n));
        core.addDiff(out, 0, n);
        core.hash.update(out);
        write(out);
        d -= n;
        core.oldPos += n;
        core.newPos += n;
      }
      const e = core.ctrl[i * 3 + 1]!;
      const x = core.buf.subarray(ep, ep + e);
      core.hash.update(x);
      write(x);
      ep += e;
      core.newPos += e;
      core.oldPos += core.ctrl[i * 3 + 2]!;
    }
    core.consume(b);
    if (core.ended) {
      if (from < stream.length || core.len > 0) throw new FirmwareError('MALFORMED', 'delta patch: data after the end batch');
      break;
    }
  }
  core.finish(checkDigest);
}
