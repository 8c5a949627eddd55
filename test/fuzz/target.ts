/** The contract of a fuzz target, and the helpers targets share to state their oracles. */
import { isDeepStrictEqual } from 'node:util';

/**
 * One fuzz target. `run` feeds `data` to a real decoder; an error that `expected` accepts is the
 * layer's declared rejection of bad input, anything else thrown (or a run that hangs, exhausts memory
 * or takes longer than the slow limit) is a finding.
 */
export interface FuzzTarget {
  /** Also the corpus and regressions folder name: test/fuzz/{corpus,regressions}/<name>/. */
  readonly name: string;
  /** Built-in seed inputs (real packets from our encoders, RFC examples); the checked-in corpus adds to them. */
  seeds(): Uint8Array[];
  /** Tokens the mutator inserts or overwrites with (field names, magic numbers, delimiters). */
  readonly dictionary?: readonly (string | Uint8Array)[];
  /** Longest input the mutator produces (default 4096). */
  readonly maxLen?: number;
  /** Decodes `data`; throws only on a finding (an unexpected error or a failed oracle). */
  run(data: Uint8Array): void;
  /** True for the rejection errors the layer declares for malformed input. */
  expected(err: unknown): boolean;
}

/** An oracle failure: a round trip that changed the value, a violated invariant. Always a finding. */
export class FuzzOracleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FuzzOracleError';
  }
}

/**
 * Runs a step that follows a successful decode (re-encoding, re-decoding): any error there, even the
 * layer's own rejection, is an oracle failure, since the input was already accepted.
 */
export function afterDecode<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof FuzzOracleError) throw err;
    const e = err as Error;
    throw new FuzzOracleError(`${what} threw after a successful decode: ${e?.name}: ${e?.message}`);
  }
}

/** Throws FuzzOracleError unless `cond`. */
export function check(cond: unknown, message: string | (() => string)): asserts cond {
  if (!cond) throw new FuzzOracleError(typeof message === 'string' ? message : message());
}

/** Bytes and Buffers as plain hex, Maps as sorted entry lists, so structural equality ignores views and prototypes. */
export function normalize(v: unknown): unknown {
  if (v instanceof Uint8Array) return { bytes: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex') };
  if (v instanceof Date) return { date: v.getTime() };
  if (v instanceof Map) return { map: [...v.entries()].map(([k, x]) => [normalize(k), normalize(x)]) };
  if (Array.isArray(v)) return v.map(normalize);
  if (typeof v === 'bigint') return { bigint: v.toString() };
  if (Object.is(v, -0)) return 0;
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) {
      const x = (v as Record<string, unknown>)[k];
      if (x !== undefined) out[k] = normalize(x);
    }
    return out;
  }
  return v;
}

/** Structural equality over normalize(); NaN equals NaN, -0 equals 0. */
export function same(a: unknown, b: unknown): boolean {
  return isDeepStrictEqual(normalize(a), normalize(b));
}

function show(v: unknown): string {
  const s = JSON.stringify(normalize(v), (_k, x: unknown) => (typeof x === 'number' && !Number.isFinite(x) ? String(x) : x));
  return s.length > 400 ? s.slice(0, 400) + '...' : s;
}

/** Throws FuzzOracleError naming `what` unless `actual` and `wanted` are structurally equal. */
export function checkSame(actual: unknown, wanted: unknown, what: string): void {
  if (!same(actual, wanted)) throw new FuzzOracleError(`${what}: ${show(actual)} != ${show(wanted)}`);
}

/** Bytes of a UTF-8 string. */
export function utf8(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'utf8'));
}

/** Bytes from hex (whitespace ignored). */
export function hex(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
}

/** Lossless bytes-to-string for text parsers that take a JS string: every byte is one code unit. */
export function latin1(data: Uint8Array): string {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('latin1');
}

/** UTF-8 decoding with replacement characters, as a server reading a text payload does. */
export function utf8Lenient(data: Uint8Array): string {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8');
}

/** An `expected` predicate that accepts instances of the given classes. */
export function errorsOf(...classes: (abstract new (...args: never[]) => Error)[]): (err: unknown) => boolean {
  return (err) => classes.some((c) => err instanceof c);
}

/** Runs `fn` as one step of a target: an `expected` rejection ends the step quietly, anything else propagates. */
export function stepsOf(expected: (err: unknown) => boolean): (fn: () => void) => void {
  return (fn) => {
    try {
      fn();
    } catch (err) {
      if (!expected(err)) throw err;
    }
  };
}
