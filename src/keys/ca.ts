/**
 * Warden's built-in device CA: a P-256 key either generated non-extractable in a PKCS#11 token (signing with C_Sign
 * CKM_ECDSA) or kept as PKCS#8 sealed in the database (under the key store's AES key, or a SecretBox), a self-signed CA certificate (CN=Warden Device CA), leaf certificates issued from
 * verified PKCS#10 requests for the endpoint that authenticated, a record of every certificate issued, revocation,
 * and a signed CRL (RFC 5280 §5) for the DTLS layer.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import type Database from 'better-sqlite3';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import {
  AlgorithmIdentifier,
  BasicConstraints,
  Certificate,
  CertificateList,
  ExtendedKeyUsage,
  Extension,
  Extensions,
  KeyUsage,
  KeyUsageFlags,
  RevokedCertificate,
  SubjectKeyIdentifier,
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
  id_ce_subjectKeyIdentifier,
  id_kp_clientAuth,
  id_kp_serverAuth,
  GeneralName,
  SubjectAlternativeName,
} from '@peculiar/asn1-x509';
import type { KeyStore } from './key-store.js';
import type { Pkcs11KeyStore } from './pkcs11-store.js';
import { CsrError, ECDSA_WITH_SHA256, commonNameSubject, parseCsr } from './pkcs10.js';

/** Subject CN of the CA certificate. */
export const CA_COMMON_NAME = 'Warden Device CA';

const DAY = 86_400_000;
/** Leaf notBefore is backdated by this much for devices whose clocks lag. */
const CLOCK_SKEW = 5 * 60_000;

/** A CA operation that failed; `code` tells the caller what to answer (EST maps these to CoAP codes). */
export class CaError extends Error {
  constructor(
    readonly code: 'BAD_CSR' | 'NAME_MISMATCH' | 'UNSUPPORTED_KEY' | 'NO_CA' | 'CA_EXISTS' | 'SEAL' | 'INVALID',
    message: string,
  ) {
    super(message);
    this.name = 'CaError';
  }
}

/** How the CA private key is sealed at rest: one of the two. */
export interface CaSealing {
  /** A SecretBox (e.g. the server's secret key file). */
  box?: { seal(plain: Uint8Array, aad: string): Uint8Array; open(sealed: Uint8Array, aad: string): Uint8Array };
  /** A key store with seal/open and an AES key named `sealKeyLabel` (created if missing). Preferred over `box`. */
  keyStore?: KeyStore;
  sealKeyLabel?: string;
}

/** Signs with the CA key: ecdsa-with-SHA256, DER signature. */
export interface CaSigner {
  readonly publicKey: KeyObject;
  sign(data: Uint8Array): Uint8Array;
}

export interface CertificateAuthorityOptions extends CaSealing {
  /**
   * Keep the CA key in a PKCS#11 token instead: a P-256 key pair generated in the token (non-extractable), signing
   * with C_Sign CKM_ECDSA. `label` defaults to "warden-ca". Sealing options are then unused.
   */
  hsm?: { store: Pick<Pkcs11KeyStore, 'generateEcKeyPair' | 'ecPublicKey' | 'signEcdsaSha256'>; label?: string };
  /** The Warden database (a SqliteStore or anything with its `db`). */
  store: { readonly db: Database.Database };
  now?: () => Date;
  random?: (n: number) => Uint8Array;
  /** CA certificate lifetime in days at creation (3650). */
  caValidityDays?: number;
  /** CRL nextUpdate distance in ms (7 days); the CRL is re-signed when half of it has passed. */
  crlValidity?: number;
}

