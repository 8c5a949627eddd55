/**
 * Prometheus metrics in the text exposition format 0.0.4: registrations, API requests, device requests, DTLS
 * handshakes and firmware campaign progress. Recording is a Map increment (no formatting); text is built only when
 * `/metrics` is scraped. `/metrics` sits behind the API authentication like every route but /healthz: scrape it with
 * a token, e.g. in prometheus.yml
 *
 *     scrape_configs:
 *       - job_name: warden
 *         authorization: { type: Bearer, credentials_file: /etc/prometheus/warden-token }
 *         static_configs: [{ targets: ['127.0.0.1:8080'] }]
 */
import type { FastifyInstance, onResponseHookHandler, RouteOptions } from 'fastify';
import type { DeviceManagement, Registration } from '../server/types.js';
import { ServerError } from '../server/index.js';
import { statusName } from './device-response.js';

/** Histogram upper bounds of API request durations, seconds (device requests may wait up to 300 s). */
export const DURATION_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/** Content-Type of the exposition format. */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** What the campaign gauges are read from at scrape time (FirmwareCampaignManager). */
export interface CampaignSource {
  list(limit?: number): { id: number; state: string; counts: Readonly<Record<string, number>> }[];
}

interface Histogram {
  /** Per bucket, not cumulative (cumulated when rendered); the last slot is +Inf. */
  readonly counts: Float64Array;
  sum: number;
  count: number;
}

/** The counters of one method and route pattern, with its label strings built once. */
export interface RouteStats {
  /** Counter keys by status class (index 1..5 for 1xx..5xx). */
  readonly keys: readonly string[];
  readonly histogram: Histogram;
}

/** Escapes a label value (exposition format: backslash, double quote and line feed). */
export function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function formatNumber(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return '+Inf';
  if (n === -Infinity) return '-Inf';
  return String(n);
}

function inc(map: Map<string, number>, key: string, by = 1): void {
  map.set(key, (map.get(key) ?? 0) + by);
}

const DEVICE_OPERATIONS = [
  'read', 'write', 'execute', 'create', 'delete', 'discover', 'writeAttributes', 'observe', 'readComposite', 'writeComposite', 'observeComposite',
] as const;

/** Counters and gauges of one Warden process. */
export class Metrics {
  /** Registrations now, indexed by (secure ? 2 : 0) + (queueMode ? 1 : 0). */
  private readonly registrations = [0, 0, 0, 0];
  private readonly registrationEvents = new Map<string, number>();
  /** Key: rendered labels `method="GET",route="/api/clients",status="2xx"`. */
  private readonly apiRequests = new Map<string, number>();
  private readonly apiDurations = new Map<string, Histogram>();
  private readonly routeStats = new Map<string, RouteStats>();
  private readonly deviceRequests = new Map<string, number>();
  private readonly dtlsHandshakes = new Map<string, number>();
  private readonly codeNames = new Map<number, string>();
  private campaigns: CampaignSource | undefined;
  private readonly buckets: readonly number[];

  constructor(opts: { buckets?: readonly number[] } = {}) {
    this.buckets = opts.buckets ?? DURATION_BUCKETS;
  }

  /** The counters of `method` on the route pattern `route` (never a raw URL: label values stay bounded). */
  route(method: string, route: string): RouteStats {
    const labels = `method="${escapeLabel(method)}",route="${escapeLabel(route)}"`;
    let stats = this.routeStats.get(labels);
    if (stats === undefined) {
      const histogram = { counts: new Float64Array(this.buckets.length + 1), sum: 0, count: 0 };
      this.apiDurations.set(labels, histogram);
      stats = { keys: [0, 1, 2, 3, 4, 5].map((c) => `${labels},status="${c}xx"`), histogram };
      this.routeStats.set(labels, stats);
    }
    return stats;
  }

  /** One API request answered (no allocation: the keys are those of `stats`). */
  record(stats: RouteStats, status: number, seconds: number): void {
    const cls = Math.floor(status / 100);
    inc(this.apiRequests, stats.keys[cls >= 1 && cls <= 5 ? cls : 0]!);
    const h = stats.histogram;
    let i = 0;
    while (i < this.buckets.length && seconds > this.buckets[i]!) i++;
    h.counts[i]!++;
    h.sum += seconds;
    h.count++;
  }

