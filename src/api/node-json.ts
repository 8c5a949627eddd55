/**
 * The REST API's node JSON (the shape LwM2M tooling already speaks), converted both ways
 * to and from the LwM2M nodes of src/lwm2m/node.ts. Pure.
 */
import { Lwm2mPath, type LwM2mNode, type Model, type MultipleResourceNode, type ObjectInstanceNode, type ObjectNode, type PathNode, type ResourceInstanceNode, type ResourceNode, type ResourceType, type ResourceValue, type SingleResourceNode } from '../lwm2m/index.js';

/** Type names as the API writes them. */
export type JsonTypeName =
  | 'STRING'
  | 'INTEGER'
  | 'UNSIGNED_INTEGER'
  | 'FLOAT'
  | 'BOOLEAN'
  | 'OPAQUE'
  | 'TIME'
  | 'OBJLNK'
  | 'CORELINK'
  | 'NONE';

/** A JSON value of a resource: string, number, boolean or null (opaque is hex, time epoch seconds, objlnk "3:0"). */
export type JsonScalar = string | number | boolean | null;

export interface ObjJson {
  kind: 'obj';
  id: number;
  instances: InstanceJson[];
}
export interface InstanceJson {
  kind: 'instance';
  id: number;
  resources: ResourceJson[];
}
export interface SingleResourceJson {
  kind: 'singleResource';
  id: number;
  type: JsonTypeName;
  value: JsonScalar;
}
export interface MultiResourceJson {
  kind: 'multiResource';
  id: number;
  type: JsonTypeName;
  values: Record<string, JsonScalar>;
}
export interface ResourceInstanceJson {
  kind: 'resourceInstance';
  id: number;
  type: JsonTypeName;
  value: JsonScalar;
}
export type ResourceJson = SingleResourceJson | MultiResourceJson;
export type NodeJson = ObjJson | InstanceJson | ResourceJson | ResourceInstanceJson;

/** Invalid node JSON; `where` locates the problem (e.g. "resources[2].value"). The API answers 400. */
export class NodeJsonError extends Error {
  readonly where: string;

  constructor(where: string, problem: string) {
    super(where === '' ? `invalid node: ${problem}` : `invalid node at ${where}: ${problem}`);
    this.name = 'NodeJsonError';
    this.where = where;
  }
}

const TYPE_TO_JSON: Record<ResourceType, JsonTypeName> = {
  string: 'STRING',
  integer: 'INTEGER',
  unsignedInteger: 'UNSIGNED_INTEGER',
  float: 'FLOAT',
  boolean: 'BOOLEAN',
  opaque: 'OPAQUE',
  time: 'TIME',
  objlnk: 'OBJLNK',
  corelnk: 'CORELINK',
  none: 'NONE',
};

/** Keys are lower-cased with "_" and "-" removed: "UNSIGNED_INTEGER", "unsignedInteger", "corelnk" all match. */
const TYPE_FROM_JSON: Record<string, ResourceType> = {
  string: 'string',
  integer: 'integer',
  unsignedinteger: 'unsignedInteger',
  float: 'float',
  boolean: 'boolean',
  opaque: 'opaque',
  time: 'time',
  objlnk: 'objlnk',
  corelink: 'corelnk',
  corelnk: 'corelnk',
  none: 'none',
};

/** The API name of a resource type ("unsignedInteger" -> "UNSIGNED_INTEGER"). */
export function typeToJson(type: ResourceType): JsonTypeName {
  return TYPE_TO_JSON[type];
}

/** Parses an API type name in any of the accepted spellings; undefined if unknown. */
export function typeFromJson(name: string): ResourceType | undefined {
  const key = name.toLowerCase().replace(/[_-]/g, '');
  return Object.prototype.hasOwnProperty.call(TYPE_FROM_JSON, key) ? TYPE_FROM_JSON[key] : undefined;
}

// ---------------------------------------------------------------------------------------------
// node -> JSON

/** Converts a node to its API JSON. */
export function nodeToJson(node: LwM2mNode): NodeJson {
  switch (node.kind) {
    case 'object':
      return { kind: 'obj', id: node.id, instances: node.instances.map(instanceToJson) };
    case 'instance':
      return instanceToJson(node);
    case 'singleResource':
    case 'multipleResource':
      return resourceToJson(node);
    case 'resourceInstance':
      return { kind: 'resourceInstance', id: node.id, type: TYPE_TO_JSON[node.value.type], value: valueToJson(node.value) };
  }
}

function instanceToJson(node: ObjectInstanceNode): InstanceJson {
  return { kind: 'instance', id: node.id, resources: node.resources.map(resourceToJson) };
}