/** A certificate the CA issued. */
export interface IssuedCertificate {
  /** Lowercase hex, as the DTLS layer prints serials. */
  serial: string;
  endpoint: string;
  certificate: Uint8Array;
  notBefore: Date;
  notAfter: Date;
  /** When the CA issued it. */
  issuedAt?: Date;
  revokedAt?: Date;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS ca (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  certificate BLOB NOT NULL,
  key_sealed BLOB,
  key_label TEXT,
  created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS ca_issued (
  serial TEXT PRIMARY KEY,
  endpoint TEXT NOT NULL,
  certificate BLOB NOT NULL,
  not_before INTEGER NOT NULL,
  not_after INTEGER NOT NULL,
  issued_at INTEGER NOT NULL,
  revoked_at INTEGER
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ca_issued_endpoint ON ca_issued(endpoint);
`;

interface IssuedRow {
  serial: string;
  endpoint: string;
  certificate: Buffer;
  not_before: number;
  not_after: number;
  issued_at: number;
  revoked_at: number | null;
}

const KEY_AAD = 'warden-ca-key:v1';
const DEFAULT_SEAL_LABEL = 'warden-ca-seal';

const alg = (): AlgorithmIdentifier => new AlgorithmIdentifier({ algorithm: ECDSA_WITH_SHA256 });

function ext(id: string, critical: boolean, value: ArrayBuffer): Extension {
  return new Extension({ extnID: id, critical, extnValue: new OctetString(value) });
}

function toArrayBuffer(u: Uint8Array): ArrayBuffer {
  return u.buffer.slice(u.byteOffset, u.byteOffset + u.byteLength) as ArrayBuffer;
}

/** RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey BIT STRING contents. */
function keyIdentifier(spki: SubjectPublicKeyInfo): ArrayBuffer {
  return toArrayBuffer(createHash('sha1').update(new Uint8Array(spki.subjectPublicKey)).digest());
}

async function sealKey(opts: CaSealing, pkcs8: Uint8Array): Promise<Uint8Array> {
  if (opts.keyStore) {
    const ks = opts.keyStore;
    if (!ks.seal) throw new CaError('SEAL', `the ${ks.kind} key store cannot seal: pass a SecretBox`);
    const label = opts.sealKeyLabel ?? DEFAULT_SEAL_LABEL;
    if (!(await ks.hasKey(label))) await ks.generateSecretKey(label, { type: 'aes-256' });
    return ks.seal(label, pkcs8, Buffer.from(KEY_AAD));
  }
  if (opts.box) return opts.box.seal(pkcs8, KEY_AAD);
  throw new CaError('SEAL', 'the CA key needs a key store with seal() or a SecretBox');
}

async function openKey(opts: CaSealing, sealed: Uint8Array): Promise<Uint8Array> {
  try {
    if (opts.keyStore?.open) return await opts.keyStore.open(opts.sealKeyLabel ?? DEFAULT_SEAL_LABEL, sealed, Buffer.from(KEY_AAD));
    if (opts.box) return opts.box.open(sealed, KEY_AAD);
  } catch (err) {
    throw new CaError('SEAL', `the CA key does not open: ${(err as Error).message}`);
  }
  throw new CaError('SEAL', 'the CA key needs a key store with open() or a SecretBox');
}

/** The device CA. Signing is synchronous (node:crypto over the key opened at `open`). */
export class CertificateAuthority {
  private readonly now: () => Date;
  private readonly random: (n: number) => Uint8Array;
  private readonly crlValidity: number;
  private readonly caCert: Uint8Array;
  private readonly parsedCa: Certificate;
  private readonly stmt;
  private cachedCrl: { der: Uint8Array; at: number; generation: number } | undefined;
  /** Bumped on every revocation: the cached CRL is stale when it differs. */
  private generation = 0;

  private constructor(
    opts: CertificateAuthorityOptions,
    caCert: Uint8Array,
    private readonly signer: CaSigner,
  ) {
    this.now = opts.now ?? (() => new Date());
    this.random = opts.random ?? ((n) => randomBytes(n));
    this.crlValidity = opts.crlValidity ?? 7 * DAY;
    this.caCert = caCert;
    this.parsedCa = AsnConvert.parse(caCert, Certificate);
    const db = opts.store.db;
    this.stmt = {
      insert: db.prepare(
        'INSERT INTO ca_issued (serial, endpoint, certificate, not_before, not_after, issued_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, NULL)',
      ),
      bySerial: db.prepare('SELECT * FROM ca_issued WHERE serial = ?'),
      byEndpoint: db.prepare('SELECT * FROM ca_issued WHERE endpoint = ? ORDER BY issued_at'),
      newest: db.prepare('SELECT * FROM ca_issued ORDER BY issued_at DESC, serial DESC LIMIT ?'),
      newestOf: db.prepare('SELECT * FROM ca_issued WHERE endpoint = ? ORDER BY issued_at DESC, serial DESC LIMIT ?'),
      active: db.prepare('SELECT DISTINCT endpoint FROM ca_issued WHERE revoked_at IS NULL AND not_after > ? ORDER BY endpoint'),
      activeOf: db.prepare('SELECT 1 FROM ca_issued WHERE endpoint = ? AND revoked_at IS NULL AND not_after > ? LIMIT 1'),
      revokeSerial: db.prepare('UPDATE ca_issued SET revoked_at = ? WHERE serial = ? AND revoked_at IS NULL'),
      revokeEndpoint: db.prepare('UPDATE ca_issued SET revoked_at = ? WHERE endpoint = ? AND revoked_at IS NULL'),
      // RFC 5280 §5: an entry may leave the CRL once the certificate has expired.
      revoked: db.prepare('SELECT serial, revoked_at FROM ca_issued WHERE revoked_at IS NOT NULL AND not_after > ? ORDER BY serial'),
    };
  }

  /** Creates the CA (key pair, self-signed certificate) in the database; CaError CA_EXISTS if there is one. */
  static async create(opts: CertificateAuthorityOptions): Promise<CertificateAuthority> {
    const db = opts.store.db;
    db.exec(SCHEMA);
    if (db.prepare('SELECT 1 FROM ca WHERE id = 1').get()) throw new CaError('CA_EXISTS', 'a device CA already exists in this database');
    const now = (opts.now ?? (() => new Date()))();
    const random = opts.random ?? ((n: number) => randomBytes(n));
    let signer: CaSigner;
    let sealed: Uint8Array | null = null;
    let label: string | null = null;
    if (opts.hsm) {
      const hsm = opts.hsm.store;
      const l = (label = opts.hsm.label ?? 'warden-ca');
      signer = { publicKey: await hsm.generateEcKeyPair(l), sign: (d) => hsm.signEcdsaSha256(l, d) };
    } else {
      const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      signer = softwareSigner(pair.privateKey);
      sealed = await sealKey(opts, new Uint8Array(pair.privateKey.export({ type: 'pkcs8', format: 'der' })));
    }
    const publicKey = signer.publicKey;
    const spki = AsnConvert.parse(publicKey.export({ type: 'spki', format: 'der' }), SubjectPublicKeyInfo);
    const subject = commonNameSubject(CA_COMMON_NAME);
    const ku = new KeyUsage(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign);
    const tbs = new TBSCertificate({
      version: Version.v3,
      serialNumber: toArrayBuffer(newSerial(random)),
      signature: alg(),
      issuer: subject,
      validity: new Validity({ notBefore: new Date(now.getTime() - CLOCK_SKEW), notAfter: new Date(now.getTime() + (opts.caValidityDays ?? 3650) * DAY) }),
      subject,
      subjectPublicKeyInfo: spki,
      extensions: new Extensions([
        ext(id_ce_basicConstraints, true, AsnConvert.serialize(new BasicConstraints({ cA: true, pathLenConstraint: 0 }))),
        ext(id_ce_keyUsage, true, AsnConvert.serialize(ku)),
        ext(id_ce_subjectKeyIdentifier, false, AsnConvert.serialize(new SubjectKeyIdentifier(keyIdentifier(spki)))),
      ]),
    });
    const cert = signCertificate(tbs, signer);
    db.prepare('INSERT INTO ca (id, certificate, key_sealed, key_label, created_at) VALUES (1, ?, ?, ?, ?)').run(
      Buffer.from(cert),
      sealed && Buffer.from(sealed),
      label,
      now.getTime(),
    );
    return new CertificateAuthority(opts, cert, signer);
  }

  /** Opens the CA stored in the database; CaError NO_CA if there is none, SEAL if its key does not open. */
  static async open(opts: CertificateAuthorityOptions): Promise<CertificateAuthority> {
    const db = opts.store.db;
    db.exec(SCHEMA);
    const row = db.prepare('SELECT certificate, key_sealed, key_label FROM ca WHERE id = 1').get() as
      | { certificate: Buffer; key_sealed: Buffer | null; key_label: string | null }
      | undefined;
    if (!row) throw new CaError('NO_CA', 'no device CA in this database');
    let signer: CaSigner;
    if (row.key_label !== null) {
      const hsm = opts.hsm?.store;
      const label = row.key_label;
      if (!hsm) throw new CaError('SEAL', `the CA key is in a PKCS#11 token (label ${label}): open the CA with hsm`);
      const publicKey = hsm.ecPublicKey(label);
      if (!publicKey) throw new CaError('SEAL', `the token holds no key labelled ${label}`);
      signer = { publicKey, sign: (d) => hsm.signEcdsaSha256(label, d) };
    } else {
      if (row.key_sealed === null) throw new CaError('SEAL', 'the CA row holds no key');
      const pkcs8 = await openKey(opts, new Uint8Array(row.key_sealed));
      signer = softwareSigner(createPrivateKey({ key: Buffer.from(pkcs8), format: 'der', type: 'pkcs8' }));
    }
    const cert = new Uint8Array(row.certificate);
    // The key must belong to the stored certificate.
    const certSpki = Buffer.from(AsnConvert.serialize(AsnConvert.parse(cert, Certificate).tbsCertificate.subjectPublicKeyInfo));
    if (!certSpki.equals(signer.publicKey.export({ type: 'spki', format: 'der' }))) {
      throw new CaError('SEAL', 'the CA key does not match the CA certificate');
    }
    return new CertificateAuthority(opts, cert, signer);
  }

