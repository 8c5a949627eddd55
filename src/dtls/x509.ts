/**
 * X.509 trust for DTLS: certification path validation (RFC 5280 §6, the subset a device PKI uses), CRL
 * revocation (RFC 5280 §5, §6.3), the server-side client-certificate verifier and the client-side verifier
 * for the LwM2M Certificate Usage modes (LwM2M 1.1 Security object resources 13 Matching Type, 14 SNI and
 * 15 Certificate Usage, which mirror the DANE TLSA fields of RFC 6698 §2.1, as refined by RFC 7671 §5).
 */
import { X509Certificate as NodeX509Certificate, createHash, createPublicKey, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { AsnConvert } from '@peculiar/asn1-schema';
import {
  BasicConstraints,
  Certificate,
  ExtendedKeyUsage,
  KeyUsage,
  anyExtendedKeyUsage,
  id_ce_basicConstraints,
  id_ce_extKeyUsage,
  id_ce_keyUsage,
  id_kp_clientAuth,
  id_kp_serverAuth,
  Name,
} from '@peculiar/asn1-x509';
import { silentLogger, type Logger } from '../log.js';
import type { PeerIdentity } from '../coap/types.js';
import { alert, type AlertDescriptionName } from './alert.js';
import { derDigest, LruCache } from './lru.js';
import type { CertificateVerifier } from './types.js';

/** Longest chain a peer may send; longer ones are refused before any signature is checked. */
export const MAX_CHAIN_LENGTH = 8;

const OID_CN = '2.5.4.3';

/** Extensions this validator understands; any other extension marked critical makes the certificate unusable (RFC 5280 §4.2). */
const KNOWN_CRITICAL: ReadonlySet<string> = new Set([
  id_ce_basicConstraints,
  id_ce_keyUsage,
  id_ce_extKeyUsage,
  '2.5.29.17', // subjectAltName
  '2.5.29.14', // subjectKeyIdentifier
  '2.5.29.35', // authorityKeyIdentifier
  '2.5.29.32', // certificatePolicies (no policy processing: any policy is accepted)
]);

/** Signature algorithm OID to the hash node:crypto needs (null: the algorithm hashes itself). SHA-1 is not accepted. */
const SIGNATURE_HASH: ReadonlyMap<string, string | null> = new Map([
  ['1.2.840.10045.4.3.2', 'sha256'], // ecdsa-with-SHA256
  ['1.2.840.10045.4.3.3', 'sha384'],
  ['1.2.840.10045.4.3.4', 'sha512'],
  ['1.2.840.113549.1.1.11', 'sha256'], // sha256WithRSAEncryption
  ['1.2.840.113549.1.1.12', 'sha384'],
  ['1.2.840.113549.1.1.13', 'sha512'],
  ['1.3.101.112', null], // Ed25519
]);

const KU_DIGITAL_SIGNATURE = 1;
const KU_KEY_CERT_SIGN = 32;
const KU_CRL_SIGN = 64;

/** What identityFromCertificate and callers see of a certificate. */
export interface CertificateInfo {
  der: Uint8Array;
  /** The subject's (last) commonName, if any. */
  commonName?: string;
  /** Serial number, lowercase hex without leading zeros. */
  serialNumber: string;
  notBefore: Date;
  notAfter: Date;
}

/** A certificate parsed once for validation. */
interface ParsedCertificate extends CertificateInfo {
  tbs: Buffer;
  signatureAlgorithm: string;
  signature: Buffer;
  subject: Buffer;
  issuer: Buffer;
  publicKey: KeyObject;
  basicConstraints?: { cA: boolean; pathLen?: number };
  keyUsage?: number;
  extKeyUsage?: string[];
  unknownCritical: string[];
  /** Results of checking this certificate's signature with an issuer's key (deterministic, so remembered). */
  signedBy: WeakMap<ParsedCertificate, boolean>;
}

/**
 * Parsed certificates by SHA-256 of their DER: a device's intermediates (and a reconnecting device's leaf) are
 * parsed once, not on every handshake. Parsing is a pure function of the bytes; failures are not cached.
 */
const parsedCertificates = new LruCache<string, ParsedCertificate>(1024);

interface ParsedCrl {
  issuer: Buffer;
  tbs: Buffer;
  signatureAlgorithm: string;
  signature: Buffer;
  thisUpdate: Date;
  revoked: ReadonlySet<string>;
  unknownCritical: string[];
  /** Signature results by issuer certificate fingerprint. */
  verifiedBy: Map<string, boolean>;
}

function refuse(name: AlertDescriptionName, message: string): never {
  throw alert(name, message);
}

function hexSerial(bytes: ArrayBuffer): string {
  const hex = Buffer.from(bytes).toString('hex').replace(/^(00)+/, '');
  return hex === '' ? '0' : hex;
}

function nameDer(name: Name): Buffer {
  return Buffer.from(AsnConvert.serialize(name));
}

function commonNameOf(name: Name): string | undefined {
  let cn: string | undefined;
  for (const rdn of name) for (const atv of rdn) if (atv.type === OID_CN) cn = atv.value.toString();
  return cn;
}

/** Parses a DER certificate (cached by digest); throws DtlsAlert bad_certificate on anything malformed. */
function parseCertificate(der: Uint8Array): ParsedCertificate {
  const key = derDigest(der);
  let parsed = parsedCertificates.get(key);
  if (parsed === undefined) {
    parsed = parseCertificateDer(Uint8Array.prototype.slice.call(der));
    parsedCertificates.set(key, parsed);
  }
  return parsed;
}

function parseCertificateDer(der: Uint8Array): ParsedCertificate {
  let cert: Certificate;
  let publicKey: KeyObject;
  try {
    cert = AsnConvert.parse(der, Certificate);
    const spki = AsnConvert.serialize(cert.tbsCertificate.subjectPublicKeyInfo);
    publicKey = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  } catch {
    return refuse('bad_certificate', 'malformed certificate');
  }
  const tbs = cert.tbsCertificate;
  if (cert.tbsCertificateRaw === undefined) return refuse('bad_certificate', 'malformed certificate');
  // RFC 5280 §4.1.1.2: the outer signatureAlgorithm must equal the TBS signature field.
  if (cert.signatureAlgorithm.algorithm !== tbs.signature.algorithm) {
    return refuse('bad_certificate', 'certificate signature algorithms disagree');
  }
  const parsed: ParsedCertificate = {
    der,
    commonName: commonNameOf(tbs.subject),
    serialNumber: hexSerial(tbs.serialNumber),
    notBefore: tbs.validity.notBefore.getTime(),
    notAfter: tbs.validity.notAfter.getTime(),
    tbs: Buffer.from(cert.tbsCertificateRaw),
    signatureAlgorithm: cert.signatureAlgorithm.algorithm,
    signature: Buffer.from(cert.signatureValue),
    subject: nameDer(tbs.subject),
    issuer: nameDer(tbs.issuer),
    publicKey,
    unknownCritical: [],
    signedBy: new WeakMap(),
  };
  try {
    for (const e of tbs.extensions ?? []) {
      const value = e.extnValue.buffer;
      if (e.extnID === id_ce_basicConstraints) {
        const bc = AsnConvert.parse(value, BasicConstraints);
        parsed.basicConstraints = { cA: bc.cA, pathLen: bc.pathLenConstraint };
      } else if (e.extnID === id_ce_keyUsage) {
        parsed.keyUsage = AsnConvert.parse(value, KeyUsage).toNumber();
      } else if (e.extnID === id_ce_extKeyUsage) {
        parsed.extKeyUsage = Array.from(AsnConvert.parse(value, ExtendedKeyUsage));
      } else if (e.critical && !KNOWN_CRITICAL.has(e.extnID)) {
        parsed.unknownCritical.push(e.extnID);
      }
    }
  } catch {
    return refuse('bad_certificate', 'malformed certificate extension');
  }
  return parsed;
}

function verifySignature(data: Buffer, algorithm: string, signature: Buffer, key: KeyObject): boolean {
  const hash = SIGNATURE_HASH.get(algorithm);
  if (hash === undefined) return false;
  try {
    return cryptoVerify(hash, data, key, signature);
  } catch {
    return false;
  }
}

/** True if `issuer` names and signed `cert` (RFC 5280 §6.1.3 (a)(1) and (a)(4)). */
function issued(cert: ParsedCertificate, issuer: ParsedCertificate): boolean {
  if (!cert.issuer.equals(issuer.subject)) return false;
  let ok = cert.signedBy.get(issuer);
  if (ok === undefined) {
    ok = verifySignature(cert.tbs, cert.signatureAlgorithm, cert.signature, issuer.publicKey);
    cert.signedBy.set(issuer, ok);
  }
  return ok;
}

function sameDer(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

function fingerprint(c: ParsedCertificate): string {
  return createHash('sha256').update(c.der).digest('hex');
}

/** Which extended key usage the leaf must allow, if it restricts them. */
type Purpose = typeof id_kp_clientAuth | typeof id_kp_serverAuth;

/**
 * Builds the certification path from the peer's chain (leaf first, each certificate issued by the next) to one of
 * `anchors`, and checks it: signatures, names, validity at `now`, CA basicConstraints, keyCertSign and
 * pathLenConstraint on every issuer, unknown critical extensions, and the leaf's keyUsage/extKeyUsage.
 * Returns the path, leaf first, ending with the trust anchor.
 */
function validatePath(chain: Uint8Array[], anchors: readonly ParsedCertificate[], now: Date, purpose: Purpose): ParsedCertificate[] {
  if (chain.length === 0) refuse('bad_certificate', 'empty certificate chain');
  if (chain.length > MAX_CHAIN_LENGTH) refuse('bad_certificate', `certificate chain longer than ${MAX_CHAIN_LENGTH}`);
  const path: ParsedCertificate[] = [];
  let anchored = false;
  for (let i = 0; i < chain.length && !anchored; i++) {
    const cert = parseCertificate(chain[i]!);
    // RFC 5246 §7.4.2: each following certificate must directly certify the one preceding it.
    if (i > 0 && !issued(path[i - 1]!, cert)) refuse('bad_certificate', 'certificate chain is not in issuing order');
    path.push(cert);
    const sameAsAnchor = anchors.find((a) => sameDer(a.der, cert.der));
    if (sameAsAnchor) {
      anchored = true;
      break;
    }
    const anchor = anchors.find((a) => issued(cert, a));
    if (anchor) {
      path.push(anchor);
      anchored = true;
    }
  }
  if (!anchored) refuse('unknown_ca', 'certificate chain does not lead to a trust anchor');

  const t = now.getTime();
  for (const c of path) {
    if (t > c.notAfter.getTime()) refuse('certificate_expired', `certificate "${c.commonName ?? c.serialNumber}" has expired`);
    if (t < c.notBefore.getTime()) refuse('bad_certificate', `certificate "${c.commonName ?? c.serialNumber}" is not yet valid`);
    if (c.unknownCritical.length > 0) {
      refuse('unsupported_certificate', `certificate has unsupported critical extension ${c.unknownCritical.join(', ')}`);
    }
  }
  // RFC 5280 §6.1.4 (k), (l), (m), (n): every issuer is a CA, may sign certificates, and its path length holds.
  let intermediatesBelow = 0;
  for (let j = 1; j < path.length; j++) {
    const ca = path[j]!;
    if (ca.basicConstraints?.cA !== true) refuse('unknown_ca', `issuer "${ca.commonName ?? ''}" is not a CA`);
    if (ca.keyUsage !== undefined && (ca.keyUsage & KU_KEY_CERT_SIGN) === 0) {
      refuse('unknown_ca', `issuer "${ca.commonName ?? ''}" may not sign certificates`);
    }
    const pathLen = ca.basicConstraints.pathLen;
    if (pathLen !== undefined && intermediatesBelow > pathLen) {
      refuse('bad_certificate', `issuer "${ca.commonName ?? ''}" path length constraint exceeded`);
    }
    // Self-issued certificates do not count toward the path length (RFC 5280 §6.1.4 (l)).
    if (!ca.subject.equals(ca.issuer)) intermediatesBelow++;
  }
  checkLeafUsage(path[0]!, purpose);
  return path;
}

/** RFC 5280 §4.2.1.3 and §4.2.1.12: the leaf signs the handshake (RFC 5246 §7.4.8) for the given purpose. */
function checkLeafUsage(leaf: ParsedCertificate, purpose: Purpose): void {
  if (leaf.keyUsage !== undefined && (leaf.keyUsage & KU_DIGITAL_SIGNATURE) === 0) {
    refuse('unsupported_certificate', 'certificate key usage does not allow digitalSignature');
  }
  if (leaf.extKeyUsage !== undefined && !leaf.extKeyUsage.includes(purpose) && !leaf.extKeyUsage.includes(anyExtendedKeyUsage)) {
    const name = purpose === id_kp_clientAuth ? 'clientAuth' : 'serverAuth';
    refuse('unsupported_certificate', `certificate extended key usage does not allow ${name}`);
  }
}

/** One DER TLV: tag, the whole encoding, and the contents. */
interface Tlv {
  tag: number;
  whole: Buffer;
  content: Buffer;
}

/** Reads the TLV at `at` (definite lengths only, as DER requires). */
function readTlv(buf: Buffer, at: number): Tlv {
  if (at + 2 > buf.length) throw new Error('truncated DER');
  const tag = buf[at]!;
  if ((tag & 0x1f) === 0x1f) throw new Error('multi-byte DER tags are not used here');
  let len = buf[at + 1]!;
  let hdr = 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 3 || at + 2 + n > buf.length) throw new Error('bad DER length');
    len = 0;
    for (let i = 0; i < n; i++) len = (len << 8) | buf[at + 2 + i]!;
    hdr += n;
  }
  if (at + hdr + len > buf.length) throw new Error('truncated DER');
  return { tag, whole: buf.subarray(at, at + hdr + len), content: buf.subarray(at + hdr, at + hdr + len) };
}

