/** text/plain (Content-Format 0), LwM2M 1.1 Core §7.4.1: one resource or resource instance value. */
import type { Model } from '../model.js';
import type { LwM2mNode, ResourceValue } from '../node.js';
import type { Lwm2mPath } from '../path.js';
import { checkNodeAtPath } from './leaves.js';
import type { NodeCodec } from './types.js';
import {
  badRequest,
  checkInteger,
  checkUnsigned,
  decodeUtf8,
  formatObjlnk,
  fromBase64,
  notAcceptable,
  parseObjlnk,
  resourceDef,
  secondsToTime,
  timeToSeconds,
  toBase64,
} from './values.js';

const INTEGER = /^[+-]?\d+$/;
const UNSIGNED = /^\+?\d+$/;
const FLOAT = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** Renders a value as LwM2M plain text. */
export function valueToText(v: ResourceValue): string {
  switch (v.type) {
    case 'string':
    case 'corelnk':
      return v.value;
    case 'integer':
    case 'unsignedInteger':
      return v.value.toString();
    case 'float':
      // Number#toString is the shortest decimal that round-trips (ECMA-262 Number::toString).
      return String(v.value);
    case 'boolean':
      return v.value ? '1' : '0';
    case 'time':
      return String(timeToSeconds(v.value));
    case 'objlnk':
      return formatObjlnk(v.value);
    case 'opaque':
      return toBase64(v.value);
    case 'none':
      return '';
  }
}

/** Parses LwM2M plain text as the model's type (string when the model lacks the resource). */
export function textToValue(text: string, type: ResourceValue['type'] | undefined, where: string): ResourceValue {
  switch (type ?? 'string') {
    case 'string':
      return { type: 'string', value: text };
    case 'corelnk':
      return { type: 'corelnk', value: text };
    case 'integer':
      if (!INTEGER.test(text)) throw badRequest(`${where}: invalid integer "${text}"`);
      return { type: 'integer', value: checkInteger(BigInt(text), where) };
    case 'unsignedInteger':
      if (!UNSIGNED.test(text)) throw badRequest(`${where}: invalid unsigned integer "${text}"`);
      return { type: 'unsignedInteger', value: checkUnsigned(BigInt(text), where) };
    case 'float': {
      if (!FLOAT.test(text)) throw badRequest(`${where}: invalid float "${text}"`);
      const value = Number(text);
      if (!Number.isFinite(value)) throw badRequest(`${where}: float "${text}" is out of range`);
      return { type: 'float', value };
    }
    case 'boolean':
      if (text !== '0' && text !== '1') throw badRequest(`${where}: boolean must be "0" or "1", got "${text}"`);
      return { type: 'boolean', value: text === '1' };
    case 'time':
      if (!INTEGER.test(text)) throw badRequest(`${where}: invalid time "${text}"`);
      return { type: 'time', value: secondsToTime(checkInteger(BigInt(text), where), where) };
    case 'objlnk':
      return { type: 'objlnk', value: parseObjlnk(text, where) };
    case 'opaque':
      return { type: 'opaque', value: fromBase64(text, where) };
    case 'none':
      if (text !== '') throw badRequest(`${where}: a resource without a type carries no value`);
      return { type: 'none', value: null };
  }
}

/** text/plain codec: single resources and resource instances, typed by the model. */
export class TextCodec implements NodeCodec {
  encode(node: LwM2mNode, path: Lwm2mPath, _model: Model): Uint8Array {
    checkNodeAtPath(node, path);
    if (node.kind !== 'singleResource' && node.kind !== 'resourceInstance') {
      throw notAcceptable(`text/plain carries one resource value, not a ${node.kind} (${path})`);
    }
    return new Uint8Array(Buffer.from(valueToText(node.value), 'utf8'));
  }

  decode(payload: Uint8Array, path: Lwm2mPath, model: Model): LwM2mNode {
    if (path.ids.length < 3) throw notAcceptable(`text/plain carries one resource value, not ${path}`);
    const def = resourceDef(model, path);
    if (path.ids.length === 3 && def?.multiple) {
      throw notAcceptable(`text/plain cannot carry multiple resource ${path}`);
    }
    const where = path.toString();
    const value = textToValue(decodeUtf8(payload, where), def?.type, where);
    return path.ids.length === 4
      ? { kind: 'resourceInstance', id: path.ids[3], value }
      : { kind: 'singleResource', id: path.ids[2], value };
  }
}

/** The shared text/plain codec. */
export const textCodec = new TextCodec();
