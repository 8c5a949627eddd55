/** The REST API (Fastify): registrations, device operations, events; every route but /healthz needs credentials (auth.ts). */
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import type { Model } from '../lwm2m/index.js';
import type { DeviceManagement, Registration } from '../server/types.js';
import { silentLogger, type Logger } from '../log.js';
import { ApiError, toApiError } from './api-error.js';
import { installAuth } from './auth.js';
import { LoginLimiter, type LoginLimits } from './login-limiter.js';
import { sessionRoutes } from './sessions.js';
import { tokenRoutes } from './tokens.js';
import { userRoutes } from './users.js';
import { registerClientRoutes } from './clients.js';
import { deviceRoutes } from './devices.js';
import type { DeviceInventory } from '../server/inventory.js';
import { registerEvents } from './events.js';
import { securityRoutes } from './security.js';
import { bootstrapRoutes, type BootstrapApiHost } from './bootstrap.js';
import { credentialsRoutes, type CredentialsApiOptions } from './credentials.js';
import { certificatesRoutes, type CertificatesApiOptions } from './certificates.js';
import { campaignsRoutes, type CampaignHost } from './campaigns.js';
import { firmwareRoutes, type FirmwareApiOptions } from './firmware.js';
import type { ApiTokenStore, DeviceEventLog, RequestAudit, SecurityStore, SessionStore, UserStore } from '../store/index.js';
import { requestAuditRoutes } from './request-audit.js';
import { deviceDetailRoutes } from './device-detail.js';
import { AJV_OPTIONS, installSchemas, openApiRoute } from './openapi.js';
import { countDeviceRequests, Metrics, metricsRoutes } from './metrics.js';
import { CONSOLE_PUBLIC_ROUTES, consoleRoutes, hasConsole } from './static.js';

export { ApiError, toApiError } from './api-error.js';
export { TokenChecker, authHook, installAuth, registeredRoutes, requiredAccess, principalOf, csrfTokenFor, sessionCookieName, ACCESS_RULES, BUILTIN_USER, type Access, type AuthOptions, type Principal, type RouteEntry } from './auth.js';
export { LoginLimiter, DEFAULT_LOGIN_LIMITS, type LoginLimits, type LoginRefusal } from './login-limiter.js';
export { apiTokenToJson } from './tokens.js';
export { userToJson } from './users.js';
export { statusName, deviceResponseToJson, linksToJson, type DeviceResponseJson, type LinkJson } from './device-response.js';
export { notificationToJson, sendToJson, sseFrame, type EventName, type NotificationEventJson, type RotationEvents } from './events.js';
export { ageBoundsFromParam, credentialAgesToJson, DEFAULT_AGE_BUCKETS, type CredentialAgeSource, type CredentialsApiOptions, type RotationHost } from './credentials.js';
export * from './node-json.js';
export { registrationToJson, type RegistrationJson } from './registration-json.js';
export { deviceRoutes, deviceToJson, deviceQueryOf, SECURITY_MODE_FILTERS, type DeviceJson, type DeviceRoutesOptions } from './devices.js';
export { firmwareApiError, firmwarePackageToJson, firmwareRoutes, type FirmwareApiOptions } from './firmware.js';
export { campaignRequestFromJson, campaignsRoutes, type CampaignHost } from './campaigns.js';
export { Metrics, countDeviceRequests, DURATION_BUCKETS, METRICS_CONTENT_TYPE, type CampaignSource } from './metrics.js';
export { buildOpenApi, describeValidationError, installSchemas, openApiRoute, routeRegistryOf, RouteRegistry, SESSION_COOKIE, type RegisteredRoute } from './openapi.js';
export { ROUTE_SCHEMAS, COMPONENT_SCHEMAS, type RouteSpec, type JsonSchema } from './schemas.js';
export { CONSOLE_CSP, CONSOLE_PUBLIC_ROUTES, consoleRoutes, defaultWebRoot, hasConsole } from './static.js';
export { deviceDetailRoutes, deviceSecurity, deviceTimeline, deviceCertificateToJson, type DeviceDetailOptions, type DeviceSecurityJson, type TimelineEntryJson } from './device-detail.js';
export { certificateToJson, type CertificateHost, type CertificateJson, type CertificatesApiOptions, type RevokeJson } from './certificates.js';

/** Request bodies above 1 MiB are refused with 413. */
export const BODY_LIMIT = 1024 * 1024;

