/**
 * Authentication and authorization for every API route, in one onRequest hook.
 *
 * Credentials, tried in this order (the first present decides; a bad one is 401, never a fall-through):
 * - `Authorization: Bearer <token>` (RFC 6750 §2.1 header form only: tokens never go in URLs): the built-in admin
 *   token (data/api-token, WARDEN_API_TOKEN, --api-token), else an API token of a user, capped at its scope;
 * - the console session cookie (see sessions.ts). Cookie-authenticated requests other than GET/HEAD must carry the
 *   session's CSRF token in `X-CSRF-Token` (synchronizer token: an HMAC of the session id, handed out by login and
 *   GET /api/me, never set as a cookie). Bearer requests need none: browsers never attach them on their own.
 *
 * Who may call what (route patterns as registered with Fastify; first row that matches wins):
 *
 * | route                                              | methods          | role     |
 * | -------------------------------------------------- | ---------------- | -------- |
 * | /healthz, POST /api/login (throttled)              | any              | public   |
 * | /api/logout, /api/me                               | any              | viewer   |
 * | /api/users*, /api/tokens*, /api/audit/requests     | any              | admin    |
 * | /api/security/clients* (device keys)               | PUT POST DELETE  | admin    |
 * | /api/bootstrap/:ep/start (run a bootstrap)         | POST             | operator |
 * | /api/bootstrap* (configurations hold server keys)  | PUT POST DELETE  | admin    |
 * | /api/certificates/* revoke                         | POST             | admin    |
 * | /api/clients/* (device operations, observe)        | PUT POST DELETE  | operator |
 * | /api/campaigns* (create, start, pause, cancel ...)  | PUT POST DELETE  | operator |
 * | /api/firmware* (upload, remove)                    | PUT POST DELETE  | operator |
 * | /api/credentials/rotations*                        | PUT POST DELETE  | operator |
 * | anything else                                      | GET HEAD         | viewer   |
 * | anything else (unlisted writes fail closed)        | other            | admin    |
 *
 * A path no route matches needs any valid credential (then 404), so unauthenticated callers learn nothing.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { roleAtLeast, type ApiTokenStore, type Role, type SessionStore, type TokenScope } from '../store/index.js';

/** Checks `Authorization: Bearer <token>` against the expected token in constant time. */
export class TokenChecker {
  private readonly expected: Buffer;

  constructor(apiToken: string) {
    if (apiToken.length === 0) throw new Error('apiToken must not be empty');
    this.expected = sha256(apiToken);
  }

  /** True if `authorization` (the header value) carries the token. */
  check(authorization: string | undefined): boolean {
    const t = bearerToken(authorization);
    // Hashing both sides gives equal-length buffers, so timingSafeEqual leaks neither content nor length.
    return t !== undefined && timingSafeEqual(sha256(t), this.expected);
  }
}

