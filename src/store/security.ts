/**
 * Per-device DTLS security info (PSK, raw public key, X.509) in the SQLite database. PSK keys are sealed with a
 * SecretBox and never stored in the clear; the DTLS server resolves peers through pskLookup() and the find* methods.
 */
import type Database from 'better-sqlite3';
import { fingerprint, isP256Spki, spkiEqual } from '../dtls/rpk.js';
import type { PskLookup } from '../dtls/types.js';
import type { SecretBox } from './secret-box.js';
import { Watchers } from './watchers.js';

/** How a device authenticates its DTLS session. */
export type SecurityMode = 'psk' | 'rpk' | 'x509';

/** One device's security info. `pskKey` is the plain key in memory; only its sealed form is stored. */
export interface SecurityInfo {
  endpoint: string;
  mode: SecurityMode;
  pskIdentity?: string;
  pskKey?: Uint8Array;
  /** SubjectPublicKeyInfo, DER (P-256). */
  rpkPublicKey?: Uint8Array;
  /** X.509: the endpoint name must equal the certificate's subject CN. */
  x509?: true;
  /** Epoch milliseconds. */
  createdAt: number;
}

/** What `add` takes: createdAt is set by the store. */
export type NewSecurityInfo = Omit<SecurityInfo, 'createdAt'>;

/** Invalid or conflicting security info; the message never contains key material. */
export class SecurityStoreError extends Error {
  constructor(
    readonly code: 'INVALID' | 'DUPLICATE_IDENTITY' | 'DUPLICATE_KEY',
    message: string,
  ) {
    super(message);
    this.name = 'SecurityStoreError';
  }
}