/** The TLVs inside a constructed value. */
function children(content: Buffer): Tlv[] {
  const out: Tlv[] = [];
  for (let at = 0; at < content.length; ) {
    const t = readTlv(content, at);
    out.push(t);
    at += t.whole.length;
  }
  return out;
}

function decodeOid(content: Buffer): string {
  const parts: number[] = [];
  let v = 0;
  for (const b of content) {
    v = v * 128 + (b & 0x7f);
    if ((b & 0x80) === 0) {
      if (parts.length === 0) parts.push(v < 80 ? Math.floor(v / 40) : 2, v < 80 ? v % 40 : v - 80);
      else parts.push(v);
      v = 0;
    }
  }
  return parts.join('.');
}

/** RFC 5280 §4.1.2.5.1 UTCTime / §4.1.2.5.2 GeneralizedTime, in the Z form DER requires. */
function decodeTime(t: Tlv): Date {
  const s = t.content.toString('latin1');
  const m = t.tag === 0x17 ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s) : t.tag === 0x18 ? /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s) : null;
  if (m === null) throw new Error('bad time');
  let year = Number(m[1]);
  if (t.tag === 0x17) year += year < 50 ? 2000 : 1900;
  return new Date(Date.UTC(year, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])));
}

function expect(t: Tlv | undefined, tag: number): Tlv {
  if (t === undefined || t.tag !== tag) throw new Error('unexpected DER structure');
  return t;
}

