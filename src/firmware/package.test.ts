import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FirmwareError } from './error.js';
import { decodePackage, encodePackage, MAX_ENVELOPE_LENGTH, parsePackageHeader } from './package.js';
import { bytes } from './test-helpers.js';

test('parsePackageHeader asks for more bytes until the envelope is whole, then points at the payload', () => {
  const envelope = bytes(200, 3);
  const payload = bytes(1000, 4);
  const pkg = encodePackage(envelope, payload);
  assert.equal(Buffer.from(pkg.subarray(0, 9)).toString('hex'), '57465750' + '01' + '000000c8');
  for (const n of [0, 1, 4, 8]) assert.deepEqual(parsePackageHeader(pkg.subarray(0, n)), { complete: false, needed: 9 });
  for (const n of [9, 100, 208]) assert.deepEqual(parsePackageHeader(pkg.subarray(0, n)), { complete: false, needed: 209 });
  const h = parsePackageHeader(pkg.subarray(0, 209));
  assert.ok(h.complete);
  assert.deepEqual(h.envelope, envelope);
  assert.equal(h.payloadOffset, 209);
  const whole = decodePackage(pkg);
  assert.deepEqual(whole.payload, payload);
  assert.throws(() => decodePackage(pkg.subarray(0, 100)), (e: unknown) => e instanceof FirmwareError && e.code === 'TRUNCATED');
});

test('a wrong magic, version or envelope length is MALFORMED as soon as its bytes arrive', () => {
  const pkg = encodePackage(bytes(20, 1), bytes(5, 2));
  const malformed = (b: Uint8Array) =>
    assert.throws(() => parsePackageHeader(b), (e: unknown) => e instanceof FirmwareError && e.code === 'MALFORMED');
  malformed(Uint8Array.of(0x57, 0x47));
  malformed(Uint8Array.from([...pkg.subarray(0, 4), 2]));
  const big = Uint8Array.from(pkg);
  new DataView(big.buffer).setUint32(5, MAX_ENVELOPE_LENGTH + 1);
  malformed(big.subarray(0, 9));
  const zero = Uint8Array.from(pkg);
  new DataView(zero.buffer).setUint32(5, 0);
  malformed(zero);
  assert.throws(() => encodePackage(new Uint8Array(0), bytes(1, 1)), RangeError);
});
