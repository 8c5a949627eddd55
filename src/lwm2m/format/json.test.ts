import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ResponseCode } from '../error.js';
import { Lwm2mPath } from '../path.js';
import { jsonCodec } from './json.js';
import { casesAtEveryLevel, emptyModel, TEST_OBJECT, testModel, throwsCode } from './test-model.js';

const utf8 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'utf8'));
const str = (b: Uint8Array): string => Buffer.from(b).toString('utf8');

// LwM2M 1.0 Core §6.4.4, JSON response to a Read of /3/0.
const DEVICE_3_0 =
  '{"bn":"/3/0/","e":[{"n":"0","sv":"Open Mobile Alliance"},{"n":"1","sv":"Lightweight M2M Client"},' +
  '{"n":"2","sv":"345000123"},{"n":"3","sv":"1.0"},{"n":"6/0","v":1},{"n":"6/1","v":5},{"n":"7/0","v":3800},' +
  '{"n":"7/1","v":5000},{"n":"8/0","v":125},{"n":"8/1","v":900},{"n":"9","v":100},{"n":"10","v":15},' +
  '{"n":"11/0","v":0},{"n":"13","v":1367491215},{"n":"14","sv":"+02:00"},{"n":"16","sv":"U"}]}';

describe('LwM2M JSON (legacy)', () => {
  it('decodes the LwM2M 1.0 example for /3/0 and re-encodes it byte for byte', () => {
    const node = jsonCodec.decode(utf8(DEVICE_3_0), Lwm2mPath.of(3, 0), testModel);
    assert.equal(node.kind, 'instance');
    if (node.kind !== 'instance') return;
    assert.equal(node.resources.length, 13);
    assert.deepEqual(node.resources[10], { kind: 'singleResource', id: 13, value: { type: 'time', value: new Date(1367491215000) } });
    assert.equal(str(jsonCodec.encode(node, Lwm2mPath.of(3, 0), testModel)), DEVICE_3_0);
  });

  for (const c of casesAtEveryLevel()) {
    it(`round-trips ${c.name} at ${c.path}`, () => {
      assert.deepEqual(jsonCodec.decode(jsonCodec.encode(c.node, c.path, testModel), c.path, testModel), c.node);
    });
  }

  it('reads bv, ov, opaque in sv, times, and names without a base name', () => {
    const payload = utf8(
      `{"bt":1500000000,"e":[{"n":"4","bv":true,"t":-5},{"n":"7","ov":"3:1"},{"n":"5","sv":"AQI="},{"n":"1","v":-2}]}`,
    );
    const node = jsonCodec.decode(payload, Lwm2mPath.of(TEST_OBJECT, 0), testModel);
    assert.deepEqual(node, {
      kind: 'instance',
      id: 0,
      resources: [
        { kind: 'singleResource', id: 4, value: { type: 'boolean', value: true } },
        { kind: 'singleResource', id: 7, value: { type: 'objlnk', value: { objectId: 3, instanceId: 1 } } },
        { kind: 'singleResource', id: 5, value: { type: 'opaque', value: Uint8Array.of(1, 2) } },
        { kind: 'singleResource', id: 1, value: { type: 'integer', value: -2 } },
      ],
    });
    assert.deepEqual(jsonCodec.decode(utf8('{"e":[{"n":"1","v":1.25}]}'), Lwm2mPath.of(77, 0), emptyModel), {
      kind: 'instance',
      id: 0,
      resources: [{ kind: 'singleResource', id: 1, value: { type: 'float', value: 1.25 } }],
    });
  });

  it('rejects malformed payloads with 4.00', () => {
    const bad = [
      '',
      '[]',
      '{"bn":"/3/0/"}',
      '{"bn":3,"e":[]}',
      '{"bn":"/3/0/","e":[1]}',
      '{"bn":"/3/0/","e":[{"n":"9","v":"1"}]}',
      '{"bn":"/3/0/","e":[{"n":"9","v":1,"sv":"1"}]}',
      '{"bn":"/3/0/","e":[{"n":"9","bv":1}]}',
      '{"bn":"/3/0/","e":[{"n":"0","v":1}]}',
      '{"bn":"/3/0/","e":[{"n":"9"}]}',
      '{"bn":"/3/0/","e":[{"n":"9","v":1}',
      '{"bn":"/3/1/","e":[{"n":"9","v":1}]}',
    ];
    for (const s of bad) {
      assert.doesNotThrow(() => throwsCode(() => jsonCodec.decode(utf8(s), Lwm2mPath.of(3, 0), testModel), ResponseCode.BadRequest), s);
    }
  });
});