/**
 * Parses a CRL (RFC 5280 §5.1) with a plain DER walk: the revocation list is the one part of it that must never be
 * misread, so it does not depend on a schema parser's handling of the optional fields around it.
 */
function parseCrl(der: Uint8Array): ParsedCrl {
  const buf = Buffer.from(der.buffer, der.byteOffset, der.byteLength);
  const outer = readTlv(buf, 0);
  if (outer.tag !== 0x30 || outer.whole.length !== buf.length) throw new Error('not a CRL');
  const [tbsTlv, algTlv, sigTlv] = children(outer.content);
  const tbs = expect(tbsTlv, 0x30);
  const signatureAlgorithm = decodeOid(expect(children(expect(algTlv, 0x30).content)[0], 0x06).content);
  const sigBits = expect(sigTlv, 0x03).content;
  if (sigBits.length < 1 || sigBits[0] !== 0) throw new Error('bad signature bit string');
  const fields = children(tbs.content);
  let i = 0;
  if (fields[i]?.tag === 0x02) i++; // version
  expect(fields[i++], 0x30); // signature AlgorithmIdentifier
  const issuer = expect(fields[i++], 0x30);
  const thisUpdate = decodeTime(fields[i++] ?? expect(undefined, 0));
  if (fields[i]?.tag === 0x17 || fields[i]?.tag === 0x18) i++; // nextUpdate
  const revoked = new Set<string>();
  if (fields[i]?.tag === 0x30) {
    for (const entry of children(fields[i++]!.content)) {
      const serial = expect(children(expect(entry, 0x30).content)[0], 0x02).content;
      revoked.add(hexSerial(new Uint8Array(serial).buffer));
    }
  }
  const unknownCritical: string[] = [];
  if (fields[i]?.tag === 0xa0) {
    for (const e of children(expect(children(fields[i++]!.content)[0], 0x30).content)) {
      const [id, maybeCritical] = children(expect(e, 0x30).content);
      const oid = decodeOid(expect(id, 0x06).content);
      const critical = maybeCritical?.tag === 0x01 && maybeCritical.content[0] !== 0;
      // authorityKeyIdentifier and cRLNumber are informational here; any other critical extension
      // (issuingDistributionPoint, deltaCRLIndicator ...) changes the CRL's scope, which is not processed.
      if (critical && oid !== '2.5.29.35' && oid !== '2.5.29.20') unknownCritical.push(oid);
    }
  }
  if (i !== fields.length) throw new Error('unexpected fields in tbsCertList');
  return {
    issuer: nameDer(AsnConvert.parse(issuer.whole, Name)),
    tbs: Buffer.from(tbs.whole),
    signatureAlgorithm,
    signature: Buffer.from(sigBits.subarray(1)),
    thisUpdate,
    revoked,
    unknownCritical,
    verifiedBy: new Map(),
  };
}

