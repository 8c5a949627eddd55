/**
 * One device's detail for the console's device page: `GET /api/devices/:ep/security` (mode, identity, certificate
 * subject and validity, pending rotation: never a key), `GET /api/devices/:ep/timeline` (its history merged newest
 * first from what is persisted), `GET /api/devices/:ep/firmware` (its firmware campaign records) and
 * `GET /api/objects/:id` (an object definition of the model, for the Create form).
 */
import { X509Certificate } from 'node:crypto';
import type Database from 'better-sqlite3';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { fingerprint } from '../dtls/rpk.js';
import type { IssuedCertificate } from '../keys/index.js';
import type { Model } from '../lwm2m/index.js';
import type { DeviceManagement } from '../server/types.js';
import type { AuditLog, SecurityStore } from '../store/index.js';
import { ApiError } from './api-error.js';
import { param, type Query } from './params.js';

export const DEFAULT_TIMELINE_LIMIT = 100;
export const MAX_TIMELINE_LIMIT = 1000;

/** A certificate as the device page shows it: identifiers and dates, never a key. */
export interface DeviceCertificateJson {
  serial: string;
  subject: string;
  notBefore: string;
  notAfter: string;
  issuedAt: string | null;
  revokedAt: string | null;
}

/** GET /api/devices/:ep/security. */
export interface DeviceSecurityJson {
  endpoint: string;
  /** From the stored credential, else from the identity the device authenticated with; null when neither. */
  mode: 'psk' | 'rpk' | 'x509' | null;
  pskIdentity?: string;
  /** SHA-256 of the SubjectPublicKeyInfo, hex. */
  rpkFingerprint?: string;
  /** Certificates the CA issued to the endpoint, newest first. */
  certificates: DeviceCertificateJson[];
  /** The newest unrevoked certificate (or else the newest one), if any. */
  certificate?: DeviceCertificateJson;
  /** ISO 8601: when the stored credential was created. */
  credentialCreatedAt: string | null;
  /** A rotation has delivered a new credential the device has not used yet. */
  pendingRotation: boolean;
  /** The DTLS identity the current registration authenticated with. */
  registeredIdentity: { mode: 'psk' | 'rpk' | 'x509'; name: string } | null;
}

/** One entry of GET /api/devices/:ep/timeline. Summaries hold device-reported text as data. */
export interface TimelineEntryJson {
  /** ISO 8601. */
  time: string;
  kind: string;
  source: 'audit' | 'firmware' | 'rotation' | 'registration';
  summary: string;
}

/** One firmware campaign record of a device (GET /api/devices/:ep/firmware). */
export interface DeviceCampaignJson {
  campaignId: number;
  packageId: string;
  packageVersion: string;
  campaignState: string;
  state: string;
  attempts: number;
  updateResult: number | null;
  lastError: string | null;
  updatedAt: string;
}

/** A persisted history entry: epoch-ms time. */
export interface HistoryEntry {
  time: number;
  kind: string;
  summary: string;
}

/**
 * Reads a device's firmware campaign and credential rotation records straight from the Warden database
 * (tables fw_campaign*, rotation_*): the managers own the writes, this only reads.
 */
export class DeviceHistory {
  private readonly db: Database.Database;

  constructor(store: { readonly db: Database.Database }) {
    this.db = store.db;
  }

  private has(table: string): boolean {
    return this.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(table) !== undefined;
  }

  /** Firmware campaign state changes of `endpoint`, newest first. */
  firmware(endpoint: string, limit: number): HistoryEntry[] {
    if (!this.has('fw_campaign_history')) return [];
    const rows = this.db
      .prepare('SELECT campaign_id, time, from_state, to_state, detail FROM fw_campaign_history WHERE endpoint = ? ORDER BY time DESC, id DESC LIMIT ?')
      .all(endpoint, limit) as { campaign_id: number; time: number; from_state: string; to_state: string; detail: string | null }[];
    return rows.map((r) => ({
      time: r.time,
      kind: `firmware-${r.to_state}`,
      summary: `firmware campaign ${r.campaign_id}: ${r.from_state} → ${r.to_state}${r.detail ? ` (${r.detail})` : ''}`,
    }));
  }

