/**
 * The firmware repository: signed packages stored content-addressed under the data directory
 * (`<data>/firmware/sha256/<2 hex>/<62 hex>`, the SHA-256 of the whole package file) and described by one row each in
 * SQLite (table `firmware_package`). A package is accepted only when it is well formed, its COSE_Sign1 signature
 * verifies against a trusted firmware key, and its payload has the size and digest its manifest promises: a device
 * would refuse anything else, so the server refuses it first.
 */
import { createHash, randomBytes, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Database, Statement } from 'better-sqlite3';
import { parseCose1, verifyCose1 } from './cose.js';
import { FirmwareError } from './error.js';
import { classIdFor, decodeManifest, uuidString, vendorIdFor, type Manifest } from './manifest.js';
import { decodePackage, MAX_ENVELOPE_LENGTH, PACKAGE_FIXED_HEADER, parsePackageHeader } from './package.js';
import { PayloadVerifier } from './verify.js';
import { Watchers } from '../store/watchers.js';

/** What the repository knows of one stored package. Digests are lowercase hex, IDs UUID text. */
export interface FirmwarePackage {
  /** SHA-256 (hex) of the package file: its name in the store and in download URIs. */
  id: string;
  /** Vendor ID (UUID text) from the manifest. */
  vendor: string;
  /** Device class ID (UUID text) from the manifest. */
  class: string;
  version: string;
  /** The anti-rollback sequence number. */
  sequence: number;
  kind: 'image' | 'delta';
  /** For a delta: SHA-256 and size of the image it applies to. */
  baseDigest?: string;
  baseSize?: number;
  /** SHA-256 and size of the image the device ends up with (the payload itself for a full image). */
  imageDigest: string;
  imageSize: number;
  /** Bytes after the header: the image or the patch. */
  payloadSize: number;
  /** Bytes of the whole package file. */
  packageSize: number;
  /** Key ID (hex) of the key that signed the manifest. */
  keyId: string;
  /** Milliseconds since the epoch. */
  uploadedAt: number;
  name?: string;
  notes?: string;
}

/** `list()` filters; all given ones must match. */
export interface FirmwareFilter {
  /** Vendor ID (UUID text) or vendor name (its ID is computed as `warden firmware sign` does). */
  vendor?: string;
  /** Class ID (UUID text), or a class name together with `vendor`. */
  class?: string;
  version?: string;
  kind?: 'image' | 'delta';
}

/** Why a repository operation was refused. */
export type FirmwareRepositoryErrorCode = 'NOT_FOUND' | 'IN_USE' | 'TOO_LARGE' | 'CORRUPT' | 'BAD_FILTER';

/** A repository operation refused for a reason that is not the package's content (that is FirmwareError). */
export class FirmwareRepositoryError extends Error {
  constructor(
    readonly code: FirmwareRepositoryErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'FirmwareRepositoryError';
  }
}

/** What a FirmwareRepository is built from. */
export interface FirmwareRepositoryOptions {
  /** The data directory; packages go under `<dataDir>/firmware`. */
  dataDir: string;
  /** The SQLite store (its schema holds the `firmware_package` table). */
  store: { readonly db: Database };
  /** Public keys whose signatures are accepted (read at every upload when a function). */
  trustedKeys: readonly KeyObject[] | (() => readonly KeyObject[]);
  /** True while something (a campaign) needs the package: `remove` is refused then. */
  inUse?: (id: string) => boolean;
  /** Largest package accepted, bytes (default 64 MiB). */
  maxPackageSize?: number;
  /** Bytes of package buffers kept for serving (default 128 MiB); a package larger than this is read at each open. */
  cacheBytes?: number;
  /** Packages kept for serving at most (default 16). */
  cacheEntries?: number;
  now?: () => number;
}

/** Default and API limit on a package file. */
export const MAX_PACKAGE_SIZE = 64 * 1024 * 1024;

const ID_RE = /^[0-9a-f]{64}$/;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True for a well-formed package id: 64 lowercase hex digits. */
export function isPackageId(id: string): boolean {
  return ID_RE.test(id);
}