function resourceToJson(node: ResourceNode): ResourceJson {
  if (node.kind === 'singleResource') {
    return { kind: 'singleResource', id: node.id, type: TYPE_TO_JSON[node.value.type], value: valueToJson(node.value) };
  }
  const values: Record<string, JsonScalar> = {};
  for (const [id, v] of node.instances) values[String(id)] = valueToJson(v);
  return { kind: 'multiResource', id: node.id, type: TYPE_TO_JSON[node.type], values };
}

const HEX = '0123456789abcdef';

/** Converts a typed value to its JSON form. */
export function valueToJson(v: ResourceValue): JsonScalar {
  switch (v.type) {
    case 'string':
    case 'corelnk':
    case 'boolean':
      return v.value;
    case 'integer':
    case 'unsignedInteger':
      return integerToJson(v.value);
    case 'float':
      // JSON has no NaN/Infinity: write them as the strings JavaScript prints.
      return Number.isFinite(v.value) ? v.value : String(v.value);
    case 'opaque': {
      let s = '';
      for (let i = 0; i < v.value.length; i++) {
        const b = v.value[i]!;
        s += HEX[b >> 4]! + HEX[b & 15]!;
      }
      return s;
    }
    case 'time':
      return v.value.getTime() / 1000;
    case 'objlnk':
      return `${v.value.objectId}:${v.value.instanceId}`;
    case 'none':
      return null;
  }
}

function integerToJson(n: number | bigint): number | string {
  if (typeof n === 'number') return n;
  return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n.toString();
}

/** Composite contents as `{"/3/0/1": <node>, ...}`. */
export function pathNodesToJson(nodes: readonly PathNode[]): Record<string, NodeJson> {
  const out: Record<string, NodeJson> = {};
  for (const pn of nodes) out[pn.path.toString()] = nodeToJson(pn.node);
  return out;
}

// ---------------------------------------------------------------------------------------------
// JSON -> node

type Kind = NodeJson['kind'];
const KINDS: readonly Kind[] = ['obj', 'instance', 'singleResource', 'multiResource', 'resourceInstance'];

/**
 * Converts API JSON addressed to `path` into a node. The node's depth must match the path
 * (an "obj" at /3, an "instance" at /3/0, a resource at /3/0/1, a "resourceInstance" at /3/0/1/2);
 * `kind` and `id` may be omitted and are then taken from the path. Values without `type` are typed
 * from `model`. Throws NodeJsonError.
 */
export function nodeFromJson(json: unknown, path: Lwm2mPath, model: Model, where = ''): LwM2mNode {
  const ids = path.ids;
  if (ids.length === 0) throw new NodeJsonError(where, 'cannot address a node to the root path');
  const o = asObject(json, where);
  const depth = ids.length;
  let kind = readKind(o, where);
  if (kind === undefined) {
    kind = depth === 1 ? 'obj' : depth === 2 ? 'instance' : depth === 4 ? 'resourceInstance' : o.values !== undefined ? 'multiResource' : 'singleResource';
  }
  const fits =
    depth === 1 ? kind === 'obj' : depth === 2 ? kind === 'instance' : depth === 3 ? kind === 'singleResource' || kind === 'multiResource' : kind === 'resourceInstance';
  if (!fits) throw new NodeJsonError(at(where, 'kind'), `"${kind}" does not fit path ${path.toString()}`);
  const id = readId(o, where, ids[depth - 1]!);
  const objectId = ids[0]!;
  switch (kind) {
    case 'obj':
      return objectFromJson(o, where, id, model);
    case 'instance':
      return instanceFromJson(o, where, objectId, id, model);
    case 'singleResource':
    case 'multiResource':
      return resourceFromJson(o, where, objectId, id, model, kind);
    case 'resourceInstance': {
      const type = readType(o, where, objectId, ids[2]!, model);
      return { kind: 'resourceInstance', id, value: valueFromJson(o.value, type, at(where, 'value')) } satisfies ResourceInstanceNode;
    }
  }
}

/**
 * An object instance for Create on `objectPath` (/3): either an "instance" node or `{"id"?, "resources": [...]}`.
 * `id` is required here: the server contract's create carries instance ids.
 */
