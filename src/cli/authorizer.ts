/**
 * Binds what DTLS authenticated to the endpoint name a device registers with (issue: a device
 * authenticated as A that registers as B gets 4.03).
 */
import type { PeerIdentity } from '../coap/index.js';
import type { Authorizer } from '../server/index.js';
import type { SecurityInfo } from '../store/index.js';

export function securityAuthorizer(
  security: {
    get(endpoint: string): SecurityInfo | undefined;
    /** A rotation's second PSK (SecurityStore.getPending): its identity is accepted alongside the current one. */
    getPending?(endpoint: string): { pskIdentity: string } | undefined;
  },
  /** True while Warden's CA holds a valid certificate it issued to the endpoint (EST): as good as stored X.509 info. */
  certificateIssuedTo?: (endpoint: string) => boolean,
): Authorizer {
  return (endpoint: string, identity: PeerIdentity | undefined): boolean => {
    if (identity?.mode === 'x509' && identity.name === endpoint && certificateIssuedTo?.(endpoint)) return true;
    const info = security.get(endpoint);
    // No security info: only an unauthenticated (plain CoAP) device may use the name; an authenticated
    // identity belongs to some other endpoint.
    if (!info) return identity === undefined;
    if (!identity || identity.mode !== info.mode) return false;
    switch (info.mode) {
      case 'psk':
        return identity.name === info.pskIdentity || identity.name === security.getPending?.(endpoint)?.pskIdentity;
      case 'rpk': // the raw-key verifier names the endpoint the key is stored for
      case 'x509': // the certificate's subject CN
        return identity.name === endpoint;
    }
  };
}
