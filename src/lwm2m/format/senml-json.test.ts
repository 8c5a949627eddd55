import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ResponseCode } from '../error.js';
import type { LwM2mNode } from '../node.js';
import { Lwm2mPath } from '../path.js';
import { SenmlJsonCodec, senmlJsonCodec } from './senml-json.js';
import { casesAtEveryLevel, emptyModel, resourceIdOf, TEST_OBJECT, testModel, throwsCode } from './test-model.js';

const utf8 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'utf8'));
const str = (b: Uint8Array): string => Buffer.from(b).toString('utf8');

// LwM2M Core §7.4.4, SenML JSON response to a Read of /3/0.
const DEVICE_3_0 =
  '[{"bn":"/3/0/","n":"0","vs":"Open Mobile Alliance"},{"n":"1","vs":"Lightweight M2M Client"},' +
  '{"n":"2","vs":"345000123"},{"n":"3","vs":"1.0"},{"n":"6/0","v":1},{"n":"6/1","v":5},{"n":"7/0","v":3800},' +
  '{"n":"7/1","v":5000},{"n":"8/0","v":125},{"n":"8/1","v":900},{"n":"9","v":100},{"n":"10","v":15},' +
  '{"n":"11/0","v":0},{"n":"13","v":1367491215},{"n":"14","vs":"+02:00"},{"n":"16","vs":"U"}]';

