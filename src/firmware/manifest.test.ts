import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Decoder } from 'cbor-x';
import { encodeCbor, Tag } from './cbor.js';
import { FirmwareError } from './error.js';
import { classIdFor, decodeManifest, encodeManifest, uuidString, uuidV5, vendorIdFor, type Manifest } from './manifest.js';
import { bytes, deltaManifest, imageManifest } from './test-helpers.js';

function malformed(data: Uint8Array, re?: RegExp): void {
  assert.throws(() => decodeManifest(data), (e: unknown) => e instanceof FirmwareError && e.code === 'MALFORMED' && (!re || re.test(e.message)));
}

/** The manifest's CBOR map with `edit` applied, re-encoded. */
function edited(m: Manifest, edit: (map: Map<number, unknown>, payload: Map<number, unknown>) => void): Uint8Array {
  const cbor = encodeManifest(m);
  const map = new Map(decodeCborLoose(cbor) as Map<number, unknown>);
  const payload = new Map(map.get(6) as Map<number, unknown>);
  map.set(6, payload);
  edit(map, payload);
  return encodeCbor(map);
}

const loose = new Decoder({ mapsAsObjects: false, useRecords: false });
function decodeCborLoose(b: Uint8Array): unknown {
  return loose.decode(b);
}

test('UUIDv5 matches the RFC 9562 name-based example and the SUIT naming of vendor and class', () => {
  // RFC 9562 Appendix A.4: UUIDv5(DNS namespace, "www.example.com").
  assert.equal(uuidString(vendorIdFor('www.example.com')), '2ed6657d-e927-568b-95e1-2665a8aea6a2');
  const vendor = vendorIdFor('example.com');
  assert.deepEqual(classIdFor(vendor, 'sensor'), uuidV5(vendor, 'sensor'));
  assert.notDeepEqual(classIdFor(vendor, 'sensor'), classIdFor(vendorIdFor('example.org'), 'sensor'));
});

test('image and delta manifests round-trip, and the encoding is deterministic', () => {
  const image = imageManifest(bytes(1000, 1), 2 ** 40 + 7);
  const a = encodeManifest(image);
  assert.deepEqual(decodeManifest(a), image);
  assert.deepEqual(encodeManifest(decodeManifest(a)), a);
  const delta = deltaManifest(bytes(50, 2), bytes(1000, 3), bytes(990, 4), 0);
  assert.deepEqual(decodeManifest(encodeManifest(delta)), delta);
  assert.deepEqual(decodeManifest(encodeManifest({ ...image, sequence: Number.MAX_SAFE_INTEGER })).sequence, Number.MAX_SAFE_INTEGER);
  // The first bytes: a map of 6, key 1 = format 1, key 2 = "1.2.3".
  assert.equal(Buffer.from(a.subarray(0, 5)).toString('hex'), 'a6010102' + '65');
});

test('the encoder refuses what the decoder would refuse', () => {
  const m = imageManifest(bytes(10, 1));
  assert.throws(() => encodeManifest({ ...m, sequence: -1 }), RangeError);
  assert.throws(() => encodeManifest({ ...m, sequence: 1.5 }), RangeError);
  assert.throws(() => encodeManifest({ ...m, vendorId: new Uint8Array(15) }), RangeError);
  assert.throws(() => encodeManifest({ ...m, payload: { ...m.payload, digest: new Uint8Array(31) } }), RangeError);
  assert.throws(() => encodeManifest({ ...m, version: 'x'.repeat(65) }), RangeError);
});

test('the strict decoder refuses extra keys, wrong types and lengths, unsafe sequences, and non-deterministic CBOR', () => {
  const m = imageManifest(bytes(10, 1));
  malformed(edited(m, (map) => map.set(7, 1)), /unknown key 7/);
  malformed(edited(m, (_map, p) => p.set(9, 1)), /unknown key 9/);
  malformed(edited(m, (map) => map.delete(5)), /missing key 5/);
  malformed(edited(m, (map) => map.set(1, 2)), /format version/);
  malformed(edited(m, (map) => map.set(2, 123)), /version/);
  malformed(edited(m, (map) => map.set(3, new Uint8Array(17))), /vendor id: 17 bytes/);
  malformed(edited(m, (map) => map.set(4, 'sensor')), /class id: not a byte string/);
  malformed(edited(m, (map) => map.set(5, -1)), /sequence/);
  malformed(edited(m, (map) => map.set(5, 2n ** 53n)), /sequence/);
  malformed(edited(m, (map) => map.set(5, '7')), /sequence/);
  malformed(edited(m, (_map, p) => p.set(3, new Uint8Array(20))), /digest: 20 bytes/);
  malformed(edited(m, (_map, p) => p.set(1, 2)), /unknown kind/);
  malformed(edited(m, (_map, p) => p.set(1, 1)), /delta without/);
  malformed(edited(m, (_map, p) => p.set(4, new Map<number, unknown>([[1, 1], [2, new Uint8Array(32)]]))), /image with delta fields/);
  malformed(edited(m, (map) => map.set(6, [1, 2, 3])), /payload: not a map/);
  malformed(encodeCbor(new Tag(decodeCborLoose(encodeManifest(m)), 24)));
  malformed(new Uint8Array(0), /empty/);
  const good = encodeManifest(m);
  malformed(Uint8Array.from([...good, 0]), /not one CBOR item/);
  // Sequence 100 as a two-byte integer (0x19 0x0064) instead of the preferred one-byte form (0x18 0x64).
  const i = Buffer.from(good).indexOf(Buffer.from('051864', 'hex'));
  assert.ok(i > 0);
  malformed(Uint8Array.from([...good.subarray(0, i), 0x05, 0x19, 0x00, 0x64, ...good.subarray(i + 3)]), /deterministic/);
  // A duplicate key: the map header says 7 entries, the last repeats key 1.
  malformed(Uint8Array.from([0xa7, ...good.subarray(1), 0x01, 0x01]), /deterministic/);
});
