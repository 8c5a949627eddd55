import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ResponseCode } from '../error.js';
import type { LwM2mNode, ResourceValue } from '../node.js';
import { Lwm2mPath } from '../path.js';
import { casesAtEveryLevel, emptyModel, hex, resourceIdOf, TEST_OBJECT, testModel, throwsCode, unhex } from './test-model.js';
import { tlvCodec } from './tlv.js';

// LwM2M Core §7.4.3.2, response to a Read of /3/0.
const DEVICE_3_0 = `
C8 00 14 4F 70 65 6E 20 4D 6F 62 69 6C 65 20 41 6C 6C 69 61 6E 63 65
C8 01 16 4C 69 67 68 74 77 65 69 67 68 74 20 4D 32 4D 20 43 6C 69 65 6E 74
C8 02 09 33 34 35 30 30 30 31 32 33
C3 03 31 2E 30
86 06 41 00 01 41 01 05
88 07 08 42 00 0E D8 42 01 13 88
87 08 41 00 7D 42 01 03 84
C1 09 64
C1 0A 0F
83 0B 41 00 00
C4 0D 51 82 42 8F
C6 0E 2B 30 32 3A 30 30
C1 10 55`;

// LwM2M Core §7.4.3.2, response to a Read of /2 (Access Control, two instances; 16-bit resource instance id 310).
const ACL_2 = `
08 00 0E C1 00 01 C1 01 00 83 02 41 7F 07 C1 03 7F
08 02 12 C1 00 03 C1 01 00 87 02 41 7F 07 61 01 36 01 C1 03 7F`;

const single = (id: number, value: ResourceValue): LwM2mNode => ({ kind: 'singleResource', id, value });

