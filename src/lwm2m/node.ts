/**
 * LwM2M nodes: the values a device holds, independent of any content format
 * (LwM2M 1.1 Core §7.4). Content formats convert between nodes and bytes.
 */
import type { ResourceType } from './model.js';

/** An Object Link (Core Appendix C): "objectId:instanceId". */
export interface ObjectLink {
  readonly objectId: number;
  readonly instanceId: number;
}

/**
 * A typed value. `time` is a JS Date; integer may be bigint when it does not fit a safe
 * integer; unsignedInteger likewise; opaque is bytes; corelnk is the link-format text.
 */
export type ResourceValue =
  | { type: 'string'; value: string }
  | { type: 'integer'; value: number | bigint }
  | { type: 'unsignedInteger'; value: number | bigint }
  | { type: 'float'; value: number }
  | { type: 'boolean'; value: boolean }
  | { type: 'opaque'; value: Uint8Array }
  | { type: 'time'; value: Date }
  | { type: 'objlnk'; value: ObjectLink }
  | { type: 'corelnk'; value: string }
  | { type: 'none'; value: null };

export type LwM2mNode = ObjectNode | ObjectInstanceNode | ResourceNode | ResourceInstanceNode;

export interface ObjectNode {
  readonly kind: 'object';
  readonly id: number;
  readonly instances: ObjectInstanceNode[];
}

export interface ObjectInstanceNode {
  readonly kind: 'instance';
  readonly id: number;
  readonly resources: ResourceNode[];
}

/** A single-instance resource carries `value`; a multiple-instance one carries `instances`. */
export type ResourceNode = SingleResourceNode | MultipleResourceNode;

export interface SingleResourceNode {
  readonly kind: 'singleResource';
  readonly id: number;
  readonly value: ResourceValue;
}

export interface MultipleResourceNode {
  readonly kind: 'multipleResource';
  readonly id: number;
  readonly type: ResourceType;
  readonly instances: Map<number, ResourceValue>;
}

export interface ResourceInstanceNode {
  readonly kind: 'resourceInstance';
  readonly id: number;
  readonly value: ResourceValue;
}

/** Content-Format numbers (CoAP registry, LwM2M 1.1 Transport §6). */
export const ContentFormat = {
  TEXT: 0,
  CORE_LINK: 40,
  OPAQUE: 42,
  CBOR: 60,
  SENML_JSON: 110,
  SENML_CBOR: 112,
  TLV: 11542,
  JSON: 11543,
  LWM2M_CBOR: 11544,
} as const;
export type ContentFormatId = (typeof ContentFormat)[keyof typeof ContentFormat];
