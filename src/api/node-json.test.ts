import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Lwm2mPath, type LwM2mNode, type ResourceValue } from '../lwm2m/index.js';
import { testModel } from './fake-server.js';
import {
  NodeJsonError,
  nodeFromJson,
  nodeToJson,
  pathNodesFromJson,
  pathNodesToJson,
  typeFromJson,
  typeToJson,
  valueFromJson,
  valueToJson,
} from './node-json.js';

const model = testModel();
const P = (s: string) => Lwm2mPath.parse(s);

/** JSON text round trip, as over HTTP. */
function viaJson(node: LwM2mNode, path: string): LwM2mNode {
  return nodeFromJson(JSON.parse(JSON.stringify(nodeToJson(node))), P(path), model);
}

const VALUES: { v: ResourceValue; json: unknown }[] = [
  { v: { type: 'string', value: 'héllo "x"' }, json: 'héllo "x"' },
  { v: { type: 'integer', value: -42 }, json: -42 },
  { v: { type: 'integer', value: -(2n ** 63n) }, json: '-9223372036854775808' },
  { v: { type: 'unsignedInteger', value: 7 }, json: 7 },
  { v: { type: 'unsignedInteger', value: 2n ** 64n - 1n }, json: '18446744073709551615' },
  { v: { type: 'float', value: 3.25 }, json: 3.25 },
  { v: { type: 'float', value: -Infinity }, json: '-Infinity' },
  { v: { type: 'boolean', value: false }, json: false },
  { v: { type: 'opaque', value: Uint8Array.of(0x00, 0xab, 0xff) }, json: '00abff' },
  { v: { type: 'time', value: new Date(1700000000000) }, json: 1700000000 },
  { v: { type: 'objlnk', value: { objectId: 3, instanceId: 65535 } }, json: '3:65535' },
  { v: { type: 'corelnk', value: '</3/0>;ver=1.1' }, json: '</3/0>;ver=1.1' },
  { v: { type: 'none', value: null }, json: null },
];

test('every value type converts to JSON and back', () => {
  for (const { v, json } of VALUES) {
    assert.deepEqual(valueToJson(v), json, v.type);
    assert.deepEqual(valueFromJson(JSON.parse(JSON.stringify(json)), v.type, 'x'), v, v.type);
  }
});

test('safe bigints come out as numbers and parse back as numbers', () => {
  assert.equal(valueToJson({ type: 'integer', value: 12n }), 12);
  assert.deepEqual(valueFromJson('12', 'integer', 'x'), { type: 'integer', value: 12 });
});

test('NaN floats are written as a string and read back', () => {
  const v = valueFromJson(valueToJson({ type: 'float', value: NaN }), 'float', 'x');
  assert.equal(v.type, 'float');
  assert.ok(Number.isNaN(v.value));
});

test('time also accepts ISO 8601 and numeric strings; opaque accepts 0x', () => {
  assert.deepEqual(valueFromJson('2023-11-14T22:13:20Z', 'time', 'x'), { type: 'time', value: new Date(1700000000000) });
  assert.deepEqual(valueFromJson('1700000000', 'time', 'x'), { type: 'time', value: new Date(1700000000000) });
  assert.deepEqual(valueFromJson('0xAB', 'opaque', 'x'), { type: 'opaque', value: Uint8Array.of(0xab) });
  assert.deepEqual(valueFromJson({ objectId: 1, instanceId: 2 }, 'objlnk', 'x'), { type: 'objlnk', value: { objectId: 1, instanceId: 2 } });
});

test('type names: output upper snake case, input any spelling', () => {
  assert.equal(typeToJson('unsignedInteger'), 'UNSIGNED_INTEGER');
  assert.equal(typeToJson('corelnk'), 'CORELINK');
  for (const n of ['UNSIGNED_INTEGER', 'unsignedInteger', 'unsigned_integer', 'UnsignedInteger']) assert.equal(typeFromJson(n), 'unsignedInteger');
  assert.equal(typeFromJson('corelnk'), 'corelnk');
  assert.equal(typeFromJson('CORELINK'), 'corelnk');
  assert.equal(typeFromJson('objlnk'), 'objlnk');
  assert.equal(typeFromJson('float64'), undefined);
  assert.equal(typeFromJson('constructor'), undefined);
});