/** Vendor and class filters as stored IDs: UUID text passes through, names are turned into IDs (RFC 9019 §3). */
export function resolveTargetIds(vendor: string | undefined, cls: string | undefined): { vendor?: string; class?: string } {
  const out: { vendor?: string; class?: string } = {};
  let vendorBytes: Uint8Array | undefined;
  if (vendor !== undefined) {
    if (UUID_RE.test(vendor)) {
      out.vendor = vendor.toLowerCase();
      vendorBytes = Buffer.from(out.vendor.replace(/-/g, ''), 'hex');
    } else {
      vendorBytes = vendorIdFor(vendor);
      out.vendor = uuidString(vendorBytes);
    }
  }
  if (cls !== undefined) {
    if (UUID_RE.test(cls)) out.class = cls.toLowerCase();
    else if (vendorBytes) out.class = uuidString(classIdFor(vendorBytes, cls));
    else throw new FirmwareRepositoryError('BAD_FILTER', 'a class name needs the vendor too (or give the class ID)');
  }
  return out;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

interface Row {
  id: string;
  vendor: string;
  class: string;
  version: string;
  sequence: number;
  kind: 'image' | 'delta';
  base_digest: string | null;
  base_size: number | null;
  image_digest: string;
  image_size: number;
  payload_size: number;
  package_size: number;
  key_id: string;
  uploaded_at: number;
  name: string | null;
  notes: string | null;
}

function fromRow(r: Row): FirmwarePackage {
  const p: FirmwarePackage = {
    id: r.id, vendor: r.vendor, class: r.class, version: r.version, sequence: r.sequence, kind: r.kind,
    imageDigest: r.image_digest, imageSize: r.image_size, payloadSize: r.payload_size, packageSize: r.package_size,
    keyId: r.key_id, uploadedAt: r.uploaded_at,
  };
  if (r.base_digest !== null) p.baseDigest = r.base_digest;
  if (r.base_size !== null) p.baseSize = r.base_size;
  if (r.name !== null) p.name = r.name;
  if (r.notes !== null) p.notes = r.notes;
  return p;
}

/** Checks a whole package as the repository accepts it; returns its manifest and signing key id. */
export function checkPackage(data: Uint8Array, trustedKeys: readonly KeyObject[]): { manifest: Manifest; keyId: string } {
  const { envelope, payload } = decodePackage(data);
  const kid = parseCose1(envelope).kid;
  if (trustedKeys.length === 0) throw new FirmwareError('UNKNOWN_KEY', 'no trusted firmware keys are configured');
  const manifest = decodeManifest(verifyCose1(envelope, trustedKeys));
  const v = new PayloadVerifier(manifest.payload);
  v.update(payload);
  v.finish();
  return { manifest, keyId: hex(kid) };
}

/** Packages on disk and in SQLite. See the file comment. */
export class FirmwareRepository {
  /** Hears every package stored or removed. */
  readonly changes = new Watchers<{ id: string; removed: boolean }>();
  /** `<dataDir>/firmware`. */
  readonly root: string;
  private readonly db: Database;
  private readonly trusted: () => readonly KeyObject[];
  private readonly inUse: (id: string) => boolean;
  private readonly maxPackageSize: number;
  private readonly cacheBytes: number;
  private readonly cacheEntries: number;
  private readonly now: () => number;
  /** Least recently used first (Map keeps insertion order; a hit re-inserts). */
  private readonly cache = new Map<string, Buffer>();
  private cachedBytes = 0;
  /** Reads in progress, so concurrent first opens of one package share one read. */
  private readonly loading = new Map<string, Promise<Buffer | undefined>>();
  private readonly stmt: Record<'insert' | 'get' | 'delete' | 'all', Statement>;

  constructor(opts: FirmwareRepositoryOptions) {
    this.root = join(opts.dataDir, 'firmware');
    this.db = opts.store.db;
    const keys = opts.trustedKeys;
    this.trusted = typeof keys === 'function' ? keys : () => keys;
    this.inUse = opts.inUse ?? (() => false);
    this.maxPackageSize = opts.maxPackageSize ?? MAX_PACKAGE_SIZE;
    this.cacheBytes = opts.cacheBytes ?? 128 * 1024 * 1024;
    this.cacheEntries = opts.cacheEntries ?? 16;
    this.now = opts.now ?? Date.now;
    mkdirSync(join(this.root, 'sha256'), { recursive: true });
    // Temporary files of uploads a crash interrupted: never renamed into place, never in the table.
    const tmp = join(this.root, 'tmp');
    if (existsSync(tmp)) for (const f of readdirSync(tmp)) rmSync(join(tmp, f), { force: true });
    mkdirSync(tmp, { recursive: true });
    this.stmt = {
      insert: this.db.prepare(`INSERT OR IGNORE INTO firmware_package (id, vendor, class, version, sequence, kind, base_digest,
        base_size, image_digest, image_size, payload_size, package_size, key_id, uploaded_at, name, notes)
        VALUES (@id, @vendor, @class, @version, @sequence, @kind, @baseDigest, @baseSize, @imageDigest, @imageSize,
        @payloadSize, @packageSize, @keyId, @uploadedAt, @name, @notes)`),
      get: this.db.prepare('SELECT * FROM firmware_package WHERE id = ?'),
      delete: this.db.prepare('DELETE FROM firmware_package WHERE id = ?'),
      all: this.db.prepare('SELECT * FROM firmware_package ORDER BY vendor, class, sequence DESC, uploaded_at DESC'),
    };
  }

  /** Where a package's file lives. */
  pathOf(id: string): string {
    return join(this.root, 'sha256', id.slice(0, 2), id.slice(2));
  }

  /**
   * Stores a package. Refuses (FirmwareError) one that is malformed, signed by an unknown key, badly signed or whose
   * payload does not match its manifest; TOO_LARGE above the size limit. A package already stored (same SHA-256)
   * returns the existing record with `created: false` and changes nothing.
   */
  async upload(data: Uint8Array, meta: { name?: string; notes?: string } = {}): Promise<{ package: FirmwarePackage; created: boolean }> {
    if (data.byteLength > this.maxPackageSize) throw new FirmwareRepositoryError('TOO_LARGE', `a package is at most ${this.maxPackageSize} bytes`);
    const { manifest, keyId } = checkPackage(data, this.trusted());
    const id = createHash('sha256').update(data).digest('hex');
    const file = this.pathOf(id);
    const existing = this.get(id);
    if (existing && existsSync(file)) return { package: existing, created: false };
    await this.writeFile(file, data);
    const p = manifest.payload;
    const record: FirmwarePackage = {
      id,
      vendor: uuidString(manifest.vendorId),
      class: uuidString(manifest.classId),
      version: manifest.version,
      sequence: manifest.sequence,
      kind: p.kind,
      ...(p.kind === 'delta' ? { baseDigest: hex(p.base.digest), baseSize: p.base.size } : {}),
      imageDigest: hex(p.kind === 'delta' ? p.image.digest : p.digest),
      imageSize: p.kind === 'delta' ? p.image.size : p.size,
      payloadSize: p.size,
      packageSize: data.byteLength,
      keyId,
      uploadedAt: this.now(),
      ...(meta.name !== undefined ? { name: meta.name } : {}),
      ...(meta.notes !== undefined ? { notes: meta.notes } : {}),
    };
    const inserted = this.stmt.insert.run({ baseDigest: null, baseSize: null, name: null, notes: null, ...record }).changes === 1;
    if (inserted) this.changes.emit({ id, removed: false });
    return inserted ? { package: record, created: true } : { package: this.get(id)!, created: false };
  }

  /** The temp file is fsynced before the rename and the directory after it, so a crash leaves the old state or the new. */
  private async writeFile(file: string, data: Uint8Array): Promise<void> {
    const dir = dirname(file);
    mkdirSync(dir, { recursive: true });
    const tmp = join(this.root, 'tmp', `upload-${process.pid}-${randomBytes(8).toString('hex')}`);
    const fh = await open(tmp, 'wx', 0o644);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      await rename(tmp, file);
    } catch (err) {
      await unlink(tmp).catch(() => {});
      throw err;
    }
    const d = await open(dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  }

  /** The record of a package, or undefined. */
  get(id: string): FirmwarePackage | undefined {
    if (!isPackageId(id)) return undefined;
    const r = this.stmt.get.get(id) as Row | undefined;
    return r && fromRow(r);
  }

  /** Stored packages matching `filter`, by vendor, class, then newest sequence first. */
  list(filter: FirmwareFilter = {}): FirmwarePackage[] {
    const ids = resolveTargetIds(filter.vendor, filter.class);
    return (this.stmt.all.all() as Row[])
      .filter((r) => (ids.vendor === undefined || r.vendor === ids.vendor)
        && (ids.class === undefined || r.class === ids.class)
        && (filter.version === undefined || r.version === filter.version)
        && (filter.kind === undefined || r.kind === filter.kind))
      .map(fromRow);
  }

  /** Deletes a package: NOT_FOUND if unknown, IN_USE while `inUse(id)` says so. The row goes first, then the file. */
  async remove(id: string): Promise<FirmwarePackage> {
    const p = this.get(id);
    if (!p) throw new FirmwareRepositoryError('NOT_FOUND', `no firmware package ${id}`);
    if (this.inUse(id)) throw new FirmwareRepositoryError('IN_USE', `firmware package ${id} is used by a campaign`);
    this.stmt.delete.run(id);
    this.evict(id);
    this.changes.emit({ id, removed: true });
    await unlink(this.pathOf(id)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
    return p;
  }

  /**
   * The package bytes for serving, or undefined for an unknown id. Recently served packages stay in memory, so many
   * devices pulling one package share one buffer; treat it as read-only. CORRUPT when the file's SHA-256 is not its id.
   */
  open(id: string): Promise<Buffer | undefined> {
    const hit = this.cache.get(id);
    if (hit) {
      this.cache.delete(id);
      this.cache.set(id, hit);
      return Promise.resolve(hit);
    }
    let pending = this.loading.get(id);
    if (!pending) {
      pending = this.load(id).finally(() => this.loading.delete(id));
      this.loading.set(id, pending);
    }
    return pending;
  }

  /** A cached buffer without touching the disk (hot path of the download listeners), else undefined. */
  cached(id: string): Buffer | undefined {
    return this.cache.get(id);
  }

  private async load(id: string): Promise<Buffer | undefined> {
    if (!this.get(id)) return undefined;
    let data: Buffer;
    try {
      data = await readFile(this.pathOf(id));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new FirmwareRepositoryError('CORRUPT', `the file of firmware package ${id} is missing`);
      throw err;
    }
    if (createHash('sha256').update(data).digest('hex') !== id) throw new FirmwareRepositoryError('CORRUPT', `the file of firmware package ${id} does not match its digest`);
    // A package removed while it was being read is not served from the cache afterwards.
    if (!this.get(id)) return undefined;
    if (data.byteLength <= this.cacheBytes) {
      this.cache.set(id, data);
      this.cachedBytes += data.byteLength;
      for (const [k, v] of this.cache) {
        if (this.cachedBytes <= this.cacheBytes && this.cache.size <= this.cacheEntries) break;
        this.cache.delete(k);
        this.cachedBytes -= v.byteLength;
      }
    }
    return data;
  }

  private evict(id: string): void {
    const b = this.cache.get(id);
    if (!b) return;
    this.cache.delete(id);
    this.cachedBytes -= b.byteLength;
  }

  /** The manifest of a stored package (read from its file's header; its signature was checked at upload), or undefined. */
  async manifest(id: string): Promise<{ manifest: Manifest; alg: number; keyId: string } | undefined> {
    if (!this.get(id)) return undefined;
    const fh = await open(this.pathOf(id), 'r');
    try {
      const buf = Buffer.alloc(PACKAGE_FIXED_HEADER + MAX_ENVELOPE_LENGTH);
      const { bytesRead } = await fh.read(buf, 0, buf.byteLength, 0);
      const h = parsePackageHeader(buf.subarray(0, bytesRead));
      if (!h.complete) throw new FirmwareRepositoryError('CORRUPT', `the file of firmware package ${id} is cut short`);
      const cose = parseCose1(h.envelope);
      return { manifest: decodeManifest(cose.payload), alg: cose.alg, keyId: hex(cose.kid) };
    } finally {
      await fh.close();
    }
  }
}