  /** `open`, or `create` if the database has no CA yet. */
  static async openOrCreate(opts: CertificateAuthorityOptions): Promise<CertificateAuthority> {
    opts.store.db.exec(SCHEMA);
    const exists = opts.store.db.prepare('SELECT 1 FROM ca WHERE id = 1').get();
    return exists ? CertificateAuthority.open(opts) : CertificateAuthority.create(opts);
  }

  /** The CA certificate, DER: the trust anchor for device certificates. */
  caCertificate(): Uint8Array {
    return this.caCert;
  }

  /**
   * Issues a client certificate from a PKCS#10 request: the signature must verify (proof of possession) and the
   * subject CN must be exactly `endpoint` (the name the caller authenticated). The leaf's subject is CN=endpoint only;
   * nothing else is copied from the request. Throws CaError BAD_CSR, NAME_MISMATCH or UNSUPPORTED_KEY.
   */
  issue(csrDer: Uint8Array, opts: { endpoint: string; days?: number }): IssuedCertificate {
    if (opts.endpoint.length === 0) throw new CaError('INVALID', 'endpoint is empty');
    let csr;
    try {
      csr = parseCsr(csrDer);
    } catch (err) {
      if (err instanceof CsrError) throw new CaError('BAD_CSR', err.message);
      throw err;
    }
    if (csr.commonName !== opts.endpoint) {
      throw new CaError('NAME_MISMATCH', `the request names "${csr.commonName ?? ''}", not the authenticated endpoint "${opts.endpoint}"`);
    }
    const details = csr.publicKey.asymmetricKeyDetails;
    // RFC 7925 §4.4.2: the device's certificate key is P-256 (ECDHE_ECDSA suites).
    if (csr.publicKey.asymmetricKeyType !== 'ec' || details?.namedCurve !== 'prime256v1') {
      throw new CaError('UNSUPPORTED_KEY', 'the request key must be an EC P-256 key');
    }
    const now = this.now();
    const notBefore = new Date(now.getTime() - CLOCK_SKEW);
    const notAfter = new Date(now.getTime() + (opts.days ?? 365) * DAY);
    const serial = newSerial(this.random);
    const spki = AsnConvert.parse(csr.spki, SubjectPublicKeyInfo);
    const tbs = new TBSCertificate({
      version: Version.v3,
      serialNumber: toArrayBuffer(serial),
      signature: alg(),
      issuer: this.parsedCa.tbsCertificate.subject,
      validity: new Validity({ notBefore, notAfter }),
      subject: commonNameSubject(opts.endpoint),
      subjectPublicKeyInfo: spki,
      extensions: new Extensions([
        ext(id_ce_basicConstraints, true, AsnConvert.serialize(new BasicConstraints({ cA: false }))),
        ext(id_ce_keyUsage, true, AsnConvert.serialize(new KeyUsage(KeyUsageFlags.digitalSignature))),
        ext(id_ce_extKeyUsage, false, AsnConvert.serialize(new ExtendedKeyUsage([id_kp_clientAuth]))),
        ext(id_ce_subjectKeyIdentifier, false, AsnConvert.serialize(new SubjectKeyIdentifier(keyIdentifier(spki)))),
      ]),
    });
    const certificate = signCertificate(tbs, this.signer);
    const serialHex = Buffer.from(serial).toString('hex');
    this.stmt.insert.run(serialHex, opts.endpoint, Buffer.from(certificate), notBefore.getTime(), notAfter.getTime(), now.getTime());
    return { serial: serialHex, endpoint: opts.endpoint, certificate, notBefore, notAfter, issuedAt: now };
  }

