/** Inputs the DER fuzz target (test/fuzz/targets/der.ts) found, kept as unit tests. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { oid, oidString, readTlv } from './der.js';

test('oid() encodes a first subidentifier above 127 in base 128 (X.690 §8.19.4: 2.182.3)', () => {
  assert.deepEqual([...oid('2.182.3')], [0x06, 0x03, 0x82, 0x06, 0x03]);
  assert.equal(oidString(readTlv(oid('2.182.3')).content), '2.182.3');
  assert.deepEqual([...oid('2.999')], [0x06, 0x02, 0x88, 0x37]);
});

test('oidString rejects a subidentifier cut short (last octet with bit 8 set, X.690 §8.19.2)', () => {
  assert.throws(() => oidString(Uint8Array.of(0x82, 0x64, 0x86)), /truncated OID/);
  assert.throws(() => oidString(Uint8Array.of(0x2a, 0x86)), /truncated OID/);
});

test('oidString rejects a subidentifier with a leading 0x80 octet (X.690 §8.19.2)', () => {
  assert.throws(() => oidString(Uint8Array.of(0x2a, 0x80, 0x01)), /non-minimal/);
  assert.equal(oidString(Uint8Array.of(0x2a, 0x86, 0x48)), '1.2.840');
});

test('oidString is exact for arcs beyond 2^53 and oid() writes them back (2.25.<UUID>, X.667)', () => {
  const uuidArc = '2.25.329800735698586629295641978511506172918';
  assert.equal(oidString(readTlv(oid(uuidArc)).content), uuidArc);
  // 0x06 is the first subidentifier (0.6); the rest is one 63-bit subidentifier, past 2^53.
  const big = Uint8Array.of(0x06, 0xa7, 0xa7, 0xa7, 0xa7, 0xa7, 0xa7, 0xa7, 0xa8, 0x00);
  let arc = 0n;
  for (const b of big.subarray(1)) arc = arc * 128n + BigInt(b & 0x7f);
  assert.ok(arc > BigInt(Number.MAX_SAFE_INTEGER));
  assert.equal(oidString(big), `0.6.${arc}`);
  assert.deepEqual([...readTlv(oid(`0.6.${arc}`)).content], [...big]);
  assert.throws(() => oidString(new Uint8Array(20).fill(0x81).map((b, i) => (i === 19 ? 0x01 : b))), /longer than 19 octets/);
});
