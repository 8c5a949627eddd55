/** Inputs the LwM2M format fuzz targets (test/fuzz/targets/senml-json.ts, senml-cbor.ts, lwm2m-cbor.ts) found, kept as unit tests. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ResponseCode } from '../error.js';
import { lwm2mCborCodec } from './lwm2m-cbor.js';
import { SenmlJsonCodec } from './senml-json.js';
import { SenmlCborCodec } from './senml-cbor.js';
import { emptyModel, testModel, throwsCode, unhex } from './test-model.js';
import { Lwm2mPath } from '../path.js';

const utf8 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'utf8'));

test('SenML decodeNodes rejects a record time a Date cannot hold with 4.00, not an Invalid Date', () => {
  const json = new SenmlJsonCodec({ now: () => 1_700_000_000_000 });
  throwsCode(() => json.decodeNodes(utf8('[{"n":"/3/0/9","t":1e40,"v":0}]'), testModel), ResponseCode.BadRequest);
  throwsCode(() => json.decodeNodes(utf8('[{"bn":"/3/0/","bt":9e15,"n":"9","v":1}]'), testModel), ResponseCode.BadRequest);
  // the edge of the range still decodes (ECMA-262 §21.4.1.1: 8.64e15 ms)
  const [edge] = json.decodeNodes(utf8('[{"n":"/3/0/9","t":8640000000000,"v":1}]'), testModel);
  assert.equal(edge!.time!.getTime(), 8.64e15);
  // CBOR can carry NaN as the time (f9 7e00)
  const cbor = new SenmlCborCodec({ now: () => 1_700_000_000_000 });
  throwsCode(() => cbor.decodeNodes(unhex('81 a3 00 66 2f332f302f39 06 f97e00 02 01'), testModel), ResponseCode.BadRequest);
});

test('a CBOR date with milliseconds decodes to whole seconds (LwM2M time, Core Appendix C)', () => {
  // {[3303, 0, 25]: 1(1.5)} in LwM2M CBOR, resource unknown to the model: typed from the tag
  const node = lwm2mCborCodec.decode(unhex('a1 83 190ce7 00 18 19 c1 fb 3ff8000000000000'), Lwm2mPath.of(3303, 0, 25), emptyModel);
  assert.deepEqual(node, { kind: 'singleResource', id: 25, value: { type: 'time', value: new Date(1000) } });
  // and for a resource the model types as time: /3/0/13 Current Time
  const typed = lwm2mCborCodec.decode(unhex('a1 83 03 00 0d c1 fb 41d4a72c3bf00000'), Lwm2mPath.of(3, 0, 13), testModel);
  assert.equal(typed.kind === 'singleResource' && typed.value.type === 'time' && typed.value.value.getTime(), 1386000623000);
});

test('a JSON number past the doubles (1e808) is 4.00, not a float Infinity nobody can write back', () => {
  const json = new SenmlJsonCodec({ now: () => 1_700_000_000_000 });
  const floatId = 3; // TEST_OBJECT resource 3 is the single float
  throwsCode(() => json.decode(utf8('[{"bn":"/9000/0/","n":"3","v":1e808}]'), Lwm2mPath.of(9000, 0), testModel), ResponseCode.BadRequest);
  throwsCode(() => json.decode(utf8(`[{"n":"/9000/0/${floatId}","v":-1e400}]`), Lwm2mPath.of(9000, 0, floatId), testModel), ResponseCode.BadRequest);
  const node = json.decode(utf8('[{"n":"/9000/0/3","v":1.7976931348623157e308}]'), Lwm2mPath.of(9000, 0, 3), testModel);
  assert.deepEqual(node, { kind: 'singleResource', id: 3, value: { type: 'float', value: Number.MAX_VALUE } });
});

test('LwM2M CBOR naming one node twice, or a value beside its own children, is 4.00', () => {
  // {[3, 0]: {6: 80, [6, 3]: 5}}: a value at /3/0/6 and one at /3/0/6/3
  throwsCode(() => lwm2mCborCodec.decodeNodes(unhex('a1 820300 a2 06 1850 820603 05'), testModel), ResponseCode.BadRequest);
  throwsCode(() => lwm2mCborCodec.decode(unhex('a1 820300 a2 06 1850 820603 05'), Lwm2mPath.of(3, 0), testModel), ResponseCode.BadRequest);
  // {[3, 0]: {9: 80, [9]: 81}}: /3/0/9 twice under two spellings of the key
  throwsCode(() => lwm2mCborCodec.decodeNodes(unhex('a1 820300 a2 09 1850 8109 1851'), testModel), ResponseCode.BadRequest);
  // the same values without the clash still decode
  assert.equal(lwm2mCborCodec.decodeNodes(unhex('a1 820300 a2 09 1850 820603 05'), testModel).length, 2);
});