export function instanceFromJson(json: unknown, where: string, objectId: number, id: number | undefined, model: Model): ObjectInstanceNode {
  const o = asObject(json, where);
  const kind = readKind(o, where);
  if (kind !== undefined && kind !== 'instance') throw new NodeJsonError(at(where, 'kind'), `expected "instance", got "${kind}"`);
  const iid = readId(o, where, id);
  const list = o.resources;
  const lw = at(where, 'resources');
  if (!Array.isArray(list)) throw new NodeJsonError(lw, 'expected an array of resources');
  const resources: ResourceNode[] = [];
  const seen = new Set<number>();
  for (let i = 0; i < list.length; i++) {
    const rw = `${lw}[${i}]`;
    const ro = asObject(list[i], rw);
    const rid = readId(ro, rw, undefined);
    if (seen.has(rid)) throw new NodeJsonError(at(rw, 'id'), `duplicate resource id ${rid}`);
    seen.add(rid);
    resources.push(resourceFromJson(ro, rw, objectId, rid, model, undefined));
  }
  return { kind: 'instance', id: iid, resources };
}

function objectFromJson(o: Record<string, unknown>, where: string, id: number, model: Model): ObjectNode {
  const list = o.instances;
  const lw = at(where, 'instances');
  if (!Array.isArray(list)) throw new NodeJsonError(lw, 'expected an array of instances');
  const instances: ObjectInstanceNode[] = [];
  const seen = new Set<number>();
  for (let i = 0; i < list.length; i++) {
    const inst = instanceFromJson(list[i], `${lw}[${i}]`, id, undefined, model);
    if (seen.has(inst.id)) throw new NodeJsonError(`${lw}[${i}].id`, `duplicate instance id ${inst.id}`);
    seen.add(inst.id);
    instances.push(inst);
  }
  return { kind: 'object', id, instances };
}

function resourceFromJson(
  o: Record<string, unknown>,
  where: string,
  objectId: number,
  id: number,
  model: Model,
  kindHint: 'singleResource' | 'multiResource' | undefined,
): ResourceNode {
  let kind = kindHint ?? readKind(o, where);
  if (kind === undefined) kind = o.values !== undefined ? 'multiResource' : 'singleResource';
  if (kind !== 'singleResource' && kind !== 'multiResource') {
    throw new NodeJsonError(at(where, 'kind'), `expected "singleResource" or "multiResource", got "${kind}"`);
  }
  const type = readType(o, where, objectId, id, model);
  if (kind === 'singleResource') {
    return { kind: 'singleResource', id, value: valueFromJson(o.value, type, at(where, 'value')) } satisfies SingleResourceNode;
  }
  const vw = at(where, 'values');
  const values = o.values;
  if (values === null || typeof values !== 'object') throw new NodeJsonError(vw, 'expected an object keyed by resource instance id');
  const instances = new Map<number, ResourceValue>();
  const entries = Array.isArray(values) ? values.map((v, i) => [String(i), v] as const) : Object.entries(values);
  for (const [k, v] of entries) {
    if (!/^\d{1,5}$/.test(k) || Number(k) > 65535) throw new NodeJsonError(vw, `"${k}" is not a resource instance id`);
    instances.set(Number(k), valueFromJson(v, type, `${vw}.${k}`));
  }
  return { kind: 'multipleResource', id, type, instances } satisfies MultipleResourceNode;
}

/**
 * Composite write body `{"/3/0/1": <node>, ...}` to path nodes; each node is read against its own path.
 */