export const PSK_MIN_KEY_BYTES = 16;
/** RFC 4279 §5.3: implementations must support PSKs of up to 64 octets; longer ones are refused. */
export const PSK_MAX_KEY_BYTES = 64;
export const PSK_MAX_IDENTITY_BYTES = 128;
export const MAX_ENDPOINT_BYTES = 255;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS security_info (
  endpoint TEXT PRIMARY KEY,
  mode TEXT NOT NULL CHECK (mode IN ('psk', 'rpk', 'x509')),
  psk_identity TEXT UNIQUE,
  psk_key_sealed BLOB,
  rpk_public_key BLOB,
  rpk_fingerprint TEXT UNIQUE,
  created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS security_info_age ON security_info(mode, created_at);
CREATE TABLE IF NOT EXISTS security_pending (
  endpoint TEXT PRIMARY KEY,
  psk_identity TEXT NOT NULL UNIQUE,
  psk_key_sealed BLOB NOT NULL,
  created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS security_pending_rpk (
  endpoint TEXT PRIMARY KEY,
  rpk_public_key BLOB NOT NULL,
  rpk_fingerprint TEXT NOT NULL UNIQUE,
  created_at INTEGER NOT NULL
) WITHOUT ROWID;
`;

/** Devices whose current credential is of an age in [fromMs, toMs) (toMs null: no upper bound). */
export interface CredentialAgeBucket {
  fromMs: number;
  toMs: number | null;
  count: number;
  byMode: Record<SecurityMode, number>;
}

/** Credential ages across the fleet: `created_at` of each endpoint's current credential. */
export interface CredentialAgeHistogram {
  total: number;
  byMode: Record<SecurityMode, number>;
  buckets: CredentialAgeBucket[];
}

/** A second PSK an endpoint holds while a rotation proves it (accepted alongside the current one). */
export interface PendingPsk {
  endpoint: string;
  pskIdentity: string;
  /** Absent unless asked for. */
  pskKey?: Uint8Array;
  createdAt: number;
}

interface PendingRow {
  endpoint: string;
  psk_identity: string;
  psk_key_sealed: Buffer;
  created_at: number;
}

interface PendingRpkRow {
  endpoint: string;
  rpk_public_key: Buffer;
  rpk_fingerprint: string;
  created_at: number;
}

interface Row {
  endpoint: string;
  mode: SecurityMode;
  psk_identity: string | null;
  psk_key_sealed: Buffer | null;
  rpk_public_key: Buffer | null;
  rpk_fingerprint: string | null;
  created_at: number;
}

/** The additional data a PSK is sealed under: it only opens for this endpoint and identity. */
function pskAad(endpoint: string, identity: string): string {
  return JSON.stringify(['warden-psk', endpoint, identity]);
}

function utf8Length(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

/** True if `s` survives a UTF-8 round trip (no lone surrogates). */
function isWellFormed(s: string): boolean {
  return Buffer.from(s, 'utf8').toString('utf8') === s;
}

/** Checks an info to add; throws SecurityStoreError('INVALID') naming the first problem. */
export function validateSecurityInfo(info: NewSecurityInfo): void {
  const bad = (message: string): never => {
    throw new SecurityStoreError('INVALID', message);
  };
  const ep = info.endpoint;
  if (typeof ep !== 'string' || ep.length === 0 || utf8Length(ep) > MAX_ENDPOINT_BYTES || !isWellFormed(ep) || /[\u0000-\u001f\u007f]/.test(ep)) {
    bad(`endpoint must be 1 to ${MAX_ENDPOINT_BYTES} bytes of UTF-8 without control characters`);
  }
  const has = { psk: info.pskIdentity !== undefined || info.pskKey !== undefined, rpk: info.rpkPublicKey !== undefined, x509: info.x509 !== undefined };
  for (const m of ['psk', 'rpk', 'x509'] as const) {
    if (m !== info.mode && has[m]) bad(`${m} details do not belong to mode ${String(info.mode)}`);
  }
  switch (info.mode) {
    case 'psk': {
      const id = info.pskIdentity;
      if (typeof id !== 'string' || id.length === 0 || utf8Length(id) > PSK_MAX_IDENTITY_BYTES || !isWellFormed(id)) {
        bad(`PSK identity must be 1 to ${PSK_MAX_IDENTITY_BYTES} bytes of UTF-8`);
      }
      const key = info.pskKey;
      if (!(key instanceof Uint8Array) || key.length < PSK_MIN_KEY_BYTES || key.length > PSK_MAX_KEY_BYTES) {
        bad(`PSK key must be ${PSK_MIN_KEY_BYTES} to ${PSK_MAX_KEY_BYTES} bytes`);
      }
      break;
    }
    case 'rpk':
      if (!(info.rpkPublicKey instanceof Uint8Array) || !isP256Spki(info.rpkPublicKey)) {
        bad('raw public key must be a P-256 (secp256r1) SubjectPublicKeyInfo in DER');
      }
      break;
    case 'x509':
      if (info.x509 !== true) bad('x509 mode needs x509: true');
      break;
    default:
      bad('mode must be psk, rpk or x509');
  }
}

/** Security info per endpoint, in its own table of the Warden database. */
export class SecurityStore {
  /** Hears the endpoint of every credential added, promoted or removed. */
  readonly changes = new Watchers<string>();
  private readonly stmt;
  private readonly now: () => number;
  private readonly onRemoved: ((endpoint: string) => void) | undefined;
  private readonly db: Database.Database;

  /** `onRemoved` hears every credential removed (the audit log records it as revoked). */
  constructor(
    store: { readonly db: Database.Database },
    private readonly box: SecretBox,
    opts: { now?: () => number; onRemoved?: (endpoint: string) => void } = {},
  ) {
    const db = store.db;
    db.exec(SCHEMA);
    this.db = db;
    this.now = opts.now ?? Date.now;
    this.onRemoved = opts.onRemoved;
    this.stmt = {
      upsert: db.prepare(`INSERT INTO security_info VALUES (@endpoint, @mode, @psk_identity, @psk_key_sealed, @rpk_public_key,
        @rpk_fingerprint, @created_at) ON CONFLICT(endpoint) DO UPDATE SET mode = excluded.mode, psk_identity = excluded.psk_identity,
        psk_key_sealed = excluded.psk_key_sealed, rpk_public_key = excluded.rpk_public_key, rpk_fingerprint = excluded.rpk_fingerprint,
        created_at = excluded.created_at`),
      remove: db.prepare('DELETE FROM security_info WHERE endpoint = ?'),
      get: db.prepare('SELECT * FROM security_info WHERE endpoint = ?'),
      page: db.prepare('SELECT * FROM security_info ORDER BY endpoint LIMIT ? OFFSET ?'),
      count: db.prepare('SELECT COUNT(*) AS n FROM security_info'),
      countMode: db.prepare('SELECT COUNT(*) AS n FROM security_info WHERE mode = ?'),
      countModeNewer: db.prepare('SELECT COUNT(*) AS n FROM security_info WHERE mode = ? AND created_at > ?'),
      byIdentity: db.prepare('SELECT * FROM security_info WHERE psk_identity = ?'),
      byFingerprint: db.prepare('SELECT * FROM security_info WHERE rpk_fingerprint = ?'),
      pendingGet: db.prepare('SELECT * FROM security_pending WHERE endpoint = ?'),
      pendingByIdentity: db.prepare('SELECT * FROM security_pending WHERE psk_identity = ?'),
      pendingInsert: db.prepare('INSERT OR REPLACE INTO security_pending VALUES (?, ?, ?, ?)'),
      pendingRemove: db.prepare('DELETE FROM security_pending WHERE endpoint = ?'),
      pendingRpkGet: db.prepare('SELECT * FROM security_pending_rpk WHERE endpoint = ?'),
      pendingRpkByFingerprint: db.prepare('SELECT * FROM security_pending_rpk WHERE rpk_fingerprint = ?'),
      pendingRpkInsert: db.prepare('INSERT OR REPLACE INTO security_pending_rpk VALUES (?, ?, ?, ?)'),
      pendingRpkRemove: db.prepare('DELETE FROM security_pending_rpk WHERE endpoint = ?'),
    };
    this.promoteRpkTx = db.transaction((endpoint: string): SecurityInfo | undefined => {
      const p = this.stmt.pendingRpkGet.get(endpoint) as PendingRpkRow | undefined;
      if (!p) return undefined;
      this.stmt.pendingRpkRemove.run(endpoint);
      return this.addNow({ endpoint, mode: 'rpk', rpkPublicKey: new Uint8Array(p.rpk_public_key) });
    });
    this.promoteTx = db.transaction((endpoint: string): SecurityInfo | undefined => {
      const p = this.stmt.pendingGet.get(endpoint) as PendingRow | undefined;
      if (!p) return undefined;
      const key = this.box.open(p.psk_key_sealed, pskAad(p.endpoint, p.psk_identity));
      this.stmt.pendingRemove.run(endpoint);
      return this.addNow({ endpoint, mode: 'psk', pskIdentity: p.psk_identity, pskKey: key });
    });
    this.addTx = db.transaction((info: NewSecurityInfo): SecurityInfo => this.addNow(info));
  }

  private readonly addTx: (info: NewSecurityInfo) => SecurityInfo;
  private readonly promoteTx: (endpoint: string) => SecurityInfo | undefined;
  private readonly promoteRpkTx: (endpoint: string) => SecurityInfo | undefined;

  /**
   * Adds the endpoint's security info, replacing what it had. Throws SecurityStoreError: INVALID (see
   * validateSecurityInfo), DUPLICATE_IDENTITY (PSK identity of another endpoint), DUPLICATE_KEY (raw public key of
   * another endpoint).
   */
  add(info: NewSecurityInfo): SecurityInfo {
    validateSecurityInfo(info);
    return this.changed(this.addTx(info));
  }



  private changed<T extends SecurityInfo | undefined>(info: T): T {
    if (info) this.changes.emit(info.endpoint);
    return info;
  }

  private addNow(info: NewSecurityInfo): SecurityInfo {
    const createdAt = this.now();
    let sealed: Buffer | null = null;
    let fp: string | null = null;
    if (info.mode === 'psk') {
      const other = this.stmt.byIdentity.get(info.pskIdentity) as Row | undefined;
      const pending = this.stmt.pendingByIdentity.get(info.pskIdentity) as PendingRow | undefined;
      if ((other && other.endpoint !== info.endpoint) || (pending && pending.endpoint !== info.endpoint)) {
        throw new SecurityStoreError('DUPLICATE_IDENTITY', `PSK identity "${info.pskIdentity}" is already used by another endpoint`);
      }
      sealed = Buffer.from(this.box.seal(info.pskKey!, pskAad(info.endpoint, info.pskIdentity!)));
    } else if (info.mode === 'rpk') {
      fp = fingerprint(info.rpkPublicKey!);
      const other = (this.stmt.byFingerprint.get(fp) as Row | undefined) ?? (this.stmt.pendingRpkByFingerprint.get(fp) as PendingRpkRow | undefined);
      if (other && other.endpoint !== info.endpoint) {
        throw new SecurityStoreError('DUPLICATE_KEY', 'this raw public key is already used by another endpoint');
      }
    }
    this.stmt.upsert.run({
      endpoint: info.endpoint,
      mode: info.mode,
      psk_identity: info.mode === 'psk' ? info.pskIdentity : null,
      psk_key_sealed: sealed,
      rpk_public_key: info.mode === 'rpk' ? Buffer.from(info.rpkPublicKey!) : null,
      rpk_fingerprint: fp,
      created_at: createdAt,
    });
    const out: SecurityInfo = { endpoint: info.endpoint, mode: info.mode, createdAt };
    if (info.mode === 'psk') Object.assign(out, { pskIdentity: info.pskIdentity, pskKey: new Uint8Array(info.pskKey!) });
    if (info.mode === 'rpk') out.rpkPublicKey = new Uint8Array(info.rpkPublicKey!);
    if (info.mode === 'x509') out.x509 = true;
    return out;
  }

  /** Removes the endpoint's info (and any pending credential); false if it had none. */
  remove(endpoint: string): boolean {
    this.stmt.pendingRemove.run(endpoint);
    this.stmt.pendingRpkRemove.run(endpoint);
    const removed = this.stmt.remove.run(endpoint).changes > 0;
    if (removed) {
      this.onRemoved?.(endpoint);
      this.changes.emit(endpoint);
    }
    return removed;
  }

  /**
   * Stores a second PSK for a PSK-mode endpoint, accepted alongside its current one until `promotePending`
   * (rotation). Idempotent for the same identity; a different identity replaces the previous pending PSK.
   * The identity must differ from the current one (a DTLS PSK lookup maps one identity to one key).
   */
  setPending(endpoint: string, pskIdentity: string, pskKey: Uint8Array): PendingPsk {
    validateSecurityInfo({ endpoint, mode: 'psk', pskIdentity, pskKey });
    const current = this.stmt.get.get(endpoint) as Row | undefined;
    if (!current || current.mode !== 'psk') throw new SecurityStoreError('INVALID', `${endpoint} has no PSK credential to rotate`);
    if (current.psk_identity === pskIdentity) throw new SecurityStoreError('INVALID', 'a pending PSK needs an identity of its own');
    const other = (this.stmt.byIdentity.get(pskIdentity) as Row | undefined) ?? (this.stmt.pendingByIdentity.get(pskIdentity) as PendingRow | undefined);
    if (other && other.endpoint !== endpoint) {
      throw new SecurityStoreError('DUPLICATE_IDENTITY', `PSK identity "${pskIdentity}" is already used by another endpoint`);
    }
    const createdAt = this.now();
    this.stmt.pendingInsert.run(endpoint, pskIdentity, Buffer.from(this.box.seal(pskKey, pskAad(endpoint, pskIdentity))), createdAt);
    return { endpoint, pskIdentity, createdAt };
  }

  /** The endpoint's pending PSK, key opened only with `withKey`. */
  getPending(endpoint: string, opts: { withKey?: boolean } = {}): PendingPsk | undefined {
    const p = this.stmt.pendingGet.get(endpoint) as PendingRow | undefined;
    if (!p) return undefined;
    const out: PendingPsk = { endpoint, pskIdentity: p.psk_identity, createdAt: p.created_at };
    if (opts.withKey) out.pskKey = this.box.open(p.psk_key_sealed, pskAad(p.endpoint, p.psk_identity));
    return out;
  }

  /** Makes the pending PSK the current one and forgets the old one, in one transaction. Undefined if none pending. */
  promotePending(endpoint: string): SecurityInfo | undefined {
    return this.changed(this.promoteTx(endpoint));
  }

  /** Drops the pending PSK (the current one stays); false if there was none. */
  removePending(endpoint: string): boolean {
    return this.stmt.pendingRemove.run(endpoint).changes > 0;
  }

  /**
   * Stores a second raw public key for an RPK-mode endpoint, accepted alongside its current one until
   * `promotePendingRawPublicKey` (rotation); replaces a previous pending one. Throws DUPLICATE_KEY for a key another
   * endpoint holds and INVALID when the endpoint is not in RPK mode or the key is its current one.
   */
  setPendingRawPublicKey(endpoint: string, spki: Uint8Array): void {
    validateSecurityInfo({ endpoint, mode: 'rpk', rpkPublicKey: spki });
    const current = this.stmt.get.get(endpoint) as Row | undefined;
    if (!current || current.mode !== 'rpk') throw new SecurityStoreError('INVALID', `${endpoint} has no raw public key to rotate`);
    const fp = fingerprint(spki);
    if (current.rpk_fingerprint === fp) throw new SecurityStoreError('INVALID', 'the pending key is the current one');
    const other = (this.stmt.byFingerprint.get(fp) as Row | undefined) ?? (this.stmt.pendingRpkByFingerprint.get(fp) as PendingRpkRow | undefined);
    if (other && other.endpoint !== endpoint) throw new SecurityStoreError('DUPLICATE_KEY', 'this raw public key is already used by another endpoint');
    this.stmt.pendingRpkInsert.run(endpoint, Buffer.from(spki), fp, this.now());
  }

  /** The endpoint's pending raw public key (SubjectPublicKeyInfo), if any. */
  getPendingRawPublicKey(endpoint: string): Uint8Array | undefined {
    const p = this.stmt.pendingRpkGet.get(endpoint) as PendingRpkRow | undefined;
    return p && new Uint8Array(p.rpk_public_key);
  }

  /** Makes the pending raw public key the current one and forgets the old one, in one transaction. */
  promotePendingRawPublicKey(endpoint: string): SecurityInfo | undefined {
    return this.changed(this.promoteRpkTx(endpoint));
  }

  /** The endpoint's info, with its PSK key opened unless `withKey` is false. */
  get(endpoint: string, opts: { withKey?: boolean } = {}): SecurityInfo | undefined {
    const row = this.stmt.get.get(endpoint) as Row | undefined;
    return row && this.fromRow(row, opts.withKey ?? true);
  }

  /** A page of infos ordered by endpoint. PSK keys are not opened: `pskKey` is absent. */
  list(opts: { offset?: number; limit?: number } = {}): SecurityInfo[] {
    const rows = this.stmt.page.all(opts.limit ?? -1, opts.offset ?? 0) as Row[];
    return rows.map((r) => this.fromRow(r, false));
  }

  count(): number {
    return (this.stmt.count.get() as { n: number }).n;
  }

  /**
   * Histogram of credential age at `now` over the ascending `boundsMs` (bucket i holds ages in
   * [bounds[i-1], bounds[i]), the last one everything older); a credential dated in the future counts as age 0.
   * Range counts on the (mode, created_at) index: a few milliseconds at 100,000 devices.
   */
  credentialAges(now: number, boundsMs: readonly number[]): CredentialAgeHistogram {
    for (let i = 0; i < boundsMs.length; i++) {
      const b = boundsMs[i]!;
      if (!Number.isFinite(b) || b <= 0 || (i > 0 && b <= boundsMs[i - 1]!)) throw new SecurityStoreError('INVALID', 'age bounds must be positive and ascending');
    }
    const zero = (): Record<SecurityMode, number> => ({ psk: 0, rpk: 0, x509: 0 });
    const buckets: CredentialAgeBucket[] = [...boundsMs, null].map((to, i) => ({ fromMs: i === 0 ? 0 : boundsMs[i - 1]!, toMs: to, count: 0, byMode: zero() }));
    const byMode = zero();
    let total = 0;
    this.db.transaction(() => {
      for (const mode of ['psk', 'rpk', 'x509'] as const) {
        const all = (this.stmt.countMode.get(mode) as { n: number }).n;
        byMode[mode] = all;
        total += all;
        let younger = 0;
        boundsMs.forEach((b, i) => {
          // created_at > now - b  <=>  age < b
          const n = (this.stmt.countModeNewer.get(mode, now - b) as { n: number }).n;
          buckets[i]!.byMode[mode] = n - younger;
          younger = n;
        });
        buckets[boundsMs.length]!.byMode[mode] = all - younger;
      }
    })();
    for (const bucket of buckets) bucket.count = bucket.byMode.psk + bucket.byMode.rpk + bucket.byMode.x509;
    return { total, byMode, buckets };
  }

  /** The PSK-mode info with this identity (key opened), current or pending, if any. */
  findByPskIdentity(identity: string): SecurityInfo | undefined {
    const row = this.stmt.byIdentity.get(identity) as Row | undefined;
    if (row) return row.mode === 'psk' ? this.fromRow(row, true) : undefined;
    const p = this.stmt.pendingByIdentity.get(identity) as PendingRow | undefined;
    if (!p) return undefined;
    return { endpoint: p.endpoint, mode: 'psk', pskIdentity: p.psk_identity, pskKey: this.box.open(p.psk_key_sealed, pskAad(p.endpoint, p.psk_identity)), createdAt: p.created_at };
  }

  /**
   * The RPK-mode info holding exactly this SubjectPublicKeyInfo (compared in constant time) as its current or its
   * pending key, if any.
   */
  findByRawPublicKey(spki: Uint8Array): SecurityInfo | undefined {
    const fp = fingerprint(spki);
    const row = this.stmt.byFingerprint.get(fp) as Row | undefined;
    if (row) return row.mode === 'rpk' && row.rpk_public_key !== null && spkiEqual(row.rpk_public_key, spki) ? this.fromRow(row, false) : undefined;
    const p = this.stmt.pendingRpkByFingerprint.get(fp) as PendingRpkRow | undefined;
    if (!p || !spkiEqual(p.rpk_public_key, spki)) return undefined;
    return { endpoint: p.endpoint, mode: 'rpk', rpkPublicKey: new Uint8Array(p.rpk_public_key), createdAt: p.created_at };
  }

  /** The X.509-mode info of the endpoint named by a certificate's CN, if any. */
  findByCertificateName(cn: string): SecurityInfo | undefined {
    const row = this.stmt.get.get(cn) as Row | undefined;
    return row && row.mode === 'x509' ? this.fromRow(row, false) : undefined;
  }

  /** The PskLookup for the DTLS server: identity to key, undefined for unknown identities. */
  pskLookup(): PskLookup {
    return (identity) => this.findByPskIdentity(identity)?.pskKey;
  }

  /** The lookup createRawPublicKeyVerifier takes: SPKI to endpoint. */
  rawPublicKeyLookup(): (spki: Uint8Array) => string | undefined {
    return (spki) => this.findByRawPublicKey(spki)?.endpoint;
  }

  private fromRow(r: Row, openKey: boolean): SecurityInfo {
    const info: SecurityInfo = { endpoint: r.endpoint, mode: r.mode, createdAt: r.created_at };
    if (r.mode === 'psk' && r.psk_identity !== null) {
      info.pskIdentity = r.psk_identity;
      if (openKey && r.psk_key_sealed !== null) info.pskKey = this.box.open(r.psk_key_sealed, pskAad(r.endpoint, r.psk_identity));
    } else if (r.mode === 'rpk' && r.rpk_public_key !== null) {
      info.rpkPublicKey = new Uint8Array(r.rpk_public_key);
    } else if (r.mode === 'x509') {
      info.x509 = true;
    }
    return info;
  }
}

export { SecretBox, SecretBoxError } from './secret-box.js';