/** The token of an `Authorization: Bearer` header value, or undefined. */
export function bearerToken(authorization: string | undefined): string | undefined {
  if (authorization === undefined) return undefined;
  // RFC 6750 §2.1: credentials = "Bearer" 1*SP b64token; the scheme is case-insensitive (RFC 7235 §2.1).
  const m = /^bearer +(\S+) *$/i.exec(authorization);
  return m === null ? undefined : m[1];
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/** Who a request acts for. */
export interface Principal {
  /** builtin: the admin API token; token: a user's API token; session: a console session. */
  via: 'builtin' | 'token' | 'session';
  /** The user name ('api-token' for the built-in token). */
  user: string;
  /** Effective role (a token's is its user's role capped by its scope). */
  role: Role;
  tokenId?: string;
  scope?: TokenScope;
  /** Session only: the secret id from the cookie (to log out), never logged. */
  sessionId?: string;
}

/** Name used for the built-in admin token in `Principal.user` and audit actors. */
export const BUILTIN_USER = 'api-token';

/** What a route needs: `public` or a minimum role. */
export type Access = 'public' | Role;

type Rule = { methods?: ReadonlySet<string>; route: RegExp; access: Access };

const WRITES: ReadonlySet<string> = new Set(['PUT', 'POST', 'DELETE', 'PATCH']);

/** The table above, as code. */
export const ACCESS_RULES: readonly Rule[] = [
  { route: /^\/healthz$/, access: 'public' },
  { methods: new Set(['POST']), route: /^\/api\/login$/, access: 'public' },
  { route: /^\/api\/(?:logout|me)$/, access: 'viewer' },
  { route: /^\/api\/(?:users|tokens)(?:\/|$)/, access: 'admin' },
  { route: /^\/api\/audit\/requests$/, access: 'admin' },
  { methods: WRITES, route: /^\/api\/security\/clients(?:\/|$)/, access: 'admin' },
  { methods: WRITES, route: /^\/api\/bootstrap\/:ep\/start$/, access: 'operator' },
  { methods: WRITES, route: /^\/api\/bootstrap(?:\/|$)/, access: 'admin' },
  { methods: WRITES, route: /^\/api\/certificates\/(?:.*\/)?revoke$/, access: 'admin' },
  { methods: WRITES, route: /^\/api\/(?:clients|campaigns|firmware|credentials\/rotations)(?:\/|$)/, access: 'operator' },
  { methods: new Set(['GET', 'HEAD']), route: /^\//, access: 'viewer' },
  { route: /^\//, access: 'admin' },
];

/** What `method` on the route pattern `route` needs (undefined route: no route matched, any credential). */
export function requiredAccess(method: string, route: string | undefined, extraPublic: ReadonlySet<string> = NONE): Access {
  if (route === undefined) return 'viewer';
  if (extraPublic.has(route)) return 'public';
  for (const r of ACCESS_RULES) if ((r.methods === undefined || r.methods.has(method)) && r.route.test(route)) return r.access;
  return 'admin';
}

const NONE: ReadonlySet<string> = new Set();

export interface AuthOptions {
  /** The built-in admin bearer token. */
  apiToken: string;
  /** Users' API tokens. */
  tokens?: ApiTokenStore;
  /** Console sessions (cookie). */
  sessions?: SessionStore;
  /** Route patterns served to anyone (e.g. a metrics endpoint scraped without credentials). */
  publicRoutes?: readonly string[];
  /** Mark the cookie Secure and name it `__Host-…` even without TLS on the socket (behind a TLS-terminating proxy). */
  secureCookies?: boolean;
}

/** Session cookie name: `__Host-` under TLS (RFC 6265bis §4.1.3.2: Secure, Path=/, no Domain), plain otherwise. */
export function sessionCookieName(secure: boolean): string {
  return secure ? '__Host-warden_session' : 'warden_session';
}

/** True if the cookie should be Secure for this request. */
export function isSecureRequest(req: FastifyRequest, opts: { secureCookies?: boolean }): boolean {
  return opts.secureCookies === true || req.protocol === 'https';
}

/** The CSRF token of a session: HMAC-SHA256 keyed by the session id, so only the cookie's holder can know it. */
export function csrfTokenFor(sessionId: string): string {
  return createHmac('sha256', sessionId).update('warden-csrf-v1').digest('base64url');
}

function csrfMatches(sessionId: string, header: string | string[] | undefined): boolean {
  if (typeof header !== 'string' || header.length === 0 || header.length > 100) return false;
  return timingSafeEqual(sha256(header), sha256(csrfTokenFor(sessionId)));
}

/** One cookie's value from a Cookie header (RFC 6265 §4.2.1), or undefined. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
  }
  return undefined;
}

const principals = new WeakMap<FastifyRequest, Principal>();

/** The principal the auth hook admitted the request for (undefined on public routes called without credentials). */
export function principalOf(req: FastifyRequest): Principal | undefined {
  return principals.get(req);
}

/** The principal from the request's credentials: a Principal, 'invalid' (bad credentials given) or undefined (none). */
function authenticate(req: FastifyRequest, checker: TokenChecker, opts: AuthOptions): Principal | 'invalid' | undefined {
  const authorization = req.headers.authorization;
  if (authorization !== undefined) {
    if (checker.check(authorization)) return { via: 'builtin', user: BUILTIN_USER, role: 'admin' };
    const t = bearerToken(authorization);
    const grant = t !== undefined ? opts.tokens?.authenticate(t) : undefined;
    if (grant === undefined) return 'invalid';
    return { via: 'token', user: grant.token.username, role: grant.role, tokenId: grant.token.id, scope: grant.token.scope };
  }
  if (opts.sessions === undefined) return undefined;
  const id = cookieValue(req.headers.cookie, sessionCookieName(isSecureRequest(req, opts)));
  if (id === undefined) return undefined;
  const s = opts.sessions.use(id);
  if (s === undefined) return 'invalid';
  return { via: 'session', user: s.username, role: s.role, sessionId: id };
}

/**
 * A Fastify onRequest hook enforcing the table above. 401 (with `WWW-Authenticate: Bearer`) without valid
 * credentials, 403 for a role below the route's, or for a cookie-authenticated write without the CSRF token.
 */
export function authHook(options: string | AuthOptions): (req: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply | undefined> {
  const opts: AuthOptions = typeof options === 'string' ? { apiToken: options } : options;
  const checker = new TokenChecker(opts.apiToken);
  const extraPublic: ReadonlySet<string> = new Set(opts.publicRoutes ?? []);
  const cache = new Map<string, Access>();
  return async (req, reply) => {
    const route = req.routeOptions.url;
    let access: Access | undefined;
    if (route !== undefined) {
      const key = `${req.method} ${route}`;
      access = cache.get(key);
      if (access === undefined) cache.set(key, (access = requiredAccess(req.method, route, extraPublic)));
    } else {
      access = requiredAccess(req.method, undefined);
    }
    const who = authenticate(req, checker, opts);
    if (access === 'public') {
      if (who !== undefined && who !== 'invalid') principals.set(req, who);
      return undefined;
    }
    if (who === undefined || who === 'invalid') {
      return reply.code(401).header('WWW-Authenticate', 'Bearer realm="warden"').send({ message: 'missing or invalid API token' });
    }
    // Known before it is judged, so the request audit names who was refused.
    principals.set(req, who);
    if (who.via === 'session' && req.method !== 'GET' && req.method !== 'HEAD' && !csrfMatches(who.sessionId!, req.headers['x-csrf-token'])) {
      return reply.code(403).send({ message: 'missing or invalid CSRF token (send the X-CSRF-Token header)' });
    }
    if (!roleAtLeast(who.role, access)) {
      return reply.code(403).send({ message: `forbidden: ${req.method} ${route ?? ''} needs the ${access} role` });
    }
    return undefined;
  };
}

/** A route as registered: method and Fastify URL pattern. */
export interface RouteEntry { method: string; url: string }

/**
 * Installs the auth hook on `app` and starts collecting every route registered after this call (for tests and
 * documentation: `registeredRoutes(app)`).
 */
export function installAuth(app: FastifyInstance, opts: AuthOptions): void {
  const routes: RouteEntry[] = [];
  registry.set(app, routes);
  app.addHook('onRoute', (r) => {
    for (const method of Array.isArray(r.method) ? r.method : [r.method]) routes.push({ method, url: r.url });
  });
  app.addHook('onRequest', authHook(opts));
}

const registry = new WeakMap<FastifyInstance, RouteEntry[]>();

/** Routes registered on `app` since installAuth (after `await app.ready()`, all of them). */
export function registeredRoutes(app: FastifyInstance): readonly RouteEntry[] {
  return registry.get(app) ?? [];
}