  /** Credential rotation state changes of `endpoint`, newest first. */
  rotations(endpoint: string, limit: number): HistoryEntry[] {
    if (!this.has('rotation_history')) return [];
    const rows = this.db
      .prepare('SELECT campaign_id, time, from_state, to_state, note FROM rotation_history WHERE endpoint = ? ORDER BY time DESC, id DESC LIMIT ?')
      .all(endpoint, limit) as { campaign_id: number; time: number; from_state: string; to_state: string; note: string | null }[];
    return rows.map((r) => ({
      time: r.time,
      kind: `rotation-${r.to_state}`,
      summary: `rotation campaign ${r.campaign_id}: ${r.from_state} → ${r.to_state}${r.note ? ` (${r.note})` : ''}`,
    }));
  }

  /** The device's firmware campaign records, newest first. */
  campaigns(endpoint: string, limit = 100): DeviceCampaignJson[] {
    if (!this.has('fw_campaign_device')) return [];
    const rows = this.db
      .prepare(`SELECT d.campaign_id, c.package_id, c.package_version, c.state AS campaign_state, d.state, d.attempts, d.update_result, d.last_error, d.updated_at
        FROM fw_campaign_device d JOIN fw_campaign c ON c.id = d.campaign_id WHERE d.endpoint = ? ORDER BY d.campaign_id DESC LIMIT ?`)
      .all(endpoint, limit) as {
        campaign_id: number; package_id: string; package_version: string; campaign_state: string; state: string;
        attempts: number; update_result: number | null; last_error: string | null; updated_at: number;
      }[];
    return rows.map((r) => ({
      campaignId: r.campaign_id, packageId: r.package_id, packageVersion: r.package_version, campaignState: r.campaign_state,
      state: r.state, attempts: r.attempts, updateResult: r.update_result, lastError: r.last_error, updatedAt: new Date(r.updated_at).toISOString(),
    }));
  }
}

export interface DeviceDetailOptions {
  server: Pick<DeviceManagement, 'getRegistration'>;
  model: Model;
  security?: Pick<SecurityStore, 'get' | 'getPending' | 'getPendingRawPublicKey'>;
  ca?: { certificates(endpoint: string): IssuedCertificate[] };
  audit?: Pick<AuditLog, 'query'>;
  history?: Pick<DeviceHistory, 'firmware' | 'rotations' | 'campaigns'>;
}

/** A certificate's public facts; the subject comes from the DER (the CA's own records hold no subject column). */
export function deviceCertificateToJson(c: IssuedCertificate): DeviceCertificateJson {
  let subject = `CN=${c.endpoint}`;
  try {
    subject = new X509Certificate(c.certificate).subject.replace(/\n/g, ', ');
  } catch {
    // A record that does not parse keeps the CN the CA issued it under (ca.ts: the leaf's subject is CN=endpoint).
  }
  return {
    serial: c.serial, subject,
    notBefore: c.notBefore.toISOString(), notAfter: c.notAfter.toISOString(),
    issuedAt: c.issuedAt?.toISOString() ?? null, revokedAt: c.revokedAt?.toISOString() ?? null,
  };
}

/** The security view of `endpoint`, or undefined when nothing at all is known of it. */
export function deviceSecurity(endpoint: string, opts: DeviceDetailOptions): DeviceSecurityJson | undefined {
  const info = opts.security?.get(endpoint, { withKey: false });
  const reg = opts.server.getRegistration(endpoint);
  const issued = opts.ca?.certificates(endpoint) ?? [];
  if (!info && !reg?.identity && issued.length === 0) return undefined;
  const certificates = issued.map(deviceCertificateToJson).reverse();
  const current = issued.filter((c) => c.revokedAt === undefined).at(-1) ?? issued.at(-1);
  const identity = reg?.identity;
  const out: DeviceSecurityJson = {
    endpoint,
    mode: info?.mode ?? identity?.mode ?? (issued.length > 0 ? 'x509' : null),
    certificates,
    credentialCreatedAt: info ? new Date(info.createdAt).toISOString() : null,
    pendingRotation: opts.security !== undefined && (opts.security.getPending(endpoint) !== undefined || opts.security.getPendingRawPublicKey(endpoint) !== undefined),
    registeredIdentity: identity ? { mode: identity.mode, name: identity.name } : null,
  };
  if (info?.mode === 'psk' && info.pskIdentity !== undefined) out.pskIdentity = info.pskIdentity;
  else if (!info && identity?.mode === 'psk') out.pskIdentity = identity.name;
  if (info?.mode === 'rpk' && info.rpkPublicKey) out.rpkFingerprint = fingerprint(info.rpkPublicKey);
  if (current) out.certificate = deviceCertificateToJson(current);
  return out;
}

