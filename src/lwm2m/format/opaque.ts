/** application/octet-stream (Content-Format 42), LwM2M 1.1 Core §7.4.2: the bytes of one opaque resource. */
import type { Model } from '../model.js';
import type { LwM2mNode } from '../node.js';
import type { Lwm2mPath } from '../path.js';
import { checkNodeAtPath } from './leaves.js';
import type { NodeCodec } from './types.js';
import { notAcceptable, resourceDef } from './values.js';

/** Opaque codec: single resources and resource instances of type opaque only. */
export class OpaqueCodec implements NodeCodec {
  encode(node: LwM2mNode, path: Lwm2mPath, _model: Model): Uint8Array {
    checkNodeAtPath(node, path);
    if (node.kind !== 'singleResource' && node.kind !== 'resourceInstance') {
      throw notAcceptable(`opaque carries one resource value, not a ${node.kind} (${path})`);
    }
    if (node.value.type !== 'opaque') throw notAcceptable(`opaque cannot carry a ${node.value.type} value (${path})`);
    return node.value.value;
  }

  decode(payload: Uint8Array, path: Lwm2mPath, model: Model): LwM2mNode {
    if (path.ids.length < 3) throw notAcceptable(`opaque carries one resource value, not ${path}`);
    const def = resourceDef(model, path);
    if (def && def.type !== 'opaque') throw notAcceptable(`opaque cannot carry ${def.type} resource ${path}`);
    if (path.ids.length === 3 && def?.multiple) throw notAcceptable(`opaque cannot carry multiple resource ${path}`);
    const value = { type: 'opaque' as const, value: new Uint8Array(payload) };
    return path.ids.length === 4
      ? { kind: 'resourceInstance', id: path.ids[3], value }
      : { kind: 'singleResource', id: path.ids[2], value };
  }
}

/** The shared opaque codec. */
export const opaqueCodec = new OpaqueCodec();
