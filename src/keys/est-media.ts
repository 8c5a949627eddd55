/** EST-coaps (RFC 9148) resource names and CoAP Content-Formats, shared by the server handler and the client. */

/** CoAP Content-Format numbers (RFC 9148 §8.1, IANA "CoAP Content-Formats"). */
export const EstContentFormat = {
  /** application/pkcs7-mime; smime-type=certs-only */
  PKCS7_CERTS_ONLY: 281,
  /** application/pkcs10 */
  PKCS10: 286,
  /** application/pkix-cert */
  PKIX_CERT: 287,
} as const;

/** RFC 9148 §4.1 short resource names under the /est root. */
export const EstPath = { root: 'est', crts: 'crts', sen: 'sen', sren: 'sren' } as const;
