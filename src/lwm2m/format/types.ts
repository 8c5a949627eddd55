/** The contract every content format implements. */
import type { Model } from '../model.js';
import type { LwM2mNode } from '../node.js';
import type { Lwm2mPath } from '../path.js';

/** Single-path formats (TLV, text, opaque, and the SenML/CBOR ones used for one path). */
export interface NodeCodec {
  /** Encodes `node`, which sits at `path`. Throws Lwm2mError(4.06/5.00) if the format cannot carry it. */
  encode(node: LwM2mNode, path: Lwm2mPath, model: Model): Uint8Array;
  /** Decodes a payload addressed to `path`. Throws Lwm2mError(4.00) on malformed input. */
  decode(payload: Uint8Array, path: Lwm2mPath, model: Model): LwM2mNode;
}

/** One entry of a multi-path payload: a node at a path, optionally with a timestamp (Send, notifications). */
export interface PathNode {
  path: Lwm2mPath;
  node: LwM2mNode;
  time?: Date;
}

/** Multi-path formats (SenML JSON, SenML CBOR, LwM2M CBOR): composite operations and Send. */
export interface CompositeCodec extends NodeCodec {
  encodeNodes(nodes: readonly PathNode[], model: Model): Uint8Array;
  /** Values are grouped to the deepest node their records name (resource or resource instance). */
  decodeNodes(payload: Uint8Array, model: Model): PathNode[];
  /** Read-/Observe-Composite request bodies: only names (SenML "n"/"bn"). */
  encodePaths(paths: readonly Lwm2mPath[]): Uint8Array;
  decodePaths(payload: Uint8Array): Lwm2mPath[];
}
