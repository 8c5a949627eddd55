/** SenML JSON (Content-Format 110), RFC 8428 §5 as LwM2M 1.1 Core §7.4.4 profiles it. */
import { isJsonObject, jsonNumber, jsonString, parseJson, type JsonValue } from './json-text.js';
import { SenmlCodec, type SenmlOptions, type SenmlRecord } from './senml.js';
import { badRequest, decodeUtf8, fromBase64, toBase64Url } from './values.js';

function field<T>(value: JsonValue, ok: boolean, label: string, index: number): T {
  if (!ok) throw badRequest(`SenML JSON record ${index}: "${label}" has the wrong type`);
  return value as T;
}

/** Parses SenML JSON text into records (RFC 8428 §5: an array of objects). */
export function parseSenmlJson(payload: Uint8Array): SenmlRecord[] {
  const doc = parseJson(decodeUtf8(payload, 'SenML JSON'));
  if (!Array.isArray(doc)) throw badRequest('SenML JSON payload must be an array of records');
  return doc.map((item, i) => {
    if (!isJsonObject(item)) throw badRequest(`SenML JSON record ${i} is not an object`);
    const r: SenmlRecord = {};
    for (const key in item) {
      const v = item[key];
      const isNum = typeof v === 'number' || typeof v === 'bigint';
      switch (key) {
        case 'bn':
          r.bn = field<string>(v, typeof v === 'string', key, i);
          break;
        case 'bt':
          r.bt = Number(field<number | bigint>(v, isNum, key, i));
          break;
        case 'n':
          r.n = field<string>(v, typeof v === 'string', key, i);
          break;
        case 't':
          r.t = Number(field<number | bigint>(v, isNum, key, i));
          break;
        case 'v':
          r.v = field<number | bigint>(v, isNum, key, i);
          break;
        case 'vs':
          r.vs = field<string>(v, typeof v === 'string', key, i);
          break;
        case 'vb':
          r.vb = field<boolean>(v, typeof v === 'boolean', key, i);
          break;
        case 'vd':
          // Base64url, padding optional (RFC 8428 §5).
          r.vd = fromBase64(field<string>(v, typeof v === 'string', key, i), `SenML JSON record ${i} "vd"`);
          break;
        case 'vlo':
          r.vlo = field<string>(v, typeof v === 'string', key, i);
          break;
        default:
          // Labels ending in "_" must be understood (RFC 8428 §4.4); others may be ignored.
          if (key.endsWith('_')) throw badRequest(`SenML JSON record ${i}: unsupported must-understand label "${key}"`);
      }
    }
    return r;
  });
}

/** Writes records as compact SenML JSON. */
export function writeSenmlJson(records: readonly SenmlRecord[]): Uint8Array {
  const parts: string[] = new Array(records.length);
  for (let i = 0; i < records.length; i++) {
    const r = records[i];
    let s = '';
    if (r.bn !== undefined) s += `,"bn":${jsonString(r.bn)}`;
    if (r.bt !== undefined) s += `,"bt":${jsonNumber(r.bt)}`;
    if (r.n !== undefined) s += `,"n":${jsonString(r.n)}`;
    if (r.t !== undefined) s += `,"t":${jsonNumber(r.t)}`;
    if (r.v !== undefined) s += `,"v":${jsonNumber(r.v)}`;
    if (r.vs !== undefined) s += `,"vs":${jsonString(r.vs)}`;
    if (r.vb !== undefined) s += `,"vb":${r.vb}`;
    if (r.vd !== undefined) s += `,"vd":"${toBase64Url(r.vd)}"`;
    if (r.vlo !== undefined) s += `,"vlo":${jsonString(r.vlo)}`;
    parts[i] = '{' + s.slice(1) + '}';
  }
  return new Uint8Array(Buffer.from('[' + parts.join(',') + ']', 'utf8'));
}

/** SenML JSON codec: single-path and composite. */
export class SenmlJsonCodec extends SenmlCodec {
  constructor(options: SenmlOptions = {}) {
    super(options);
  }

  parseRecords(payload: Uint8Array): SenmlRecord[] {
    return parseSenmlJson(payload);
  }

  writeRecords(records: readonly SenmlRecord[]): Uint8Array {
    return writeSenmlJson(records);
  }
}

/** The shared SenML JSON codec (relative times resolved against Date.now). */
export const senmlJsonCodec = new SenmlJsonCodec();
