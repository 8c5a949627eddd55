/**
 * The client's object framework: an `ObjectEnabler` per LwM2M object holding `ObjectInstance`s
 * (LwM2M 1.1 Core §6.1). The request dispatcher checks paths and operations against the model;
 * instances only store values and react to writes and executes.
 */
import { Lwm2mError, ResponseCode, Lwm2mPath, type ObjectDefinition, type ResourceDefinition, type ResourceNode, type ResourceValue } from '../lwm2m/index.js';

/** Execute arguments (Core §5.4.5): argument digit -> value (undefined for a bare digit). */
export type ExecuteArgs = ReadonlyMap<number, string | undefined>;

/** What an object asks of the client it runs in. */
export type ClientAction =
  /** Send a Registration Update now (Server object /1/x/8). */
  | 'update'
  /** Lifetime or binding changed: the next Update carries them. */
  | 'registration-params-changed'
  /** De-register, stay silent for Disable Timeout, then register again (/1/x/4). */
  | 'disable'
  /** Device reboot (/3/0/4): re-register from scratch. */
  | 'reboot'
  /** Factory reset (/3/0/5). */
  | 'factory-reset'
  /** Client-initiated bootstrap (Server object /1/x/9, Bootstrap-Request Trigger). */
  | 'bootstrap';

/** The services a client offers the objects it holds. One host per client, shared by all its objects. */
export interface EnablerHost {
  /** Values at these paths changed: observations are evaluated. */
  fireChange(paths: readonly Lwm2mPath[]): void;
  /** Instances were created or deleted outside a server request: the next Update carries the object links. */
  instancesChanged(objectId: number): void;
  /** Wall-clock milliseconds since the epoch. */
  wallNow(): number;
  /** Uniform random number in [0, 1). */
  random(): number;
  /** Runs `fn` after `ms` on the client's single timer; returns a cancel function. */
  schedule(ms: number, fn: () => void): () => void;
  trigger(action: ClientAction): void;
}

/** One object instance (Core §6.1). Resource ids are those of the object definition. */
export interface ObjectInstance {
  readonly id: number;
  /** The resources present in this instance, ascending (executables included). */
  resourceIds(): number[];
  /** The current value, or undefined when the resource is absent or executable. */
  read(resourceId: number): ResourceNode | undefined;
  /**
   * Writes a resource. `replace` replaces a multiple resource's instances; otherwise given instances
   * are added or changed (partial update). Throws Lwm2mError (4.00 for a refused value).
   */
  write(resourceId: number, node: ResourceNode, replace: boolean): void;
  /** Removes an optional resource (Write-replace of an instance that leaves it out). */
  remove(resourceId: number): void;
  /** Throws Lwm2mError (4.05 when not executable in the current state, 4.00 for bad arguments). */
  execute(resourceId: number, args: ExecuteArgs): void | Promise<void>;
  /** Called by the enabler when the instance is added to it. */
  bind(enabler: ObjectEnabler): void;
}

type Stored = ResourceValue | Map<number, ResourceValue>;

/** Resource ids ascending; the small arrays here make a plain sort cheap. */
function ascending(a: number, b: number): number {
  return a - b;
}

function valuesEqual(a: ResourceValue, b: ResourceValue): boolean {
  if (a.type !== b.type) return false;
  const x = a.value;
  const y = b.value;
  if (x instanceof Date && y instanceof Date) return x.getTime() === y.getTime();
  if (x instanceof Uint8Array && y instanceof Uint8Array) return Buffer.compare(x, y) === 0;
  if (typeof x === 'object' && x !== null && typeof y === 'object' && y !== null && 'objectId' in x && 'objectId' in y) {
    return x.objectId === y.objectId && x.instanceId === y.instanceId;
  }
  return x === y;
}

/**
 * A map-backed instance: values typed by the object definition. Subclasses override
 * `afterWrite`, `execute` and `read` for behaviour; `set`/`setMultiple` change values
 * from the device side and notify observers.
 */
export class BaseInstance implements ObjectInstance {
  readonly id: number;
  readonly definition: ObjectDefinition;
  protected enabler: ObjectEnabler | undefined;
  private readonly values = new Map<number, Stored>();
  private readonly executables: readonly number[];

  /**
   * `values` maps resource ids to single values or (for multiple resources) to instance maps.
   * `executables` lists the E resources this instance supports.
   */
  constructor(
    definition: ObjectDefinition,
    id: number,
    values?: Iterable<readonly [number, ResourceValue | Map<number, ResourceValue>]>,
    executables: readonly number[] = [],
  ) {
    this.definition = definition;
    this.id = id;
    this.executables = executables;
    if (values) for (const [rid, v] of values) this.values.set(rid, v);
  }