/** Parsed CRLs, cached by the identity of the byte array the CRL source returns. */
class CrlCache {
  private readonly parsed = new WeakMap<Uint8Array, ParsedCrl | null>();

  constructor(private readonly log: Logger) {}

  get(der: Uint8Array): ParsedCrl | null {
    let crl = this.parsed.get(der);
    if (crl === undefined) {
      crl = this.parse(der);
      this.parsed.set(der, crl);
    }
    return crl;
  }

  private parse(der: Uint8Array): ParsedCrl | null {
    try {
      return parseCrl(der);
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'CRL ignored: malformed');
      return null;
    }
  }

  /**
   * RFC 5280 §6.3.3: refuses with certificate_revoked if a CRL from the certificate's issuer (same name, signed by
   * the issuer's key, issuer allowed cRLSign) lists it. A CRL past its nextUpdate still counts: a revocation it
   * lists stays true.
   */
  check(path: readonly ParsedCertificate[], crls: readonly Uint8Array[], now: Date): void {
    if (crls.length === 0) return;
    for (let i = 0; i + 1 < path.length; i++) {
      const cert = path[i]!;
      const issuer = path[i + 1]!;
      if (issuer.keyUsage !== undefined && (issuer.keyUsage & KU_CRL_SIGN) === 0) continue;
      for (const der of crls) {
        const crl = this.get(der);
        if (crl === null || !crl.issuer.equals(issuer.subject) || !crl.revoked.has(cert.serialNumber)) continue;
        if (crl.thisUpdate.getTime() > now.getTime()) continue;
        if (crl.unknownCritical.length > 0) {
          this.log.warn({ extensions: crl.unknownCritical }, 'CRL ignored: unsupported critical extension');
          continue;
        }
        const fp = fingerprint(issuer);
        let ok = crl.verifiedBy.get(fp);
        if (ok === undefined) {
          ok = verifySignature(crl.tbs, crl.signatureAlgorithm, crl.signature, issuer.publicKey);
          crl.verifiedBy.set(fp, ok);
          if (!ok) this.log.warn({ issuer: issuer.commonName }, 'CRL ignored: bad signature');
        }
        if (ok) refuse('certificate_revoked', `certificate "${cert.commonName ?? cert.serialNumber}" has been revoked`);
      }
    }
  }
}

