/**
 * Firmware campaigns over REST:
 * `POST /api/campaigns` (body `{"package": ID, "target": {"group": G} | {"filter": {"endpoint": GLOB, "version": V,
 * "attributes": {...}}}, "canary": "5%", "waves": ["25%", "50%", "100%"], "maxConcurrent": 50, "successThreshold": "95%",
 * "errorThreshold": "5%", "minSample": 5, "delivery": "pull"|"push", "scheme": "coap", "maxAttempts": 3}`; shares are
 * percentages as numbers or "N%") creates a campaign; `POST /api/campaigns/:id/start|pause|resume|cancel` drive it;
 * `GET /api/campaigns[/:id]` list or show one with each device; `GET /api/campaigns/:id/devices/:ep` one device's
 * state and history.
 */
import type { EventEmitter } from 'node:events';
import type { FastifyInstance } from 'fastify';
import {
  CampaignError,
  DEVICE_FIRMWARE_STATES,
  parseShare,
  type CampaignDeviceStatus,
  type CampaignHistoryEntry,
  type CampaignSettings,
  type CampaignTarget,
  type DeviceCampaignRecord,
  type FirmwareCampaignStatus,
  type FirmwareCampaignSummary,
} from '../firmware/index.js';
import { ApiError } from './api-error.js';
import { devicePageParam, type Query } from './params.js';
import type { DevicePage } from '../store/campaign-devices.js';

/** What the routes (and the event stream: its 'campaign' and 'device' events) need of FirmwareCampaignManager. */
export interface CampaignHost extends Pick<EventEmitter, 'on' | 'off'> {
  create(packageId: string, target: CampaignTarget, settings?: Partial<CampaignSettings>, actor?: string): Promise<FirmwareCampaignSummary>;
  start(id: number): Promise<FirmwareCampaignSummary>;
  pause(id: number, reason?: string): FirmwareCampaignSummary;
  resumeCampaign(id: number): FirmwareCampaignSummary;
  cancel(id: number): Promise<FirmwareCampaignSummary>;
  status(id: number, page?: DevicePage): FirmwareCampaignStatus | undefined;
  list(limit?: number): FirmwareCampaignSummary[];
  device(id: number, endpoint: string): (CampaignDeviceStatus & { history: CampaignHistoryEntry[] }) | undefined;
  deviceHistory(endpoint: string, limit?: number): (CampaignHistoryEntry & { campaignId: number })[];
  deviceCampaigns(endpoint: string, limit?: number): DeviceCampaignRecord[];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parses the body of POST /api/campaigns; throws ApiError 400 naming the problem. */
export function campaignRequestFromJson(body: unknown): { packageId: string; target: CampaignTarget; settings: Partial<CampaignSettings> } {
  if (!isObject(body)) throw new ApiError(400, 'body must be a JSON object with "package" and "target"');
  if (typeof body.package !== 'string' || body.package === '') throw new ApiError(400, '"package" must be a package id');
  const t = body.target;
  let target: CampaignTarget;
  if (isObject(t) && typeof t.group === 'string' && t.group !== '' && t.filter === undefined) target = { group: t.group };
  else if (isObject(t) && isObject(t.filter) && t.group === undefined) {
    const f = t.filter;
    const filter: { endpoint?: string; version?: string; attributes?: Record<string, string> } = {};
    for (const k of ['endpoint', 'version'] as const) {
      if (f[k] === undefined) continue;
      if (typeof f[k] !== 'string' || f[k] === '') throw new ApiError(400, `"target.filter.${k}" must be a non-empty string`);
      filter[k] = f[k];
    }
    if (f.attributes !== undefined) {
      if (!isObject(f.attributes) || Object.values(f.attributes).some((v) => typeof v !== 'string')) throw new ApiError(400, '"target.filter.attributes" must map names to strings');
      filter.attributes = f.attributes as Record<string, string>;
    }
    target = { filter };
  } else {
    throw new ApiError(400, '"target" must be {"group": NAME} or {"filter": {"endpoint": GLOB, "version": V, "attributes": {...}}}');
  }
  const settings: Partial<CampaignSettings> = {};
  try {
    for (const k of ['canary', 'successThreshold', 'errorThreshold'] as const) if (body[k] !== undefined) settings[k] = parseShare(body[k], k);
    if (body.waves !== undefined) {
      const list = typeof body.waves === 'string' ? body.waves.split(',') : body.waves;
      if (!Array.isArray(list)) throw new ApiError(400, '"waves" must be a list of percentages');
      settings.waves = list.map((w) => parseShare(w, 'a wave'));
    }
  } catch (err) {
    if (err instanceof CampaignError) throw new ApiError(400, err.message);
    throw err;
  }
  for (const k of ['maxConcurrent', 'minSample', 'maxAttempts'] as const) {
    const v = body[k];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 1_000_000) throw new ApiError(400, `"${k}" must be a positive integer`);
    settings[k] = v;
  }
  if (body.delivery !== undefined) {
    if (body.delivery !== 'pull' && body.delivery !== 'push') throw new ApiError(400, '"delivery" must be "pull" or "push"');
    settings.delivery = body.delivery;
  }
  if (body.scheme !== undefined) {
    if (typeof body.scheme !== 'string') throw new ApiError(400, '"scheme" must be a URI scheme');
    settings.scheme = body.scheme;
  }
  return { packageId: body.package, target, settings };
}

function mapError(err: unknown): never {
  if (err instanceof CampaignError) {
    const status = { NOT_FOUND: 404, UNKNOWN_GROUP: 404, UNKNOWN_PACKAGE: 404, NO_DEVICES: 409, WRONG_STATE: 409, INVALID: 400 }[err.code];
    throw new ApiError(status, err.message);
  }
  throw err;
}

function idOf(raw: string): number {
  if (!/^\d+$/.test(raw)) throw new ApiError(400, 'campaign id must be a number');
  return Number(raw);
}

export function campaignsRoutes(app: FastifyInstance, opts: { campaigns: CampaignHost }): void {
  const { campaigns } = opts;
  app.post('/api/campaigns', async (req, reply) => {
    const r = campaignRequestFromJson(req.body);
    const s = await campaigns.create(r.packageId, r.target, r.settings, 'api').catch(mapError);
    return reply.code(201).header('location', `/api/campaigns/${s.id}`).send(s);
  });
  app.get('/api/campaigns', async () => campaigns.list());
  app.get<{ Params: { id: string }; Querystring: Query }>('/api/campaigns/:id', async (req) => {
    const s = campaigns.status(idOf(req.params.id), devicePageParam(req.query, DEVICE_FIRMWARE_STATES));
    if (!s) throw new ApiError(404, `no campaign ${req.params.id}`);
    return s;
  });
  app.get<{ Params: { id: string; ep: string } }>('/api/campaigns/:id/devices/:ep', async (req) => {
    const d = campaigns.device(idOf(req.params.id), req.params.ep);
    if (!d) throw new ApiError(404, `no device ${req.params.ep} in campaign ${req.params.id}`);
    return d;
  });
  app.post<{ Params: { id: string; action: string } }>('/api/campaigns/:id/:action', async (req) => {
    const id = idOf(req.params.id);
    try {
      switch (req.params.action) {
        case 'start':
          return await campaigns.start(id);
        case 'pause':
          return campaigns.pause(id);
        case 'resume':
          return campaigns.resumeCampaign(id);
        case 'cancel':
          return await campaigns.cancel(id);
        default:
          throw new ApiError(404, `no action ${req.params.action}: start, pause, resume or cancel`);
      }
    } catch (err) {
      return mapError(err);
    }
  });
}
