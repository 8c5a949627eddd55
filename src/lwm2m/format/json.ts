/**
 * Legacy LwM2M JSON (Content-Format 11543), LwM2M 1.0 Core §6.4.4:
 * {"bn":"/3/0/","e":[{"n":"0","sv":"..."},{"n":"1","v":1},{"n":"2","bv":true},{"n":"3","ov":"3:0"}]}.
 */
import type { Model } from '../model.js';
import type { LwM2mNode, ResourceValue } from '../node.js';
import type { Lwm2mPath } from '../path.js';
import { isJsonObject, jsonNumber, jsonString, parseJson, type JsonValue } from './json-text.js';
import { assemble, flatten, leafPath, type Leaf } from './leaves.js';
import type { NodeCodec } from './types.js';
import {
  badRequest,
  decodeUtf8,
  formatObjlnk,
  parseObjlnk,
  resourceDef,
  timeToSeconds,
  toBase64,
  typeValue,
  type RawValue,
} from './values.js';

function valueField(v: ResourceValue): string {
  switch (v.type) {
    case 'string':
    case 'corelnk':
      return `"sv":${jsonString(v.value)}`;
    case 'opaque':
      return `"sv":"${toBase64(v.value)}"`;
    case 'integer':
    case 'unsignedInteger':
    case 'float':
      return `"v":${jsonNumber(v.value)}`;
    case 'time':
      return `"v":${timeToSeconds(v.value)}`;
    case 'boolean':
      return `"bv":${v.value}`;
    case 'objlnk':
      return `"ov":"${formatObjlnk(v.value)}"`;
    case 'none':
      return '';
  }
}

function entryValue(e: { [key: string]: JsonValue }, i: number, name: string): RawValue | undefined {
  let value: RawValue | undefined;
  let count = 0;
  const bad = (k: string): never => {
    throw badRequest(`LwM2M JSON entry ${i}: "${k}" has the wrong type`);
  };
  if (e.v !== undefined) {
    if (typeof e.v !== 'number' && typeof e.v !== 'bigint') bad('v');
    value = e.v as number | bigint;
    count++;
  }
  if (e.sv !== undefined) {
    if (typeof e.sv !== 'string') bad('sv');
    value = e.sv as string;
    count++;
  }
  if (e.bv !== undefined) {
    if (typeof e.bv !== 'boolean') bad('bv');
    value = e.bv as boolean;
    count++;
  }
  if (e.ov !== undefined) {
    if (typeof e.ov !== 'string') bad('ov');
    value = parseObjlnk(e.ov as string, name);
    count++;
  }
  if (count > 1) throw badRequest(`LwM2M JSON entry ${i} has more than one value`);
  return value;
}

/** Legacy LwM2M JSON codec (LwM2M 1.0 devices). Times ("bt", "t") are read past, not returned. */
export class JsonCodec implements NodeCodec {
  encode(node: LwM2mNode, path: Lwm2mPath, _model: Model): Uint8Array {
    const leaves = flatten(node, path, []);
    const base = path.toString();
    const deep = leaves.some((l) => l.ids.length > path.ids.length);
    const entries = leaves.map((leaf) => {
      const n = deep ? `"n":${jsonString(leaf.ids.slice(path.ids.length).join('/'))}` : '';
      const v = valueField(leaf.value);
      return '{' + [n, v].filter((s) => s !== '').join(',') + '}';
    });
    const bn = jsonString(deep ? base + '/' : base);
    return new Uint8Array(Buffer.from(`{"bn":${bn},"e":[${entries.join(',')}]}`, 'utf8'));
  }

  decode(payload: Uint8Array, path: Lwm2mPath, model: Model): LwM2mNode {
    const doc = parseJson(decodeUtf8(payload, 'LwM2M JSON'));
    if (!isJsonObject(doc)) throw badRequest('LwM2M JSON payload must be an object');
    const bn = doc.bn ?? '';
    if (typeof bn !== 'string') throw badRequest('LwM2M JSON: "bn" must be a string');
    const e = doc.e;
    if (!Array.isArray(e)) throw badRequest('LwM2M JSON: "e" must be an array');
    const base = path.toString();
    const leaves: Leaf[] = e.map((entry, i) => {
      if (!isJsonObject(entry)) throw badRequest(`LwM2M JSON entry ${i} is not an object`);
      const n = entry.n ?? '';
      if (typeof n !== 'string') throw badRequest(`LwM2M JSON entry ${i}: "n" must be a string`);
      let name = bn + n;
      // Names relative to the request path (no "bn") are resolved against it.
      if (!name.startsWith('/')) name = name === '' ? base : `${base}/${name}`;
      const p = leafPath(name);
      const raw = entryValue(entry, i, name);
      const def = resourceDef(model, p);
      if (raw === undefined && def?.type !== 'none') throw badRequest(`LwM2M JSON entry "${name}" has no value`);
      return { ids: p.ids, value: typeValue(raw ?? null, def?.type, name) };
    });
    return assemble(leaves, path, model);
  }
}

/** The shared legacy LwM2M JSON codec. */
export const jsonCodec = new JsonCodec();
