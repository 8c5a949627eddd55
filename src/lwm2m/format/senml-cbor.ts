/** SenML CBOR (Content-Format 112), RFC 8428 §6 as LwM2M 1.1 Core §7.4.5 profiles it. */
import { cborDecode, cborEncode, cborInteger } from './cbor.js';
import { SenmlCodec, type SenmlOptions, type SenmlRecord } from './senml.js';
import { badRequest } from './values.js';

/** CBOR labels (RFC 8428 §6, Table 6); "vlo" keeps its text label (Core §7.4.5). */
const BN = -2;
const BT = -3;
const N = 0;
const V = 2;
const VS = 3;
const VB = 4;
const T = 6;
const VD = 8;
const VLO = 'vlo';

function wrong(label: string | number, index: number): never {
  throw badRequest(`SenML CBOR record ${index}: label ${label} has the wrong type`);
}

function num(v: unknown, label: number, i: number): number | bigint {
  if (typeof v === 'number' || typeof v === 'bigint') return v;
  return wrong(label, i);
}

function str(v: unknown, label: number | string, i: number): string {
  return typeof v === 'string' ? v : wrong(label, i);
}

/** Parses SenML CBOR into records (RFC 8428 §6: an array of maps with integer labels). */
export function parseSenmlCbor(payload: Uint8Array): SenmlRecord[] {
  const doc = cborDecode(payload, 'SenML CBOR');
  if (!Array.isArray(doc)) throw badRequest('SenML CBOR payload must be an array of records');
  return doc.map((item: unknown, i) => {
    if (!(item instanceof Map)) throw badRequest(`SenML CBOR record ${i} is not a map`);
    const r: SenmlRecord = {};
    for (const [key, v] of item as Map<unknown, unknown>) {
      switch (key) {
        case BN:
          r.bn = str(v, key, i);
          break;
        case BT:
          r.bt = Number(num(v, key, i));
          break;
        case N:
          r.n = str(v, key, i);
          break;
        case T:
          r.t = Number(num(v, key, i));
          break;
        case V:
          r.v = num(v, key, i);
          break;
        case VS:
          r.vs = str(v, key, i);
          break;
        case VB:
          if (typeof v !== 'boolean') wrong(key, i);
          r.vb = v;
          break;
        case VD:
          if (!(v instanceof Uint8Array)) wrong(key, i);
          r.vd = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
          break;
        case VLO:
          r.vlo = str(v, key, i);
          break;
        default:
          // Text labels ending in "_" must be understood (RFC 8428 §4.4); other unknown labels are ignored.
          if (typeof key === 'string' && key.endsWith('_')) {
            throw badRequest(`SenML CBOR record ${i}: unsupported must-understand label "${key}"`);
          }
      }
    }
    return r;
  });
}

/** Writes records as SenML CBOR with integer labels. */
export function writeSenmlCbor(records: readonly SenmlRecord[]): Uint8Array {
  const items = new Array<Map<number | string, unknown>>(records.length);
  for (let i = 0; i < records.length; i++) {
    const r = records[i];
    const m = new Map<number | string, unknown>();
    if (r.bn !== undefined) m.set(BN, r.bn);
    if (r.bt !== undefined) m.set(BT, r.bt);
    if (r.n !== undefined) m.set(N, r.n);
    if (r.t !== undefined) m.set(T, r.t);
    if (r.v !== undefined) m.set(V, cborInteger(r.v));
    if (r.vs !== undefined) m.set(VS, r.vs);
    if (r.vb !== undefined) m.set(VB, r.vb);
    if (r.vd !== undefined) m.set(VD, r.vd);
    if (r.vlo !== undefined) m.set(VLO, r.vlo);
    items[i] = m;
  }
  return cborEncode(items);
}

/** SenML CBOR codec: single-path and composite. */
export class SenmlCborCodec extends SenmlCodec {
  constructor(options: SenmlOptions = {}) {
    super(options);
  }

  parseRecords(payload: Uint8Array): SenmlRecord[] {
    return parseSenmlCbor(payload);
  }

  writeRecords(records: readonly SenmlRecord[]): Uint8Array {
    return writeSenmlCbor(records);
  }
}

/** The shared SenML CBOR codec (relative times resolved against Date.now). */
export const senmlCborCodec = new SenmlCborCodec();
