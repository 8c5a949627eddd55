/** Package URIs (LwM2M Object 5 resource 1) of stored packages, as devices reach this server. */
import { isIP } from 'node:net';
import { FIRMWARE_PATH } from './coap-route.js';

/** A scheme a Package URI can use here. */
export type PackageScheme = 'coap' | 'coaps' | 'http' | 'https';

/** Where devices reach the server; a port is given for each scheme it serves packages on. */
export interface PackageUriConfig {
  /** Host name or address devices use (not a wildcard listen address). */
  host: string;
  coapPort?: number;
  coapsPort?: number;
  httpPort?: number;
  httpsPort?: number;
}

/** The schemes `config` can build URIs for. */
export function packageSchemes(config: PackageUriConfig): PackageScheme[] {
  const out: PackageScheme[] = [];
  if (config.coapPort !== undefined) out.push('coap');
  if (config.coapsPort !== undefined) out.push('coaps');
  if (config.httpPort !== undefined) out.push('http');
  if (config.httpsPort !== undefined) out.push('https');
  return out;
}

/** `<scheme>://<host>:<port>/fw/<id>`; throws when the server does not serve `scheme`. */
export function packageUri(config: PackageUriConfig, id: string, scheme: PackageScheme): string {
  const port = { coap: config.coapPort, coaps: config.coapsPort, http: config.httpPort, https: config.httpsPort }[scheme];
  if (port === undefined) throw new RangeError(`packages are not served over ${scheme}`);
  const host = isIP(config.host) === 6 ? `[${config.host}]` : config.host;
  return `${scheme}://${host}:${port}/${FIRMWARE_PATH}/${id}`;
}
