/**
 * PKCS#10 certification requests (RFC 2986): build one signed with a P-256 key, and parse one and verify its
 * self-signature (proof that the requester holds the private key, RFC 2986 §3).
 */
import { createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { AttributeTypeAndValue, AttributeValue, Name, RelativeDistinguishedName } from '@peculiar/asn1-x509';
import { TAG, oid, oidString, readChildren, readTlv, tlv } from './der.js';

const OID_CN = '2.5.4.3';
/** ecdsa-with-SHA256 (RFC 5758 §3.2): parameters absent. */
export const ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';

/** Signature algorithms accepted on a CSR, to the hash node:crypto needs. SHA-1 is refused. */
const CSR_SIGNATURE_HASH: ReadonlyMap<string, string> = new Map([
  [ECDSA_WITH_SHA256, 'sha256'],
  ['1.2.840.10045.4.3.3', 'sha384'],
  ['1.2.840.10045.4.3.4', 'sha512'],
  ['1.2.840.113549.1.1.11', 'sha256'],
]);

/** A CSR that cannot be used: malformed DER, an unsupported algorithm, or a signature that does not verify. */
export class CsrError extends Error {
  constructor(
    readonly code: 'MALFORMED' | 'UNSUPPORTED' | 'BAD_SIGNATURE',
    message: string,
  ) {
    super(message);
    this.name = 'CsrError';
  }
}

/** What a verified CSR asks for. */
export interface CertificationRequest {
  /** The subject's commonName (undefined if it has none). */
  commonName?: string;
  /** SubjectPublicKeyInfo, DER. */
  spki: Uint8Array;
  publicKey: KeyObject;
}

/** A Name holding only CN=`cn`. */
export function commonNameSubject(cn: string): Name {
  return new Name([
    new RelativeDistinguishedName([new AttributeTypeAndValue({ type: OID_CN, value: new AttributeValue({ utf8String: cn }) })]),
  ]);
}

/** Builds a PKCS#10 request for subject CN=`commonName`, signed ecdsa-with-SHA256 with `privateKey` (P-256). */
export function createCsr(opts: { commonName: string; privateKey: KeyObject; publicKey: KeyObject }): Uint8Array {
  const subject = new Uint8Array(AsnConvert.serialize(commonNameSubject(opts.commonName)));
  const spki = new Uint8Array(opts.publicKey.export({ type: 'spki', format: 'der' }));
  // RFC 2986 §4.1: version 0, subject, subjectPKInfo, attributes [0] IMPLICIT SET (empty).
  const info = tlv(TAG.SEQUENCE, tlv(TAG.INTEGER, Uint8Array.of(0)), subject, spki, Uint8Array.of(0xa0, 0x00));
  const signature = sign('sha256', info, opts.privateKey);
  return tlv(TAG.SEQUENCE, info, tlv(TAG.SEQUENCE, oid(ECDSA_WITH_SHA256)), tlv(TAG.BIT_STRING, Uint8Array.of(0), signature));
}

/** Parses a DER CSR and verifies its signature; throws CsrError. */
export function parseCsr(der: Uint8Array): CertificationRequest {
  let info: Uint8Array;
  let algorithm: string;
  let signature: Uint8Array;
  let commonName: string | undefined;
  let spki: Uint8Array;
  let publicKey: KeyObject;
  try {
    const outer = readTlv(der);
    if (outer.tag !== TAG.SEQUENCE || outer.end !== der.length) throw new Error('not one SEQUENCE');
    const [cri, alg, sig, ...rest] = readChildren(outer.content);
    if (!cri || !alg || !sig || rest.length > 0 || cri.tag !== TAG.SEQUENCE || alg.tag !== TAG.SEQUENCE || sig.tag !== TAG.BIT_STRING) {
      throw new Error('not a CertificationRequest');
    }
    info = cri.whole;
    const algOid = readChildren(alg.content)[0];
    if (!algOid || algOid.tag !== TAG.OID) throw new Error('bad signatureAlgorithm');
    algorithm = oidString(algOid.content);
    if (sig.content.length < 2 || sig.content[0] !== 0) throw new Error('bad signature BIT STRING');
    signature = sig.content.subarray(1);
    const [version, subject, pk] = readChildren(cri.content);
    if (!version || !subject || !pk || version.tag !== TAG.INTEGER || version.content.length !== 1 || version.content[0] !== 0) {
      throw new Error('bad CertificationRequestInfo');
    }
    const name = AsnConvert.parse(subject.whole, Name);
    const cns: string[] = [];
    for (const rdn of name) for (const atv of rdn) if (atv.type === OID_CN) cns.push(atv.value.toString());
    // Several CNs are ambiguous: verifiers disagree on which one names the endpoint.
    if (cns.length > 1) throw new Error('subject has several commonNames');
    commonName = cns[0];
    spki = new Uint8Array(pk.whole);
    publicKey = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  } catch (err) {
    throw new CsrError('MALFORMED', `malformed certification request: ${(err as Error).message}`);
  }
  const hash = CSR_SIGNATURE_HASH.get(algorithm);
  if (hash === undefined) throw new CsrError('UNSUPPORTED', `unsupported CSR signature algorithm ${algorithm}`);
  let ok = false;
  try {
    ok = verify(hash, info, publicKey, signature);
  } catch {
    ok = false;
  }
  if (!ok) throw new CsrError('BAD_SIGNATURE', 'certification request signature does not verify');
  return commonName === undefined ? { spki, publicKey } : { commonName, spki, publicKey };
}
