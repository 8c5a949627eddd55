/**
 * OMA-TLV (Content-Format 11542), LwM2M 1.1 Core §7.4.3. Encoding sizes the whole payload first and
 * writes it into one preallocated buffer; decoding reads the input in place.
 */
import { Lwm2mError, ResponseCode } from '../error.js';
import type { Model } from '../model.js';
import type {
  LwM2mNode,
  ObjectInstanceNode,
  ResourceNode,
  ResourceValue,
} from '../node.js';
import type { Lwm2mPath } from '../path.js';
import { checkNodeAtPath } from './leaves.js';
import type { NodeCodec } from './types.js';
import { badRequest, decodeUtf8, normalizeInteger, secondsToTime, timeToSeconds } from './values.js';
import type { ResourceType } from '../model.js';

/** Bits 7-6 of the TLV type byte (Core §7.4.3, Table 7.4.3-1). */
const OBJECT_INSTANCE = 0;
const RESOURCE_INSTANCE = 1;
const MULTIPLE_RESOURCE = 2;
const RESOURCE = 3;

const MAX_LENGTH = 0xffffff;

function internal(message: string): Lwm2mError {
  return new Lwm2mError(ResponseCode.InternalServerError, message);
}

// ---- encoding ------------------------------------------------------------------------------

function signedSize(v: number | bigint): number {
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw internal(`integer value ${v} is not an integer`);
    if (v >= -0x80 && v <= 0x7f) return 1;
    if (v >= -0x8000 && v <= 0x7fff) return 2;
    if (v >= -0x80000000 && v <= 0x7fffffff) return 4;
    v = BigInt(v);
  }
  if (v >= -0x80n && v <= 0x7fn) return 1;
  if (v >= -0x8000n && v <= 0x7fffn) return 2;
  if (v >= -0x80000000n && v <= 0x7fffffffn) return 4;
  if (v >= -(2n ** 63n) && v < 2n ** 63n) return 8;
  throw internal(`integer value ${v} does not fit 64 bits`);
}

function unsignedSize(v: number | bigint): number {
  if (typeof v === 'number') {
    if (!Number.isInteger(v) || v < 0) throw internal(`unsigned integer value ${v} is invalid`);
    if (v <= 0xff) return 1;
    if (v <= 0xffff) return 2;
    if (v <= 0xffffffff) return 4;
    v = BigInt(v);
  }
  if (v < 0n || v >= 2n ** 64n) throw internal(`unsigned integer value ${v} does not fit 64 bits`);
  if (v <= 0xffn) return 1;
  if (v <= 0xffffn) return 2;
  if (v <= 0xffffffffn) return 4;
  return 8;
}

function valueSize(v: ResourceValue): number {
  switch (v.type) {
    case 'string':
    case 'corelnk':
      return Buffer.byteLength(v.value, 'utf8');
    case 'integer':
      return signedSize(v.value);
    case 'unsignedInteger':
      return unsignedSize(v.value);
    case 'float':
      // Four bytes when single precision is lossless, else eight (Core §7.4.3: 4 or 8 bytes).
      return Object.is(Math.fround(v.value), v.value) ? 4 : 8;
    case 'boolean':
      return 1;
    case 'time':
      return signedSize(timeToSeconds(v.value));
    case 'objlnk':
      return 4;
    case 'opaque':
      return v.value.byteLength;
    case 'none':
      return 0;
  }
}

function headerSize(id: number, length: number): number {
  if (length > MAX_LENGTH) {
    throw new Lwm2mError(ResponseCode.RequestEntityTooLarge, `TLV value of ${length} bytes exceeds 24-bit length`);
  }
  return 1 + (id > 0xff ? 2 : 1) + (length < 8 ? 0 : length <= 0xff ? 1 : length <= 0xffff ? 2 : 3);
}

function multipleContentSize(node: { instances: Map<number, ResourceValue> }): number {
  let size = 0;
  for (const [ri, v] of node.instances) {
    const vs = valueSize(v);
    size += headerSize(ri, vs) + vs;
  }
  return size;
}

function resourceSize(r: ResourceNode): number {
  const content = r.kind === 'singleResource' ? valueSize(r.value) : multipleContentSize(r);
  return headerSize(r.id, content) + content;
}

function resourcesSize(resources: readonly ResourceNode[]): number {
  let size = 0;
  for (const r of resources) size += resourceSize(r);
  return size;
}

function instanceSize(i: ObjectInstanceNode): number {
  const content = resourcesSize(i.resources);
  return headerSize(i.id, content) + content;
}