  /**
   * A certificate for Warden's own DTLS server, so devices given a CA-issued certificate (Security mode 2 or 4) can
   * authenticate the server: subjectAltName from `names` (DNS names or IP addresses, RFC 6125 §6), serverAuth only.
   * Not recorded among device certificates: it authorizes no endpoint.
   */
  issueServerCertificate(publicKey: KeyObject, opts: { names: string[]; days?: number }): Uint8Array {
    if (opts.names.length === 0) throw new CaError('INVALID', 'a server certificate needs at least one name');
    const now = this.now();
    const spki = AsnConvert.parse(publicKey.export({ format: 'der', type: 'spki' }), SubjectPublicKeyInfo);
    const san = new SubjectAlternativeName(opts.names.map((n) => (isIP(n) ? new GeneralName({ iPAddress: n }) : new GeneralName({ dNSName: n }))));
    const tbs = new TBSCertificate({
      version: Version.v3,
      serialNumber: toArrayBuffer(newSerial(this.random)),
      signature: alg(),
      issuer: this.parsedCa.tbsCertificate.subject,
      validity: new Validity({ notBefore: new Date(now.getTime() - CLOCK_SKEW), notAfter: new Date(now.getTime() + (opts.days ?? 825) * DAY) }),
      subject: commonNameSubject(opts.names[0]!),
      subjectPublicKeyInfo: spki,
      extensions: new Extensions([
        ext(id_ce_basicConstraints, true, AsnConvert.serialize(new BasicConstraints({ cA: false }))),
        ext(id_ce_keyUsage, true, AsnConvert.serialize(new KeyUsage(KeyUsageFlags.digitalSignature))),
        ext(id_ce_extKeyUsage, false, AsnConvert.serialize(new ExtendedKeyUsage([id_kp_serverAuth]))),
        ext(id_ce_subjectAltName, false, AsnConvert.serialize(san)),
        ext(id_ce_subjectKeyIdentifier, false, AsnConvert.serialize(new SubjectKeyIdentifier(keyIdentifier(spki)))),
      ]),
    });
    return signCertificate(tbs, this.signer);
  }

