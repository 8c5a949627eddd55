/** Test doubles for the API's tests: a DeviceManagement with canned answers that records calls, and a tiny model. */
import { EventEmitter } from 'node:events';
import type { Attributes, LwM2mNode, Lwm2mPath, Model, ObjectDefinition, ObjectInstanceNode, PathNode, ResourceDefinition, ResourceType } from '../lwm2m/index.js';
import { ServerError } from '../server/index.js';
import type { DeviceManagement, DeviceResponse, ObservationInfo, Registration, RequestOpts } from '../server/types.js';

/** One recorded call: the method name and its arguments after the endpoint. */
export interface Call {
  method: string;
  endpoint: string;
  args: unknown[];
}

/** A DeviceManagement whose answers are set per test (`next`) and whose calls are recorded (`calls`). */
export class FakeServer extends EventEmitter implements DeviceManagement {
  readonly registrations = new Map<string, Registration>();
  readonly calls: Call[] = [];
  /** The next answer (or error to throw) of any device request; defaults to 2.05 with no content. */
  next: DeviceResponse & { observationId?: string } = { code: 69 };
  nextError: Error | undefined;
  observationList: ObservationInfo[] = [];

  add(reg: Registration): void {
    this.registrations.set(reg.endpoint, reg);
  }

  registrationCount(search?: string): number {
    return [...this.registrations.keys()].filter((ep) => !search || ep.includes(search)).length;
  }
  listRegistrations(opts: { offset?: number; limit?: number; search?: string } = {}): Registration[] {
    const all = [...this.registrations.values()]
      .filter((r) => opts.search === undefined || r.endpoint.includes(opts.search))
      .sort((a, b) => (a.endpoint < b.endpoint ? -1 : 1));
    const offset = opts.offset ?? 0;
    return all.slice(offset, offset + (opts.limit ?? 100));
  }
  getRegistration(endpoint: string): Registration | undefined {
    return this.registrations.get(endpoint);
  }

  private async answer(method: string, endpoint: string, ...args: unknown[]): Promise<DeviceResponse & { observationId?: string }> {
    this.calls.push({ method, endpoint, args });
    if (!this.registrations.has(endpoint)) throw new ServerError('NOT_REGISTERED', `${endpoint} not registered`);
    if (this.nextError !== undefined) throw this.nextError;
    return this.next;
  }

  read(endpoint: string, path: Lwm2mPath, opts?: RequestOpts) {
    return this.answer('read', endpoint, path, opts);
  }
  write(endpoint: string, path: Lwm2mPath, node: LwM2mNode, opts?: RequestOpts & { replace?: boolean }) {
    return this.answer('write', endpoint, path, node, opts);
  }
  execute(endpoint: string, path: Lwm2mPath, args?: string, opts?: RequestOpts) {
    return this.answer('execute', endpoint, path, args, opts);
  }
  create(endpoint: string, objectPath: Lwm2mPath, instances: ObjectInstanceNode[], opts?: RequestOpts) {
    return this.answer('create', endpoint, objectPath, instances, opts);
  }
  delete(endpoint: string, path: Lwm2mPath, opts?: RequestOpts) {
    return this.answer('delete', endpoint, path, opts);
  }
  discover(endpoint: string, path: Lwm2mPath, opts?: RequestOpts) {
    return this.answer('discover', endpoint, path, opts);
  }
  writeAttributes(endpoint: string, path: Lwm2mPath, attributes: Attributes, opts?: RequestOpts) {
    return this.answer('writeAttributes', endpoint, path, attributes, opts);
  }
  observe(endpoint: string, path: Lwm2mPath, opts?: RequestOpts) {
    return this.answer('observe', endpoint, path, opts);
  }
  async cancelObservation(endpoint: string, path: Lwm2mPath, opts?: { active?: boolean }): Promise<number> {
    this.calls.push({ method: 'cancelObservation', endpoint, args: [path, opts] });
    return 1;
  }
  observations(endpoint: string): ObservationInfo[] {
    return this.observationList.filter((o) => o.endpoint === endpoint);
  }
  readComposite(endpoint: string, paths: Lwm2mPath[], opts?: RequestOpts & { requestFormat?: number }) {
    return this.answer('readComposite', endpoint, paths, opts);
  }
  writeComposite(endpoint: string, nodes: PathNode[], opts?: RequestOpts) {
    return this.answer('writeComposite', endpoint, nodes, opts);
  }
  observeComposite(endpoint: string, paths: Lwm2mPath[], opts?: RequestOpts & { requestFormat?: number }) {
    return this.answer('observeComposite', endpoint, paths, opts);
  }
  async cancelCompositeObservation(endpoint: string, paths: Lwm2mPath[], opts?: { active?: boolean }): Promise<number> {
    this.calls.push({ method: 'cancelCompositeObservation', endpoint, args: [paths, opts] });
    return 2;
  }

  /** The last recorded call (fails loudly if none). */
  last(): Call {
    const c = this.calls[this.calls.length - 1];
    if (c === undefined) throw new Error('no call recorded');
    return c;
  }
}

/** A registration with sensible defaults. */
export function fakeRegistration(endpoint: string, over: Partial<Registration> = {}): Registration {
  return {
    registrationId: `reg-${endpoint}`,
    endpoint,
    address: '127.0.0.1',
    port: 56830,
    lifetime: 300,
    lwm2mVersion: '1.1',
    bindingMode: 'U',
    secure: false,
    queueMode: false,
    objectLinks: '</>;rt="oma.lwm2m";ct=11543,</1/0>,</3/0>,</5>;ver=1.0',
    rootPath: '/',
    supportedContentFormats: [11543, 112],
    objects: new Map(),
    registeredAt: Date.UTC(2024, 0, 1, 12, 0, 0),
    lastUpdate: Date.UTC(2024, 0, 1, 12, 5, 0),
    ...over,
  };
}

function res(id: number, name: string, type: ResourceType, multiple = false, operations: ResourceDefinition['operations'] = 'RW'): ResourceDefinition {
  return { id, name, type, multiple, operations, mandatory: false };
}

/** Object 3 (Device) with one resource of each type, enough to type values in tests. */
export function testModel(): Model {
  const device: ObjectDefinition = {
    id: 3,
    name: 'Device',
    version: '1.1',
    multiple: false,
    mandatory: true,
    resources: new Map(
      [
        res(0, 'Manufacturer', 'string', false, 'R'),
        res(4, 'Reboot', 'none', false, 'E'),
        res(7, 'Power Source Voltage', 'integer', true, 'R'),
        res(9, 'Battery Level', 'integer', false, 'R'),
        res(13, 'Current Time', 'time'),
        res(14, 'UTC Offset', 'string'),
        res(100, 'Unsigned', 'unsignedInteger'),
        res(101, 'Float', 'float'),
        res(102, 'Bool', 'boolean'),
        res(103, 'Opaque', 'opaque'),
        res(104, 'Link', 'objlnk'),
        res(105, 'CoreLink', 'corelnk'),
      ].map((r) => [r.id, r]),
    ),
  };
  const defs = new Map([[3, device]]);
  return {
    object: (id) => defs.get(id),
    resource: (oid, rid) => defs.get(oid)?.resources.get(rid),
    objects: () => defs.values(),
  };
}
