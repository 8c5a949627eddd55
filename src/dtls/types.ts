/**
 * The contracts of the DTLS 1.2 layer (RFC 6347) that the layers above use: the server and client
 * transports plug under the CoAP endpoint (`Transport` in src/coap/types.ts).
 */
import type { KeyObject } from 'node:crypto';
import type { PeerIdentity } from '../coap/types.js';

/** IANA cipher suite numbers this layer knows (RFC 6655, RFC 7251, RFC 5487, RFC 5489). */
export const CipherSuite = {
  TLS_PSK_WITH_AES_128_CCM_8: 0xc0a8,
  TLS_PSK_WITH_AES_128_GCM_SHA256: 0x00a8,
  TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256: 0xc037,
  TLS_PSK_WITH_AES_128_CBC_SHA256: 0x00ae,
  TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8: 0xc0ae,
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: 0xc02b,
} as const;

/** How the peer proved who it is; becomes the CoAP PeerIdentity. */
export type { PeerIdentity };

/** A certificate chain and its private key (leaf first, DER). */
export interface CertificateCredential {
  chain: Uint8Array[];
  privateKey: KeyObject;
}

/** A raw public key (RFC 7250): the private key; the SubjectPublicKeyInfo is derived from it. */
export interface RawPublicKeyCredential {
  privateKey: KeyObject;
}

/**
 * Decides whether a peer's certificate chain (leaf first, DER) is trusted, and who it is.
 * Throws a DtlsAlert (bad_certificate, certificate_revoked, certificate_expired, unknown_ca ...) to refuse.
 */
export type CertificateVerifier = (chain: Uint8Array[], context: { serverName?: string }) => PeerIdentity | Promise<PeerIdentity>;

/** Decides whether a peer's raw public key (SubjectPublicKeyInfo DER) is trusted, and who it is. */
export type RawPublicKeyVerifier = (spki: Uint8Array) => PeerIdentity | Promise<PeerIdentity>;

/** PSK identity to key; undefined for an unknown identity. May be async (store lookup, key derivation). */
export type PskLookup = (identity: string) => Uint8Array | undefined | Promise<Uint8Array | undefined>;