  /** Revokes one certificate by serial (hex) or every unrevoked certificate of an endpoint; returns how many. */
  revoke(which: { serial: string } | { endpoint: string }): number {
    const at = this.now().getTime();
    const changes = 'serial' in which
      ? this.stmt.revokeSerial.run(at, which.serial.toLowerCase().replace(/^(00)+/, '')).changes
      : this.stmt.revokeEndpoint.run(at, which.endpoint).changes;
    if (changes > 0) this.generation++;
    return changes;
  }

  /** One issued certificate by serial (hex). */
  certificate(serial: string): IssuedCertificate | undefined {
    const row = this.stmt.bySerial.get(serial.toLowerCase()) as IssuedRow | undefined;
    return row && fromRow(row);
  }

  /** Every certificate issued to `endpoint`, oldest first. */
  certificates(endpoint: string): IssuedCertificate[] {
    return (this.stmt.byEndpoint.all(endpoint) as IssuedRow[]).map(fromRow);
  }

  /** Endpoints holding a certificate that is neither revoked nor expired. */
  activeEndpoints(): string[] {
    return (this.stmt.active.all(this.now().getTime()) as { endpoint: string }[]).map((r) => r.endpoint);
  }

  /** Whether `endpoint` holds a certificate that is neither revoked nor expired. */
  hasActiveCertificate(endpoint: string): boolean {
    return this.stmt.activeOf.get(endpoint, this.now().getTime()) !== undefined;
  }

