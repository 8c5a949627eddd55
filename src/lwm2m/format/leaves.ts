/**
 * Flat views of nodes: the (path, value) leaves that the multi-record formats (SenML, LwM2M CBOR,
 * legacy JSON) carry, and the assembly of leaves back into a node at a requested path.
 */
import { Lwm2mError, ResponseCode } from '../error.js';
import type { Model } from '../model.js';
import type {
  LwM2mNode,
  MultipleResourceNode,
  ObjectInstanceNode,
  ResourceNode,
  ResourceValue,
} from '../node.js';
import { Lwm2mPath } from '../path.js';
import { badRequest, notAcceptable } from './values.js';

/** One value at a resource (3 ids) or resource instance (4 ids) path. */
export interface Leaf {
  readonly ids: readonly number[];
  readonly value: ResourceValue;
  /** Seconds since the epoch (may be fractional), when the record carried a time. */
  readonly time?: number;
}

const KIND_DEPTH: Record<LwM2mNode['kind'], number> = {
  object: 1,
  instance: 2,
  singleResource: 3,
  multipleResource: 3,
  resourceInstance: 4,
};

/** Checks that `node` can sit at `path`; a mismatch is a caller bug (5.00). */
export function checkNodeAtPath(node: LwM2mNode, path: Lwm2mPath): void {
  const depth = KIND_DEPTH[node.kind];
  if (path.ids.length !== depth || path.ids[depth - 1] !== node.id) {
    throw new Lwm2mError(ResponseCode.InternalServerError, `a ${node.kind} node with id ${node.id} cannot sit at ${path}`);
  }
}

/** Appends the leaves of `node` (at `path`) to `out`; a multiple resource with no instances adds nothing. */
export function flatten(node: LwM2mNode, path: Lwm2mPath, out: Leaf[], time?: number): Leaf[] {
  checkNodeAtPath(node, path);
  pushLeaves(node, path.ids.slice(0, -1), out, time);
  return out;
}

function pushLeaves(node: LwM2mNode, parent: readonly number[], out: Leaf[], time: number | undefined): void {
  const ids = [...parent, node.id];
  switch (node.kind) {
    case 'object':
      for (const i of node.instances) pushLeaves(i, ids, out, time);
      return;
    case 'instance':
      for (const r of node.resources) pushLeaves(r, ids, out, time);
      return;
    case 'multipleResource':
      for (const [ri, value] of node.instances) out.push({ ids: [...ids, ri], value, time });
      return;
    case 'singleResource':
    case 'resourceInstance':
      out.push({ ids, value: node.value, time });
      return;
  }
}

/** Parses a record name into path ids; throws 4.00 when it is not an LwM2M path. */
export function parseName(name: string, where = 'record name'): Lwm2mPath {
  if (!name.startsWith('/')) throw badRequest(`${where} "${name}" is not an absolute LwM2M path`);
  try {
    return Lwm2mPath.parse(name);
  } catch {
    throw badRequest(`${where} "${name}" is not an LwM2M path`);
  }
}

/** Checks a leaf name: a resource or resource instance path. */
export function leafPath(name: string): Lwm2mPath {
  const p = parseName(name);
  if (p.ids.length < 3) throw badRequest(`record "${name}" carries a value but does not name a resource`);
  return p;
}

/**
 * Builds the node at `path` from leaves that all lie below it (LwM2M 1.1 Core §7.4.4: records of a
 * single-path payload). Multiple resources are recognised from the model or from 4-level names.
 */
export function assemble(leaves: readonly Leaf[], path: Lwm2mPath, model: Model): LwM2mNode {
  const depth = path.ids.length;
  if (depth === 0) throw notAcceptable('a single-path payload cannot address the root path');
  for (const leaf of leaves) {
    for (let i = 0; i < depth; i++) {
      if (leaf.ids[i] !== path.ids[i]) throw badRequest(`record /${leaf.ids.join('/')} is not below ${path}`);
    }
  }
  const ids = path.ids;
  switch (depth) {
    case 1:
      return { kind: 'object', id: ids[0], instances: groupInstances(leaves, ids[0], model) };
    case 2:
      return { kind: 'instance', id: ids[1], resources: groupResources(leaves, ids[0], model) };
    case 3:
      return buildResource(leaves, ids[0], ids[2], model);
    default: {
      if (leaves.length !== 1 || leaves[0].ids.length !== 4) {
        throw badRequest(`expected exactly one value for resource instance ${path}, got ${leaves.length}`);
      }
      return { kind: 'resourceInstance', id: ids[3], value: leaves[0].value };
    }
  }
}

function groupBy(leaves: readonly Leaf[], level: number): Map<number, Leaf[]> {
  const groups = new Map<number, Leaf[]>();
  for (const leaf of leaves) {
    const id = leaf.ids[level];
    let g = groups.get(id);
    if (!g) groups.set(id, (g = []));
    g.push(leaf);
  }
  return groups;
}

function groupInstances(leaves: readonly Leaf[], objectId: number, model: Model): ObjectInstanceNode[] {
  const out: ObjectInstanceNode[] = [];
  for (const [id, g] of groupBy(leaves, 1)) {
    out.push({ kind: 'instance', id, resources: groupResources(g, objectId, model) });
  }
  return out;
}

function groupResources(leaves: readonly Leaf[], objectId: number, model: Model): ResourceNode[] {
  const out: ResourceNode[] = [];
  for (const [id, g] of groupBy(leaves, 2)) out.push(buildResource(g, objectId, id, model));
  return out;
}

function buildResource(leaves: readonly Leaf[], objectId: number, resourceId: number, model: Model): ResourceNode {
  const def = model.resource(objectId, resourceId);
  const deep = leaves.some((l) => l.ids.length === 4);
  if (deep && def?.multiple === false) {
    throw badRequest(`single resource /${objectId}/*/${resourceId} cannot have resource instances`);
  }
  const multiple = def?.multiple === true || deep;
  if (!multiple) {
    if (leaves.length !== 1) {
      throw badRequest(`expected one value for single resource /${objectId}/*/${resourceId}, got ${leaves.length}`);
    }
    return { kind: 'singleResource', id: resourceId, value: leaves[0].value };
  }
  const instances = new Map<number, ResourceValue>();
  for (const leaf of leaves) {
    if (leaf.ids.length !== 4) {
      throw badRequest(`multiple resource /${leaf.ids.join('/')} needs resource instance ids in its records`);
    }
    if (instances.has(leaf.ids[3])) throw badRequest(`duplicate value for /${leaf.ids.join('/')}`);
    instances.set(leaf.ids[3], leaf.value);
  }
  const type = def?.type ?? leaves[0]?.value.type ?? 'opaque';
  const node: MultipleResourceNode = { kind: 'multipleResource', id: resourceId, type, instances };
  return node;
}

/** The node one leaf names on its own (Core §7.4.4 composite payloads): a single resource or a resource instance. */
export function leafNode(leaf: Leaf): LwM2mNode {
  const ids = leaf.ids;
  return ids.length === 4
    ? { kind: 'resourceInstance', id: ids[3], value: leaf.value }
    : { kind: 'singleResource', id: ids[2], value: leaf.value };
}