/** The device's history, newest first, at most `limit` entries. */
export function deviceTimeline(endpoint: string, limit: number, opts: DeviceDetailOptions): TimelineEntryJson[] {
  const all: (HistoryEntry & { source: TimelineEntryJson['source'] })[] = [];
  for (const e of opts.audit?.query({ endpoint, limit }) ?? []) {
    const detail = e.detail ? ' ' + Object.entries(e.detail).map(([k, v]) => `${k}=${String(v)}`).join(' ') : '';
    all.push({ time: e.time, kind: `credential-${e.kind}`, source: 'audit', summary: `credential ${e.kind} by ${e.actor}${detail}` });
  }
  for (const e of opts.history?.firmware(endpoint, limit) ?? []) all.push({ ...e, source: 'firmware' });
  for (const e of opts.history?.rotations(endpoint, limit) ?? []) all.push({ ...e, source: 'rotation' });
  const reg = opts.server.getRegistration(endpoint);
  if (reg) {
    all.push({ time: reg.registeredAt, kind: 'registered', source: 'registration', summary: `registered (id ${reg.registrationId}) from ${reg.address}:${reg.port}${reg.secure ? ' over DTLS' : ''}` });
    if (reg.lastUpdate !== reg.registeredAt) all.push({ time: reg.lastUpdate, kind: 'updated', source: 'registration', summary: `registration updated (lifetime ${reg.lifetime} s)` });
  }
  // Stable for equal times: sources keep the order they were added in (each already newest first).
  return all
    .map((e, i) => ({ e, i }))
    .sort((a, b) => b.e.time - a.e.time || a.i - b.i)
    .slice(0, limit)
    .map(({ e }) => ({ time: new Date(e.time).toISOString(), kind: e.kind, source: e.source, summary: e.summary }));
}

function limitParam(q: Query): number {
  const v = param(q, 'limit');
  if (v === undefined || v === '') return DEFAULT_TIMELINE_LIMIT;
  if (!/^\d{1,9}$/.test(v) || Number(v) < 1 || Number(v) > MAX_TIMELINE_LIMIT) throw new ApiError(400, `limit must be an integer from 1 to ${MAX_TIMELINE_LIMIT}`);
  return Number(v);
}

const TYPE_NAMES: Readonly<Record<string, string>> = {
  string: 'STRING', integer: 'INTEGER', unsignedInteger: 'UNSIGNED_INTEGER', float: 'FLOAT', boolean: 'BOOLEAN',
  opaque: 'OPAQUE', time: 'TIME', objlnk: 'OBJLNK', corelnk: 'CORELNK', none: 'NONE',
};

/** Registers the device-detail routes (GET: viewers may read them). */
export function deviceDetailRoutes(app: FastifyInstance, opts: DeviceDetailOptions): void {
  type EpRequest = FastifyRequest<{ Params: { ep: string }; Querystring: Query }>;

  app.get('/api/devices/:ep/security', async (req: EpRequest) => {
    const out = deviceSecurity(req.params.ep, opts);
    if (!out) throw new ApiError(404, `nothing is known of the security of device ${req.params.ep}`);
    return out;
  });

  app.get('/api/devices/:ep/timeline', async (req: EpRequest) => deviceTimeline(req.params.ep, limitParam(req.query), opts));

  app.get('/api/devices/:ep/firmware', async (req: EpRequest) => opts.history?.campaigns(req.params.ep, limitParam(req.query)) ?? []);

  app.get('/api/objects/:id', async (req: FastifyRequest<{ Params: { id: string } }>) => {
    const def = /^\d{1,5}$/.test(req.params.id) ? opts.model.object(Number(req.params.id)) : undefined;
    if (!def) throw new ApiError(404, `the model has no object ${req.params.id}`);
    return {
      id: def.id, name: def.name, version: def.version, multiple: def.multiple, mandatory: def.mandatory,
      resources: [...def.resources.values()].map((r) => ({
        id: r.id, name: r.name, operations: r.operations, multiple: r.multiple, mandatory: r.mandatory,
        type: TYPE_NAMES[r.type] ?? r.type.toUpperCase(), ...(r.units ? { units: r.units } : {}),
      })),
    };
  });
}