  /** Issued certificates, newest first: all of them or those of `endpoint`, at most `limit` (default 100). */
  list(opts: { endpoint?: string; limit?: number } = {}): IssuedCertificate[] {
    const limit = Math.max(0, Math.floor(opts.limit ?? 100));
    const rows = opts.endpoint === undefined ? this.stmt.newest.all(limit) : this.stmt.newestOf.all(opts.endpoint, limit);
    return (rows as IssuedRow[]).map(fromRow);
  }

  /**
   * The current CRL (v2, DER) signed by the CA, listing revoked certificates that have not expired. The same
   * byte array is returned until a revocation or until half of its validity has passed, so verifiers can cache
   * its parse by identity.
   */
  crl(): Uint8Array {
    const now = this.now();
    const c = this.cachedCrl;
    if (c && c.generation === this.generation && now.getTime() < c.at + this.crlValidity / 2 && now.getTime() >= c.at) return c.der;
    const revoked = this.stmt.revoked.all(now.getTime()) as { serial: string; revoked_at: number }[];
    // UTCTime has whole seconds: thisUpdate must not lie after `now` (verifiers ignore CRLs from the future).
    const thisUpdate = new Date(Math.floor(now.getTime() / 1000) * 1000);
    const tbs = new TBSCertList({
      version: Version.v2,
      signature: alg(),
      issuer: this.parsedCa.tbsCertificate.subject,
      thisUpdate: new Time(thisUpdate),
      nextUpdate: new Time(new Date(thisUpdate.getTime() + this.crlValidity)),
      revokedCertificates:
        revoked.length > 0
          ? revoked.map((r) => new RevokedCertificate({
              userCertificate: toArrayBuffer(Buffer.from(r.serial.length % 2 ? '0' + r.serial : r.serial, 'hex')),
              revocationDate: new Time(new Date(r.revoked_at)),
            }))
          : undefined,
    });
    const tbsDer = Buffer.from(AsnConvert.serialize(tbs));
    const signature = this.signer.sign(tbsDer);
    const der = new Uint8Array(
      AsnConvert.serialize(new CertificateList({ tbsCertList: tbs, signatureAlgorithm: alg(), signature: toArrayBuffer(signature) })),
    );
    this.cachedCrl = { der, at: thisUpdate.getTime(), generation: this.generation };
    return der;
  }
}

/** 16 random bytes, positive and minimal as a DER INTEGER (top bit clear, second-highest set). */
function newSerial(random: (n: number) => Uint8Array): Uint8Array {
  const s = Uint8Array.from(random(16));
  s[0] = (s[0]! & 0x7f) | 0x40;
  return s;
}

function softwareSigner(privateKey: KeyObject): CaSigner {
  return { publicKey: createPublicKey(privateKey), sign: (d) => new Uint8Array(sign('sha256', d, privateKey)) };
}

function signCertificate(tbs: TBSCertificate, signer: CaSigner): Uint8Array {
  const tbsDer = Buffer.from(AsnConvert.serialize(tbs));
  const signature = signer.sign(tbsDer);
  return new Uint8Array(
    AsnConvert.serialize(new Certificate({ tbsCertificate: tbs, signatureAlgorithm: alg(), signatureValue: toArrayBuffer(signature) })),
  );
}

function fromRow(r: IssuedRow): IssuedCertificate {
  const out: IssuedCertificate = {
    serial: r.serial,
    endpoint: r.endpoint,
    certificate: new Uint8Array(r.certificate),
    notBefore: new Date(r.not_before),
    notAfter: new Date(r.not_after),
    issuedAt: new Date(r.issued_at),
  };
  if (r.revoked_at !== null) out.revokedAt = new Date(r.revoked_at);
  return out;
}
