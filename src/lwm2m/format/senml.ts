/**
 * The SenML record model (RFC 8428) as LwM2M 1.1 uses it (Core §7.4.4, §7.4.5), shared by SenML JSON
 * and SenML CBOR: base name and base time resolution, relative times, and conversion between
 * records and typed LwM2M nodes.
 */
import type { Model } from '../model.js';
import type { LwM2mNode, ResourceValue } from '../node.js';
import { Lwm2mPath } from '../path.js';
import { assemble, flatten, leafNode, leafPath, parseName, type Leaf } from './leaves.js';
import type { CompositeCodec, PathNode } from './types.js';
import {
  badRequest,
  formatObjlnk,
  parseObjlnk,
  resourceDef,
  timeToSeconds,
  typeValue,
  type RawValue,
} from './values.js';

/** One SenML record with the fields LwM2M uses (RFC 8428 §4.1; "vlo" is LwM2M's object link, Core §7.4.4). */
export interface SenmlRecord {
  bn?: string;
  bt?: number;
  n?: string;
  t?: number;
  v?: number | bigint;
  vs?: string;
  vb?: boolean;
  vd?: Uint8Array;
  vlo?: string;
}

/** Options for the SenML codecs. */
export interface SenmlOptions {
  /** Current time in milliseconds, for relative record times (RFC 8428 §4.5.3). Defaults to Date.now. */
  now?: () => number;
}

/** A record after base-value resolution (RFC 8428 §4.6). */
export interface ResolvedRecord {
  name: string;
  /** Seconds since the epoch; absent when the record carried no time. */
  time?: number;
  /** undefined when the record has no value field (a name-only record). */
  value: RawValue | undefined;
}

/** Times below 2^28 are relative to now (RFC 8428 §4.5.3). */
const RELATIVE_TIME_LIMIT = 2 ** 28;

/** Resolves base names and base times (RFC 8428 §4.6); checks each record holds at most one value. */
export function resolveRecords(records: readonly SenmlRecord[], now: () => number): ResolvedRecord[] {
  let bn = '';
  let bt: number | undefined;
  let nowSeconds: number | undefined;
  const out: ResolvedRecord[] = new Array(records.length);
  for (let i = 0; i < records.length; i++) {
    const r = records[i];
    if (r.bn !== undefined) bn = r.bn;
    if (r.bt !== undefined) bt = r.bt;
    const name = bn + (r.n ?? '');
    let time: number | undefined;
    if (bt !== undefined || r.t !== undefined) {
      time = (bt ?? 0) + (r.t ?? 0);
      if (time < RELATIVE_TIME_LIMIT) time += nowSeconds ??= now() / 1000;
    }
    let value: RawValue | undefined;
    let count = 0;
    if (r.v !== undefined) (value = r.v), count++;
    if (r.vs !== undefined) (value = r.vs), count++;
    if (r.vb !== undefined) (value = r.vb), count++;
    if (r.vd !== undefined) (value = r.vd), count++;
    if (r.vlo !== undefined) (value = parseObjlnk(r.vlo, name)), count++;
    if (count > 1) throw badRequest(`SenML record "${name}" has more than one value field`);
    out[i] = time === undefined ? { name, value } : { name, time, value };
  }
  return out;
}

/** Sets the value field of `record` for a typed value (Core §7.4.4 type mapping). */
export function putValue(record: SenmlRecord, v: ResourceValue): void {
  switch (v.type) {
    case 'string':
    case 'corelnk':
      record.vs = v.value;
      return;
    case 'integer':
    case 'unsignedInteger':
    case 'float':
      record.v = v.value;
      return;
    case 'boolean':
      record.vb = v.value;
      return;
    case 'opaque':
      record.vd = v.value;
      return;
    case 'time':
      record.v = timeToSeconds(v.value);
      return;
    case 'objlnk':
      record.vlo = formatObjlnk(v.value);
      return;
    case 'none':
      return;
  }
}