function parseAnchors(ders: readonly Uint8Array[], what: string): ParsedCertificate[] {
  return ders.map((der) => {
    try {
      return parseCertificate(der);
    } catch {
      throw new TypeError(`${what} is not a valid DER certificate`);
    }
  });
}

/** Options of createCertificateVerifier. */
export interface CertificateVerifierOptions {
  /** DER CA certificates a client chain must lead to. */
  trustAnchors: Uint8Array[];
  /** DER CRLs, read at each verification so revocations take effect at once. */
  crls?: () => Uint8Array[];
  now?: () => Date;
  /** The endpoint name a certificate authenticates; default its subject CN. */
  identityFromCertificate?: (leaf: CertificateInfo) => string;
  logger?: Logger;
}

/**
 * Server side (client authentication, RFC 5246 §7.4.6): the client's chain must lead to a trust anchor, be valid now,
 * allow digitalSignature/clientAuth and not be revoked. Resolves to `{mode: 'x509', name}`.
 */
export function createCertificateVerifier(opts: CertificateVerifierOptions): CertificateVerifier {
  if (opts.trustAnchors.length === 0) throw new TypeError('createCertificateVerifier needs at least one trust anchor');
  const anchors = parseAnchors(opts.trustAnchors, 'a trust anchor');
  const now = opts.now ?? (() => new Date());
  const crls = new CrlCache(opts.logger ?? silentLogger);
  const identity = opts.identityFromCertificate ?? ((leaf: CertificateInfo) => leaf.commonName ?? '');
  return (chain): PeerIdentity => {
    const at = now();
    const path = validatePath(chain, anchors, at, id_kp_clientAuth);
    crls.check(path, opts.crls?.() ?? [], at);
    const name = identity(path[0]!);
    if (name === '') refuse('bad_certificate', 'certificate names no endpoint (no subject CN)');
    return { mode: 'x509', name };
  };
}

