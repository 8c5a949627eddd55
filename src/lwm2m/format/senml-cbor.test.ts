import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ResponseCode } from '../error.js';
import type { LwM2mNode } from '../node.js';
import { Lwm2mPath } from '../path.js';
import { SenmlCborCodec, senmlCborCodec } from './senml-cbor.js';
import { casesAtEveryLevel, emptyModel, hex, resourceIdOf, TEST_OBJECT, testModel, throwsCode, unhex } from './test-model.js';

const textHex = (s: string): string => Buffer.from(s).toString('hex');

describe('SenML CBOR', () => {
  it('uses the RFC 8428 §6 integer labels (byte-exact)', () => {
    const node: LwM2mNode = {
      kind: 'instance',
      id: 0,
      resources: [
        { kind: 'singleResource', id: 0, value: { type: 'string', value: 'Open Mobile Alliance' } },
        { kind: 'singleResource', id: 9, value: { type: 'integer', value: 2 ** 40 } },
      ],
    };
    const bytes = senmlCborCodec.encode(node, Lwm2mPath.of(3, 0), testModel);
    // [{-2: "/3/0/", 0: "0", 3: "Open Mobile Alliance"}, {0: "9", 2: 1099511627776}]
    const expected = '82' + 'a3' + '21' + '65' + textHex('/3/0/') + '00' + '6130' + '03' + '74' + textHex('Open Mobile Alliance') +
      'a2' + '00' + '6139' + '02' + '1b0000010000000000';
    assert.equal(hex(bytes), expected);
    assert.deepEqual(senmlCborCodec.decode(bytes, Lwm2mPath.of(3, 0), testModel), node);
  });

  it('writes opaque as a plain byte string in label 8, objlnk in "vlo", booleans in label 4', () => {
    const p = Lwm2mPath.of(TEST_OBJECT, 0);
    const node: LwM2mNode = {
      kind: 'instance',
      id: 0,
      resources: [
        { kind: 'singleResource', id: resourceIdOf('opaque'), value: { type: 'opaque', value: Uint8Array.of(1, 2) } },
        { kind: 'singleResource', id: resourceIdOf('objlnk'), value: { type: 'objlnk', value: { objectId: 3, instanceId: 0 } } },
        { kind: 'singleResource', id: resourceIdOf('boolean'), value: { type: 'boolean', value: true } },
      ],
    };
    const bytes = hex(senmlCborCodec.encode(node, p, testModel));
    assert.ok(bytes.includes('6135' + '08' + '420102'), bytes);
    assert.ok(bytes.includes('6137' + '63' + textHex('vlo') + '63' + textHex('3:0')), bytes);
    assert.ok(bytes.includes('6134' + '04' + 'f5'), bytes);
  });

  for (const c of casesAtEveryLevel()) {
    it(`round-trips ${c.name} at ${c.path}`, () => {
      const bytes = senmlCborCodec.encode(c.node, c.path, testModel);
      assert.deepEqual(senmlCborCodec.decode(bytes, c.path, testModel), c.node);
    });
  }

  it('types values from the record when the model lacks the resource', () => {
    // [{-2: "/4242/0/", 0: "1", 2: 3}, {0: "2", 2: 2.5}, {0: "3", 8: h'0102'}, {0: "4", 2: 2^64-1}]
    const payload = unhex(
      '84 a3 21 68' + textHex('/4242/0/') + '00 61 31 02 03  a2 00 61 32 02 f9 4100  a2 00 61 33 08 42 01 02' +
        ' a2 00 61 34 02 1b ffffffffffffffff',
    );
    const node = senmlCborCodec.decode(payload, Lwm2mPath.of(4242, 0), emptyModel);
    assert.equal(node.kind, 'instance');
    if (node.kind !== 'instance') return;
    assert.deepEqual(
      node.resources.map((r) => (r.kind === 'singleResource' ? r.value : undefined)),
      [
        { type: 'integer', value: 3 },
        { type: 'float', value: 2.5 },
        { type: 'opaque', value: Uint8Array.of(1, 2) },
        { type: 'unsignedInteger', value: 2n ** 64n - 1n },
      ],
    );
  });

  it('encodes and decodes composite nodes with times, and path lists', () => {
    const codec = new SenmlCborCodec({ now: () => 0 });
    const nodes = [
      { path: Lwm2mPath.of(3, 0, 13), node: { kind: 'singleResource', id: 13, value: { type: 'time', value: new Date(1367491215000) } } as LwM2mNode, time: new Date(1_600_000_000_000) },
      { path: Lwm2mPath.of(3, 0, 6, 1), node: { kind: 'resourceInstance', id: 1, value: { type: 'integer', value: -5 } } as LwM2mNode },
    ];
    assert.deepEqual(codec.decodeNodes(codec.encodeNodes(nodes, testModel), testModel), nodes);
    const paths = [Lwm2mPath.of(3, 0, 9), Lwm2mPath.of(1)];
    const bytes = codec.encodePaths(paths);
    assert.equal(hex(bytes), '82' + 'a1 00 66'.replace(/ /g, '') + textHex('/3/0/9') + 'a10062' + textHex('/1'));
    assert.deepEqual(codec.decodePaths(bytes), paths);
  });

  it('rejects malformed payloads with 4.00', () => {
    const p = Lwm2mPath.of(3, 0);
    const bad = [
      '',
      '81',
      '81 a1 00',
      'a1 00 61 30',
      '81 01',
      '81 a2 00 66' + textHex('/3/0/9') + '02 61 31',
      '81 a2 00 66' + textHex('/3/0/9') + '04 01',
      '81 a2 00 66' + textHex('/3/0/0') + '08 61 31',
      '81 a3 00 66' + textHex('/3/0/9') + '02 01 03 61 31',
      '81 a2 00 01 02 01',
      '81 a2 00 66' + textHex('/3/0/9') + '02 01 00',
      '1c',
    ];
    for (const s of bad) {
      assert.doesNotThrow(() => throwsCode(() => senmlCborCodec.decode(unhex(s), p, testModel), ResponseCode.BadRequest), s);
    }
  });
});
