/** The LwM2M server's public contract: what the API, the CLI and embedders use. */
import type { EventEmitter } from 'node:events';
import type { PeerIdentity } from '../coap/types.js';
import type { Attributes } from '../lwm2m/attributes.js';
import type { Link } from '../lwm2m/link-format.js';
import type { LwM2mNode, ObjectInstanceNode } from '../lwm2m/node.js';
import type { Lwm2mPath } from '../lwm2m/path.js';
import type { PathNode } from '../lwm2m/format/types.js';

/** A device's registration (LwM2M 1.1 Core §6.2.1). */
export interface Registration {
  readonly registrationId: string;
  readonly endpoint: string;
  readonly address: string;
  readonly port: number;
  /** Seconds. */
  readonly lifetime: number;
  readonly lwm2mVersion: string;
  /** "U", "UQ" (1.0) or "U" with queueMode (1.1). */
  readonly bindingMode: string;
  readonly queueMode: boolean;
  readonly smsNumber?: string;
  /** The raw CoRE link format payload of the last Register/Update carrying one. */
  readonly objectLinks: string;
  readonly rootPath: string;
  readonly supportedContentFormats: readonly number[];
  readonly objects: ReadonlyMap<number, { version?: string; instances: readonly number[] }>;
  /** Epoch ms. */
  readonly registeredAt: number;
  readonly lastUpdate: number;
  readonly identity?: PeerIdentity;
  /** Registered over DTLS (CoAPs). */
  readonly secure: boolean;
}

/** What a device answered. */
export interface DeviceResponse {
  /** CoAP response code, e.g. 69 (2.05 Content). */
  readonly code: number;
  /** Read and Observe. */
  readonly content?: LwM2mNode;
  /** Read-/Observe-Composite. */
  readonly contents?: PathNode[];
  /** Discover. */
  readonly links?: Link[];
  /** Create: the new instance's path (from Location-Path). */
  readonly location?: string;
  /** Diagnostic payload of an error response, if any (text). */
  readonly errorMessage?: string;
}

export interface RequestOpts {
  /** Content format to request (Accept) or to send (Content-Format). */
  format?: number;
  /** Ms to wait for the device, including time queued while a queue-mode device sleeps. */
  timeout?: number;
}

export interface WriteOpts extends RequestOpts {
  /** PUT (replace, default) or POST (partial update, Core §5.4.3). */
  replace?: boolean;
}

export interface Notification {
  readonly endpoint: string;
  readonly observationId: string;
  /** The observed path(s). */
  readonly paths: readonly Lwm2mPath[];
  readonly code: number;
  readonly content?: LwM2mNode;
  readonly contents?: PathNode[];
}

export interface SendData {
  readonly endpoint: string;
  readonly contents: PathNode[];
}

/** A successful Read, Read-Composite or Observe's first answer ('read' event): `path` and `content`, or `contents`. */
export interface ReadData {
  readonly endpoint: string;
  readonly path?: Lwm2mPath;
  readonly content?: LwM2mNode;
  readonly contents?: PathNode[];
}

export interface ObservationInfo {
  readonly observationId: string;
  readonly endpoint: string;
  readonly paths: readonly Lwm2mPath[];
  readonly composite: boolean;
  readonly createdAt: number;
}

/** The error the server raises for a request it could not carry out. */
export type ServerErrorCode = 'NOT_REGISTERED' | 'TIMEOUT' | 'INVALID_REQUEST' | 'UNSUPPORTED_FORMAT' | 'BAD_RESPONSE' | 'CANCELLED';

/**
 * Events: 'registered' (reg), 'updated' (reg, previous), 'deregistered' (reg, reason: 'deregister' | 'expired' | 'replaced'),
 * 'awake' (reg), 'sleeping' (reg), 'notification' (Notification), 'send' (SendData), 'read' (ReadData; emitted only
 * while someone listens).
 */
export interface DeviceManagement extends EventEmitter {
  /** Registered devices; with `search`, those whose endpoint name contains it. */
  registrationCount(search?: string): number;
  /** Registrations sorted by endpoint, a page at a time. */
  listRegistrations(opts?: { offset?: number; limit?: number; search?: string }): Registration[];
  getRegistration(endpoint: string): Registration | undefined;

  read(endpoint: string, path: Lwm2mPath, opts?: RequestOpts): Promise<DeviceResponse>;
  write(endpoint: string, path: Lwm2mPath, node: LwM2mNode, opts?: WriteOpts): Promise<DeviceResponse>;
  execute(endpoint: string, path: Lwm2mPath, args?: string, opts?: RequestOpts): Promise<DeviceResponse>;
  create(endpoint: string, objectPath: Lwm2mPath, instances: ObjectInstanceNode[], opts?: RequestOpts): Promise<DeviceResponse>;
  delete(endpoint: string, path: Lwm2mPath, opts?: RequestOpts): Promise<DeviceResponse>;
  discover(endpoint: string, path: Lwm2mPath, opts?: RequestOpts): Promise<DeviceResponse>;
  writeAttributes(endpoint: string, path: Lwm2mPath, attributes: Attributes, opts?: RequestOpts): Promise<DeviceResponse>;

  observe(endpoint: string, path: Lwm2mPath, opts?: RequestOpts): Promise<DeviceResponse & { observationId?: string }>;
  /** Forgets the observation; `active` also sends a cancelling GET (Observe=1) to the device. */
  cancelObservation(endpoint: string, path: Lwm2mPath, opts?: { active?: boolean }): Promise<number>;
  observations(endpoint: string): ObservationInfo[];

  readComposite(endpoint: string, paths: Lwm2mPath[], opts?: RequestOpts & { requestFormat?: number }): Promise<DeviceResponse>;
  writeComposite(endpoint: string, nodes: PathNode[], opts?: RequestOpts): Promise<DeviceResponse>;
  observeComposite(endpoint: string, paths: Lwm2mPath[], opts?: RequestOpts & { requestFormat?: number }): Promise<DeviceResponse & { observationId?: string }>;
  cancelCompositeObservation(endpoint: string, paths: Lwm2mPath[], opts?: { active?: boolean }): Promise<number>;
}
