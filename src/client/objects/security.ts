/** Object 0, LwM2M Security (Core Appendix E.1): the account of the configured server and its credentials. */
import type { ObjectDefinition, ResourceValue } from '../../lwm2m/index.js';
import { BaseInstance, ObjectEnabler } from '../object.js';
import { bool, int, opaque, str, uint } from '../value.js';

/** Security Mode values (resource 2). */
export const SecurityMode = { PSK: 0, RPK: 1, Certificate: 2, NoSec: 3, CertificateWithEst: 4 } as const;

/** Security object resource ids (Core Appendix E.1). */
export const SecurityResource = {
  ServerUri: 0,
  BootstrapServer: 1,
  SecurityMode: 2,
  PublicKeyOrIdentity: 3,
  ServerPublicKey: 4,
  SecretKey: 5,
  ShortServerId: 10,
  ClientHoldOffTime: 11,
  MatchingType: 13,
  Sni: 14,
  CertificateUsage: 15,
} as const;

export interface SecurityOptions {
  serverUri: string;
  shortServerId: number;
  /** Defaults to NoSec (3). */
  securityMode?: number;
  bootstrapServer?: boolean;
  /** Resource 3: PSK identity (UTF-8), own SubjectPublicKeyInfo (RPK) or own certificate(s) (X.509), DER. */
  publicKeyOrIdentity?: Uint8Array;
  /** Resource 4: the server's SubjectPublicKeyInfo (RPK) or certificate (X.509), DER. */
  serverPublicKey?: Uint8Array;
  /** Resource 5: the PSK, or the own private key as PKCS#8 DER. */
  secretKey?: Uint8Array;
  /** Resource 13 (X.509): how resource 4 is matched, RFC 6698 §2.1.3. */
  matchingType?: number;
  /** Resource 14 (X.509): the name the server's certificate must match (and the SNI sent). */
  sni?: string;
  /** Resource 15 (X.509): Certificate Usage, RFC 6698 §2.1.1 (0-3). */
  certificateUsage?: number;
}

/**
 * The Security object. The dispatcher keeps it out of reach of the LwM2M Server (Core §7.1:
 * only the Bootstrap-Server may access it); the client reads it to find and authenticate its server.
 */
export function securityObject(definition: ObjectDefinition, options: SecurityOptions): ObjectEnabler {
  const values: [number, ResourceValue][] = [
    [SecurityResource.ServerUri, str(options.serverUri)],
    [SecurityResource.BootstrapServer, bool(options.bootstrapServer ?? false)],
    [SecurityResource.SecurityMode, int(options.securityMode ?? SecurityMode.NoSec)],
    [SecurityResource.PublicKeyOrIdentity, opaque(options.publicKeyOrIdentity ?? new Uint8Array(0))],
    [SecurityResource.ServerPublicKey, opaque(options.serverPublicKey ?? new Uint8Array(0))],
    [SecurityResource.SecretKey, opaque(options.secretKey ?? new Uint8Array(0))],
    [SecurityResource.ShortServerId, int(options.shortServerId)],
    [SecurityResource.ClientHoldOffTime, int(0)],
  ];
  if (options.matchingType !== undefined) values.push([SecurityResource.MatchingType, uint(options.matchingType)]);
  if (options.sni !== undefined) values.push([SecurityResource.Sni, str(options.sni)]);
  if (options.certificateUsage !== undefined) values.push([SecurityResource.CertificateUsage, uint(options.certificateUsage)]);
  const instance = new BaseInstance(definition, 0, values);
  return new ObjectEnabler(definition, [instance], { creatable: false });
}