function writeHeader(buf: Buffer, off: number, type: number, id: number, length: number): number {
  const wideId = id > 0xff;
  const lengthType = length < 8 ? 0 : length <= 0xff ? 1 : length <= 0xffff ? 2 : 3;
  buf[off++] = (type << 6) | (wideId ? 0x20 : 0) | (lengthType << 3) | (lengthType === 0 ? length : 0);
  if (wideId) {
    buf.writeUInt16BE(id, off);
    off += 2;
  } else {
    buf[off++] = id;
  }
  if (lengthType === 1) buf[off++] = length;
  else if (lengthType === 2) {
    buf.writeUInt16BE(length, off);
    off += 2;
  } else if (lengthType === 3) {
    buf.writeUIntBE(length, off, 3);
    off += 3;
  }
  return off;
}

function writeSigned(buf: Buffer, off: number, v: number | bigint, size: number): number {
  switch (size) {
    case 1:
      buf.writeInt8(Number(v), off);
      break;
    case 2:
      buf.writeInt16BE(Number(v), off);
      break;
    case 4:
      buf.writeInt32BE(Number(v), off);
      break;
    default:
      buf.writeBigInt64BE(BigInt(v), off);
  }
  return off + size;
}

function writeUnsigned(buf: Buffer, off: number, v: number | bigint, size: number): number {
  switch (size) {
    case 1:
      buf[off] = Number(v);
      break;
    case 2:
      buf.writeUInt16BE(Number(v), off);
      break;
    case 4:
      buf.writeUInt32BE(Number(v), off);
      break;
    default:
      buf.writeBigUInt64BE(BigInt(v), off);
  }
  return off + size;
}

/** Writes one value TLV (type RESOURCE or RESOURCE_INSTANCE). */
function writeValueTlv(buf: Buffer, off: number, type: number, id: number, v: ResourceValue): number {
  const size = valueSize(v);
  off = writeHeader(buf, off, type, id, size);
  switch (v.type) {
    case 'string':
    case 'corelnk':
      return off + buf.write(v.value, off, size, 'utf8');
    case 'integer':
      return writeSigned(buf, off, v.value, size);
    case 'unsignedInteger':
      return writeUnsigned(buf, off, v.value, size);
    case 'float':
      return size === 4 ? buf.writeFloatBE(v.value, off) : buf.writeDoubleBE(v.value, off);
    case 'boolean':
      buf[off] = v.value ? 1 : 0;
      return off + 1;
    case 'time':
      return writeSigned(buf, off, timeToSeconds(v.value), size);
    case 'objlnk':
      buf.writeUInt16BE(v.value.objectId, off);
      buf.writeUInt16BE(v.value.instanceId, off + 2);
      return off + 4;
    case 'opaque':
      buf.set(v.value, off);
      return off + size;
    case 'none':
      return off;
  }
}

function writeResource(buf: Buffer, off: number, r: ResourceNode): number {
  if (r.kind === 'singleResource') return writeValueTlv(buf, off, RESOURCE, r.id, r.value);
  off = writeHeader(buf, off, MULTIPLE_RESOURCE, r.id, multipleContentSize(r));
  for (const [ri, v] of r.instances) off = writeValueTlv(buf, off, RESOURCE_INSTANCE, ri, v);
  return off;
}

function writeInstance(buf: Buffer, off: number, i: ObjectInstanceNode): number {
  off = writeHeader(buf, off, OBJECT_INSTANCE, i.id, resourcesSize(i.resources));
  for (const r of i.resources) off = writeResource(buf, off, r);
  return off;
}

// ---- decoding ------------------------------------------------------------------------------

/** The TLV most recently read by readTlv (reused: decoding is synchronous). */
const tlv = { type: 0, id: 0, start: 0, end: 0 };

/** Reads the TLV header at `off` into `tlv`; returns the offset after its value. */
function readTlv(buf: Buffer, off: number, end: number): number {
  if (off + 2 > end) throw badRequest(`truncated TLV header at byte ${off}`);
  const t = buf[off++];
  tlv.type = t >> 6;
  if (t & 0x20) {
    if (off + 2 > end) throw badRequest(`truncated TLV identifier at byte ${off}`);
    tlv.id = buf.readUInt16BE(off);
    off += 2;
  } else {
    tlv.id = buf[off++];
  }
  const lengthType = (t >> 3) & 3;
  let length = t & 7;
  if (lengthType > 0) {
    if (off + lengthType > end) throw badRequest(`truncated TLV length at byte ${off}`);
    length = buf.readUIntBE(off, lengthType);
    off += lengthType;
  }
  if (off + length > end) {
    throw badRequest(`TLV value of ${length} bytes at byte ${off} overruns its container (${end - off} bytes left)`);
  }
  tlv.start = off;
  tlv.end = off + length;
  return tlv.end;
}

