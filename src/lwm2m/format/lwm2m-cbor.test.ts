import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ResponseCode } from '../error.js';
import type { LwM2mNode } from '../node.js';
import { Lwm2mPath } from '../path.js';
import { lwm2mCborCodec } from './lwm2m-cbor.js';
import { casesAtEveryLevel, emptyModel, hex, testModel, throwsCode, unhex } from './test-model.js';

const instance: LwM2mNode = {
  kind: 'instance',
  id: 0,
  resources: [
    { kind: 'singleResource', id: 0, value: { type: 'string', value: 'x' } },
    { kind: 'multipleResource', id: 6, type: 'integer', instances: new Map([[0, { type: 'integer', value: 1 }], [1, { type: 'integer', value: 5 }]]) },
    { kind: 'singleResource', id: 13, value: { type: 'time', value: new Date(1367491215000) } },
  ],
};

describe('LwM2M CBOR', () => {
  it('encodes nested maps with single-child levels collapsed into array keys (byte-exact)', () => {
    // {[3, 0]: {0: "x", 6: {0: 1, 1: 5}, 13: 1(1367491215)}}
    assert.equal(hex(lwm2mCborCodec.encode(instance, Lwm2mPath.of(3, 0), testModel)), 'a1820300a3006178' + '06a200010105' + '0dc11a5182428f');
    // {[3, 0, 9]: 100}
    const battery: LwM2mNode = { kind: 'singleResource', id: 9, value: { type: 'integer', value: 100 } };
    assert.equal(hex(lwm2mCborCodec.encode(battery, Lwm2mPath.of(3, 0, 9), testModel)), 'a18303000918' + '64');
  });

  it('decodes the fully nested and the collapsed forms alike', () => {
    const forms = [
      // {3: {0: {0: "x", 6: {0: 1, 1: 5}, 13: 1367491215}}}
      'a1 03 a1 00 a3 00 61 78 06 a2 00 01 01 05 0d 1a 5182428f',
      // {[3, 0]: {0: "x", [6, 0]: 1, [6, 1]: 5, 13: 1(1367491215)}}
      'a1 82 03 00 a4 00 61 78 82 06 00 01 82 06 01 05 0d c1 1a 5182428f',
      // {3: {[0, 0]: "x", [0, 6]: {0: 1, 1: 5}}, [3, 0, 13]: 1367491215}
      'a2 03 a2 82 00 00 61 78 82 00 06 a2 00 01 01 05 83 03 00 0d 1a 5182428f',
    ];
    for (const f of forms) assert.deepEqual(lwm2mCborCodec.decode(unhex(f), Lwm2mPath.of(3, 0), testModel), instance, f);
  });

  for (const c of casesAtEveryLevel()) {
    it(`round-trips ${c.name} at ${c.path}`, () => {
      const bytes = lwm2mCborCodec.encode(c.node, c.path, testModel);
      assert.deepEqual(lwm2mCborCodec.decode(bytes, c.path, testModel), c.node);
    });
  }

  it('types values from the CBOR item when the model lacks the resource', () => {
    // {[4242, 0]: {1: 3, 2: 2.5, 3: "s", 4: true, 5: h'01', 6: 1(0), 7: 2^64-1}}
    const node = lwm2mCborCodec.decode(
      unhex('a1 82 19 1092 00 a7 01 03 02 f9 4100 03 61 73 04 f5 05 41 01 06 c1 00 07 1b ffffffffffffffff'),
      Lwm2mPath.of(4242, 0),
      emptyModel,
    );
    assert.equal(node.kind, 'instance');
    if (node.kind !== 'instance') return;
    assert.deepEqual(
      node.resources.map((r) => (r.kind === 'singleResource' ? r.value : undefined)),
      [
        { type: 'integer', value: 3 },
        { type: 'float', value: 2.5 },
        { type: 'string', value: 's' },
        { type: 'boolean', value: true },
        { type: 'opaque', value: Uint8Array.of(1) },
        { type: 'time', value: new Date(0) },
        { type: 'unsignedInteger', value: 2n ** 64n - 1n },
      ],
    );
  });

  it('carries composite nodes, but not path lists (4.15)', () => {
    const nodes = [
      { path: Lwm2mPath.of(3, 0, 9), node: { kind: 'singleResource', id: 9, value: { type: 'integer', value: 80 } } as LwM2mNode },
      { path: Lwm2mPath.of(3, 0, 6, 1), node: { kind: 'resourceInstance', id: 1, value: { type: 'integer', value: 5 } } as LwM2mNode },
      { path: Lwm2mPath.of(1, 0, 1), node: { kind: 'singleResource', id: 1, value: { type: 'integer', value: 300 } } as LwM2mNode },
    ];
    const bytes = lwm2mCborCodec.encodeNodes(nodes, testModel);
        // {[3, 0]: {9: 80, [6, 1]: 5}, [1, 0, 1]: 300}
    assert.equal(hex(bytes), 'a2' + '820300' + 'a2' + '09' + '1850' + '820601' + '05' + '83010001' + '19012c');
    assert.deepEqual(lwm2mCborCodec.decodeNodes(bytes, testModel), nodes);
    throwsCode(() => lwm2mCborCodec.encodePaths([Lwm2mPath.of(3)]), ResponseCode.UnsupportedContentFormat);
    throwsCode(() => lwm2mCborCodec.decodePaths(unhex('a0')), ResponseCode.UnsupportedContentFormat);
  });

  it('rejects malformed payloads with 4.00', () => {
    const p = Lwm2mPath.of(3, 0);
    const bad = [
      '',
      'a1',
      '80',
      'a1 03 01',
      'a1 83 03 00 09 61 31',
      'a1 84 03 00 09 00 18 64 ',
      'a1 85 03 00 06 00 00 01',
      'a1 80 01',
      'a1 61 33 01',
      'a1 83 03 00 3a 01',
      'a1 83 03 00 1a 00010000 01',
      'a1 83 03 00 09 82 01 02',
      'a1 83 03 00 09 d8 40 41 00',
      'a1 83 03 01 09 01',
      'a2 83 03 00 06 01 84 03 00 06 00 01',
      'a1 83 03 00 09 01 00',
      'a1 83 03 00 09 9b ffffffffffffffff',
      'a1 83 03 00 09 9a 7fffffff 01',
      'bb ffffffffffffffff',
    ];
    for (const s of bad) {
      assert.doesNotThrow(() => throwsCode(() => lwm2mCborCodec.decode(unhex(s), p, testModel), ResponseCode.BadRequest), s);
    }
  });
});