const MATCHING_HASH: readonly (string | undefined)[] = [undefined, 'sha256', 'sha384', 'sha512'];
const DIGEST_LENGTH: readonly number[] = [0, 32, 48, 64];

/** LwM2M Security object /0/x/15 "Certificate Usage" (RFC 6698 §2.1.1 values). */
export type CertificateUsage = 0 | 1 | 2 | 3;

/** Options of createServerCertificateVerifier. */
export interface ServerCertificateVerifierOptions {
  /** 0 CA constraint, 1 service certificate constraint, 2 trust anchor assertion, 3 domain-issued certificate (default). */
  certificateUsage?: CertificateUsage;
  /** LwM2M Security object /0/x/4 "Server Public Key": a DER certificate whose role depends on the usage. */
  serverPublicKey?: Uint8Array;
  /**
   * LwM2M Security object /0/x/13 "Matching Type" (RFC 6698 §2.1.3): 0 (default) the Server Public Key is the
   * certificate itself; 1, 2, 3 it is the SHA-256, SHA-384, SHA-512 digest of the certificate's DER.
   */
  matchingType?: 0 | 1 | 2 | 3;
  /** The client's PKIX trust store, for usages 0 and 1. */
  trustAnchors?: Uint8Array[];
  /**
   * The name the certificate must match for usages 0-2: the Security object's /0/x/14 "SNI" if set, else the host of
   * the LwM2M Server URI. Falls back to the SNI the DTLS client sent.
   */
  serverName?: string;
  crls?: () => Uint8Array[];
  now?: () => Date;
  logger?: Logger;
}

/**
 * Client side: verifies the LwM2M server's certificate per the Certificate Usage mode (RFC 6698 §2.1.1, RFC 7671 §5):
 * - 0 (PKIX-TA, CA constraint): PKIX validation against `trustAnchors`, and `serverPublicKey` (a CA certificate) is
 *   one of the issuers in the validated path;
 * - 1 (PKIX-EE, service certificate constraint): PKIX validation against `trustAnchors`, and the leaf is exactly
 *   `serverPublicKey`;
 * - 2 (DANE-TA, trust anchor assertion): PKIX validation with `serverPublicKey` as the only trust anchor;
 * - 3 (DANE-EE, domain-issued certificate): the leaf is exactly `serverPublicKey`; per RFC 7671 §5.1 neither PKIX
 *   validation, validity dates nor names are checked (the binding is the provisioned Security object itself).
 * With a matching type other than 0, `serverPublicKey` is a digest and "is exactly" means "has that digest".
 * For 0-2 the leaf must match `serverName` (the Server URI host; RFC 6125 §6: subjectAltName dNSName, else the subject
 * CN; an IP address against iPAddress entries), falling back to the SNI the DTLS client sent.
 */
