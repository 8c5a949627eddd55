/** The objects a client holds, read and addressed by LwM2M path (Core §6.1, §5.4.1). */
import { Lwm2mError, ResponseCode, type Model, type ResourceDefinition, type LwM2mNode, type ObjectInstanceNode, type ResourceNode, type Lwm2mPath } from '../lwm2m/index.js';
import type { ObjectEnabler, ObjectInstance } from './object.js';

function notFound(path: Lwm2mPath | string): Lwm2mError {
  return new Lwm2mError(ResponseCode.NotFound, `${path.toString()} not found`);
}

export class ObjectTree {
  readonly model: Model;
  private readonly byId = new Map<number, ObjectEnabler>();
  private sorted: ObjectEnabler[] = [];

  constructor(model: Model, enablers: Iterable<ObjectEnabler>) {
    this.model = model;
    for (const e of enablers) this.byId.set(e.id, e);
    this.sorted = [...this.byId.values()].sort((a, b) => a.id - b.id);
  }

  /** The enablers by ascending object id. */
  enablers(): readonly ObjectEnabler[] {
    return this.sorted;
  }

  enabler(objectId: number): ObjectEnabler | undefined {
    return this.byId.get(objectId);
  }

  /** The enabler and instance at `path` (which has at least two levels); 4.04 when absent. */
  instanceAt(path: Lwm2mPath): { enabler: ObjectEnabler; instance: ObjectInstance } {
    const enabler = this.byId.get(path.objectId!);
    const instance = enabler?.instance(path.instanceId!);
    if (!enabler || !instance) throw notFound('/' + path.ids.slice(0, 2).join('/'));
    return { enabler, instance };
  }

  /** The definition of the resource at `path` from the enabler's object definition; 4.04 when unknown. */
  resourceDefinition(path: Lwm2mPath): ResourceDefinition {
    const def = this.byId.get(path.objectId!)?.definition.resources.get(path.resourceId!);
    if (!def) throw notFound(path);
    return def;
  }

  /** True if something is at `path` (object, instance, present resource, resource instance). */
  exists(path: Lwm2mPath): boolean {
    try {
      this.locate(path);
      return true;
    } catch {
      return false;
    }
  }

  /** Checks that `path` exists; 4.04 otherwise. Returns the resource definition for resource paths. */
  locate(path: Lwm2mPath): ResourceDefinition | undefined {
    if (path.isRoot()) return undefined;
    const enabler = this.byId.get(path.objectId!);
    if (!enabler) throw notFound(path);
    if (path.isObject()) return undefined;
    const { instance } = this.instanceAt(path);
    if (path.isInstance()) return undefined;
    const def = this.resourceDefinition(path);
    if (!instance.resourceIds().includes(def.id)) throw notFound(path);
    if (path.isResourceInstance()) {
      if (!def.multiple) throw notFound(path);
      const node = instance.read(def.id);
      if (node?.kind !== 'multipleResource' || !node.instances.has(path.resourceInstanceId!)) throw notFound(path);
    }
    return def;
  }

  /**
   * Read (Core §5.4.1): the node at `path`. Object and instance reads carry the readable resources;
   * a resource read needs R (4.05 otherwise); absent targets give 4.04.
   */
  read(path: Lwm2mPath): LwM2mNode {
    if (path.isRoot()) throw new Lwm2mError(ResponseCode.MethodNotAllowed, 'Read on the root path');
    const enabler = this.byId.get(path.objectId!);
    if (!enabler) throw notFound(path);
    if (path.isObject()) {
      return { kind: 'object', id: enabler.id, instances: enabler.instanceIds().map((iid) => readInstance(enabler, enabler.instance(iid)!)) };
    }
    const { instance } = this.instanceAt(path);
    if (path.isInstance()) return readInstance(enabler, instance);
    const def = this.resourceDefinition(path);
    if (!def.operations.includes('R')) throw new Lwm2mError(ResponseCode.MethodNotAllowed, `${path.toString()} is not readable`);
    const node = instance.read(def.id);
    if (!node) throw notFound(path);
    if (path.isResource()) return node;
    if (node.kind !== 'multipleResource') throw notFound(path);
    const value = node.instances.get(path.resourceInstanceId!);
    if (!value) throw notFound(path);
    return { kind: 'resourceInstance', id: path.resourceInstanceId!, value };
  }
}

function readInstance(enabler: ObjectEnabler, instance: ObjectInstance): ObjectInstanceNode {
  const resources: ResourceNode[] = [];
  for (const rid of instance.resourceIds()) {
    const def = enabler.definition.resources.get(rid);
    if (!def || !def.operations.includes('R')) continue;
    const node = instance.read(rid);
    if (node) resources.push(node);
  }
  return { kind: 'instance', id: instance.id, resources };
}
