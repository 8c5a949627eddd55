/**
 * The device side of EST over CoAPs (RFC 9148): generate a P-256 key pair, send a PKCS#10 request for the
 * device's endpoint name to /est/sen (first enrollment, over the PSK/bootstrap session) or /est/sren (renewal,
 * over the session authenticated by the current certificate), and check what comes back.
 */
import { X509Certificate, generateKeyPairSync, type KeyObject } from 'node:crypto';
import type { CoapEndpoint } from '../coap/endpoint.js';
import { Method, ResponseCode, codeToString, getUint, uintOption, uriPathOptions } from '../coap/option.js';
import { OptionNumber, type CoapResponse, type PeerAddress } from '../coap/types.js';
import { EstContentFormat, EstPath, createCsr, parseCertsOnly } from '../keys/index.js';

/** An EST exchange that did not produce a usable certificate; `code` is the CoAP response code (0 when the answer was unusable). */
export class EstError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = 'EstError';
  }
}

/** A certificate chain (leaf first, DER) and its private key: what the DTLS client's `certificate` option takes. */
export interface EnrollResult {
  certificateChain: Uint8Array[];
  privateKey: KeyObject;
}

/** Options of enroll and reenroll. */
export interface EnrollOptions {
  /** The endpoint name the certificate is for (its subject CN). */
  endpointName: string;
  /** Use this P-256 key pair instead of generating one. */
  keyPair?: { privateKey: KeyObject; publicKey: KeyObject };
  /** Ask for 281 (certs-only, default) or 287 (pkix-cert). */
  accept?: 281 | 287;
  /** Exchange timeout in ms. */
  timeout?: number;
}

/** Simple enrollment (POST /est/sen) over an authenticated CoAPs session to `peer`. */
export function enroll(endpoint: CoapEndpoint, peer: PeerAddress, opts: EnrollOptions): Promise<EnrollResult> {
  return request(endpoint, peer, EstPath.sen, opts);
}

/** Re-enrollment (POST /est/sren) over a session authenticated by the certificate being renewed; a fresh key pair by default. */
export function reenroll(endpoint: CoapEndpoint, peer: PeerAddress, opts: EnrollOptions): Promise<EnrollResult> {
  return request(endpoint, peer, EstPath.sren, opts);
}

/** The CA certificates (GET /est/crts), DER. */
export async function caCertificates(endpoint: CoapEndpoint, peer: PeerAddress, opts: { timeout?: number } = {}): Promise<Uint8Array[]> {
  const res = await endpoint.request(
    peer,
    { code: Method.GET, options: [...uriPathOptions([EstPath.root, EstPath.crts]), uintOption(OptionNumber.Accept, EstContentFormat.PKCS7_CERTS_ONLY)] },
    opts.timeout !== undefined ? { timeout: opts.timeout } : {},
  );
  if (res.code !== ResponseCode.Content) throw failure(res, 'crts');
  return certificatesOf(res);
}

async function request(endpoint: CoapEndpoint, peer: PeerAddress, resource: string, opts: EnrollOptions): Promise<EnrollResult> {
  const pair = opts.keyPair ?? generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const csr = createCsr({ commonName: opts.endpointName, privateKey: pair.privateKey, publicKey: pair.publicKey });
  const res = await endpoint.request(
    peer,
    {
      code: Method.POST,
      options: [
        ...uriPathOptions([EstPath.root, resource]),
        uintOption(OptionNumber.ContentFormat, EstContentFormat.PKCS10),
        uintOption(OptionNumber.Accept, opts.accept ?? EstContentFormat.PKCS7_CERTS_ONLY),
      ],
      payload: csr,
    },
    opts.timeout !== undefined ? { timeout: opts.timeout } : {},
  );
  // RFC 9148 §5: 2.04 (Changed) carries the certificate.
  if (res.code !== ResponseCode.Changed) throw failure(res, resource);
  const chain = certificatesOf(res);
  const leaf = chain[0];
  if (!leaf) throw new EstError(0, `EST ${resource}: no certificate in the response`);
  let x: X509Certificate;
  try {
    x = new X509Certificate(leaf);
  } catch {
    throw new EstError(0, `EST ${resource}: the certificate does not parse`);
  }
  if (!x.publicKey.equals(pair.publicKey)) throw new EstError(0, `EST ${resource}: the certificate is for another key`);
  return { certificateChain: chain, privateKey: pair.privateKey };
}

function certificatesOf(res: CoapResponse): Uint8Array[] {
  const format = getUint(res, OptionNumber.ContentFormat);
  if (format === EstContentFormat.PKIX_CERT) return [new Uint8Array(res.payload)];
  if (format !== EstContentFormat.PKCS7_CERTS_ONLY) throw new EstError(0, `EST: unexpected Content-Format ${String(format)}`);
  try {
    return parseCertsOnly(res.payload);
  } catch (err) {
    throw new EstError(0, `EST: malformed certs-only response: ${(err as Error).message}`);
  }
}

function failure(res: CoapResponse, resource: string): EstError {
  const diagnostic = Buffer.from(res.payload).toString('utf8').slice(0, 200);
  return new EstError(res.code, `EST ${resource} refused: ${codeToString(res.code)}${diagnostic ? ` ${diagnostic}` : ''}`);
}