  /** One API request answered (looks the route's counters up: `record` with kept RouteStats is cheaper). */
  apiRequest(method: string, route: string, status: number, seconds: number): void {
    this.record(this.route(method, route), status, seconds);
  }

  /** One request to a device finished: `result` is the LwM2M response name ("CONTENT") or the ServerError code ("TIMEOUT"). */
  deviceRequest(source: string, operation: string, result: string): void {
    inc(this.deviceRequests, `source="${escapeLabel(source)}",operation="${operation}",result="${escapeLabel(result)}"`);
  }

  /** A completed DTLS handshake (the server's onHandshake). */
  dtlsHandshake(listener: string, e: { identity?: { mode: string }; resumed: boolean }): void {
    inc(this.dtlsHandshakes, `listener="${escapeLabel(listener)}",result="${e.resumed ? 'resumed' : 'success'}",reason="${escapeLabel(e.identity?.mode ?? 'none')}"`);
  }

  /** A failed DTLS handshake (the server's onHandshakeFailure): the reason is the alert's name, else "error". */
  dtlsHandshakeFailed(listener: string, e: { alert: Error }): void {
    const a = e.alert as Error & { code?: unknown };
    const reason = a.name === 'DtlsAlert' && typeof a.code === 'string' ? a.code : 'error';
    inc(this.dtlsHandshakes, `listener="${escapeLabel(listener)}",result="failure",reason="${escapeLabel(reason)}"`);
  }

  /** Reads campaign progress from `source` at each scrape. */
  trackCampaigns(source: CampaignSource): void {
    this.campaigns = source;
  }

  /** Follows the server's registrations (counting those it already has); returns the function that stops it. */
  trackServer(server: DeviceManagement): () => void {
    const slot = (r: Registration): number => (r.secure ? 2 : 0) + (r.queueMode ? 1 : 0);
    for (const r of server.listRegistrations({ limit: Number.MAX_SAFE_INTEGER })) this.registrations[slot(r)]!++;
    const onRegistered = (r: Registration): void => {
      this.registrations[slot(r)]!++;
      inc(this.registrationEvents, 'kind="registered"');
    };
    const onUpdated = (r: Registration, previous?: Registration): void => {
      if (previous) {
        this.registrations[slot(previous)]!--;
        this.registrations[slot(r)]!++;
      }
      inc(this.registrationEvents, 'kind="updated"');
    };
    const onDeregistered = (r: Registration, reason?: string): void => {
      this.registrations[slot(r)]!--;
      inc(this.registrationEvents, `kind="${reason === 'expired' || reason === 'replaced' ? reason : 'deregistered'}"`);
    };
    server.on('registered', onRegistered);
    server.on('updated', onUpdated);
    server.on('deregistered', onDeregistered);
    return () => {
      server.off('registered', onRegistered);
      server.off('updated', onUpdated);
      server.off('deregistered', onDeregistered);
    };
  }

