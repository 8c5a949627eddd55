/** The attributes Write-Attributes attached to paths (LwM2M 1.1 Core §5.1.2, §5.4.4). */
import { applyAttributes, mergeAttributes, Lwm2mPath, type Attributes } from '../lwm2m/index.js';

export class AttributeStore {
  private readonly byPath = new Map<string, Attributes>();

  /** The attributes attached at exactly this path. */
  get(path: Lwm2mPath): Attributes | undefined {
    return this.byPath.get(path.toString());
  }

  /** Applies a Write-Attributes update (null clears) at this path. */
  apply(path: Lwm2mPath, update: Attributes): void {
    const key = path.toString();
    const next = applyAttributes(this.byPath.get(key) ?? {}, update);
    if (Object.keys(next).length === 0) this.byPath.delete(key);
    else this.byPath.set(key, next);
  }

  /**
   * Effective attributes at `path` (Core §5.1.2 inheritance): the Server object defaults, then
   * object, instance, resource and resource-instance levels, the most specific winning.
   */
  effective(path: Lwm2mPath, serverDefaults?: Attributes): Attributes {
    const levels: (Attributes | undefined)[] = [serverDefaults];
    for (let n = 1; n <= path.ids.length; n++) levels.push(this.byPath.get(prefix(path, n)));
    return mergeAttributes(...levels);
  }

  /** Attributes attached at the object and instance levels above `path` (Discover on a resource). */
  inherited(path: Lwm2mPath): Attributes {
    const levels: (Attributes | undefined)[] = [];
    for (let n = 1; n < path.ids.length; n++) levels.push(this.byPath.get(prefix(path, n)));
    return mergeAttributes(...levels, this.byPath.get(path.toString()));
  }

  /** Forgets everything attached at or below `path` (instance deleted). */
  removeUnder(path: Lwm2mPath): void {
    const key = path.toString();
    for (const k of [...this.byPath.keys()]) if (k === key || k.startsWith(key + '/')) this.byPath.delete(k);
  }

  clear(): void {
    this.byPath.clear();
  }
}

function prefix(path: Lwm2mPath, n: number): string {
  return '/' + path.ids.slice(0, n).join('/');
}
