/** Object 1, LwM2M Server (Core Appendix E.2). */
import { Lwm2mError, ResponseCode, type ObjectDefinition, type ResourceValue } from '../../lwm2m/index.js';
import { BaseInstance, ObjectEnabler, type ExecuteArgs } from '../object.js';
import { bool, int, str } from '../value.js';

export interface ServerOptions {
  shortServerId: number;
  /** Seconds (resource 1). */
  lifetime: number;
  /** Binding (resource 7), e.g. "U". */
  binding: string;
  /** Default Minimum/Maximum Period in seconds (resources 2, 3); absent when undefined. */
  defaultPmin?: number;
  defaultPmax?: number;
  /** Disable Timeout in seconds (resource 5); default 86400. */
  disableTimeout?: number;
}

/** Resource ids of the Server object the client acts on. */
export const ServerResource = {
  ShortServerId: 0,
  Lifetime: 1,
  DefaultPmin: 2,
  DefaultPmax: 3,
  Disable: 4,
  DisableTimeout: 5,
  NotificationStoring: 6,
  Binding: 7,
  RegistrationUpdateTrigger: 8,
  BootstrapRequestTrigger: 9,
  MuteSend: 23,
} as const;

/** Core §5.3.1.1 / Appendix E.2: U, M, H, T, S, N bindings (and the 1.0 queue flag Q). */
const BINDING = /^[UMHTSNQ]+$/;

/** The Server object instance: lifetime and binding writes feed the next Update; 4 and 8 are executable. */
export class ServerInstance extends BaseInstance {
  constructor(definition: ObjectDefinition, id: number, options: ServerOptions) {
    const values: [number, ResourceValue][] = [
      [ServerResource.ShortServerId, int(options.shortServerId)],
      [ServerResource.Lifetime, int(options.lifetime)],
      [ServerResource.DisableTimeout, int(options.disableTimeout ?? 86400)],
      [ServerResource.NotificationStoring, bool(true)],
      [ServerResource.Binding, str(options.binding)],
    ];
    if (options.defaultPmin !== undefined) values.push([ServerResource.DefaultPmin, int(options.defaultPmin)]);
    if (options.defaultPmax !== undefined) values.push([ServerResource.DefaultPmax, int(options.defaultPmax)]);
    if (definition.resources.has(ServerResource.MuteSend)) values.push([ServerResource.MuteSend, bool(false)]);
    const executables: number[] = [ServerResource.Disable, ServerResource.RegistrationUpdateTrigger];
    if (definition.resources.has(ServerResource.BootstrapRequestTrigger)) executables.push(ServerResource.BootstrapRequestTrigger);
    super(definition, id, values, executables);
  }

  protected override beforeWrite(resourceId: number, value: ResourceValue): void {
    if (resourceId === ServerResource.Lifetime || resourceId === ServerResource.DisableTimeout) {
      if (value.type !== 'integer' || Number(value.value) <= 0) {
        throw new Lwm2mError(ResponseCode.BadRequest, `resource ${resourceId} must be a positive number of seconds`);
      }
    } else if (resourceId === ServerResource.DefaultPmin || resourceId === ServerResource.DefaultPmax) {
      if (value.type !== 'integer' || Number(value.value) < 0) {
        throw new Lwm2mError(ResponseCode.BadRequest, `resource ${resourceId} must not be negative`);
      }
    } else if (resourceId === ServerResource.Binding) {
      if (value.type !== 'string' || !BINDING.test(value.value)) {
        throw new Lwm2mError(ResponseCode.BadRequest, `invalid binding "${String(value.value)}"`);
      }
    }
  }

  protected override afterWrite(resourceId: number): void {
    this.changed(resourceId);
    if (resourceId === ServerResource.Lifetime || resourceId === ServerResource.Binding) {
      this.host?.trigger('registration-params-changed');
    }
  }

  override execute(resourceId: number, _args: ExecuteArgs): void {
    if (resourceId === ServerResource.RegistrationUpdateTrigger) this.host?.trigger('update');
    else if (resourceId === ServerResource.BootstrapRequestTrigger) this.host?.trigger('bootstrap');
    else if (resourceId === ServerResource.Disable) this.host?.trigger('disable');
    else super.execute(resourceId, _args);
  }

  /** A numeric resource as a number, or undefined when absent. */
  number(resourceId: number): number | undefined {
    const v = this.get(resourceId);
    return v && (v.type === 'integer' || v.type === 'unsignedInteger') ? Number(v.value) : undefined;
  }

  /** A string resource, or undefined. */
  string(resourceId: number): string | undefined {
    const v = this.get(resourceId);
    return v?.type === 'string' ? v.value : undefined;
  }
}

/** The Server object with one instance. Instances are created by bootstrap only (Create/Delete give 4.05). */
export function serverObject(definition: ObjectDefinition, options: ServerOptions): ObjectEnabler {
  return new ObjectEnabler(definition, [new ServerInstance(definition, 0, options)], {
    creatable: false,
    // Instances a Bootstrap-Write creates: the written values replace these.
    factory: (def, id) => new ServerInstance(def, id, { shortServerId: 0, lifetime: 300, binding: 'U' }),
  });
}