function readSigned(buf: Buffer, start: number, length: number, where: string): number | bigint {
  switch (length) {
    case 1:
      return buf.readInt8(start);
    case 2:
      return buf.readInt16BE(start);
    case 4:
      return buf.readInt32BE(start);
    case 8:
      return normalizeInteger(buf.readBigInt64BE(start));
    default:
      throw badRequest(`${where}: integer TLV must be 1, 2, 4 or 8 bytes, got ${length}`);
  }
}

function readUnsigned(buf: Buffer, start: number, length: number, where: string): number | bigint {
  switch (length) {
    case 1:
      return buf[start];
    case 2:
      return buf.readUInt16BE(start);
    case 4:
      return buf.readUInt32BE(start);
    case 8:
      return normalizeInteger(buf.readBigUInt64BE(start));
    default:
      throw badRequest(`${where}: unsigned integer TLV must be 1, 2, 4 or 8 bytes, got ${length}`);
  }
}

/** Decodes the value of the TLV in `tlv` as `type` (Core §7.4.3.1 data types). */
function readValue(buf: Buffer, type: ResourceType, where: string): ResourceValue {
  const { start, end } = tlv;
  const length = end - start;
  switch (type) {
    case 'string':
    case 'corelnk':
      return { type, value: decodeUtf8(buf.subarray(start, end), where) };
    case 'integer':
      return { type, value: readSigned(buf, start, length, where) };
    case 'unsignedInteger':
      return { type, value: readUnsigned(buf, start, length, where) };
    case 'float':
      if (length === 4) return { type, value: buf.readFloatBE(start) };
      if (length === 8) return { type, value: buf.readDoubleBE(start) };
      throw badRequest(`${where}: float TLV must be 4 or 8 bytes, got ${length}`);
    case 'boolean':
      if (length !== 1 || buf[start] > 1) throw badRequest(`${where}: boolean TLV must be one byte 0 or 1`);
      return { type, value: buf[start] === 1 };
    case 'time':
      return { type, value: secondsToTime(readSigned(buf, start, length, where), where) };
    case 'objlnk':
      if (length !== 4) throw badRequest(`${where}: objlnk TLV must be 4 bytes, got ${length}`);
      return { type, value: { objectId: buf.readUInt16BE(start), instanceId: buf.readUInt16BE(start + 2) } };
    case 'opaque':
      return { type, value: new Uint8Array(buf.subarray(start, end)) };
    case 'none':
      return { type, value: null };
  }
}

function typeName(t: number): string {
  return ['object instance', 'resource instance', 'multiple resource', 'resource'][t];
}

/** Decodes the resource TLV currently in `tlv` (type RESOURCE or MULTIPLE_RESOURCE). */
function readResource(buf: Buffer, objectId: number, instanceId: number, model: Model): ResourceNode {
  const id = tlv.id;
  const def = model.resource(objectId, id);
  const type = def?.type ?? 'opaque';
  const where = `/${objectId}/${instanceId}/${id}`;
  if (tlv.type === RESOURCE) return { kind: 'singleResource', id, value: readValue(buf, type, where) };
  if (tlv.type !== MULTIPLE_RESOURCE) throw badRequest(`${where}: expected a resource TLV, got ${typeName(tlv.type)}`);
  return { kind: 'multipleResource', id, type, instances: readInstances(buf, tlv.start, tlv.end, type, where) };
}

function readInstances(buf: Buffer, off: number, end: number, type: ResourceType, where: string): Map<number, ResourceValue> {
  const instances = new Map<number, ResourceValue>();
  while (off < end) {
    off = readTlv(buf, off, end);
    if (tlv.type !== RESOURCE_INSTANCE) {
      throw badRequest(`${where}: expected a resource instance TLV, got ${typeName(tlv.type)}`);
    }
    if (instances.has(tlv.id)) throw badRequest(`${where}/${tlv.id}: duplicate resource instance`);
    instances.set(tlv.id, readValue(buf, type, `${where}/${tlv.id}`));
  }
  return instances;
}

function readResources(buf: Buffer, off: number, end: number, objectId: number, instanceId: number, model: Model): ResourceNode[] {
  const resources: ResourceNode[] = [];
  while (off < end) {
    off = readTlv(buf, off, end);
    const id = tlv.id;
    if (resources.some((r) => r.id === id)) throw badRequest(`/${objectId}/${instanceId}/${id}: duplicate resource`);
    resources.push(readResource(buf, objectId, instanceId, model));
  }
  return resources;
}

function firstType(buf: Buffer, end: number): number {
  if (end === 0) return -1;
  readTlv(buf, 0, end);
  return tlv.type;
}

