/** A registration as API JSON (the field names LwM2M tooling already reads). */
import { parseLinks } from '../lwm2m/index.js';
import type { Registration } from '../server/types.js';
import { linksToJson, type LinkJson } from './device-response.js';

export interface RegistrationJson {
  endpoint: string;
  registrationId: string;
  /** ISO 8601. */
  registrationDate: string;
  /** ISO 8601. */
  lastUpdate: string;
  /** "host:port" ("[v6]:port" for IPv6). */
  address: string;
  lwM2mVersion: string;
  lifetime: number;
  bindingMode: string;
  queueMode: boolean;
  smsNumber?: string;
  rootPath: string;
  objectLinks: LinkJson[];
  supportedContentFormats: number[];
  secure: boolean;
  sleeping: boolean;
}

/** Converts a registration; an unparsable object-links payload gives an empty `objectLinks`. */
export function registrationToJson(reg: Registration, sleeping: boolean): RegistrationJson {
  let objectLinks: LinkJson[];
  try {
    objectLinks = linksToJson(parseLinks(reg.objectLinks));
  } catch {
    objectLinks = [];
  }
  const out: RegistrationJson = {
    endpoint: reg.endpoint,
    registrationId: reg.registrationId,
    registrationDate: new Date(reg.registeredAt).toISOString(),
    lastUpdate: new Date(reg.lastUpdate).toISOString(),
    address: reg.address.includes(':') ? `[${reg.address}]:${reg.port}` : `${reg.address}:${reg.port}`,
    lwM2mVersion: reg.lwm2mVersion,
    lifetime: reg.lifetime,
    bindingMode: reg.bindingMode,
    queueMode: reg.queueMode,
    rootPath: reg.rootPath,
    objectLinks,
    supportedContentFormats: [...reg.supportedContentFormats],
    secure: reg.secure,
    sleeping,
  };
  if (reg.smsNumber !== undefined) out.smsNumber = reg.smsNumber;
  return out;
}