test('single resource JSON shape', () => {
  assert.deepEqual(nodeToJson({ kind: 'singleResource', id: 0, value: { type: 'string', value: 'ACME' } }), {
    kind: 'singleResource',
    id: 0,
    type: 'STRING',
    value: 'ACME',
  });
});

test('every kind round-trips through JSON text', () => {
  const multi: LwM2mNode = {
    kind: 'multipleResource',
    id: 7,
    type: 'integer',
    instances: new Map<number, ResourceValue>([
      [0, { type: 'integer', value: 3800 }],
      [1, { type: 'integer', value: 5000 }],
    ]),
  };
  const instance: LwM2mNode = {
    kind: 'instance',
    id: 0,
    resources: [
      { kind: 'singleResource', id: 0, value: { type: 'string', value: 'ACME' } },
      multi,
      { kind: 'singleResource', id: 13, value: { type: 'time', value: new Date(1000) } },
      { kind: 'singleResource', id: 103, value: { type: 'opaque', value: Uint8Array.of(1, 2) } },
    ],
  };
  const object: LwM2mNode = { kind: 'object', id: 3, instances: [instance, { kind: 'instance', id: 1, resources: [] }] };
  const ri: LwM2mNode = { kind: 'resourceInstance', id: 1, value: { type: 'integer', value: 5000 } };
  const empty: LwM2mNode = { kind: 'multipleResource', id: 7, type: 'integer', instances: new Map() };
  assert.deepEqual(viaJson(object, '/3'), object);
  assert.deepEqual(viaJson(instance, '/3/0'), instance);
  assert.deepEqual(viaJson(multi, '/3/0/7'), multi);
  assert.deepEqual(viaJson(empty, '/3/0/7'), empty);
  assert.deepEqual(viaJson(ri, '/3/0/7/1'), ri);
  for (const { v } of VALUES) {
    if (Number.isNaN(v.value)) continue;
    const node: LwM2mNode = { kind: 'singleResource', id: 99, value: v };
    assert.deepEqual(viaJson(node, '/3/0/99'), node, v.type);
  }
  const json = nodeToJson(multi);
  assert.deepEqual(json, { kind: 'multiResource', id: 7, type: 'INTEGER', values: { '0': 3800, '1': 5000 } });
});

test('missing type is taken from the model; explicit type wins', () => {
  assert.deepEqual(nodeFromJson({ kind: 'singleResource', id: 13, value: 60 }, P('/3/0/13'), model), {
    kind: 'singleResource',
    id: 13,
    value: { type: 'time', value: new Date(60000) },
  });
  assert.deepEqual(nodeFromJson({ id: 14, value: '+02' }, P('/3/0/14'), model), {
    kind: 'singleResource',
    id: 14,
    value: { type: 'string', value: '+02' },
  });
  assert.deepEqual(nodeFromJson({ value: 5, type: 'float' }, P('/3/0/9'), model), {
    kind: 'singleResource',
    id: 9,
    value: { type: 'float', value: 5 },
  });
  const inst = nodeFromJson({ resources: [{ id: 102, value: true }, { id: 7, values: { '2': 10 } }] }, P('/3/0'), model);
  assert.deepEqual(inst, {
    kind: 'instance',
    id: 0,
    resources: [
      { kind: 'singleResource', id: 102, value: { type: 'boolean', value: true } },
      { kind: 'multipleResource', id: 7, type: 'integer', instances: new Map([[2, { type: 'integer', value: 10 }]]) },
    ],
  });
});

function rejects(json: unknown, path: string, where: RegExp): void {
  assert.throws(
    () => nodeFromJson(json, P(path), model),
    (e: unknown) => e instanceof NodeJsonError && where.test(e.message),
    `${JSON.stringify(json)} at ${path} should fail matching ${where}`,
  );
}

