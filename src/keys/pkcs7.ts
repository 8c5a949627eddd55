/**
 * The degenerate "certs-only" PKCS#7/CMS SignedData (RFC 5652 §5, RFC 8551 §3.2.2; RFC 7030 §4.1.3) that EST uses to
 * carry certificates: no content, no signers, only the `certificates` field.
 */
import { TAG, oid, oidString, readChildren, readTlv, tlv } from './der.js';

const ID_SIGNED_DATA = '1.2.840.113549.1.7.2';
const ID_DATA = '1.2.840.113549.1.7.1';

/** Wraps DER certificates in a certs-only SignedData ContentInfo. */
export function certsOnly(certs: readonly Uint8Array[]): Uint8Array {
  const signedData = tlv(
    TAG.SEQUENCE,
    tlv(TAG.INTEGER, Uint8Array.of(1)), // version 1
    tlv(TAG.SET), // digestAlgorithms: empty
    tlv(TAG.SEQUENCE, oid(ID_DATA)), // encapContentInfo without eContent
    tlv(0xa0, ...certs), // certificates [0] IMPLICIT CertificateSet
    tlv(TAG.SET), // signerInfos: empty
  );
  return tlv(TAG.SEQUENCE, oid(ID_SIGNED_DATA), tlv(0xa0, signedData));
}

/** The certificates (DER, in order) of a certs-only ContentInfo; throws on anything else. */
export function parseCertsOnly(der: Uint8Array): Uint8Array[] {
  const outer = readTlv(der);
  if (outer.tag !== TAG.SEQUENCE || outer.end !== der.length) throw new Error('not a ContentInfo');
  const [type, explicit] = readChildren(outer.content);
  if (!type || type.tag !== TAG.OID || oidString(type.content) !== ID_SIGNED_DATA || !explicit || explicit.tag !== 0xa0) {
    throw new Error('not a SignedData ContentInfo');
  }
  const sd = readTlv(explicit.content);
  if (sd.tag !== TAG.SEQUENCE) throw new Error('malformed SignedData');
  const certs = readChildren(sd.content).find((c) => c.tag === 0xa0);
  if (!certs) return [];
  return readChildren(certs.content).map((c) => {
    if (c.tag !== TAG.SEQUENCE) throw new Error('SignedData holds a non-certificate');
    return new Uint8Array(c.whole);
  });
}