  /** The LwM2M name of a response code ("CONTENT"), cached. */
  codeName(code: number): string {
    let name = this.codeNames.get(code);
    if (name === undefined) {
      name = statusName(code).replace(/\(.*$/, '');
      this.codeNames.set(code, name);
    }
    return name;
  }

  /** The exposition text. */
  render(): string {
    const out: string[] = [];
    const family = (name: string, type: string, help: string): void => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    };
    const samples = (name: string, map: Map<string, number>): void => {
      for (const [labels, v] of map) out.push(`${name}{${labels}} ${formatNumber(v)}`);
    };

    family('warden_registrations', 'gauge', 'Devices registered now, by DTLS (secure) and queue mode.');
    for (let i = 0; i < 4; i++) out.push(`warden_registrations{secure="${i >= 2}",queue_mode="${i % 2 === 1}"} ${this.registrations[i]}`);
    family('warden_registration_events_total', 'counter', 'Registration events: registered, updated, deregistered, expired, replaced.');
    samples('warden_registration_events_total', this.registrationEvents);

    family('warden_api_requests_total', 'counter', 'API requests by method, route pattern and status class.');
    samples('warden_api_requests_total', this.apiRequests);
    family('warden_api_request_duration_seconds', 'histogram', 'API request durations by method and route pattern.');
    for (const [labels, h] of this.apiDurations) {
      let cumulative = 0;
      for (let i = 0; i < this.buckets.length; i++) {
        cumulative += h.counts[i]!;
        out.push(`warden_api_request_duration_seconds_bucket{${labels},le="${formatNumber(this.buckets[i]!)}"} ${cumulative}`);
      }
      out.push(`warden_api_request_duration_seconds_bucket{${labels},le="+Inf"} ${h.count}`);
      out.push(`warden_api_request_duration_seconds_sum{${labels}} ${formatNumber(h.sum)}`);
      out.push(`warden_api_request_duration_seconds_count{${labels}} ${h.count}`);
    }

    family('warden_device_requests_total', 'counter', 'Requests to devices by source, operation and result (LwM2M response or error code).');
    samples('warden_device_requests_total', this.deviceRequests);
    family('warden_dtls_handshakes_total', 'counter', 'DTLS handshakes by listener and result; reason: the credential mode, or the alert of a failure.');
    samples('warden_dtls_handshakes_total', this.dtlsHandshakes);

    const campaigns = this.campaigns?.list() ?? [];
    family('warden_firmware_campaign_devices', 'gauge', 'Devices of each recent firmware campaign, by campaign and device state.');
    for (const c of campaigns) {
      for (const [state, n] of Object.entries(c.counts)) out.push(`warden_firmware_campaign_devices{campaign="${c.id}",state="${escapeLabel(state)}"} ${n}`);
    }
    family('warden_firmware_campaign_state', 'gauge', 'The state of each recent firmware campaign (1 for its current state).');
    for (const c of campaigns) out.push(`warden_firmware_campaign_state{campaign="${c.id}",state="${escapeLabel(c.state)}"} 1`);
    return `${out.join('\n')}\n`;
  }
}

/**
 * The same server, its device requests counted into `metrics` by operation and result. Other members pass through
 * (bound once, so EventEmitter state stays on the server).
 */
export function countDeviceRequests<T extends DeviceManagement>(server: T, metrics: Metrics, source: string): T {
  const wrapped = new Map<PropertyKey, unknown>();
  for (const op of DEVICE_OPERATIONS) {
    const fn = server[op] as (...args: unknown[]) => Promise<{ code: number }>;
    wrapped.set(op, async (...args: unknown[]) => {
      try {
        const res = await fn.apply(server, args);
        metrics.deviceRequest(source, op, metrics.codeName(res.code));
        return res;
      } catch (err) {
        metrics.deviceRequest(source, op, err instanceof ServerError ? err.code : 'ERROR');
        throw err;
      }
    });
  }
  return new Proxy(server, {
    get(target, prop) {
      const w = wrapped.get(prop);
      if (w !== undefined) return w;
      const v: unknown = Reflect.get(target, prop, target);
      if (typeof v !== 'function') return v;
      const bound = (v as (...a: unknown[]) => unknown).bind(target);
      wrapped.set(prop, bound);
      return bound;
    },
  });
}

/**
 * Registers `GET /metrics` and the hooks counting every API request by route pattern (`unmatched` for 404s). Call
 * before the routes: each route gets its own onResponse hook holding its counters, so a request costs a Map increment.
 */
export function metricsRoutes(app: FastifyInstance, metrics: Metrics): void {
  app.addHook('onRoute', (route: RouteOptions) => {
    for (const method of Array.isArray(route.method) ? route.method : [route.method]) {
      const stats = metrics.route(method, route.url);
      const hook: onResponseHookHandler = (req, reply, done) => {
        if (req.method === method) metrics.record(stats, reply.statusCode, reply.elapsedTime / 1000);
        done();
      };
      route.onResponse = route.onResponse === undefined ? [hook] : [...(Array.isArray(route.onResponse) ? route.onResponse : [route.onResponse]), hook];
    }
  });
  const unmatched = new Map<string, RouteStats>();
  app.addHook('onResponse', (req, reply, done) => {
    if (req.is404) {
      let stats = unmatched.get(req.method);
      if (stats === undefined) unmatched.set(req.method, (stats = metrics.route(req.method, 'unmatched')));
      metrics.record(stats, reply.statusCode, reply.elapsedTime / 1000);
    }
    done();
  });
  app.get('/metrics', async (_req, reply) => reply.type(METRICS_CONTENT_TYPE).send(metrics.render()));
}
