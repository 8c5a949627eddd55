/** A small Map-backed Model for the format tests, plus sample nodes of every type at every level. */
import type { Model, ObjectDefinition, ResourceDefinition, ResourceType } from '../model.js';
import type { LwM2mNode, ObjectInstanceNode, ResourceNode, ResourceValue } from '../node.js';
import { Lwm2mPath } from '../path.js';

/** Test object whose resources cover every type, single (id = index) and multiple (id = 20 + index). */
export const TEST_OBJECT = 9000;

export const TYPES: readonly ResourceType[] = [
  'string',
  'integer',
  'unsignedInteger',
  'float',
  'boolean',
  'opaque',
  'time',
  'objlnk',
  'corelnk',
  'none',
];

/** Resource id of the single (or multiple) resource of `type` in TEST_OBJECT. */
export function resourceIdOf(type: ResourceType, multiple = false): number {
  return TYPES.indexOf(type) + (multiple ? 20 : 0);
}

function res(id: number, name: string, type: ResourceType, multiple = false): ResourceDefinition {
  return { id, name, operations: type === 'none' ? 'E' : 'RW', multiple, mandatory: false, type };
}

function obj(id: number, name: string, multiple: boolean, resources: ResourceDefinition[]): ObjectDefinition {
  return { id, name, version: '1.0', multiple, mandatory: false, resources: new Map(resources.map((r) => [r.id, r])) };
}

const testResources: ResourceDefinition[] = [];
for (const t of TYPES) {
  testResources.push(res(resourceIdOf(t), `single ${t}`, t));
  if (t !== 'none') testResources.push(res(resourceIdOf(t, true), `multiple ${t}`, t, true));
}

const objects: ObjectDefinition[] = [
  obj(TEST_OBJECT, 'Test', true, testResources),
  // Access Control (Core Appendix E.2), for the spec's multiple-instance TLV example.
  obj(2, 'LwM2M Access Control', true, [
    res(0, 'Object ID', 'integer'),
    res(1, 'Object Instance ID', 'integer'),
    res(2, 'ACL', 'integer', true),
    res(3, 'Access Control Owner', 'integer'),
  ]),
  // Device (Core Appendix E.4), for the spec's /3/0 examples.
  obj(3, 'Device', false, [
    res(0, 'Manufacturer', 'string'),
    res(1, 'Model Number', 'string'),
    res(2, 'Serial Number', 'string'),
    res(3, 'Firmware Version', 'string'),
    res(4, 'Reboot', 'none'),
    res(6, 'Available Power Sources', 'integer', true),
    res(7, 'Power Source Voltage', 'integer', true),
    res(8, 'Power Source Current', 'integer', true),
    res(9, 'Battery Level', 'integer'),
    res(10, 'Memory Free', 'integer'),
    res(11, 'Error Code', 'integer', true),
    res(13, 'Current Time', 'time'),
    res(14, 'UTC Offset', 'string'),
    res(15, 'Timezone', 'string'),
    res(16, 'Supported Binding and Modes', 'string'),
  ]),
];

/** The Model the format tests decode with. */
export const testModel: Model = (() => {
  const byId = new Map(objects.map((o) => [o.id, o]));
  return {
    object: (id) => byId.get(id),
    resource: (o, r) => byId.get(o)?.resources.get(r),
    objects: () => byId.values(),
  };
})();

/** A model that knows nothing (every resource is unknown). */
export const emptyModel: Model = { object: () => undefined, resource: () => undefined, objects: () => [] };

/** Edge-case sample values for each type. */
export function samples(type: ResourceType): ResourceValue[] {
  const v = (value: unknown): ResourceValue => ({ type, value }) as ResourceValue;
  switch (type) {
    case 'string':
      return ['', 'hello', 'ünïcødé ✓ "q" \\ \n\t'].map(v);
    case 'integer':
      return [0, -1, 127, -128, 128, -129, 32768, -2147483649, 2 ** 32 + 5, -(2 ** 40), Number.MAX_SAFE_INTEGER, 2n ** 63n - 1n, -(2n ** 63n)].map(v);
    case 'unsignedInteger':
      return [0, 255, 65536, 2 ** 32, 2n ** 64n - 1n].map(v);
    case 'float':
      return [0, -1.5, 0.1, 3, 1e300, -2.5e-10, 3.4028234663852886e38].map(v);
    case 'boolean':
      return [true, false].map(v);
    case 'opaque':
      return [new Uint8Array(0), Uint8Array.from({ length: 256 }, (_, i) => i)].map(v);
    case 'time':
      return [new Date(0), new Date(1367491215000), new Date(-86400000), new Date(2 ** 32 * 1000)].map(v);
    case 'objlnk':
      return [{ objectId: 0, instanceId: 0 }, { objectId: 3, instanceId: 1 }, { objectId: 65535, instanceId: 65535 }].map(v);
    case 'corelnk':
      return ['</3/0>;ct=11543,</1/0>', ''].map(v);
    case 'none':
      return [v(null)];
  }
}

/** A named node at a path, for round-trip tests. */
export interface Case {
  name: string;
  path: Lwm2mPath;
  node: LwM2mNode;
}

/** Nodes of the given types at every level: resource instance, single and multiple resource, instance, object. */
export function casesAtEveryLevel(types: readonly ResourceType[] = TYPES): Case[] {
  const cases: Case[] = [];
  const o = TEST_OBJECT;
  const resources: ResourceNode[] = [];
  for (const t of types) {
    const values = samples(t);
    values.forEach((value, i) => {
      const rid = resourceIdOf(t);
      cases.push({ name: `${t} #${i} single`, path: Lwm2mPath.of(o, 0, rid), node: { kind: 'singleResource', id: rid, value } });
      if (t !== 'none') {
        const mid = resourceIdOf(t, true);
        cases.push({
          name: `${t} #${i} resource instance`,
          path: Lwm2mPath.of(o, 0, mid, 7),
          node: { kind: 'resourceInstance', id: 7, value },
        });
      }
    });
    resources.push({ kind: 'singleResource', id: resourceIdOf(t), value: values[values.length - 1] });
    if (t !== 'none') {
      const mid = resourceIdOf(t, true);
      const multi: ResourceNode = {
        kind: 'multipleResource',
        id: mid,
        type: t,
        instances: new Map(values.map((value, i) => [i * 300, value])),
      };
      cases.push({ name: `${t} multiple`, path: Lwm2mPath.of(o, 0, mid), node: multi });
      resources.push(multi);
    }
  }
  const instance = (id: number): ObjectInstanceNode => ({ kind: 'instance', id, resources });
  cases.push({ name: 'instance', path: Lwm2mPath.of(o, 1), node: instance(1) });
  cases.push({ name: 'object', path: Lwm2mPath.of(o), node: { kind: 'object', id: o, instances: [instance(0), instance(300)] } });
  return cases;
}

/** Hex string of bytes (for byte-exact assertions). */
export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** Bytes from a hex string with any whitespace. */
export function unhex(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text.replace(/\s+/g, ''), 'hex'));
}

/** Asserts that `fn` throws an Lwm2mError with `code` (and not some other error). */
export function throwsCode(fn: () => unknown, code: number): void {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  if (!(thrown instanceof Error) || thrown.name !== 'Lwm2mError' || (thrown as { code?: number }).code !== code) {
    throw new Error(`expected Lwm2mError ${code}, got ${thrown instanceof Error ? `${thrown.name}: ${thrown.message}` : String(thrown)}`);
  }
}