/** OMA-TLV codec: every node kind, typed by the model (unknown resources decode as opaque). */
export class TlvCodec implements NodeCodec {
  encode(node: LwM2mNode, path: Lwm2mPath, _model: Model): Uint8Array {
    checkNodeAtPath(node, path);
    let buf: Buffer;
    switch (node.kind) {
      case 'object': {
        let size = 0;
        for (const i of node.instances) size += instanceSize(i);
        buf = Buffer.allocUnsafe(size);
        let off = 0;
        for (const i of node.instances) off = writeInstance(buf, off, i);
        break;
      }
      case 'instance': {
        // A read of /o/i answers with the resource TLVs themselves (Core §7.4.3.2, example for /3/0).
        buf = Buffer.allocUnsafe(resourcesSize(node.resources));
        let off = 0;
        for (const r of node.resources) off = writeResource(buf, off, r);
        break;
      }
      case 'singleResource':
      case 'multipleResource':
        buf = Buffer.allocUnsafe(resourceSize(node));
        writeResource(buf, 0, node);
        break;
      case 'resourceInstance': {
        const vs = valueSize(node.value);
        buf = Buffer.allocUnsafe(headerSize(node.id, vs) + vs);
        writeValueTlv(buf, 0, RESOURCE_INSTANCE, node.id, node.value);
        break;
      }
    }
    return buf;
  }

  decode(payload: Uint8Array, path: Lwm2mPath, model: Model): LwM2mNode {
    const buf = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
    const end = buf.length;
    const ids = path.ids;
    switch (ids.length) {
      case 0:
        throw badRequest('a TLV payload cannot be addressed to the root path');
      case 1:
        return { kind: 'object', id: ids[0], instances: this.decodeInstances(buf, end, ids[0], model) };
      case 2: {
        let start = 0;
        let stop = end;
        if (firstType(buf, end) === OBJECT_INSTANCE) {
          // One object instance TLV wrapping the resources (Core §7.4.3.2, multiple instance example).
          const next = readTlv(buf, 0, end);
          if (next !== end) throw badRequest(`TLV for ${path} holds more than one object instance`);
          if (tlv.id !== ids[1]) throw badRequest(`TLV object instance ${tlv.id} does not match ${path}`);
          start = tlv.start;
          stop = tlv.end;
        }
        return { kind: 'instance', id: ids[1], resources: readResources(buf, start, stop, ids[0], ids[1], model) };
      }
      case 3: {
        const where = path.toString();
        const def = model.resource(ids[0], ids[2]);
        const type = def?.type ?? 'opaque';
        if (end === 0) {
          if (def?.multiple) return { kind: 'multipleResource', id: ids[2], type, instances: new Map() };
          throw badRequest(`empty TLV payload for resource ${path}`);
        }
        if (firstType(buf, end) === RESOURCE_INSTANCE) {
          return { kind: 'multipleResource', id: ids[2], type, instances: readInstances(buf, 0, end, type, where) };
        }
        const next = readTlv(buf, 0, end);
        if (next !== end) throw badRequest(`TLV for resource ${path} holds more than one resource`);
        if (tlv.id !== ids[2]) throw badRequest(`TLV resource ${tlv.id} does not match ${path}`);
        return readResource(buf, ids[0], ids[1], model);
      }
      default: {
        const where = path.toString();
        const next = readTlv(buf, 0, end);
        if (next !== end) throw badRequest(`TLV for resource instance ${path} holds more than one value`);
        if (tlv.type !== RESOURCE_INSTANCE && tlv.type !== RESOURCE) {
          throw badRequest(`${where}: expected a resource instance TLV, got ${typeName(tlv.type)}`);
        }
        if (tlv.id !== ids[3]) throw badRequest(`TLV resource instance ${tlv.id} does not match ${path}`);
        const type = model.resource(ids[0], ids[2])?.type ?? 'opaque';
        return { kind: 'resourceInstance', id: ids[3], value: readValue(buf, type, where) };
      }
    }
  }

  private decodeInstances(buf: Buffer, end: number, objectId: number, model: Model): ObjectInstanceNode[] {
    const first = firstType(buf, end);
    if (first === -1) return [];
    if (first !== OBJECT_INSTANCE) {
      // Resources without an instance wrapper: a single-instance object's instance 0.
      return [{ kind: 'instance', id: 0, resources: readResources(buf, 0, end, objectId, 0, model) }];
    }
    const instances: ObjectInstanceNode[] = [];
    let off = 0;
    while (off < end) {
      off = readTlv(buf, off, end);
      if (tlv.type !== OBJECT_INSTANCE) {
        throw badRequest(`/${objectId}: expected an object instance TLV, got ${typeName(tlv.type)}`);
      }
      const id = tlv.id;
      if (instances.some((i) => i.id === id)) throw badRequest(`/${objectId}/${id}: duplicate object instance`);
      instances.push({ kind: 'instance', id, resources: readResources(buf, tlv.start, tlv.end, objectId, id, model) });
    }
    return instances;
  }
}

/** The shared OMA-TLV codec. */
export const tlvCodec = new TlvCodec();
