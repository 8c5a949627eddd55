/**
 * Server-sent events (WHATWG HTML §9.2) at /api/event?ep=: registrations, queue-mode state,
 * notifications and Send, as `event: NAME` / `data: <json>` frames.
 */
import type { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { DeviceManagement, Notification, Registration, SendData } from '../server/types.js';
import { statusName } from './device-response.js';
import { nodeToJson, pathNodesToJson } from './node-json.js';
import { registrationToJson } from './registration-json.js';
import type { AuditEvent, AuditLog, RequestAudit, RequestAuditEntry } from '../store/index.js';
import { principalOf } from './auth.js';
import { auditJson } from './credentials.js';
import { requestAuditJson } from './request-audit.js';
import { deviceToJson } from './devices.js';
import type { DeviceInventory } from '../server/inventory.js';
import type { FirmwareRepository } from '../firmware/index.js';

export type EventName =
  | 'REGISTRATION' | 'UPDATED' | 'DEREGISTRATION' | 'SLEEPING' | 'AWAKE' | 'NOTIFICATION' | 'SEND'
  /** A firmware campaign changed state or progressed (its summary); to streams without `?ep=`. */
  | 'CAMPAIGN'
  /** A device of a firmware campaign moved (`campaignId`, `endpoint`, `state`, `updateResult`, `lastError` ...). */
  | 'FIRMWARE'
  /**
   * A credential rotation campaign changed (`{"kind": "campaign", ...summary}`, to streams without `?ep=`) or one of
   * its devices moved (`{"kind": "device", campaignId, endpoint, state, attempts, lastError ...}`, the device's own
   * stream too).
   */
  | 'ROTATION'
  /**
   * Recorded in an audit: a credential event (`{"source": "credential", ...}`, also to its device's stream) or, on
   * admins' streams without `?ep=` only, a state-changing API request (`{"source": "request", ...}`).
   */
  | 'AUDIT'
  /** A device's inventory entry changed (`GET /api/devices` JSON, or `{"endpoint", "removed": true}`); also to its stream. */
  | 'DEVICE'
  /** A firmware package was stored or removed (`{"id", "removed"}`); to streams without `?ep=`. */
  | 'PACKAGE';

/** NOTIFICATION data. */
export interface NotificationEventJson {
  ep: string;
  kind: 'single' | 'composite';
  /** The observed path; for composite observations, the paths joined by ",". */
  res: string;
  observationId: string;
  status: string;
  val?: unknown;
}

/** Formats one SSE frame. JSON.stringify never emits a raw newline, so one `data:` line suffices. */
export function sseFrame(event: EventName, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** NOTIFICATION data for a notification. */
export function notificationToJson(n: Notification): NotificationEventJson {
  const composite = n.contents !== undefined || n.paths.length !== 1;
  const out: NotificationEventJson = {
    ep: n.endpoint,
    kind: composite ? 'composite' : 'single',
    res: n.paths.map(String).join(','),
    observationId: n.observationId,
    status: statusName(n.code),
  };
  if (n.content !== undefined) out.val = nodeToJson(n.content);
  else if (n.contents !== undefined) out.val = pathNodesToJson(n.contents);
  return out;
}

/** SEND data: `{"ep": ..., "val": {"/3/0/1": <node>, ...}}`. */
export function sendToJson(s: SendData): { ep: string; val: unknown } {
  return { ep: s.endpoint, val: pathNodesToJson(s.contents) };
}

export interface EventsOptions {
  server: DeviceManagement;
  isSleeping: (endpoint: string) => boolean;
  /** Comment heartbeat period (default 15 s) that keeps proxies from closing an idle stream. */
  heartbeatMs?: number;
  /** Firmware campaigns: their 'campaign' and 'device' events become CAMPAIGN and FIRMWARE. */
  campaigns?: Pick<EventEmitter, 'on' | 'off'>;
  /** Rotation campaigns (RotationManager): 'started', 'device' and 'finished' become ROTATION events. */
  rotation?: RotationEvents;
  /** The credential audit: each event becomes an AUDIT event (`source: "credential"`). */
  audit?: Pick<AuditLog, 'changes'>;
  /** The request audit: each entry becomes an AUDIT event (`source: "request"`) on admins' streams only, as its route. */
  requestAudit?: Pick<RequestAudit, 'changes'>;
  /** The device inventory: each changed entry becomes a DEVICE event. */
  inventory?: Pick<DeviceInventory, 'changes' | 'get'>;
  /** The firmware repository: each package stored or removed becomes a PACKAGE event. */
  packages?: Pick<FirmwareRepository, 'changes'>;
}

/** What the event stream needs of RotationManager. */
export interface RotationEvents extends Pick<EventEmitter, 'on' | 'off'> {
  summary(id: number): object | undefined;
}

/** Campaign summaries follow device moves at most this often (a summary counts the campaign's devices). */
const ROTATION_SUMMARY_MS = 250;

interface Subscriber {
  readonly ep: string | undefined;
  readonly res: ServerResponse;
  readonly admin: boolean;
}

/**
 * Registers GET /api/event. One set of listeners on the server fans out to every open stream;
 * a stream leaves the set when its client disconnects, and all streams end when the app closes.
 */
export function registerEvents(app: FastifyInstance, opts: EventsOptions): void {
  const { server, isSleeping } = opts;
  const heartbeatMs = opts.heartbeatMs ?? 15_000;
  const subscribers = new Set<Subscriber>();
  let heartbeat: NodeJS.Timeout | undefined;

  /** To every stream, or with `ep` to the streams that follow that endpoint and those that follow every one. */
  const broadcast = (ep: string | undefined, event: EventName, data: unknown): void => {
    if (subscribers.size === 0) return;
    const frame = sseFrame(event, data);
    for (const s of subscribers) if (s.ep === undefined || s.ep === ep) s.res.write(frame);
  };
  const onReg = (event: EventName) => (reg: Registration) => {
    if (subscribers.size > 0) broadcast(reg.endpoint, event, registrationToJson(reg, isSleeping(reg.endpoint)));
  };
  const listeners: [string, Parameters<DeviceManagement['on']>[1]][] = [
    ['registered', onReg('REGISTRATION')],
    ['updated', onReg('UPDATED')],
    ['deregistered', onReg('DEREGISTRATION')],
    ['sleeping', onReg('SLEEPING')],
    ['awake', onReg('AWAKE')],
    ['notification', (n: Notification) => subscribers.size > 0 && broadcast(n.endpoint, 'NOTIFICATION', notificationToJson(n))],
    ['send', (s: SendData) => subscribers.size > 0 && broadcast(s.endpoint, 'SEND', sendToJson(s))],
  ];

  const onCampaign = (summary: unknown): void => broadcast(undefined, 'CAMPAIGN', summary);
  const onCampaignDevice = (d: { endpoint: string }): void => broadcast(d.endpoint, 'FIRMWARE', d);

  const rotation = opts.rotation;
  const rotationDue = new Map<number, NodeJS.Timeout>();
  const rotationSummary = (id: number): void => {
    clearTimeout(rotationDue.get(id));
    rotationDue.delete(id);
    const s = rotation?.summary(id);
    if (s) broadcast(undefined, 'ROTATION', { kind: 'campaign', ...s });
  };
  const onRotationCampaign = (s: { id: number }): void => {
    clearTimeout(rotationDue.get(s.id));
    rotationDue.delete(s.id);
    broadcast(undefined, 'ROTATION', { kind: 'campaign', ...s });
  };
  const onRotationDevice = (d: { campaignId: number; endpoint: string }): void => {
    broadcast(d.endpoint, 'ROTATION', { kind: 'device', ...d });
    if (!rotationDue.has(d.campaignId)) rotationDue.set(d.campaignId, setTimeout(rotationSummary, ROTATION_SUMMARY_MS, d.campaignId));
  };

  const onAudit = (e: AuditEvent): void => broadcast(e.endpoint, 'AUDIT', { source: 'credential', ...auditJson(e) });
  const onRequestAudit = (e: RequestAuditEntry): void => {
    let frame: string | undefined;
    for (const s of subscribers) if (s.admin && s.ep === undefined) s.res.write((frame ??= sseFrame('AUDIT', { source: 'request', ...requestAuditJson(e) })));
  };
  const onDevice = (ep: string): void => {
    if (subscribers.size === 0) return;
    const e = opts.inventory!.get(ep);
    broadcast(ep, 'DEVICE', e ? deviceToJson(e, isSleeping(ep)) : { endpoint: ep, removed: true });
  };
  const onPackage = (p: { id: string; removed: boolean }): void => broadcast(undefined, 'PACKAGE', p);
  let unwatch: (() => void)[] = [];

  const attach = (): void => {
    for (const [name, fn] of listeners) server.on(name, fn);
    if (opts.audit) unwatch.push(opts.audit.changes.watch(onAudit));
    if (opts.requestAudit) unwatch.push(opts.requestAudit.changes.watch(onRequestAudit));
    if (opts.inventory) unwatch.push(opts.inventory.changes.watch(onDevice));
    if (opts.packages) unwatch.push(opts.packages.changes.watch(onPackage));
    opts.campaigns?.on('campaign', onCampaign);
    opts.campaigns?.on('device', onCampaignDevice);
    rotation?.on('started', onRotationCampaign);
    rotation?.on('finished', onRotationCampaign);
    rotation?.on('device', onRotationDevice);
    heartbeat = setInterval(() => {
      for (const s of subscribers) s.res.write(': heartbeat\n\n');
    }, heartbeatMs);
    heartbeat.unref();
  };
  const detach = (): void => {
    for (const [name, fn] of listeners) server.off(name, fn);
    for (const fn of unwatch) fn();
    unwatch = [];
    opts.campaigns?.off('campaign', onCampaign);
    opts.campaigns?.off('device', onCampaignDevice);
    rotation?.off('started', onRotationCampaign);
    rotation?.off('finished', onRotationCampaign);
    rotation?.off('device', onRotationDevice);
    for (const t of rotationDue.values()) clearTimeout(t);
    rotationDue.clear();
    clearInterval(heartbeat);
    heartbeat = undefined;
  };
  const remove = (s: Subscriber): void => {
    if (!subscribers.delete(s)) return;
    if (subscribers.size === 0) detach();
  };

  // No automatic HEAD route: a HEAD must not open a stream.
  app.get('/api/event', { exposeHeadRoute: false }, (req: FastifyRequest<{ Querystring: { ep?: string | string[] } }>, reply: FastifyReply) => {
    const raw = req.query.ep;
    const ep = Array.isArray(raw) ? raw[0] : raw === '' ? undefined : raw;
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      Connection: 'keep-alive',
      'X-Content-Type-Options': 'nosniff',
      'X-Frame-Options': 'DENY',
      'Referrer-Policy': 'no-referrer',
      // Tell buffering reverse proxies (nginx) to pass frames through as they come.
      'X-Accel-Buffering': 'no',
    });
    res.write(': connected\n\n');
    const s: Subscriber = { ep, res, admin: principalOf(req)?.role === 'admin' };
    if (subscribers.size === 0) attach();
    subscribers.add(s);
    res.on('close', () => remove(s));
  });

  app.addHook('preClose', (done) => {
    for (const s of [...subscribers]) {
      remove(s);
      s.res.end();
    }
    done();
  });
}
