/**
 * Firmware delta patches as a device applies them (issue 5): `applyPatchSync` on the input as a whole patch, and
 * on the input as the decoded instruction stream (wrapped in a header naming the fixed base and Brotli quality 0),
 * so mutations reach the batch parser and the bounds checks; and applyInPlace on a 1 KiB slot. FirmwareError is the layer's one rejection.
 * Oracles: an accepted patch produces an image of the header's size; patching the base to that image again
 * with our encoder round-trips.
 */
import { createHash } from 'node:crypto';
import { brotliCompressSync, constants as zc } from 'node:zlib';
import { applyPatchSync } from '../../../src/firmware/delta-apply.js';
import { createPatch, diffTriples, encodeInstructions, foldEmpty } from '../../../src/firmware/delta-encode.js';
import { applyInPlace, createInPlacePatch } from '../../../src/firmware/delta-inplace.js';
import { DELTA_HEADER_LENGTH, encodeDeltaHeader, parseDeltaHeader } from '../../../src/firmware/delta-format.js';
import { FirmwareError } from '../../../src/firmware/error.js';
import { checkSame, check, errorsOf, stepsOf, type FuzzTarget } from '../target.js';

const BASE = Uint8Array.from({ length: 300 }, (_, i) => (i * 7) ^ (i >> 3));
const NEXT = Uint8Array.from({ length: 280 }, (_, i) => (i % 50 === 0 ? 0xaa : BASE[(i + 11) % 300]!));
const sha = (b: Uint8Array): Uint8Array => createHash('sha256').update(b).digest();
const BASE_SHA = sha(BASE);

function wrap(stream: Uint8Array, newSize: number): Uint8Array {
  const body = brotliCompressSync(stream, { params: { [zc.BROTLI_PARAM_QUALITY]: 0, [zc.BROTLI_PARAM_LGWIN]: 16 } });
  const h = encodeDeltaHeader({ flags: 0, oldSize: BASE.length, oldSha256: BASE_SHA, newSize, newSha256: new Uint8Array(32) });
  const out = new Uint8Array(DELTA_HEADER_LENGTH + body.length);
  out.set(h);
  out.set(body, DELTA_HEADER_LENGTH);
  return out;
}

function seeds(): Uint8Array[] {
  return [
    createPatch(BASE, NEXT, { quality: 5 }),
    createPatch(BASE, BASE, { quality: 5 }),
    createPatch(BASE, new Uint8Array(0), { quality: 5 }),
    encodeInstructions(BASE, NEXT, foldEmpty(diffTriples(BASE, NEXT))),
    Uint8Array.of(1, 10, 0, 0, ...new Array<number>(10).fill(1), 0),
    createInPlacePatch(BASE, NEXT, { pageSize: 64, quality: 5, direction: 'up' }),
    createInPlacePatch(BASE, NEXT, { pageSize: 32, quality: 5, direction: 'down' }),
    createInPlacePatch(BASE, NEXT, { pageSize: 16, quality: 5 }),
  ];
}

const rejected = errorsOf(FirmwareError);

const step = stepsOf(rejected);

export default {
  name: 'firmware-delta',
  seeds,
  maxLen: 2048,
  dictionary: [Uint8Array.of(0x57, 0x44, 0x4c, 0x54), Uint8Array.of(0x80, 0x80), Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0x0f), Uint8Array.of(0x80, 0x08)],
  expected: rejected,
  run(data) {
    step(() => {
      const out = applyPatchSync(BASE, data);
      const h = parseDeltaHeader(data);
      check(out.length === h.newSize, 'accepted patch gave an image of the wrong size');
      checkSame(applyPatchSync(BASE, createPatch(BASE, out, { quality: 1 })), out, 're-encoded patch');
    });
    // The input as a decoded instruction stream for an image of 300 bytes: the digest never matches, so the
    // stream can at best reach DIGEST_MISMATCH; everything before it must be a FirmwareError.
    step(() => void applyPatchSync(BASE, wrap(data, 300)));
    // In-place: a 1 KiB slot holding BASE; the patch decides the page geometry within the header's bounds.
    step(() => {
      const slot = new Uint8Array(1024);
      slot.set(BASE);
      const h = parseDeltaHeader(data);
      if (h.newSize > slot.length || h.oldSize > slot.length) return;
      applyInPlace({ read: (o, n) => slot.slice(o, o + n), writePage: (p, d) => slot.set(d, p * (data.length > 92 ? new DataView(data.buffer, data.byteOffset).getUint32(88) : 1)) }, data);
    });
  },
} satisfies FuzzTarget;
