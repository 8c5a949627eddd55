/** Object and resource definitions (LwM2M 1.1 Core §7 and the DDF schema). */

/** Resource data types (LwM2M 1.1 Core Appendix C). */
export type ResourceType =
  | 'string'
  | 'integer'
  | 'unsignedInteger'
  | 'float'
  | 'boolean'
  | 'opaque'
  | 'time'
  | 'objlnk'
  | 'corelnk'
  | 'none';

export type Operations = '' | 'R' | 'W' | 'RW' | 'E';

export interface ResourceDefinition {
  readonly id: number;
  readonly name: string;
  readonly operations: Operations;
  readonly multiple: boolean;
  readonly mandatory: boolean;
  readonly type: ResourceType;
  readonly rangeEnumeration?: string;
  readonly units?: string;
  readonly description?: string;
}

export interface ObjectDefinition {
  readonly id: number;
  readonly name: string;
  readonly description?: string;
  /** "1.0", "1.1" ... */
  readonly version: string;
  readonly lwm2mVersion?: string;
  readonly urn?: string;
  readonly multiple: boolean;
  readonly mandatory: boolean;
  readonly resources: ReadonlyMap<number, ResourceDefinition>;
}

/** Where codecs and the server look definitions up. */
export interface Model {
  object(objectId: number): ObjectDefinition | undefined;
  resource(objectId: number, resourceId: number): ResourceDefinition | undefined;
  objects(): Iterable<ObjectDefinition>;
}