/** Types a resolved record as a leaf; name-only records are values only for resources typed 'none'. */
export function recordToLeaf(rec: ResolvedRecord, path: Lwm2mPath, model: Model): Leaf {
  const def = resourceDef(model, path);
  if (rec.value === undefined && def?.type !== 'none') throw badRequest(`SenML record "${rec.name}" has no value`);
  const value = typeValue(rec.value ?? null, def?.type, rec.name);
  return rec.time === undefined ? { ids: path.ids, value } : { ids: path.ids, value, time: rec.time };
}

/** Records for a node at `path`: one base name (the path) and names relative to it. */
export function nodeToRecords(node: LwM2mNode, path: Lwm2mPath): SenmlRecord[] {
  const leaves = flatten(node, path, []);
  const base = path.toString();
  const deep = leaves.some((l) => l.ids.length > path.ids.length);
  const records: SenmlRecord[] = new Array(leaves.length);
  for (let i = 0; i < leaves.length; i++) {
    const leaf = leaves[i];
    const r: SenmlRecord = {};
    if (i === 0) r.bn = deep ? base + '/' : base;
    if (deep) r.n = leaf.ids.slice(path.ids.length).join('/');
    putValue(r, leaf.value);
    records[i] = r;
  }
  return records;
}

/** Records for composite payloads: full names, and the node's time as "t" in seconds. */
export function pathNodesToRecords(nodes: readonly PathNode[]): SenmlRecord[] {
  const leaves: Leaf[] = [];
  for (const pn of nodes) flatten(pn.node, pn.path, leaves, pn.time ? pn.time.getTime() / 1000 : undefined);
  return leaves.map((leaf) => {
    const r: SenmlRecord = { n: '/' + leaf.ids.join('/') };
    if (leaf.time !== undefined) r.t = leaf.time;
    putValue(r, leaf.value);
    return r;
  });
}

/** SenML over some serialization: everything but parsing and writing the records. */
export abstract class SenmlCodec implements CompositeCodec {
  private readonly now: () => number;

  constructor(options: SenmlOptions = {}) {
    this.now = options.now ?? Date.now;
  }

  /** Parses a payload into records; throws 4.00 on malformed input. */
  abstract parseRecords(payload: Uint8Array): SenmlRecord[];
  /** Serializes records. */
  abstract writeRecords(records: readonly SenmlRecord[]): Uint8Array;

  encode(node: LwM2mNode, path: Lwm2mPath, _model: Model): Uint8Array {
    return this.writeRecords(nodeToRecords(node, path));
  }

  decode(payload: Uint8Array, path: Lwm2mPath, model: Model): LwM2mNode {
    const base = path.toString();
    const leaves = resolveRecords(this.parseRecords(payload), this.now).map((rec) => {
      // Names relative to the request path are accepted from peers that omit the base name.
      if (!rec.name.startsWith('/')) rec.name = rec.name === '' ? base : `${base}/${rec.name}`;
      return recordToLeaf(rec, leafPath(rec.name), model);
    });
    return assemble(leaves, path, model);
  }

  encodeNodes(nodes: readonly PathNode[], _model: Model): Uint8Array {
    return this.writeRecords(pathNodesToRecords(nodes));
  }

  decodeNodes(payload: Uint8Array, model: Model): PathNode[] {
    return resolveRecords(this.parseRecords(payload), this.now).map((rec) => {
      const path = leafPath(rec.name);
      const leaf = recordToLeaf(rec, path, model);
      const pn: PathNode = { path, node: leafNode(leaf) };
      if (leaf.time !== undefined) {
        pn.time = new Date(Math.round(leaf.time * 1000));
        // A time outside what a Date holds (ECMA-262 §21.4.1.1: ±8.64e15 ms) cannot be reported on.
        if (Number.isNaN(pn.time.getTime())) throw badRequest(`SenML record "${rec.name}": time ${leaf.time} is out of range`);
      }
      return pn;
    });
  }

  encodePaths(paths: readonly Lwm2mPath[]): Uint8Array {
    return this.writeRecords(paths.map((p) => ({ n: p.toString() })));
  }

  decodePaths(payload: Uint8Array): Lwm2mPath[] {
    return resolveRecords(this.parseRecords(payload), this.now).map((rec) => parseName(rec.name));
  }
}
