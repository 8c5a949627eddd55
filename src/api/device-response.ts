/** A device's answer as API JSON: `{"status": "CONTENT(205)", "valid": true, "success": true, ...}`. */
import type { Link } from '../lwm2m/index.js';
import type { DeviceResponse } from '../server/types.js';
import { nodeToJson, pathNodesToJson, type NodeJson } from './node-json.js';

/** CoAP response code names (RFC 7252 §12.1.2, RFC 7959 §6, RFC 8132 §6) by code (class << 5 | detail). */
const CODE_NAMES: ReadonlyMap<number, string> = new Map([
  [65, 'CREATED'],
  [66, 'DELETED'],
  [67, 'VALID'],
  [68, 'CHANGED'],
  [69, 'CONTENT'],
  [95, 'CONTINUE'],
  [128, 'BAD_REQUEST'],
  [129, 'UNAUTHORIZED'],
  [130, 'BAD_OPTION'],
  [131, 'FORBIDDEN'],
  [132, 'NOT_FOUND'],
  [133, 'METHOD_NOT_ALLOWED'],
  [134, 'NOT_ACCEPTABLE'],
  [136, 'REQUEST_ENTITY_INCOMPLETE'],
  [137, 'CONFLICT'],
  [140, 'PRECONDITION_FAILED'],
  [141, 'REQUEST_ENTITY_TOO_LARGE'],
  [143, 'UNSUPPORTED_CONTENT_FORMAT'],
  [150, 'UNPROCESSABLE_ENTITY'],
  [160, 'INTERNAL_SERVER_ERROR'],
  [161, 'NOT_IMPLEMENTED'],
  [162, 'BAD_GATEWAY'],
  [163, 'SERVICE_UNAVAILABLE'],
  [164, 'GATEWAY_TIMEOUT'],
  [165, 'PROXYING_NOT_SUPPORTED'],
]);

/** "CONTENT(205)", "NOT_FOUND(404)"; unknown codes give "UNKNOWN(4.99)"-style "UNKNOWN(499)". */
export function statusName(code: number): string {
  const dotted = (code >> 5) * 100 + (code & 31);
  return `${CODE_NAMES.get(code) ?? 'UNKNOWN'}(${dotted})`;
}

/** Links as `[{url, attributes}]`. */
export interface LinkJson {
  url: string;
  attributes: Record<string, string>;
}

/** Link-format attributes as strings; a bare attribute (no value) becomes "". */
export function linksToJson(links: readonly Link[]): LinkJson[] {
  return links.map((l) => {
    const attributes: Record<string, string> = {};
    for (const [k, v] of Object.entries(l.attributes)) attributes[k] = v === true ? '' : v;
    return { url: l.uri, attributes };
  });
}

export interface DeviceResponseJson {
  status: string;
  valid: boolean;
  success: boolean;
  failure: boolean;
  content?: NodeJson | Record<string, NodeJson>;
  objectLinks?: LinkJson[];
  location?: string;
  observationId?: string;
  errormessage?: string;
}

/** Converts what the device answered. `valid` is false for codes outside 2.xx/4.xx/5.xx. */
export function deviceResponseToJson(res: DeviceResponse & { observationId?: string }): DeviceResponseJson {
  const cls = res.code >> 5;
  const success = cls === 2;
  const out: DeviceResponseJson = {
    status: statusName(res.code),
    valid: cls === 2 || cls === 4 || cls === 5,
    success,
    failure: !success,
  };
  if (res.content !== undefined) out.content = nodeToJson(res.content);
  else if (res.contents !== undefined) out.content = pathNodesToJson(res.contents);
  if (res.links !== undefined) out.objectLinks = linksToJson(res.links);
  if (res.location !== undefined) out.location = res.location;
  if (res.observationId !== undefined) out.observationId = res.observationId;
  if (!success && res.errorMessage !== undefined && res.errorMessage !== '') out.errormessage = res.errorMessage;
  return out;
}