  bind(enabler: ObjectEnabler): void {
    this.enabler = enabler;
  }

  /** The client services, once the instance sits in an attached enabler. */
  protected get host(): EnablerHost | undefined {
    return this.enabler?.host;
  }

  resourceIds(): number[] {
    const ids = [...this.values.keys()];
    for (const e of this.executables) if (!this.values.has(e)) ids.push(e);
    return ids.sort(ascending);
  }

  has(resourceId: number): boolean {
    return this.values.has(resourceId) || this.executables.includes(resourceId);
  }

  read(resourceId: number): ResourceNode | undefined {
    const v = this.values.get(resourceId);
    if (v === undefined) return undefined;
    if (v instanceof Map) {
      const def = this.definition.resources.get(resourceId);
      return { kind: 'multipleResource', id: resourceId, type: def?.type ?? 'opaque', instances: new Map(v) };
    }
    return { kind: 'singleResource', id: resourceId, value: v };
  }

  /** The stored single value, bypassing `read` overrides. */
  get(resourceId: number): ResourceValue | undefined {
    const v = this.values.get(resourceId);
    return v instanceof Map ? undefined : v;
  }

  write(resourceId: number, node: ResourceNode, replace: boolean): void {
    const def = this.definition.resources.get(resourceId);
    if (!def) throw new Lwm2mError(ResponseCode.NotFound, `no resource ${resourceId} in object ${this.definition.id}`);
    if (node.kind === 'singleResource') {
      if (def.multiple) throw new Lwm2mError(ResponseCode.BadRequest, `resource ${resourceId} is multiple`);
      checkType(def, node.value);
      this.beforeWrite(resourceId, node.value);
      this.values.set(resourceId, node.value);
    } else {
      if (!def.multiple) throw new Lwm2mError(ResponseCode.BadRequest, `resource ${resourceId} is single`);
      for (const v of node.instances.values()) checkType(def, v);
      const current = this.values.get(resourceId);
      const next = replace || !(current instanceof Map) ? new Map<number, ResourceValue>() : new Map(current);
      for (const [riid, v] of node.instances) next.set(riid, v);
      this.values.set(resourceId, next);
    }
    this.afterWrite(resourceId);
  }

  remove(resourceId: number): void {
    if (this.values.delete(resourceId)) this.afterWrite(resourceId);
  }

  execute(resourceId: number, _args: ExecuteArgs): void | Promise<void> {
    throw new Lwm2mError(ResponseCode.MethodNotAllowed, `resource ${resourceId} cannot be executed`);
  }

  /** Hook run before a server write stores a single value; throw Lwm2mError to refuse it. */
  protected beforeWrite(_resourceId: number, _value: ResourceValue): void {}

  /** Hook run after a server write changed a resource. */
  protected afterWrite(_resourceId: number): void {}

  /** Sets a single resource from the device side; notifies observers when the value changed. */
  set(resourceId: number, value: ResourceValue): void {
    const old = this.values.get(resourceId);
    this.values.set(resourceId, value);
    if (old === undefined || old instanceof Map || !valuesEqual(old, value)) this.changed(resourceId);
  }

  /** Sets a multiple resource from the device side and notifies observers. */
  setMultiple(resourceId: number, instances: Map<number, ResourceValue>): void {
    this.values.set(resourceId, instances);
    this.changed(resourceId);
  }

  /** Tells observers that a resource of this instance changed. */
  protected changed(resourceId: number): void {
    const enabler = this.enabler;
    if (enabler?.host) enabler.host.fireChange([Lwm2mPath.of(enabler.id, this.id, resourceId)]);
  }
}

function checkType(def: ResourceDefinition, value: ResourceValue): void {
  if (def.type === 'none' || value.type === def.type) return;
  throw new Lwm2mError(ResponseCode.BadRequest, `resource ${def.id} takes ${def.type}, got ${value.type}`);
}

/** Builds an instance for a Create request; throws Lwm2mError to refuse. */
export type InstanceFactory = (definition: ObjectDefinition, id: number) => ObjectInstance;

/** Options of a generic enabler. */
export interface ObjectEnablerOptions {
  /** Makes instances for Create; defaults to BaseInstance. */
  factory?: InstanceFactory;
  /** Whether the server may Create/Delete instances; defaults to the definition's `multiple`. */
  creatable?: boolean;
}