export function createServerCertificateVerifier(opts: ServerCertificateVerifierOptions): CertificateVerifier {
  const usage = opts.certificateUsage ?? 3;
  const matching = opts.matchingType ?? 0;
  if (![0, 1, 2, 3].includes(usage)) throw new TypeError(`certificate usage must be 0, 1, 2 or 3, got ${String(usage)}`);
  if (![0, 1, 2, 3].includes(matching)) throw new TypeError(`matching type must be 0, 1, 2 or 3, got ${String(matching)}`);
  const provisioned = opts.serverPublicKey;
  if (provisioned === undefined || provisioned.length === 0) {
    throw new TypeError(`certificate usage ${usage} needs the Server Public Key (a DER certificate or its digest)`);
  }
  if (matching === 0) parseAnchors([provisioned], 'the Server Public Key');
  else if (provisioned.length !== DIGEST_LENGTH[matching]) throw new TypeError(`the Server Public Key must be a ${MATCHING_HASH[matching]} digest`);
  /** RFC 6698 §2.1.3 matching: the certificate itself (0) or its digest. */
  const matches = (der: Uint8Array): boolean =>
    matching === 0 ? sameDer(der, provisioned) : sameDer(createHash(MATCHING_HASH[matching]!).update(der).digest(), provisioned);
  let anchors: ParsedCertificate[] = [];
  if (usage === 0 || usage === 1) {
    if (!opts.trustAnchors || opts.trustAnchors.length === 0) throw new TypeError(`certificate usage ${usage} needs trust anchors`);
    anchors = parseAnchors(opts.trustAnchors, 'a trust anchor');
  } else if (usage === 2 && matching === 0) {
    anchors = parseAnchors([provisioned], 'the Server Public Key');
  }
  const now = opts.now ?? (() => new Date());
  const crls = new CrlCache(opts.logger ?? silentLogger);

  return (chain, context): PeerIdentity => {
    if (chain.length === 0) refuse('bad_certificate', 'empty certificate chain');
    if (usage === 3) {
      if (!matches(chain[0]!)) refuse('bad_certificate', 'server certificate is not the provisioned one');
      return { mode: 'x509', name: opts.serverName ?? context.serverName ?? parseCertificate(chain[0]!).commonName ?? '' };
    }
    let pathAnchors = anchors;
    if (usage === 2 && matching === 0) {
      // The anchor is known in full; the server may or may not send it.
    } else if (usage === 2) {
      // RFC 7671 §5.2.2: with a digest, the trust anchor must be in the server's chain.
      const ta = chain.slice(0, MAX_CHAIN_LENGTH).find(matches);
      if (ta === undefined) refuse('unknown_ca', 'server chain does not contain the provisioned trust anchor');
      pathAnchors = [parseCertificate(ta)];
    }
    const at = now();
    const path = validatePath(chain, pathAnchors, at, id_kp_serverAuth);
    const leaf = path[0]!;
    if (usage === 0 && !path.slice(1).some((c) => matches(c.der))) {
      refuse('bad_certificate', 'server certificate was not issued under the provisioned CA');
    }
    if (usage === 1 && !matches(leaf.der)) refuse('bad_certificate', 'server certificate is not the provisioned one');
    crls.check(path, opts.crls?.() ?? [], at);
    const host = opts.serverName ?? context.serverName;
    if (host === undefined || host === '') refuse('bad_certificate', 'no server name to check the certificate against');
    if (!certificateMatchesHost(leaf.der, host)) {
      refuse('bad_certificate', `server certificate does not match "${host}"`);
    }
    return { mode: 'x509', name: host };
  };
}

/**
 * RFC 6125 §6 host check: a DNS name against subjectAltName dNSName entries (a wildcard only as the whole left-most
 * label, RFC 6125 §6.4.3), or the subject CN when there are none (§6.4.4); an IP address against iPAddress entries.
 */
export function certificateMatchesHost(der: Uint8Array, host: string): boolean {
  let cert: NodeX509Certificate;
  try {
    cert = new NodeX509Certificate(der);
  } catch {
    return false;
  }
  const literal = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (isIP(literal) !== 0) return cert.checkIP(literal) !== undefined;
  return cert.checkHost(host, { subject: 'default', wildcards: true, partialWildcards: false, multiLabelWildcards: false }) !== undefined;
}

/** Parses a DER certificate for display (CN, serial, validity); throws TypeError if it is not one. */
export function certificateInfo(der: Uint8Array): CertificateInfo {
  const p = parseAnchors([der], 'the input')[0]!;
  return { der: p.der, commonName: p.commonName, serialNumber: p.serialNumber, notBefore: p.notBefore, notAfter: p.notAfter };
}
