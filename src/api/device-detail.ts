/**
 * One device's detail for the console's device page: `GET /api/devices/:ep/security` (mode, identity, certificate
 * subject and validity, pending rotation: never a key), `GET /api/devices/:ep/timeline` (its history merged newest
 * first from what is persisted), `GET /api/devices/:ep/firmware` (its firmware campaign records) and
 * `GET /api/objects/:id` (an object definition of the model, for the Create form).
 */
import { X509Certificate } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { fingerprint } from '../dtls/rpk.js';
import type { IssuedCertificate } from '../keys/index.js';
import type { Model } from '../lwm2m/index.js';
import type { DeviceManagement } from '../server/types.js';
import type { AuditLog, DeviceEventLog, SecurityStore } from '../store/index.js';
import type { FirmwareCampaignManager } from '../firmware/index.js';
import type { RotationManager } from '../bootstrap/index.js';
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

/** A persisted history entry: epoch-ms time. */
interface HistoryEntry {
  time: number;
  kind: string;
  summary: string;
}

export interface DeviceDetailOptions {
  server: Pick<DeviceManagement, 'getRegistration'>;
  model: Model;
  security?: Pick<SecurityStore, 'get' | 'getPending' | 'getPendingRawPublicKey'>;
  ca?: { certificates(endpoint: string): IssuedCertificate[] };
  audit?: Pick<AuditLog, 'query'>;
  /** Firmware campaigns: a device's records and transitions. */
  campaigns?: Pick<FirmwareCampaignManager, 'deviceHistory' | 'deviceCampaigns'>;
  /** Credential rotations: a device's transitions. */
  rotation?: Pick<RotationManager, 'deviceHistory'>;
  /** Registration history (registered, de-registered, expired, replaced). */
  events?: Pick<DeviceEventLog, 'of'>;
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
  for (const e of opts.campaigns?.deviceHistory(endpoint, limit) ?? []) {
    all.push({ time: e.time, kind: `firmware-${e.to}`, source: 'firmware', summary: `firmware campaign ${e.campaignId}: ${e.from} → ${e.to}${e.detail ? ` (${e.detail})` : ''}` });
  }
  for (const e of opts.rotation?.deviceHistory(endpoint, limit) ?? []) {
    all.push({ time: e.time, kind: `rotation-${e.to}`, source: 'rotation', summary: `rotation campaign ${e.campaignId}: ${e.from} → ${e.to}${e.note ? ` (${e.note})` : ''}` });
  }
  for (const e of opts.events?.of(endpoint, limit) ?? []) all.push({ time: e.time, kind: e.kind, source: 'registration', summary: `${e.kind} ${e.detail}` });
  const reg = opts.server.getRegistration(endpoint);
  if (reg) {
    if (!opts.events) all.push({ time: reg.registeredAt, kind: 'registered', source: 'registration', summary: `registered (id ${reg.registrationId}) from ${reg.address}:${reg.port}${reg.secure ? ' over DTLS' : ''}` });
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

  app.get('/api/devices/:ep/timeline', async (req: EpRequest) => {
    const entries = deviceTimeline(req.params.ep, limitParam(req.query), opts);
    const ep = req.params.ep;
    if (entries.length === 0 && !opts.server.getRegistration(ep) && !opts.security?.get(ep, { withKey: false })) {
      throw new ApiError(404, `nothing is known of device ${ep}`);
    }
    return entries;
  });

  app.get('/api/devices/:ep/firmware', async (req: EpRequest) =>
    (opts.campaigns?.deviceCampaigns(req.params.ep, limitParam(req.query)) ?? []).map((r) => ({ ...r, updatedAt: new Date(r.updatedAt).toISOString() })));

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
