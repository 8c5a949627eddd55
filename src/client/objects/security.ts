/** Object 0, LwM2M Security (Core Appendix E.1): one NoSec account for the configured server. */
import type { ObjectDefinition } from '../../lwm2m/index.js';
import { BaseInstance, ObjectEnabler } from '../object.js';
import { bool, int, opaque, str } from '../value.js';

/** Security Mode values (resource 2). */
export const SecurityMode = { PSK: 0, RPK: 1, Certificate: 2, NoSec: 3, CertificateWithEst: 4 } as const;

export interface SecurityOptions {
  serverUri: string;
  shortServerId: number;
  /** Defaults to NoSec (3). */
  securityMode?: number;
  bootstrapServer?: boolean;
}

/**
 * The Security object. The dispatcher keeps it out of reach of the LwM2M Server (Core §7.1:
 * only the Bootstrap-Server may access it); the client reads it to find its server.
 */
export function securityObject(definition: ObjectDefinition, options: SecurityOptions): ObjectEnabler {
  const instance = new BaseInstance(definition, 0, [
    [0, str(options.serverUri)],
    [1, bool(options.bootstrapServer ?? false)],
    [2, int(options.securityMode ?? SecurityMode.NoSec)],
    [3, opaque(new Uint8Array(0))],
    [4, opaque(new Uint8Array(0))],
    [5, opaque(new Uint8Array(0))],
    [10, int(options.shortServerId)],
    [11, int(0)],
  ]);
  return new ObjectEnabler(definition, [instance], { creatable: false });
}