describe('SenML JSON', () => {
  it('decodes the spec example for /3/0 and re-encodes it byte for byte', () => {
    const node = senmlJsonCodec.decode(utf8(DEVICE_3_0), Lwm2mPath.of(3, 0), testModel);
    assert.equal(node.kind, 'instance');
    if (node.kind !== 'instance') return;
    assert.equal(node.resources.length, 13);
    assert.deepEqual(node.resources[4], {
      kind: 'multipleResource',
      id: 6,
      type: 'integer',
      instances: new Map([[0, { type: 'integer', value: 1 }], [1, { type: 'integer', value: 5 }]]),
    });
    assert.deepEqual(node.resources[10], { kind: 'singleResource', id: 13, value: { type: 'time', value: new Date(1367491215000) } });
    assert.equal(str(senmlJsonCodec.encode(node, Lwm2mPath.of(3, 0), testModel)), DEVICE_3_0);
  });

  for (const c of casesAtEveryLevel()) {
    it(`round-trips ${c.name} at ${c.path}`, () => {
      const bytes = senmlJsonCodec.encode(c.node, c.path, testModel);
      assert.deepEqual(senmlJsonCodec.decode(bytes, c.path, testModel), c.node);
    });
  }

  it('writes opaque as unpadded base64url, objlnk in "vlo", time as an integer "v"', () => {
    const p = Lwm2mPath.of(TEST_OBJECT, 0);
    const node: LwM2mNode = {
      kind: 'instance',
      id: 0,
      resources: [
        { kind: 'singleResource', id: resourceIdOf('opaque'), value: { type: 'opaque', value: Uint8Array.of(0xfb, 0xff) } },
        { kind: 'singleResource', id: resourceIdOf('objlnk'), value: { type: 'objlnk', value: { objectId: 3, instanceId: 0 } } },
        { kind: 'singleResource', id: resourceIdOf('time'), value: { type: 'time', value: new Date(1500) } },
        { kind: 'singleResource', id: resourceIdOf('integer'), value: { type: 'integer', value: 2n ** 63n - 1n } },
      ],
    };
    assert.equal(
      str(senmlJsonCodec.encode(node, p, testModel)),
      `[{"bn":"/${TEST_OBJECT}/0/","n":"5","vd":"-_8"},{"n":"7","vlo":"3:0"},{"n":"6","v":1},{"n":"1","v":9223372036854775807}]`,
    );
  });

  it('types values from the record when the model lacks the resource', () => {
    const payload = utf8(
      '[{"bn":"/4242/0/","n":"1","v":3},{"n":"2","v":2.5},{"n":"3","vs":"x"},{"n":"4","vb":true},' +
        '{"n":"5","vd":"AQI"},{"n":"6","vlo":"1:2"},{"n":"7","v":18446744073709551615}]',
    );
    const node = senmlJsonCodec.decode(payload, Lwm2mPath.of(4242, 0), emptyModel);
    assert.equal(node.kind, 'instance');
    if (node.kind !== 'instance') return;
    assert.deepEqual(
      node.resources.map((r) => (r.kind === 'singleResource' ? r.value : undefined)),
      [
        { type: 'integer', value: 3 },
        { type: 'float', value: 2.5 },
        { type: 'string', value: 'x' },
        { type: 'boolean', value: true },
        { type: 'opaque', value: Uint8Array.of(1, 2) },
        { type: 'objlnk', value: { objectId: 1, instanceId: 2 } },
        { type: 'unsignedInteger', value: 2n ** 64n - 1n },
      ],
    );
  });

  it('encodes and decodes composite nodes with times; relative times use the injected clock', () => {
    const codec = new SenmlJsonCodec({ now: () => 1_700_000_000_000 });
    const nodes = [
      { path: Lwm2mPath.of(3, 0, 9), node: { kind: 'singleResource', id: 9, value: { type: 'integer', value: 80 } } as LwM2mNode, time: new Date(1_600_000_000_500) },
      { path: Lwm2mPath.of(3, 0, 6), node: { kind: 'multipleResource', id: 6, type: 'integer', instances: new Map([[1, { type: 'integer', value: 5 }]]) } as LwM2mNode },
    ];
    const bytes = codec.encodeNodes(nodes, testModel);
    assert.equal(str(bytes), '[{"n":"/3/0/9","t":1600000000.5,"v":80},{"n":"/3/0/6/1","v":5}]');
    assert.deepEqual(codec.decodeNodes(bytes, testModel), [
      { path: Lwm2mPath.of(3, 0, 9), node: nodes[0].node, time: new Date(1_600_000_000_500) },
      { path: Lwm2mPath.of(3, 0, 6, 1), node: { kind: 'resourceInstance', id: 1, value: { type: 'integer', value: 5 } } },
    ]);
    const relative = codec.decodeNodes(utf8('[{"bn":"/3/0/","bt":-10,"n":"9","v":1},{"n":"10","t":5,"v":2}]'), testModel);
    assert.deepEqual(relative.map((p) => p.time?.getTime()), [1_699_999_990_000, 1_699_999_995_000]);
  });

  it('encodes and decodes path lists (Read-Composite requests)', () => {
    const paths = [Lwm2mPath.of(3, 0, 9), Lwm2mPath.of(1), Lwm2mPath.root()];
    const bytes = senmlJsonCodec.encodePaths(paths);
    assert.equal(str(bytes), '[{"n":"/3/0/9"},{"n":"/1"},{"n":"/"}]');
    assert.deepEqual(senmlJsonCodec.decodePaths(bytes), paths);
    assert.deepEqual(senmlJsonCodec.decodePaths(utf8('[{"bn":"/3/0/","n":"1"},{"n":"2"},{"bn":"/1/0"}]')), [
      Lwm2mPath.of(3, 0, 1),
      Lwm2mPath.of(3, 0, 2),
      Lwm2mPath.of(1, 0),
    ]);
  });

  it('rejects malformed payloads with 4.00', () => {
    const p = Lwm2mPath.of(3, 0);
    const bad = [
      '',
      '[',
      '{"n":"/3/0/9","v":1}',
      '[{"n":"/3/0/9","v":1},]',
      '[{"n":"/3/0/9","v":1}] x',
      '[1]',
      '[{"n":9,"v":1}]',
      '[{"n":"/3/0/9","v":"1"}]',
      '[{"n":"/3/0/9","vb":1}]',
      '[{"n":"/3/0/9","v":1,"vs":"1"}]',
      '[{"n":"/3/0/0","v":1}]',
      '[{"n":"/3/0/9","vs":"x"}]',
      '[{"n":"/3/0/9","v":1.5}]',
      '[{"n":"/3/0/9"}]',
      '[{"n":"/3/x/9","v":1}]',
      '[{"n":"/3/1/9","v":1}]',
      '[{"n":"/3/0/9","v":1,"foo_":1}]',
      '[{"n":"/3/0/9","v":1},{"n":"/3/0/9","v":2}]',
      '[{"n":"/3/0/13","v":1e400}]',
    ];
    for (const s of bad) {
      assert.doesNotThrow(() => throwsCode(() => senmlJsonCodec.decode(utf8(s), p, testModel), ResponseCode.BadRequest), s);
    }
    throwsCode(() => senmlJsonCodec.decodeNodes(utf8('[{"n":"/3/0","v":1}]'), testModel), ResponseCode.BadRequest);
    throwsCode(() => senmlJsonCodec.decodePaths(utf8('[{"n":"3/0"}]')), ResponseCode.BadRequest);
    throwsCode(() => senmlJsonCodec.decode(utf8('[{"n":"/9000/0/5","vd":"a"}]'), Lwm2mPath.of(9000, 0), testModel), ResponseCode.BadRequest);
  });

  it('refuses a NaN float with 4.06', () => {
    const p = Lwm2mPath.of(TEST_OBJECT, 0, resourceIdOf('float'));
    throwsCode(() => senmlJsonCodec.encode({ kind: 'singleResource', id: p.ids[2], value: { type: 'float', value: NaN } }, p, testModel), ResponseCode.NotAcceptable);
  });
});
