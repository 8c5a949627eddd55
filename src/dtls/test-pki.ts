/**
 * A test PKI built in-process (P-256 ECDSA, SHA-256): a root CA, an intermediate, server and client leaves,
 * an expired leaf, a revoked leaf and a CRL. Certificates are assembled with @peculiar/asn1-x509 (RFC 5280
 * structures) and signed with node:crypto. For tests only.
 */
import { generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import {
  AlgorithmIdentifier,
  AttributeTypeAndValue,
  AttributeValue,
  BasicConstraints,
  Certificate,
  CertificateList,
  ExtendedKeyUsage,
  Extension,
  Extensions,
  GeneralName,
  KeyUsage,
  Name,
  RelativeDistinguishedName,
  RevokedCertificate,
  SubjectAlternativeName,
  SubjectPublicKeyInfo,
  TBSCertList,
  TBSCertificate,
  Time,
  Validity,
  Version,
  id_ce_basicConstraints,
  id_ce_extKeyUsage,
  id_ce_keyUsage,
  id_ce_subjectAltName,
  id_kp_clientAuth,
  id_kp_serverAuth,
} from '@peculiar/asn1-x509';

/** ecdsa-with-SHA256 (RFC 5758 §3.2). */
const ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';
const OID_CN = '2.5.4.3';

/** KeyUsage bits (RFC 5280 §4.2.1.3), as flags. */
export const KeyUsageBit = {
  digitalSignature: 1,
  nonRepudiation: 2,
  keyEncipherment: 4,
  dataEncipherment: 8,
  keyAgreement: 16,
  keyCertSign: 32,
  cRLSign: 64,
} as const;

/** A certificate and its private key. */
export interface Issued {
  cert: Uint8Array;
  key: KeyObject;
}

/** A leaf with the chain a peer would send (leaf first, without the root). */
export interface IssuedLeaf extends Issued {
  chain: Uint8Array[];
}

/** What to put in a certificate. */
export interface CertificateSpec {
  /** Subject common name; omitted means an empty subject. */
  commonName?: string;
  /** Subject public key; a fresh P-256 key when omitted. */
  publicKey?: KeyObject;
  /** Signer; omitted means self-signed (`signingKey` must then be the subject's private key). */
  issuer?: Issued;
  signingKey?: KeyObject;
  serial?: bigint;
  notBefore: Date;
  notAfter: Date;
  /** basicConstraints (critical): cA and pathLenConstraint. Omitted: no extension. */
  ca?: { pathLen?: number };
  /** KeyUsage flags (critical); omitted: no extension. */
  keyUsage?: number;
  /** ExtKeyUsage OIDs; omitted: no extension. */
  extKeyUsage?: string[];
  dnsNames?: string[];
  ipAddresses?: string[];
  /** Any other extension, DER value. */
  extraExtensions?: { oid: string; critical: boolean; value: Uint8Array }[];
}

/** A fresh P-256 key pair. */
export function newP256Key(): { privateKey: KeyObject; publicKey: KeyObject } {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' });
}

function cnName(cn: string | undefined): Name {
  if (cn === undefined) return new Name([]);
  return new Name([
    new RelativeDistinguishedName([new AttributeTypeAndValue({ type: OID_CN, value: new AttributeValue({ utf8String: cn }) })]),
  ]);
}

function serialBytes(serial: bigint): ArrayBuffer {
  let hex = serial.toString(16);
  if (hex.length % 2 === 1) hex = '0' + hex;
  // DER INTEGER is signed: keep a serial with the top bit set positive.
  if (parseInt(hex.slice(0, 2), 16) >= 0x80) hex = '00' + hex;
  return new Uint8Array(Buffer.from(hex, 'hex')).buffer;
}

function randomSerial(): bigint {
  return BigInt('0x' + randomBytes(12).toString('hex')) | 1n;
}

function ext(oid: string, critical: boolean, value: ArrayBuffer | Uint8Array): Extension {
  return new Extension({ extnID: oid, critical, extnValue: new OctetString(value) });
}

function toU8(ab: ArrayBuffer): Uint8Array {
  return new Uint8Array(ab);
}

/** Builds and signs one certificate (X.509 v3, ecdsa-with-SHA256). */
export function issueCertificate(spec: CertificateSpec): Issued {
  let key: KeyObject | undefined;
  let publicKey = spec.publicKey;
  if (publicKey === undefined) {
    const pair = newP256Key();
    publicKey = pair.publicKey;
    key = pair.privateKey;
  }
  const signingKey = spec.issuer?.key ?? spec.signingKey ?? key;
  if (signingKey === undefined) throw new Error('a self-signed certificate needs signingKey');
  const subject = cnName(spec.commonName);
  const issuerName = spec.issuer ? AsnConvert.parse(spec.issuer.cert, Certificate).tbsCertificate.subject : subject;

  const extensions: Extension[] = [];
  if (spec.ca) {
    extensions.push(ext(id_ce_basicConstraints, true, AsnConvert.serialize(new BasicConstraints({ cA: true, pathLenConstraint: spec.ca.pathLen }))));
  }
  if (spec.keyUsage !== undefined) extensions.push(ext(id_ce_keyUsage, true, AsnConvert.serialize(new KeyUsage(spec.keyUsage))));
  if (spec.extKeyUsage) extensions.push(ext(id_ce_extKeyUsage, false, AsnConvert.serialize(new ExtendedKeyUsage(spec.extKeyUsage))));
  const names = [
    ...(spec.dnsNames ?? []).map((d) => new GeneralName({ dNSName: d })),
    ...(spec.ipAddresses ?? []).map((ip) => new GeneralName({ iPAddress: ip })),
  ];
  if (names.length > 0) extensions.push(ext(id_ce_subjectAltName, false, AsnConvert.serialize(new SubjectAlternativeName(names))));
  for (const e of spec.extraExtensions ?? []) extensions.push(ext(e.oid, e.critical, e.value));

  const alg = new AlgorithmIdentifier({ algorithm: ECDSA_WITH_SHA256 });
  const tbs = new TBSCertificate({
    version: Version.v3,
    serialNumber: serialBytes(spec.serial ?? randomSerial()),
    signature: alg,
    issuer: issuerName,
    validity: new Validity({ notBefore: spec.notBefore, notAfter: spec.notAfter }),
    subject,
    subjectPublicKeyInfo: AsnConvert.parse(publicKey.export({ type: 'spki', format: 'der' }), SubjectPublicKeyInfo),
    extensions: extensions.length > 0 ? new Extensions(extensions) : undefined,
  });
  const tbsDer = Buffer.from(AsnConvert.serialize(tbs));
  const signature = sign('sha256', tbsDer, signingKey);
  const cert = new Certificate({ tbsCertificate: tbs, signatureAlgorithm: alg, signatureValue: new Uint8Array(signature).buffer });
  return { cert: toU8(AsnConvert.serialize(cert)), key: key ?? (spec.signingKey as KeyObject) };
}

/** Builds and signs a CRL (v2) listing `serials`. */
export function issueCrl(opts: { issuer: Issued; serials: bigint[]; thisUpdate: Date; nextUpdate?: Date; signingKey?: KeyObject }): Uint8Array {
  const alg = new AlgorithmIdentifier({ algorithm: ECDSA_WITH_SHA256 });
  const tbs = new TBSCertList({
    version: Version.v2,
    signature: alg,
    issuer: AsnConvert.parse(opts.issuer.cert, Certificate).tbsCertificate.subject,
    thisUpdate: new Time(opts.thisUpdate),
    nextUpdate: opts.nextUpdate ? new Time(opts.nextUpdate) : undefined,
    revokedCertificates:
      opts.serials.length > 0
        ? opts.serials.map((s) => new RevokedCertificate({ userCertificate: serialBytes(s), revocationDate: new Time(opts.thisUpdate) }))
        : undefined,
  });
  const tbsDer = Buffer.from(AsnConvert.serialize(tbs));
  const signature = sign('sha256', tbsDer, opts.signingKey ?? opts.issuer.key);
  return toU8(AsnConvert.serialize(new CertificateList({ tbsCertList: tbs, signatureAlgorithm: alg, signature: new Uint8Array(signature).buffer })));
}

/** The whole test PKI. */
export interface TestPki {
  /** The clock the certificates were made for. */
  now: Date;
  root: Issued;
  intermediate: Issued;
  /** CN=localhost, SAN dNSName localhost and iPAddress 127.0.0.1, serverAuth. */
  server: IssuedLeaf;
  /** CN=dev1 and CN=dev2, clientAuth. */
  client: IssuedLeaf;
  client2: IssuedLeaf;
  /** CN=expired-dev: notAfter one day before `now`. */
  expired: IssuedLeaf;
  /** CN=revoked-dev: listed in `crl`. */
  revoked: IssuedLeaf;
  revokedSerial: bigint;
  /** Issued by the intermediate, listing `revoked`. */
  crl: Uint8Array;
  /** An unrelated root and a CN=dev1 leaf it issued. */
  otherRoot: Issued;
  rogueClient: IssuedLeaf;
}

const DAY = 86_400_000;

/** Generates the test PKI (a few ms of P-256 key generation). */
export function createTestPki(now: Date = new Date()): TestPki {
  const notBefore = new Date(now.getTime() - DAY);
  const notAfter = new Date(now.getTime() + 365 * DAY);
  const ca = { keyUsage: KeyUsageBit.keyCertSign | KeyUsageBit.cRLSign };
  const root = selfSignedCa('Warden Test Root', notBefore, notAfter, ca.keyUsage);
  const intermediate = issueCertificate({
    commonName: 'Warden Test Intermediate', issuer: root, notBefore, notAfter, ca: { pathLen: 0 }, keyUsage: ca.keyUsage,
  });
  const leaf = (cn: string, usage: string, extra: Partial<CertificateSpec> = {}, issuer: Issued = intermediate): IssuedLeaf => {
    const issued = issueCertificate({
      commonName: cn, issuer, notBefore, notAfter, keyUsage: KeyUsageBit.digitalSignature, extKeyUsage: [usage], ...extra,
    });
    return { ...issued, chain: issuer === intermediate ? [issued.cert, intermediate.cert] : [issued.cert] };
  };
  const revokedSerial = 0x5eed_0001n;
  const revoked = leaf('revoked-dev', id_kp_clientAuth, { serial: revokedSerial });
  const otherRoot = selfSignedCa('Other Root', notBefore, notAfter, ca.keyUsage);
  return {
    now,
    root,
    intermediate,
    server: leaf('localhost', id_kp_serverAuth, { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] }),
    client: leaf('dev1', id_kp_clientAuth),
    client2: leaf('dev2', id_kp_clientAuth),
    expired: leaf('expired-dev', id_kp_clientAuth, { notBefore: new Date(now.getTime() - 30 * DAY), notAfter: new Date(now.getTime() - DAY) }),
    revoked,
    revokedSerial,
    crl: issueCrl({ issuer: intermediate, serials: [revokedSerial], thisUpdate: notBefore, nextUpdate: new Date(now.getTime() + 7 * DAY) }),
    otherRoot,
    rogueClient: leaf('dev1', id_kp_clientAuth, {}, otherRoot),
  };
}

function selfSignedCa(cn: string, notBefore: Date, notAfter: Date, keyUsage: number): Issued {
  const { privateKey, publicKey } = newP256Key();
  return issueCertificate({ commonName: cn, publicKey, signingKey: privateKey, notBefore, notAfter, ca: {}, keyUsage });
}
