/**
 * EST over CoAPs (RFC 9148) on the server's DTLS endpoint: GET /est/crts (the CA certificate), POST /est/sen
 * (simple enroll) and POST /est/sren (re-enroll). The requester is who DTLS authenticated: a PSK identity mapped to
 * its endpoint by the security store, a raw public key's endpoint, or the CN of its current certificate. A request
 * may only ask for a certificate naming that endpoint.
 */
import type { CoapOption, IncomingRequest, OutgoingResponse, PeerIdentity } from '../coap/types.js';
import { Method, ResponseCode, uintOption } from '../coap/option.js';
import { OptionNumber } from '../coap/types.js';
import { CaError, EstContentFormat, EstPath, certsOnly, type CertificateAuthority, type IssuedCertificate } from '../keys/index.js';
import { silentLogger, type Logger } from '../log.js';
import type { SecurityStore } from '../store/security.js';

/** Options of estHandler. */
export interface EstHandlerOptions {
  ca: Pick<CertificateAuthority, 'issue' | 'caCertificate'>;
  /** Maps a PSK identity to its endpoint (required for PSK-authenticated enrollment). */
  security?: Pick<SecurityStore, 'findByPskIdentity'>;
  /** Overrides how an authenticated identity maps to an endpoint name (undefined: not allowed to enroll). */
  endpointOf?: (identity: PeerIdentity) => string | undefined;
  /** Lifetime of issued certificates in days (365). */
  days?: number;
  /** Called after each certificate is issued (e.g. to switch the endpoint's security info to x509). */
  onIssued?: (issued: IssuedCertificate, operation: 'sen' | 'sren') => void;
  logger?: Logger;
}

const TEXT = new TextEncoder();

function error(code: number, diagnostic: string): OutgoingResponse {
  // RFC 7252 §5.5.2: a diagnostic payload on an error response, without Content-Format.
  return { code, payload: TEXT.encode(diagnostic) };
}

/**
 * RFC 9148 §4.3: servers support 281 (certs-only) and may support 287 (pkix-cert); with no Accept option the
 * client states no preference and 281 is sent. Returns undefined for an Accept this server cannot produce.
 */
function responseFormat(accept: number | undefined): number | undefined {
  if (accept === undefined || accept === EstContentFormat.PKCS7_CERTS_ONLY) return EstContentFormat.PKCS7_CERTS_ONLY;
  if (accept === EstContentFormat.PKIX_CERT) return EstContentFormat.PKIX_CERT;
  return undefined;
}

function certificateResponse(code: number, format: number, cert: Uint8Array): OutgoingResponse {
  const options: CoapOption[] = [uintOption(OptionNumber.ContentFormat, format)];
  return { code, options, payload: format === EstContentFormat.PKIX_CERT ? cert : certsOnly([cert]) };
}

/** The default identity-to-endpoint mapping: PSK through the security store, RPK and X.509 by their name. */
function defaultEndpointOf(security: EstHandlerOptions['security']): (identity: PeerIdentity) => string | undefined {
  return (identity) => {
    if (identity.mode === 'psk') return security?.findByPskIdentity(identity.name)?.endpoint;
    return identity.name === '' ? undefined : identity.name;
  };
}

/**
 * A request handler for paths under /est; returns undefined for any other path so the caller can pass the request
 * on. Answers 4.01 without a DTLS identity, 4.03 when the request names another endpoint (or /sren without a
 * certificate session), 4.00 for a malformed or badly signed CSR, 4.15 / 4.06 for content formats it does not speak.
 */
export function estHandler(opts: EstHandlerOptions): (req: IncomingRequest) => OutgoingResponse | undefined {
  const log = opts.logger ?? silentLogger;
  const endpointOf = opts.endpointOf ?? defaultEndpointOf(opts.security);
  const days = opts.days ?? 365;

  const enroll = (req: IncomingRequest, operation: 'sen' | 'sren'): OutgoingResponse => {
    if (req.code !== Method.POST) return error(ResponseCode.MethodNotAllowed, 'POST a PKCS#10 request');
    if (req.contentFormat !== EstContentFormat.PKCS10) return error(ResponseCode.UnsupportedContentFormat, 'the request must be application/pkcs10 (286)');
    const format = responseFormat(req.accept);
    if (format === undefined) return error(ResponseCode.NotAcceptable, 'responses are 281 (certs-only) or 287 (pkix-cert)');
    const identity = req.identity;
    if (!identity) return error(ResponseCode.Unauthorized, 'EST needs an authenticated DTLS session');
    // RFC 7030 §4.2.2: re-enrollment is authenticated by the certificate being renewed.
    if (operation === 'sren' && identity.mode !== 'x509') return error(ResponseCode.Forbidden, 're-enrollment needs a certificate session');
    const endpoint = endpointOf(identity);
    if (endpoint === undefined) return error(ResponseCode.Forbidden, 'this identity may not enroll');
    let issued: IssuedCertificate;
    try {
      issued = opts.ca.issue(req.payload, { endpoint, days });
    } catch (err) {
      if (!(err instanceof CaError)) throw err;
      log.warn({ endpoint, identity: identity.name, code: err.code, operation }, 'EST request refused');
      if (err.code === 'NAME_MISMATCH') return error(ResponseCode.Forbidden, 'the request names another endpoint');
      return error(ResponseCode.BadRequest, err.message);
    }
    log.info({ endpoint, serial: issued.serial, operation }, 'EST certificate issued');
    opts.onIssued?.(issued, operation);
    // RFC 9148 §5: a successful /sen or /sren is answered 2.04 (Changed) with the certificate.
    return certificateResponse(ResponseCode.Changed, format, issued.certificate);
  };

  return (req) => {
    const path = req.path;
    if (path[0] !== EstPath.root) return undefined;
    if (path.length !== 2) return error(ResponseCode.NotFound, 'no such EST resource');
    switch (path[1]) {
      case EstPath.crts: {
        if (req.code !== Method.GET) return error(ResponseCode.MethodNotAllowed, 'GET the CA certificates');
        const format = responseFormat(req.accept);
        if (format === undefined) return error(ResponseCode.NotAcceptable, 'responses are 281 (certs-only) or 287 (pkix-cert)');
        return certificateResponse(ResponseCode.Content, format, opts.ca.caCertificate());
      }
      case EstPath.sen:
        return enroll(req, 'sen');
      case EstPath.sren:
        return enroll(req, 'sren');
      default:
        return error(ResponseCode.NotFound, 'no such EST resource');
    }
  };
}
