/**
 * GET /api/devices: the device inventory (registered devices and those with credentials) filtered on the server,
 * a page at a time, total in X-Total-Count; GET /api/devices/firmware-versions for the filter's choices.
 * No key material ever: security info is reduced to its mode and creation time.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { DeviceInventory, InventoryEntry, InventoryQuery, InventorySecurityMode } from '../server/inventory.js';
import { securityModeOf } from '../server/inventory.js';
import { ApiError } from './api-error.js';
import { DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT } from './clients.js';
import { intParam, param, type Query } from './params.js';

/** One device of GET /api/devices. */
export interface DeviceJson {
  endpoint: string;
  /** Registered now. */
  online: boolean;
  sleeping: boolean;
  queueMode: boolean;
  /** ISO 8601 of the last Register/Update, while registered. */
  lastUpdate?: string;
  /** ISO 8601: when an offline device was last heard of (its de-registration or expiry). */
  lastSeen?: string;
  /** "host:port", while registered. */
  address?: string;
  lwM2mVersion?: string;
  /** The credential's mode, else 'nosec' for a plain CoAP registration. */
  securityMode?: InventorySecurityMode;
  /** ISO 8601: when the current credential was set. */
  credentialCreatedAt?: string;
  firmwareVersion?: string;
  /** Object 5 State (/5/0/3). */
  fwState?: number;
}

export interface DeviceRoutesOptions {
  inventory: DeviceInventory;
  isSleeping: (endpoint: string) => boolean;
}

/** `securityMode` filter values: `none` names NoSec devices. */
export const SECURITY_MODE_FILTERS = ['psk', 'rpk', 'x509', 'none'] as const;

/** Converts an inventory entry. */
export function deviceToJson(e: InventoryEntry, sleeping: boolean): DeviceJson {
  const reg = e.reg;
  const out: DeviceJson = { endpoint: e.endpoint, online: reg !== undefined, sleeping: reg !== undefined && sleeping, queueMode: reg?.queueMode ?? false };
  if (reg) {
    out.lastUpdate = new Date(reg.lastUpdate).toISOString();
    out.address = reg.address.includes(':') ? `[${reg.address}]:${reg.port}` : `${reg.address}:${reg.port}`;
    out.lwM2mVersion = reg.lwm2mVersion;
  }
  else if (!Number.isNaN(e.lastSeen)) out.lastSeen = new Date(e.lastSeen).toISOString();
  const mode = securityModeOf(e);
  if (mode !== undefined) out.securityMode = mode;
  if (!Number.isNaN(e.credentialCreatedAt)) out.credentialCreatedAt = new Date(e.credentialCreatedAt).toISOString();
  if (e.firmwareVersion !== undefined) out.firmwareVersion = e.firmwareVersion;
  if (e.fwState !== undefined) out.fwState = e.fwState;
  return out;
}

/** The filters of a GET /api/devices query string; throws ApiError 400 naming the bad parameter. */
export function deviceQueryOf(q: Query): InventoryQuery {
  const out: InventoryQuery = {
    offset: intParam(q, 'offset', 0),
    limit: Math.min(intParam(q, 'limit', DEFAULT_PAGE_LIMIT), MAX_PAGE_LIMIT),
  };
  const search = param(q, 'search');
  if (search) out.search = search;
  const online = strictBool(q, 'online');
  if (online !== undefined) out.online = online;
  const queueMode = strictBool(q, 'queueMode');
  if (queueMode !== undefined) out.queueMode = queueMode;
  const fw = param(q, 'firmwareVersion');
  if (fw !== undefined && fw !== '') out.firmwareVersion = fw;
  const mode = param(q, 'securityMode');
  if (mode !== undefined && mode !== '') {
    if (!(SECURITY_MODE_FILTERS as readonly string[]).includes(mode)) throw new ApiError(400, `securityMode must be one of ${SECURITY_MODE_FILTERS.join(', ')}, got "${mode}"`);
    out.securityMode = mode === 'none' ? 'nosec' : (mode as InventorySecurityMode);
  }
  const older = days(q, 'credentialOlderThan');
  if (older !== undefined) out.credentialOlderThan = older;
  const newer = days(q, 'credentialNewerThan');
  if (newer !== undefined) out.credentialNewerThan = newer;
  return out;
}

function strictBool(q: Query, name: string): boolean | undefined {
  const v = param(q, name);
  if (v === undefined || v === '') return undefined;
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw new ApiError(400, `${name} must be true or false, got "${v}"`);
}

function days(q: Query, name: string): number | undefined {
  const v = param(q, name);
  if (v === undefined || v === '') return undefined;
  if (!/^\d{1,6}(\.\d{1,6})?$/.test(v)) throw new ApiError(400, `${name} must be a non-negative number of days, got "${v}"`);
  return Number(v);
}

/** Registers GET /api/devices and GET /api/devices/firmware-versions. */
export function deviceRoutes(app: FastifyInstance, opts: DeviceRoutesOptions): void {
  const { inventory, isSleeping } = opts;
  app.get('/api/devices', async (req: FastifyRequest<{ Querystring: Query }>, reply: FastifyReply) => {
    const { total, items } = inventory.query(deviceQueryOf(req.query));
    reply.header('X-Total-Count', String(total));
    return items.map((e) => deviceToJson(e, e.reg !== undefined && e.reg.queueMode && isSleeping(e.endpoint)));
  });
  app.get('/api/devices/firmware-versions', async () => inventory.firmwareVersions());
}
