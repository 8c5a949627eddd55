/**
 * LwM2M CBOR (Content-Format 11544), LwM2M 1.2 Core §7.4.6: nested CBOR maps keyed by path ids
 * from the object down, where a key may be an array of ids that collapses several levels.
 */
import { Lwm2mError, ResponseCode } from '../error.js';
import type { Model } from '../model.js';
import type { LwM2mNode, ResourceValue } from '../node.js';
import { Lwm2mPath } from '../path.js';
import { cborDecode, cborEncode, cborInteger } from './cbor.js';
import { assemble, flatten, leafNode, type Leaf } from './leaves.js';
import type { CompositeCodec, PathNode } from './types.js';
import { badRequest, formatObjlnk, timeToSeconds, typeValue, type RawValue } from './values.js';

type Tree = Map<number, Tree | unknown>;

function toCbor(v: ResourceValue): unknown {
  switch (v.type) {
    case 'string':
    case 'corelnk':
    case 'boolean':
    case 'float':
    case 'opaque':
      return v.value;
    case 'integer':
    case 'unsignedInteger':
      return cborInteger(v.value);
    case 'time':
      // Tag 1 with integer seconds (RFC 8949 §3.4.2).
      return new Date(timeToSeconds(v.value) * 1000);
    case 'objlnk':
      return formatObjlnk(v.value);
    case 'none':
      return null;
  }
}

function insert(tree: Tree, leaf: Leaf): void {
  let t = tree;
  const ids = leaf.ids;
  for (let i = 0; i < ids.length - 1; i++) {
    let next = t.get(ids[i]);
    if (!(next instanceof Map)) {
      if (next !== undefined) throw badRequest(`/${ids.slice(0, i + 1).join('/')} has both a value and children`);
      t.set(ids[i], (next = new Map()));
    }
    t = next as Tree;
  }
  if (t.get(ids[ids.length - 1]) instanceof Map) throw badRequest(`/${ids.join('/')} has both a value and children`);
  t.set(ids[ids.length - 1], toCbor(leaf.value));
}

/** Emits a tree as maps, collapsing single-child chains into array keys (Core §7.4.6). */
function collapse(tree: Tree): Map<number | number[], unknown> {
  const out = new Map<number | number[], unknown>();
  for (const [id, child] of tree) {
    const key = [id];
    let node = child;
    while (node instanceof Map && node.size === 1) {
      const [[k, v]] = node as Tree;
      key.push(k);
      node = v;
    }
    out.set(key.length === 1 ? id : key, node instanceof Map ? collapse(node as Tree) : node);
  }
  return out;
}

function encodeLeaves(leaves: readonly Leaf[]): Uint8Array {
  const tree: Tree = new Map();
  for (const leaf of leaves) insert(tree, leaf);
  return cborEncode(collapse(tree));
}

function keyIds(key: unknown, prefix: readonly number[]): number[] {
  const ids = [...prefix];
  const parts = Array.isArray(key) ? (key as unknown[]) : [key];
  if (parts.length === 0) throw badRequest('LwM2M CBOR: empty array key');
  for (const p of parts) {
    if (typeof p !== 'number' || !Number.isInteger(p) || p < 0 || p > 65535) {
      throw badRequest(`LwM2M CBOR: invalid path key ${String(p)} below /${prefix.join('/')}`);
    }
    ids.push(p);
  }
  if (ids.length > 4) throw badRequest(`LwM2M CBOR: path /${ids.join('/')} is deeper than a resource instance`);
  return ids;
}

function rawValue(v: unknown, ids: readonly number[]): RawValue {
  if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') {
    return v;
  }
  // cbor-x hands out Buffers (copies, see cbor.ts); values are plain Uint8Arrays.
  if (v instanceof Uint8Array) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  if (v instanceof Date) {
    if (Number.isNaN(v.getTime())) throw badRequest(`LwM2M CBOR: invalid time at /${ids.join('/')}`);
    return v;
  }
  throw badRequest(`LwM2M CBOR: unsupported value at /${ids.join('/')}`);
}

interface RawLeaf {
  ids: number[];
  raw: RawValue;
}

function walk(map: Map<unknown, unknown>, prefix: readonly number[], out: RawLeaf[]): void {
  for (const [key, v] of map) {
    const ids = keyIds(key, prefix);
    if (v instanceof Map) {
      walk(v, ids, out);
      continue;
    }
    if (ids.length < 3) throw badRequest(`LwM2M CBOR: value at /${ids.join('/')} does not name a resource`);
    out.push({ ids, raw: rawValue(v, ids) });
  }
}

function decodeLeaves(payload: Uint8Array, model: Model): Leaf[] {
  const doc = cborDecode(payload, 'LwM2M CBOR');
  if (!(doc instanceof Map)) throw badRequest('LwM2M CBOR payload must be a map');
  const raws: RawLeaf[] = [];
  walk(doc, [], raws);
  // Keys [6] and 6, or a value at /3/0/6 beside /3/0/6/1, name one node twice (Core §7.4.6 trees have one node per path).
  const seen = new Set<string>();
  for (const { ids } of raws) {
    const key = ids.join('/');
    if (seen.has(key)) throw badRequest(`LwM2M CBOR: /${key} appears twice`);
    seen.add(key);
  }
  for (const { ids } of raws) {
    if (ids.length === 4 && seen.has(ids.slice(0, 3).join('/'))) throw badRequest(`LwM2M CBOR: /${ids.slice(0, 3).join('/')} has both a value and children`);
  }
  return raws.map(({ ids, raw }) => {
    const def = model.resource(ids[0], ids[2]);
    return { ids, value: typeValue(raw, def?.type, '/' + ids.join('/')) };
  });
}

/** LwM2M CBOR codec. Path-only payloads (Read-/Observe-Composite requests) are not part of this format. */
export class Lwm2mCborCodec implements CompositeCodec {
  encode(node: LwM2mNode, path: Lwm2mPath, _model: Model): Uint8Array {
    return encodeLeaves(flatten(node, path, []));
  }

  decode(payload: Uint8Array, path: Lwm2mPath, model: Model): LwM2mNode {
    return assemble(decodeLeaves(payload, model), path, model);
  }

  /** Times are not carried: LwM2M CBOR has no timestamps. */
  encodeNodes(nodes: readonly PathNode[], _model: Model): Uint8Array {
    const leaves: Leaf[] = [];
    for (const pn of nodes) flatten(pn.node, pn.path, leaves);
    return encodeLeaves(leaves);
  }

  decodeNodes(payload: Uint8Array, model: Model): PathNode[] {
    return decodeLeaves(payload, model).map((leaf) => ({ path: Lwm2mPath.of(...leaf.ids), node: leafNode(leaf) }));
  }

  encodePaths(_paths: readonly Lwm2mPath[]): Uint8Array {
    throw new Lwm2mError(ResponseCode.UnsupportedContentFormat, 'LwM2M CBOR has no path-only form; use SenML');
  }

  decodePaths(_payload: Uint8Array): Lwm2mPath[] {
    throw new Lwm2mError(ResponseCode.UnsupportedContentFormat, 'LwM2M CBOR has no path-only form; use SenML');
  }
}

/** The shared LwM2M CBOR codec. */
export const lwm2mCborCodec = new Lwm2mCborCodec();