export function pathNodesFromJson(json: unknown, model: Model): PathNode[] {
  const o = asObject(json, '');
  const out: PathNode[] = [];
  for (const [key, value] of Object.entries(o)) {
    let path: Lwm2mPath;
    try {
      path = Lwm2mPath.parse(key);
    } catch {
      throw new NodeJsonError(key, 'not an LwM2M path');
    }
    out.push({ path, node: nodeFromJson(value, path, model, key) });
  }
  if (out.length === 0) throw new NodeJsonError('', 'composite body names no path');
  return out;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

/** Converts a JSON value to a typed value. Throws NodeJsonError naming `where`. */
export function valueFromJson(v: unknown, type: ResourceType, where: string): ResourceValue {
  switch (type) {
    case 'string':
    case 'corelnk':
      if (typeof v !== 'string') throw new NodeJsonError(where, `expected a string for ${TYPE_TO_JSON[type]}`);
      return { type, value: v };
    case 'integer':
    case 'unsignedInteger': {
      const n = integerFromJson(v, where);
      const big = typeof n === 'bigint' ? n : BigInt(n);
      if (type === 'integer' && (big < INT64_MIN || big > INT64_MAX)) throw new NodeJsonError(where, 'INTEGER out of 64-bit range');
      if (type === 'unsignedInteger' && (big < 0n || big > UINT64_MAX)) throw new NodeJsonError(where, 'UNSIGNED_INTEGER out of range 0..2^64-1');
      return { type, value: n };
    }
    case 'float': {
      if (typeof v === 'number') return { type, value: v };
      if (v === 'NaN' || v === 'Infinity' || v === '-Infinity') return { type, value: Number(v) };
      if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return { type, value: Number(v) };
      throw new NodeJsonError(where, 'expected a number for FLOAT');
    }
    case 'boolean':
      if (typeof v === 'boolean') return { type, value: v };
      if (v === 'true' || v === 'false') return { type, value: v === 'true' };
      throw new NodeJsonError(where, 'expected true or false for BOOLEAN');
    case 'opaque': {
      if (typeof v !== 'string') throw new NodeJsonError(where, 'expected a hex string for OPAQUE');
      const hex = v.startsWith('0x') || v.startsWith('0X') ? v.slice(2) : v;
      if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) throw new NodeJsonError(where, 'expected an even-length hex string for OPAQUE');
      return { type, value: Uint8Array.from(Buffer.from(hex, 'hex')) };
    }
    case 'time': {
      let ms: number;
      if (typeof v === 'number' && Number.isFinite(v)) ms = v * 1000;
      else if (typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v)) ms = Number(v) * 1000;
      else if (typeof v === 'string' && !Number.isNaN(Date.parse(v))) ms = Date.parse(v);
      else throw new NodeJsonError(where, 'expected epoch seconds (or an ISO 8601 date) for TIME');
      return { type, value: new Date(ms) };
    }
    case 'objlnk': {
      let objectId: unknown;
      let instanceId: unknown;
      if (typeof v === 'string') {
        const m = /^(\d{1,5}):(\d{1,5})$/.exec(v);
        if (m) {
          objectId = Number(m[1]);
          instanceId = Number(m[2]);
        }
      } else if (v !== null && typeof v === 'object') {
        objectId = (v as Record<string, unknown>).objectId;
        instanceId = (v as Record<string, unknown>).instanceId;
      }
      if (!isU16(objectId) || !isU16(instanceId)) throw new NodeJsonError(where, 'expected "objectId:instanceId" (each 0..65535) for OBJLNK');
      return { type, value: { objectId, instanceId } };
    }
    case 'none':
      if (v !== null && v !== undefined && v !== '') throw new NodeJsonError(where, 'NONE takes no value (null)');
      return { type, value: null };
  }
}

function integerFromJson(v: unknown, where: string): number | bigint {
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new NodeJsonError(where, `expected an integer, got ${v}`);
    if (!Number.isSafeInteger(v)) throw new NodeJsonError(where, 'integer beyond 2^53: send it as a decimal string');
    return v;
  }
  if (typeof v === 'string' && /^-?\d{1,20}$/.test(v)) {
    const b = BigInt(v);
    return b >= BigInt(Number.MIN_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b;
  }
  throw new NodeJsonError(where, 'expected an integer (number or decimal string)');
}

function isU16(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 65535;
}

function at(where: string, key: string): string {
  return where === '' ? key : `${where}.${key}`;
}

function asObject(v: unknown, where: string): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new NodeJsonError(where, 'expected a JSON object');
  return v as Record<string, unknown>;
}

function readKind(o: Record<string, unknown>, where: string): Kind | undefined {
  const k = o.kind;
  if (k === undefined) return undefined;
  if (typeof k !== 'string' || !(KINDS as readonly string[]).includes(k)) {
    throw new NodeJsonError(at(where, 'kind'), `expected one of ${KINDS.join(', ')}`);
  }
  return k as Kind;
}

function readId(o: Record<string, unknown>, where: string, fromPath: number | undefined): number {
  const id = o.id;
  if (id === undefined) {
    if (fromPath === undefined) throw new NodeJsonError(at(where, 'id'), 'missing');
    return fromPath;
  }
  const n = typeof id === 'string' && /^\d{1,5}$/.test(id) ? Number(id) : id;
  if (!isU16(n)) throw new NodeJsonError(at(where, 'id'), 'expected an integer 0..65535');
  if (fromPath !== undefined && n !== fromPath) throw new NodeJsonError(at(where, 'id'), `${n} does not match the path id ${fromPath}`);
  return n;
}

function readType(o: Record<string, unknown>, where: string, objectId: number, resourceId: number, model: Model): ResourceType {
  const t = o.type;
  if (t !== undefined && t !== null) {
    const type = typeof t === 'string' ? typeFromJson(t) : undefined;
    if (type === undefined) throw new NodeJsonError(at(where, 'type'), `unknown type ${JSON.stringify(t)}`);
    return type;
  }
  const def = model.resource(objectId, resourceId);
  if (def === undefined) throw new NodeJsonError(at(where, 'type'), `missing, and /${objectId}/x/${resourceId} is not in the model`);
  return def.type;
}