export interface ApiOptions {
  server: DeviceManagement;
  model: Model;
  /** The admin bearer token. */
  apiToken: string;
  logger?: Logger;
  /** SSE comment heartbeat period, ms (default 15 000). */
  heartbeatMs?: number;
  /** The device inventory: serves /api/devices when given. */
  inventory?: DeviceInventory;
  /** Registration history: joins the device timeline when given. */
  deviceEvents?: Pick<DeviceEventLog, 'of'>;
  /** Device security info: serves /api/security/clients when given. */
  security?: SecurityStore;
  /** The bootstrap server: serves /api/bootstrap when given. */
  bootstrap?: BootstrapApiHost;
  /** Rotation campaigns and the audit log: serves /api/credentials/rotations and /api/audit when given. */
  credentials?: CredentialsApiOptions;
  /** The device CA and the audit log: serves /api/certificates (list, revoke) when given. */
  certificates?: CertificatesApiOptions;
  /** Firmware campaigns: serves /api/campaigns when given. */
  campaigns?: CampaignHost;
  /** The firmware repository: serves /api/firmware (upload, list, show, remove) when given. */
  firmware?: FirmwareApiOptions;
  /** Users, console sessions and API tokens: serves /api/login, /api/logout, /api/me, /api/users, /api/tokens when given. */
  access?: AccessOptions;
  /** Where /metrics counts go (the CLI shares one with its DTLS servers); default: a new one. */
  metrics?: Metrics;
  /** The built web console (a directory with index.html and assets/): served at / and /assets/* (public) when given. */
  webRoot?: string;
  /** The audit of state-changing requests: every write is recorded and GET /api/audit/requests serves it when given. */
  requestAudit?: RequestAudit;
  /** Serve HTTPS with this certificate chain and private key (PEM); session cookies are then `__Host-` and Secure. */
  https?: { cert: string | Buffer; key: string | Buffer };
}

/** Users and their credentials; without them only the built-in admin token authenticates. */
export interface AccessOptions {
  users: UserStore;
  sessions: SessionStore;
  tokens: ApiTokenStore;
  /** Login throttling (defaults: DEFAULT_LOGIN_LIMITS). */
  loginLimits?: Partial<LoginLimits>;
  /** Clock of the login throttle (tests). */
  now?: () => number;
  /** Secure, `__Host-` cookies even when the socket is plain HTTP (behind a TLS-terminating proxy). */
  secureCookies?: boolean;
}

const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

/** RFC 6797: once a browser has reached the API over HTTPS it refuses plain HTTP to that host for a year. */
const HSTS = 'max-age=31536000';

/**
 * Builds the API (not listening: the caller does `.listen({port, host})`, and may add routes first). Closing the app ends
 * open event streams and detaches from the server.
 */
