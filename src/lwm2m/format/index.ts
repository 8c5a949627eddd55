/** Content formats (LwM2M 1.1 Core §7.4): lookup by CoAP Content-Format number and by API name. */
import { ContentFormat } from '../node.js';
import { jsonCodec } from './json.js';
import { lwm2mCborCodec } from './lwm2m-cbor.js';
import { opaqueCodec } from './opaque.js';
import { senmlCborCodec } from './senml-cbor.js';
import { senmlJsonCodec } from './senml-json.js';
import { textCodec } from './text.js';
import { tlvCodec } from './tlv.js';
import type { CompositeCodec, NodeCodec } from './types.js';

export type { CompositeCodec, NodeCodec, PathNode } from './types.js';
export { TextCodec, textCodec } from './text.js';
export { OpaqueCodec, opaqueCodec } from './opaque.js';
export { TlvCodec, tlvCodec } from './tlv.js';
export { SenmlJsonCodec, senmlJsonCodec } from './senml-json.js';
export { SenmlCborCodec, senmlCborCodec } from './senml-cbor.js';
export { Lwm2mCborCodec, lwm2mCborCodec } from './lwm2m-cbor.js';
export { JsonCodec, jsonCodec } from './json.js';
export type { SenmlOptions, SenmlRecord } from './senml.js';
export { nodesAtPaths } from './composite.js';

/** The names the REST API's `?format=` takes. */
export type FormatName = 'TLV' | 'SENML_JSON' | 'SENML_CBOR' | 'LWM2M_CBOR' | 'TEXT' | 'OPAQUE' | 'JSON' | 'LINK';

const NAMES: ReadonlyMap<number, FormatName> = new Map<number, FormatName>([
  [ContentFormat.TLV, 'TLV'],
  [ContentFormat.SENML_JSON, 'SENML_JSON'],
  [ContentFormat.SENML_CBOR, 'SENML_CBOR'],
  [ContentFormat.LWM2M_CBOR, 'LWM2M_CBOR'],
  [ContentFormat.TEXT, 'TEXT'],
  [ContentFormat.OPAQUE, 'OPAQUE'],
  [ContentFormat.JSON, 'JSON'],
  [ContentFormat.CORE_LINK, 'LINK'],
]);

const BY_NAME: ReadonlyMap<string, number> = new Map([...NAMES].map(([f, n]) => [n, f]));

const CODECS: ReadonlyMap<number, NodeCodec> = new Map<number, NodeCodec>([
  [ContentFormat.TEXT, textCodec],
  [ContentFormat.OPAQUE, opaqueCodec],
  [ContentFormat.TLV, tlvCodec],
  [ContentFormat.SENML_JSON, senmlJsonCodec],
  [ContentFormat.SENML_CBOR, senmlCborCodec],
  [ContentFormat.LWM2M_CBOR, lwm2mCborCodec],
  [ContentFormat.JSON, jsonCodec],
]);

const COMPOSITE: ReadonlyMap<number, CompositeCodec> = new Map<number, CompositeCodec>([
  [ContentFormat.SENML_JSON, senmlJsonCodec],
  [ContentFormat.SENML_CBOR, senmlCborCodec],
  [ContentFormat.LWM2M_CBOR, lwm2mCborCodec],
]);

/** Content formats that have a node codec, in the order a server prefers them. */
export const supportedFormats: readonly number[] = [
  ContentFormat.SENML_CBOR,
  ContentFormat.SENML_JSON,
  ContentFormat.LWM2M_CBOR,
  ContentFormat.TLV,
  ContentFormat.TEXT,
  ContentFormat.OPAQUE,
  ContentFormat.JSON,
];

/** The codec for a Content-Format number, or undefined if Warden does not speak it. */
export function codecFor(format: number): NodeCodec | undefined {
  return CODECS.get(format);
}

/** The multi-path codec for a Content-Format number (SenML JSON/CBOR, LwM2M CBOR), or undefined. */
export function compositeCodecFor(format: number): CompositeCodec | undefined {
  return COMPOSITE.get(format);
}

/** The API name of a Content-Format number ("TLV", "SENML_CBOR" ...), or undefined if unknown. */
export function formatName(format: number): FormatName | undefined {
  return NAMES.get(format);
}

/** The Content-Format number for an API name (case-insensitive), or undefined if unknown. */
export function formatByName(name: string): number | undefined {
  return BY_NAME.get(name.toUpperCase());
}