/**
 * One LwM2M object: its definition and its instances. Works as is for any object of the model
 * (a value store), and is subclassed by the standard objects for behaviour.
 */
export class ObjectEnabler {
  readonly id: number;
  readonly definition: ObjectDefinition;
  host: EnablerHost | undefined;
  protected readonly instances = new Map<number, ObjectInstance>();
  private readonly factory: InstanceFactory;
  private readonly creatable: boolean;

  constructor(definition: ObjectDefinition, instances: Iterable<ObjectInstance> = [], options: ObjectEnablerOptions = {}) {
    this.id = definition.id;
    this.definition = definition;
    this.factory = options.factory ?? ((def, id) => new BaseInstance(def, id));
    this.creatable = options.creatable ?? definition.multiple;
    for (const inst of instances) this.add(inst);
  }

  /** Called once by the client that runs this object. */
  attach(host: EnablerHost): void {
    this.host = host;
  }

  /** Called by the client on stop: cancel timers and work in progress. */
  detach(): void {
    this.host = undefined;
  }

  instanceIds(): number[] {
    return [...this.instances.keys()].sort(ascending);
  }

  instance(id: number): ObjectInstance | undefined {
    return this.instances.get(id);
  }

  /** Adds an instance from the device side. */
  add(instance: ObjectInstance): void {
    if (this.instances.has(instance.id)) throw new Error(`object ${this.id} already has instance ${instance.id}`);
    if (!this.definition.multiple && this.instances.size > 0) throw new Error(`object ${this.id} is single-instance`);
    instance.bind(this);
    this.instances.set(instance.id, instance);
    this.host?.instancesChanged(this.id);
  }

  /** The smallest free instance id (Core §5.4.3: the client picks one when the server does not). */
  freeInstanceId(): number {
    let id = 0;
    while (this.instances.has(id)) id++;
    return id;
  }

  /**
   * Create (Core §5.4.3) with the resources the server sent. Checks that mandatory writable
   * resources are present (4.00) and that the object allows it (4.05).
   */
  create(id: number, resources: readonly ResourceNode[]): ObjectInstance {
    if (!this.creatable) throw new Lwm2mError(ResponseCode.MethodNotAllowed, `object ${this.id} does not allow Create`);
    if (this.instances.has(id)) throw new Lwm2mError(ResponseCode.BadRequest, `instance /${this.id}/${id} already exists`);
    const given = new Set(resources.map((r) => r.id));
    for (const def of this.definition.resources.values()) {
      if (def.mandatory && def.operations.includes('W') && !given.has(def.id)) {
        throw new Lwm2mError(ResponseCode.BadRequest, `mandatory resource ${def.id} missing in Create`);
      }
    }
    const inst = this.factory(this.definition, id);
    for (const r of resources) inst.write(r.id, r, true);
    inst.bind(this);
    this.instances.set(id, inst);
    return inst;
  }

  /** Delete (Core §5.4.6); 4.05 for objects whose instances cannot be deleted. */
  delete(id: number): void {
    if (!this.creatable) throw new Lwm2mError(ResponseCode.MethodNotAllowed, `instances of object ${this.id} cannot be deleted`);
    if (!this.instances.delete(id)) throw new Lwm2mError(ResponseCode.NotFound, `no instance /${this.id}/${id}`);
  }

  /**
   * Bootstrap-Write of an absent instance (Core §5.2.7.4): created whatever `creatable` says, without the mandatory
   * resource check (the Bootstrap-Server may fill an instance over several writes).
   */
  bootstrapCreate(id: number, resources: readonly ResourceNode[]): ObjectInstance {
    if (this.instances.has(id)) throw new Lwm2mError(ResponseCode.BadRequest, `instance /${this.id}/${id} already exists`);
    if (!this.definition.multiple && this.instances.size > 0) throw new Lwm2mError(ResponseCode.BadRequest, `object ${this.id} is single-instance`);
    const inst = this.factory(this.definition, id);
    for (const r of resources) inst.write(r.id, r, true);
    inst.bind(this);
    this.instances.set(id, inst);
    return inst;
  }

  /** Bootstrap-Delete (Core §5.2.7.5) of one instance, whatever `creatable` says; false if absent. */
  bootstrapDelete(id: number): boolean {
    return this.instances.delete(id);
  }

  /** Periodic value changes (simulated sensors); called on the client's value timer. */
  tick(_wallNow: number): void {}

  /** Tells observers that values at these paths changed. */
  fireChange(paths: readonly Lwm2mPath[]): void {
    this.host?.fireChange(paths);
  }
}
