/** Helpers for composite payloads (Read-Composite / Observe-Composite responses, LwM2M 1.1 Core §5.4.5). */
import type { Model } from '../model.js';
import { Lwm2mPath } from '../path.js';
import { assemble, flatten, type Leaf } from './leaves.js';
import type { PathNode } from './types.js';

/**
 * Regroups decoded composite entries (one per record) into one node per requested path, in request
 * order; paths the payload holds nothing for are left out. The root path yields one node per object.
 */
export function nodesAtPaths(entries: readonly PathNode[], paths: readonly Lwm2mPath[], model: Model): PathNode[] {
  const leaves: Leaf[] = [];
  for (const e of entries) flatten(e.node, e.path, leaves);
  const out: PathNode[] = [];
  for (const path of paths) {
    const below = leaves.filter((l) => path.contains(Lwm2mPath.of(...l.ids)));
    if (below.length === 0) continue;
    if (!path.isRoot()) {
      out.push({ path, node: assemble(below, path, model) });
      continue;
    }
    const objectIds = [...new Set(below.map((l) => l.ids[0]))];
    for (const o of objectIds) {
      const p = Lwm2mPath.of(o);
      out.push({ path: p, node: assemble(below.filter((l) => l.ids[0] === o), p, model) });
    }
  }
  return out;
}