export async function createApi(opts: ApiOptions): Promise<FastifyInstance> {
  const { server, model } = opts;
  const log = opts.logger ?? silentLogger;
  // Fastify's own logger stays off: requests are logged below by method, url and status only,
  // so the Authorization header can never reach a log line.
  // forceCloseConnections: close() must not wait on event streams or on sockets browsers open
  // speculatively and never use (Node's closeIdleConnections leaves those until headersTimeout).
  const app = Fastify({
    logger: false, bodyLimit: BODY_LIMIT, return503OnClosing: true, forceCloseConnections: true, ajv: AJV_OPTIONS,
    // TLS 1.2 is the floor (RFC 9325 §3.1.1); Node's defaults choose the AEAD suites.
    ...(opts.https ? { https: { cert: opts.https.cert, key: opts.https.key, minVersion: 'TLSv1.2' as const } } : {}),
  }) as FastifyInstance;

  // Queue-mode state: the server's own view when it has one, else what its events said.
  const sleeping = new Set<string>();
  const withIsSleeping = server as DeviceManagement & { isSleeping?: (ep: string) => boolean };
  const onSleeping = (reg: Registration): void => void sleeping.add(reg.endpoint);
  const onAwake = (reg: Registration): void => void sleeping.delete(reg.endpoint);
  const isSleeping =
    typeof withIsSleeping.isSleeping === 'function'
      ? (ep: string) => withIsSleeping.isSleeping!(ep)
      : (ep: string) => sleeping.has(ep);
  if (typeof withIsSleeping.isSleeping !== 'function') {
    server.on('sleeping', onSleeping);
    server.on('awake', onAwake);
    server.on('deregistered', onAwake);
    app.addHook('onClose', async () => {
      server.off('sleeping', onSleeping);
      server.off('awake', onAwake);
      server.off('deregistered', onAwake);
    });
  }

  // JSON bodies: an empty body is "no body" (execute, observe), anything else must parse.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    const text = body as string;
    if (text.trim() === '') return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch (e) {
      done(new ApiError(400, `invalid JSON body: ${(e as Error).message}`), undefined);
    }
  });

  const access = opts.access;
  const webRoot = opts.webRoot !== undefined && hasConsole(opts.webRoot) ? opts.webRoot : undefined;
  if (opts.webRoot !== undefined && webRoot === undefined) log.warn({ dir: opts.webRoot }, 'web console not built (no index.html): run npm run build');
  installAuth(app, {
    ...(webRoot !== undefined ? { publicRoutes: CONSOLE_PUBLIC_ROUTES } : {}),
    apiToken: opts.apiToken,
    ...(access ? { tokens: access.tokens, sessions: access.sessions, secureCookies: access.secureCookies } : {}),
  });
  app.addHook('onSend', async (req, reply, payload) => {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) reply.header(k, v);
    if (opts.https) reply.header('Strict-Transport-Security', HSTS);
    if (req.url.startsWith('/api')) reply.header('Cache-Control', 'no-store');
    return payload;
  });
  app.addHook('onResponse', async (req, reply) => {
    log.debug({ method: req.method, url: req.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'api request');
  });

  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send({ message: `no route ${req.method} ${req.url.split('?')[0]}` });
  });
  app.setErrorHandler((err: FastifyError | Error, req, reply) => {
    const mapped = toApiError(err, undefined);
    if (mapped !== undefined) return reply.code(mapped.statusCode).send({ message: mapped.message });
    const status = (err as FastifyError).statusCode;
    // Fastify's own client errors (413 body too large, 415 media type, 400 bad body ...).
    if (typeof status === 'number' && status >= 400 && status < 500) return reply.code(status).send({ message: err.message });
    log.error({ err, method: req.method, url: req.url }, 'api request failed');
    return reply.code(500).send({ message: 'internal error' });
  });

  // Before any route: the schema table and the request metrics see every route registered after them.
  const routes = installSchemas(app);
  const metrics = opts.metrics ?? new Metrics();
  metricsRoutes(app, metrics);
  const untrack = metrics.trackServer(server);
  app.addHook('onClose', async () => untrack());
  if (opts.campaigns) metrics.trackCampaigns(opts.campaigns);
  openApiRoute(app, routes);
  if (opts.requestAudit) requestAuditRoutes(app, { audit: opts.requestAudit });

  app.get('/healthz', async () => ({ status: 'ok' }));
  if (webRoot !== undefined) consoleRoutes(app, { root: webRoot });
  registerClientRoutes(app, { server: countDeviceRequests(server, metrics, 'api'), model, isSleeping });
  registerEvents(app, {
    server, isSleeping, heartbeatMs: opts.heartbeatMs,
    ...(opts.campaigns ? { campaigns: opts.campaigns } : {}),
    ...(opts.credentials?.rotation ? { rotation: opts.credentials.rotation } : {}),
    ...(opts.credentials?.audit ? { audit: opts.credentials.audit } : {}),
    ...(opts.requestAudit ? { requestAudit: opts.requestAudit } : {}),
    ...(opts.inventory ? { inventory: opts.inventory } : {}),
    ...(opts.firmware?.repository.changes ? { packages: { changes: opts.firmware.repository.changes } } : {}),
  });
  if (opts.inventory) deviceRoutes(app, { inventory: opts.inventory, isSleeping });
  if (opts.security) securityRoutes(app, { security: opts.security, ...(opts.credentials?.audit ? { audit: opts.credentials.audit } : {}) });
  if (opts.bootstrap) bootstrapRoutes(app, { bootstrap: opts.bootstrap });
  if (opts.credentials) credentialsRoutes(app, opts.credentials);
  if (opts.certificates) certificatesRoutes(app, opts.certificates);
  if (opts.campaigns) campaignsRoutes(app, { campaigns: opts.campaigns });
  if (opts.firmware) firmwareRoutes(app, opts.firmware);
  deviceDetailRoutes(app, {
    server, model,
    ...(opts.security ? { security: opts.security } : {}),
    ...(opts.certificates ? { ca: opts.certificates.ca } : {}),
    ...(opts.credentials?.audit ? { audit: opts.credentials.audit } : {}),
    ...(opts.campaigns ? { campaigns: opts.campaigns } : {}),
    ...(opts.credentials?.rotation ? { rotation: opts.credentials.rotation } : {}),
    ...(opts.deviceEvents ? { events: opts.deviceEvents } : {}),
  });
  if (access) {
    const accessLog = log.child({ component: 'auth' });
    const limiter = new LoginLimiter(access.loginLimits, access.now);
    sessionRoutes(app, { users: access.users, sessions: access.sessions, limiter, logger: accessLog, secureCookies: access.secureCookies });
    userRoutes(app, { users: access.users, logger: accessLog });
    tokenRoutes(app, { tokens: access.tokens, logger: accessLog });
  }
  return app;
}