test('invalid node JSON names what is wrong and where', () => {
  rejects('x', '/3/0/0', /expected a JSON object/);
  rejects([], '/3/0', /expected a JSON object/);
  rejects({ kind: 'bogus', value: 1 }, '/3/0/9', /kind: expected one of/);
  rejects({ kind: 'instance', resources: [] }, '/3/0/9', /kind: "instance" does not fit path \/3\/0\/9/);
  rejects({ kind: 'singleResource', id: 8, value: 1 }, '/3/0/9', /id: 8 does not match the path id 9/);
  rejects({ value: 'abc' }, '/3/0/9', /at value: expected an integer/);
  rejects({ value: 1.5 }, '/3/0/9', /value: expected an integer, got 1.5/);
  rejects({ value: 2 ** 60 }, '/3/0/9', /decimal string/);
  rejects({ value: '9223372036854775808' }, '/3/0/9', /out of 64-bit range/);
  rejects({ value: -1 }, '/3/0/100', /UNSIGNED_INTEGER out of range/);
  rejects({ value: 'abc' }, '/3/0/103', /hex string/);
  rejects({ value: '3' }, '/3/0/104', /OBJLNK/);
  rejects({ value: '3:70000' }, '/3/0/104', /OBJLNK/);
  rejects({ value: 'yes' }, '/3/0/102', /BOOLEAN/);
  rejects({ value: 'soon' }, '/3/0/13', /TIME/);
  rejects({ value: 1 }, '/3/0/0', /expected a string for STRING/);
  rejects({ value: 1 }, '/3/0/999', /type: missing, and \/3\/x\/999 is not in the model/);
  rejects({ value: 1, type: 'weird' }, '/3/0/9', /type: unknown type "weird"/);
  rejects({ resources: {} }, '/3/0', /resources: expected an array/);
  rejects({ resources: [{ id: 9, value: 1 }, { id: 9, value: 2 }] }, '/3/0', /resources\[1\]\.id: duplicate resource id 9/);
  rejects({ resources: [{ id: 0, value: 'a' }, { id: 9, value: 'x' }] }, '/3/0', /at resources\[1\]\.value: expected an integer/);
  rejects({ instances: [{ id: 0, resources: [{ id: 7, values: { a: 1 } }] }] }, '/3', /instances\[0\]\.resources\[0\]\.values: "a" is not/);
  rejects({ instances: [{ resources: [] }] }, '/3', /instances\[0\]\.id: missing/);
  rejects({ instances: [{ id: 1, resources: [] }, { id: 1, resources: [] }] }, '/3', /duplicate instance id 1/);
  rejects({ kind: 'multiResource', values: 3 }, '/3/0/7', /values: expected an object/);
  assert.throws(() => nodeFromJson({}, Lwm2mPath.root(), model), NodeJsonError);
});

test('composite contents convert both ways', () => {
  const nodes = pathNodesFromJson({ '/3/0/9': { value: 80 }, '/3/0/7/1': { kind: 'resourceInstance', id: 1, value: 5 } }, model);
  assert.equal(nodes.length, 2);
  assert.equal(nodes[0]!.path.toString(), '/3/0/9');
  assert.deepEqual(nodes[0]!.node, { kind: 'singleResource', id: 9, value: { type: 'integer', value: 80 } });
  assert.deepEqual(nodes[1]!.node, { kind: 'resourceInstance', id: 1, value: { type: 'integer', value: 5 } });
  assert.deepEqual(pathNodesToJson(nodes), {
    '/3/0/9': { kind: 'singleResource', id: 9, type: 'INTEGER', value: 80 },
    '/3/0/7/1': { kind: 'resourceInstance', id: 1, type: 'INTEGER', value: 5 },
  });
  assert.throws(() => pathNodesFromJson({ '/3/x': {} }, model), /invalid node at \/3\/x: not an LwM2M path/);
  assert.throws(() => pathNodesFromJson({ '/3/0/9': { value: 'z' } }, model), /at \/3\/0\/9\.value: expected an integer/);
  assert.throws(() => pathNodesFromJson({}, model), /names no path/);
});
