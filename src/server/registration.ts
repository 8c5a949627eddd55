/** A device registration and the Register/Update parameters (LwM2M 1.1 Core §6.2.1, Transport §6.2). */
import type { PeerIdentity } from '../coap/types.js';
import { Lwm2mError, ResponseCode } from '../lwm2m/error.js';
import { parseObjectLinks } from '../lwm2m/registration-links.js';
import type { RegistrationRow } from '../store/sqlite.js';
import type { Registration as RegistrationInfo } from './types.js';

/** LwM2M versions this server speaks; others get 4.12 Precondition Failed. */
export const SUPPORTED_VERSIONS: ReadonlySet<string> = new Set(['1.0', '1.1', '1.2']);

/** Core §6.2.1: the lifetime when a Register omits `lt`. */
export const DEFAULT_LIFETIME = 86400;

/** The query parameters of a Register or Update; absent fields were not sent. */
export interface RegistrationParams {
  endpoint?: string;
  lifetime?: number;
  lwm2mVersion?: string;
  bindingMode?: string;
  queueMode?: boolean;
  smsNumber?: string;
}

/** Parses Uri-Query items (`ep=dev1`, `lt=300`, `Q` ...). Unknown parameters are ignored, as Core §6.2.1 allows. */
export function parseRegistrationParams(query: readonly string[]): RegistrationParams {
  const p: RegistrationParams = {};
  for (const item of query) {
    const eq = item.indexOf('=');
    const key = eq < 0 ? item : item.slice(0, eq);
    const value = eq < 0 ? undefined : item.slice(eq + 1);
    switch (key) {
      case 'ep':
        if (!value) throw new Lwm2mError(ResponseCode.BadRequest, 'empty endpoint name (ep)');
        p.endpoint = value;
        break;
      case 'lt': {
        if (!value || !/^\d{1,10}$/.test(value) || Number(value) === 0) {
          throw new Lwm2mError(ResponseCode.BadRequest, `invalid lifetime lt=${value ?? ''}`);
        }
        p.lifetime = Number(value);
        break;
      }
      case 'lwm2m':
        if (!value) throw new Lwm2mError(ResponseCode.BadRequest, 'empty LwM2M version (lwm2m)');
        p.lwm2mVersion = value;
        break;
      case 'b':
        if (!value || !/^[UTSN]+Q?$/.test(value)) throw new Lwm2mError(ResponseCode.BadRequest, `invalid binding b=${value ?? ''}`);
        p.bindingMode = value;
        break;
      case 'sms':
        p.smsNumber = value ?? '';
        break;
      case 'Q':
        // 1.1 Transport §6.2: queue mode is the parameter Q, without a value.
        if (value !== undefined) throw new Lwm2mError(ResponseCode.BadRequest, 'Q takes no value');
        p.queueMode = true;
        break;
    }
  }
  return p;
}

const NO_FORMATS: readonly number[] = Object.freeze([]);

/** One registered device; `objects` is derived from the links on demand to keep per-device memory small. */
export class Registration implements RegistrationInfo {
  /** Kept parsed: every request to the device needs them. */
  readonly rootPath: string;
  readonly supportedContentFormats: readonly number[];

  constructor(
    readonly registrationId: string,
    readonly endpoint: string,
    readonly address: string,
    readonly port: number,
    readonly lifetime: number,
    readonly lwm2mVersion: string,
    readonly bindingMode: string,
    readonly queueMode: boolean,
    readonly smsNumber: string | undefined,
    readonly objectLinks: string,
    readonly registeredAt: number,
    readonly lastUpdate: number,
    readonly identity: PeerIdentity | undefined,
    /** Registered over DTLS (CoAPs): requests go back the same way. */
    readonly secure: boolean,
  ) {
    const links = parseObjectLinks(objectLinks);
    this.rootPath = links.rootPath === '/' ? '/' : links.rootPath;
    this.supportedContentFormats = links.supportedContentFormats.length ? links.supportedContentFormats : NO_FORMATS;
  }

  /** A new registration from a Register request. */
  static fromRegister(
    registrationId: string,
    params: RegistrationParams,
    peer: { address: string; port: number },
    objectLinks: string,
    now: number,
    identity: PeerIdentity | undefined,
    secure: boolean,
  ): Registration {
    if (!params.endpoint) throw new Lwm2mError(ResponseCode.BadRequest, 'missing endpoint name (ep)');
    const version = params.lwm2mVersion ?? '1.0';
    if (!SUPPORTED_VERSIONS.has(version)) {
      throw new Lwm2mError(ResponseCode.PreconditionFailed, `unsupported LwM2M version ${version}`);
    }
    const binding = params.bindingMode ?? 'U';
    // 1.0 signalled queue mode inside the binding ("UQ"); 1.1 uses the Q parameter.
    const queueMode = params.queueMode === true || binding.endsWith('Q');
    return new Registration(registrationId, params.endpoint, peer.address, peer.port, params.lifetime ?? DEFAULT_LIFETIME,
      version, binding, queueMode, params.smsNumber, objectLinks, now, now, identity, secure);
  }

  /** This registration after an Update (Core §6.2.2): only the parameters sent change. */
  updated(params: RegistrationParams, peer: { address: string; port: number }, objectLinks: string | undefined, now: number): Registration {
    if (params.endpoint !== undefined || params.lwm2mVersion !== undefined) {
      throw new Lwm2mError(ResponseCode.BadRequest, 'Update must not carry ep or lwm2m');
    }
    const binding = params.bindingMode ?? this.bindingMode;
    const queueMode = params.queueMode ?? (params.bindingMode !== undefined ? binding.endsWith('Q') : this.queueMode);
    return new Registration(this.registrationId, this.endpoint, peer.address, peer.port, params.lifetime ?? this.lifetime,
      this.lwm2mVersion, binding, queueMode, params.smsNumber ?? this.smsNumber, objectLinks ?? this.objectLinks,
      this.registeredAt, now, this.identity, this.secure);
  }

  /** The same registration reached at another address (the device's DTLS association moved). */
  movedTo(peer: { address: string; port: number }): Registration {
    return new Registration(this.registrationId, this.endpoint, peer.address, peer.port, this.lifetime, this.lwm2mVersion,
      this.bindingMode, this.queueMode, this.smsNumber, this.objectLinks, this.registeredAt, this.lastUpdate, this.identity, this.secure);
  }

  get objects(): ReadonlyMap<number, { version?: string; instances: readonly number[] }> {
    return parseObjectLinks(this.objectLinks).objects;
  }

  /** Epoch ms after which the registration has expired. */
  expiresAt(graceMs: number): number {
    return this.lastUpdate + this.lifetime * 1000 + graceMs;
  }

  toRow(): RegistrationRow {
    return {
      endpoint: this.endpoint, registrationId: this.registrationId, address: this.address, port: this.port,
      lifetime: this.lifetime, lwm2mVersion: this.lwm2mVersion, bindingMode: this.bindingMode, queueMode: this.queueMode,
      smsNumber: this.smsNumber ?? null, objectLinks: this.objectLinks, registeredAt: this.registeredAt,
      lastUpdate: this.lastUpdate, identity: this.identity ? JSON.stringify(this.identity) : null, secure: this.secure,
    };
  }

  static fromRow(r: RegistrationRow): Registration {
    return new Registration(r.registrationId, r.endpoint, r.address, r.port, r.lifetime, r.lwm2mVersion, r.bindingMode,
      r.queueMode, r.smsNumber ?? undefined, r.objectLinks, r.registeredAt, r.lastUpdate,
      r.identity ? (JSON.parse(r.identity) as PeerIdentity) : undefined, r.secure);
  }
}