describe('TLV', () => {
  it('decodes the spec example for /3/0 and re-encodes it byte for byte', () => {
    const payload = unhex(DEVICE_3_0);
    const node = tlvCodec.decode(payload, Lwm2mPath.of(3, 0), testModel);
    assert.equal(node.kind, 'instance');
    if (node.kind !== 'instance') return;
    assert.equal(node.resources.length, 13);
    assert.deepEqual(node.resources[0], single(0, { type: 'string', value: 'Open Mobile Alliance' }));
    assert.deepEqual(node.resources[5], {
      kind: 'multipleResource',
      id: 7,
      type: 'integer',
      instances: new Map([[0, { type: 'integer', value: 3800 }], [1, { type: 'integer', value: 5000 }]]),
    });
    assert.deepEqual(node.resources[10], single(13, { type: 'time', value: new Date(1367491215000) }));
    assert.deepEqual(node.resources[12], single(16, { type: 'string', value: 'U' }));
    assert.equal(hex(tlvCodec.encode(node, Lwm2mPath.of(3, 0), testModel)), hex(payload));
  });

  it('decodes the spec example for /2 with two instances and re-encodes it', () => {
    const payload = unhex(ACL_2);
    const node = tlvCodec.decode(payload, Lwm2mPath.of(2), testModel);
    assert.equal(node.kind, 'object');
    if (node.kind !== 'object') return;
    assert.deepEqual(node.instances.map((i) => i.id), [0, 2]);
    const acl = node.instances[1].resources[2];
    assert.equal(acl.kind, 'multipleResource');
    if (acl.kind === 'multipleResource') assert.deepEqual([...acl.instances.keys()], [127, 310]);
    assert.equal(hex(tlvCodec.encode(node, Lwm2mPath.of(2), testModel)), hex(payload));
  });

  for (const c of casesAtEveryLevel()) {
    it(`round-trips ${c.name} at ${c.path}`, () => {
      const bytes = tlvCodec.encode(c.node, c.path, testModel);
      assert.deepEqual(tlvCodec.decode(bytes, c.path, testModel), c.node);
    });
  }

  it('uses the shortest integer encoding (1, 2, 4 or 8 bytes, two’s complement)', () => {
    const p = Lwm2mPath.of(TEST_OBJECT, 0, resourceIdOf('integer'));
    const enc = (value: number | bigint): string =>
      hex(tlvCodec.encode(single(p.ids[2], { type: 'integer', value }), p, testModel));
    assert.equal(enc(127), 'c1017f');
    assert.equal(enc(-128), 'c10180');
    assert.equal(enc(128), 'c2010080');
    assert.equal(enc(-129), 'c201ff7f');
    assert.equal(enc(2 ** 31), 'c8010800000000' + '80000000');
    assert.equal(enc(-1n), 'c101ff');
  });

  it('encodes floats as 4 bytes when lossless, else 8, and decodes both', () => {
    const p = Lwm2mPath.of(TEST_OBJECT, 0, resourceIdOf('float'));
    const enc = (value: number): string => hex(tlvCodec.encode(single(p.ids[2], { type: 'float', value }), p, testModel));
    assert.equal(enc(1.5), 'c4033fc00000');
    assert.equal(enc(0.1), 'c803083fb999999999999a');
    assert.deepEqual(tlvCodec.decode(unhex('c4033fc00000'), p, testModel), single(3, { type: 'float', value: 1.5 }));
  });

  it('uses 16-bit ids and 8/16/24-bit lengths', () => {
    const p = Lwm2mPath.of(TEST_OBJECT, 0, resourceIdOf('opaque'));
    for (const [size, header] of [[7, 'c705'], [8, 'c80508'], [300, 'd005012c'], [70000, 'd805011170']] as const) {
      const bytes = tlvCodec.encode(single(5, { type: 'opaque', value: new Uint8Array(size) }), p, testModel);
      assert.equal(hex(bytes.subarray(0, header.length / 2)), header);
      assert.equal(bytes.length, header.length / 2 + size);
    }
    const ri = tlvCodec.encode({ kind: 'resourceInstance', id: 310, value: { type: 'boolean', value: true } }, Lwm2mPath.of(TEST_OBJECT, 0, 24, 310), testModel);
    assert.equal(hex(ri), '61013601');
  });

  it('decodes resources unknown to the model as opaque', () => {
    const node = tlvCodec.decode(unhex('c10a0f'), Lwm2mPath.of(4242, 0, 10), emptyModel);
    assert.deepEqual(node, single(10, { type: 'opaque', value: Uint8Array.of(0x0f) }));
  });

  it('accepts an instance payload wrapped in its object instance TLV', () => {
    const node = tlvCodec.decode(unhex('08 01 03 c1 09 64'), Lwm2mPath.of(3, 1), testModel);
    assert.deepEqual(node, { kind: 'instance', id: 1, resources: [single(9, { type: 'integer', value: 100 })] });
  });

  it('reads resource TLVs at an object path as instance 0', () => {
    const node = tlvCodec.decode(unhex('c1 09 64'), Lwm2mPath.of(3), testModel);
    assert.deepEqual(node, { kind: 'object', id: 3, instances: [{ kind: 'instance', id: 0, resources: [single(9, { type: 'integer', value: 100 })] }] });
  });

  it('rejects malformed payloads with 4.00', () => {
    const bad: Array<[string, string, Lwm2mPath]> = [
      ['truncated header', 'c8', Lwm2mPath.of(3, 0)],
      ['truncated 16-bit id', 'e1 00', Lwm2mPath.of(3, 0)],
      ['truncated length', 'd0 00 01', Lwm2mPath.of(3, 0)],
      ['value overruns payload', 'c5 00 41 42', Lwm2mPath.of(3, 0)],
      ['child overruns container', '86 06 41 00 01 42 01 05', Lwm2mPath.of(3, 0)],
      ['3-byte integer', 'c3 09 00 00 01', Lwm2mPath.of(3, 0)],
      ['5-byte float', `c5 ${resourceIdOf('float').toString(16).padStart(2, '0')} 00 00 00 00 00`, Lwm2mPath.of(TEST_OBJECT, 0)],
      ['boolean 2', `c1 ${resourceIdOf('boolean').toString(16).padStart(2, '0')} 02`, Lwm2mPath.of(TEST_OBJECT, 0)],
      ['objlnk 3 bytes', `c3 ${resourceIdOf('objlnk').toString(16).padStart(2, '0')} 00 03 00`, Lwm2mPath.of(TEST_OBJECT, 0)],
      ['invalid UTF-8', 'c2 00 c3 28', Lwm2mPath.of(3, 0)],
      ['resource instance at instance level', '41 00 01', Lwm2mPath.of(3, 0)],
      ['id mismatch', 'c1 09 64', Lwm2mPath.of(3, 0, 10)],
      ['two resources at a resource path', 'c1 09 64 c1 09 65', Lwm2mPath.of(3, 0, 9)],
      ['duplicate resource instance', '86 06 41 00 01 41 00 05', Lwm2mPath.of(3, 0)],
      ['duplicate resource', 'c1 09 64 c1 09 65', Lwm2mPath.of(3, 0)],
      ['mixed instance and resource TLVs', '08 00 00 c1 09 64', Lwm2mPath.of(3)],
      ['empty single resource', '', Lwm2mPath.of(3, 0, 9)],
    ];
    for (const [name, payload, path] of bad) {
      assert.doesNotThrow(() => throwsCode(() => tlvCodec.decode(unhex(payload), path, testModel), ResponseCode.BadRequest), name);
    }
  });

  it('decodes an empty payload at a multiple resource as no instances', () => {
    assert.deepEqual(tlvCodec.decode(new Uint8Array(0), Lwm2mPath.of(3, 0, 6), testModel), {
      kind: 'multipleResource',
      id: 6,
      type: 'integer',
      instances: new Map(),
    });
  });

  it('refuses a node that does not match its path with 5.00', () => {
    throwsCode(() => tlvCodec.encode(single(1, { type: 'integer', value: 1 }), Lwm2mPath.of(3, 0, 2), testModel), ResponseCode.InternalServerError);
  });

  it('does not alias the input for opaque values', () => {
    const payload = unhex('c3 05 01 02 03');
    const node = tlvCodec.decode(payload, Lwm2mPath.of(TEST_OBJECT, 0, 5), testModel);
    payload[2] = 9;
    assert.deepEqual(node, single(5, { type: 'opaque', value: Uint8Array.of(1, 2, 3) }));
  });
});
