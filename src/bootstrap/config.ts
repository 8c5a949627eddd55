/**
 * Bootstrap configurations (per device and per group) in the shape of Leshan's bootstrap config JSON: `servers`
 * (Server object instances), `security` (Security object instances written as given), `acls` (Access Control
 * instances) and `toDelete` (Bootstrap-Delete targets). A server without a `security` entry of its short id gets
 * a generated Security instance pointing at the Warden DM server with a fresh random PSK (first-contact credential
 * replacement). Secret keys given in a configuration are stored sealed and never returned.
 */
import type Database from 'better-sqlite3';
import type { SecretBox } from '../store/index.js';
import { BootstrapError } from './error.js';

/** Security Mode names (Core Appendix E.1, resource 2). */
export const SECURITY_MODES = { PSK: 0, RPK: 1, X509: 2, NO_SEC: 3, EST: 4 } as const;
export type SecurityModeName = keyof typeof SECURITY_MODES;

/** What a bootstrap generates for the Warden DM server account. */
export const DM_CREDENTIAL_KINDS = ['psk', 'rpk', 'certificate', 'est'] as const;
export type DmCredentialKind = (typeof DM_CREDENTIAL_KINDS)[number];

/** One Server object instance (Core Appendix E.2). */
export interface ServerConfig {
  shortId: number;
  lifetime?: number;
  defaultMinPeriod?: number;
  defaultMaxPeriod?: number;
  binding?: string;
  notifIfDisabled?: boolean;
}

/** One Security object instance written as given. Byte fields are hex. */
export interface SecurityConfig {
  uri: string;
  bootstrapServer?: boolean;
  securityMode: SecurityModeName;
  /** Short Server ID (resource 10); absent for the bootstrap account. */
  serverId?: number;
  publicKeyOrId?: string;
  serverPublicKey?: string;
  secretKey?: string;
  clientOldOffTime?: number;
}

/** One Access Control instance (Core Appendix E.3): `acls` maps short server id to the ACL bits. */
export interface AclConfig {
  objectId: number;
  objectInstanceId: number;
  acls?: Record<string, number>;
  AccessControlOwner: number;
}

export interface BootstrapConfig {
  /** Bootstrap-Delete targets; default ["/0", "/1"]. */
  toDelete?: string[];
  /** Server object instances by instance id. */
  servers: Record<string, ServerConfig>;
  /** Security object instances by instance id. */
  security?: Record<string, SecurityConfig>;
  /** Access Control object instances by instance id. */
  acls?: Record<string, AclConfig>;
  /** Run Bootstrap-Discover first (default true). */
  discover?: boolean;
  /**
   * The credential generated for a server without a `security` entry: a random 256-bit PSK, a P-256 key pair for
   * raw public key mode (Security mode 1), a certificate from Warden's CA with a key pair generated for the device
   * (mode 2), or mode 4 (Certificate with EST), where the device generates its key pair and enrolls over its bootstrap
   * session, so its private key is never sent. Default: the kind the device holds now, else a PSK.
   */
  dmCredential?: DmCredentialKind;
  /** Device configurations only: the group whose configuration this one extends. */
  group?: string;
}

/** A group's configuration and the devices it applies to. */
export interface GroupConfig extends BootstrapConfig {
  /** Endpoint names in the group. */
  endpoints?: string[];
  /** Every endpoint whose name starts with this. */
  endpointPrefix?: string;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const bad = (message: string): never => {
  throw new BootstrapError('INVALID_CONFIG', message);
};
const u16 = (v: unknown, field: string, min = 0): number =>
  typeof v === 'number' && Number.isInteger(v) && v >= min && v <= 65535 ? v : bad(`${field} must be an integer ${min}..65535`);
const optNum = (v: unknown, field: string): number | undefined =>
  v === undefined ? undefined : typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff ? v : bad(`${field} must be a non-negative integer`);
const hex = (v: unknown, field: string): string | undefined =>
  v === undefined || v === '' ? undefined : typeof v === 'string' && /^(?:[0-9a-fA-F]{2})+$/.test(v) ? v.toLowerCase() : bad(`${field} must be an even-length hex string`);

function instanceKeys(map: Record<string, unknown>, field: string): void {
  for (const k of Object.keys(map)) if (!/^\d+$/.test(k) || Number(k) > 65534) bad(`${field} keys are instance ids 0..65534`);
}

/** Validates and normalises a configuration body; throws BootstrapError('INVALID_CONFIG') naming the problem. */
export function parseBootstrapConfig(body: unknown, opts: { group?: boolean } = {}): BootstrapConfig & GroupConfig {
  if (!isObject(body)) bad('a bootstrap configuration is a JSON object');
  const b = body as Record<string, unknown>;
  const out: GroupConfig = { servers: {} };
  if (b.toDelete !== undefined) {
    if (!Array.isArray(b.toDelete) || !b.toDelete.every((p) => typeof p === 'string' && /^\/(\d+(\/\d+)?)?$/.test(p))) bad('toDelete is a list of paths like "/0", "/1/0" or "/"');
    out.toDelete = [...(b.toDelete as string[])];
  }
  if (!isObject(b.servers)) bad('servers must be an object of Server instances by instance id');
  instanceKeys(b.servers as Record<string, unknown>, 'servers');
  for (const [k, s] of Object.entries(b.servers as Record<string, unknown>)) {
    if (!isObject(s)) bad(`servers.${k} must be an object`);
    const sv = s as Record<string, unknown>;
    const server: ServerConfig = { shortId: u16(sv.shortId, `servers.${k}.shortId`, 1) };
    if (server.shortId === 65535) bad(`servers.${k}.shortId 65535 is reserved`);
    const lifetime = optNum(sv.lifetime, `servers.${k}.lifetime`);
    const pmin = optNum(sv.defaultMinPeriod, `servers.${k}.defaultMinPeriod`);
    const pmax = optNum(sv.defaultMaxPeriod, `servers.${k}.defaultMaxPeriod`);
    if (lifetime !== undefined) server.lifetime = lifetime;
    if (pmin !== undefined) server.defaultMinPeriod = pmin;
    if (pmax !== undefined) server.defaultMaxPeriod = pmax;
    if (sv.binding !== undefined) {
      if (typeof sv.binding !== 'string' || !/^[UMHTSNQ]+$/.test(sv.binding)) bad(`servers.${k}.binding must be letters of U, M, H, T, S, N, Q`);
      server.binding = sv.binding as string;
    }
    if (sv.notifIfDisabled !== undefined) server.notifIfDisabled = sv.notifIfDisabled === true;
    out.servers[k] = server;
  }
  if (b.security !== undefined) {
    if (!isObject(b.security)) bad('security must be an object of Security instances by instance id');
    instanceKeys(b.security as Record<string, unknown>, 'security');
    out.security = {};
    for (const [k, s] of Object.entries(b.security as Record<string, unknown>)) {
      if (!isObject(s)) bad(`security.${k} must be an object`);
      const sv = s as Record<string, unknown>;
      if (typeof sv.uri !== 'string' || !/^coaps?:\/\//.test(sv.uri)) bad(`security.${k}.uri must be a coap:// or coaps:// URI`);
      if (typeof sv.securityMode !== 'string' || !(sv.securityMode in SECURITY_MODES)) bad(`security.${k}.securityMode must be one of ${Object.keys(SECURITY_MODES).join(', ')}`);
      const sec: SecurityConfig = { uri: sv.uri as string, securityMode: sv.securityMode as SecurityModeName, bootstrapServer: sv.bootstrapServer === true };
      if (sv.serverId !== undefined) sec.serverId = u16(sv.serverId, `security.${k}.serverId`, 1);
      if (!sec.bootstrapServer && sec.serverId === undefined) bad(`security.${k}.serverId is needed for an LwM2M Server account`);
      for (const f of ['publicKeyOrId', 'serverPublicKey', 'secretKey'] as const) {
        const h = hex(sv[f], `security.${k}.${f}`);
        if (h !== undefined) sec[f] = h;
      }
      const hold = optNum(sv.clientOldOffTime, `security.${k}.clientOldOffTime`);
      if (hold !== undefined) sec.clientOldOffTime = hold;
      out.security[k] = sec;
    }
  }
  if (b.acls !== undefined) {
    if (!isObject(b.acls)) bad('acls must be an object of Access Control instances by instance id');
    instanceKeys(b.acls as Record<string, unknown>, 'acls');
    out.acls = {};
    for (const [k, a] of Object.entries(b.acls as Record<string, unknown>)) {
      if (!isObject(a)) bad(`acls.${k} must be an object`);
      const av = a as Record<string, unknown>;
      const acl: AclConfig = {
        objectId: u16(av.objectId, `acls.${k}.objectId`, 1),
        objectInstanceId: u16(av.objectInstanceId, `acls.${k}.objectInstanceId`),
        AccessControlOwner: u16(av.AccessControlOwner, `acls.${k}.AccessControlOwner`),
      };
      if (av.acls !== undefined) {
        if (!isObject(av.acls)) bad(`acls.${k}.acls maps short server ids to rights`);
        acl.acls = {};
        for (const [ssid, r] of Object.entries(av.acls as Record<string, unknown>)) {
          u16(Number(ssid), `acls.${k}.acls key`);
          if (typeof r !== 'number' || !Number.isInteger(r) || r < 0 || r > 31) bad(`acls.${k}.acls.${ssid} must be 0..31`);
          acl.acls[ssid] = r as number;
        }
      }
      out.acls[k] = acl;
    }
  }
  if (b.discover !== undefined) out.discover = b.discover !== false;
  if (b.dmCredential !== undefined) {
    if (!DM_CREDENTIAL_KINDS.includes(b.dmCredential as DmCredentialKind)) bad(`dmCredential must be one of ${DM_CREDENTIAL_KINDS.join(', ')}`);
    out.dmCredential = b.dmCredential as DmCredentialKind;
  }
  if (opts.group) {
    if (b.endpoints !== undefined) {
      if (!Array.isArray(b.endpoints) || !b.endpoints.every((e) => typeof e === 'string' && e !== '')) bad('endpoints must be a list of endpoint names');
      out.endpoints = [...(b.endpoints as string[])];
    }
    if (b.endpointPrefix !== undefined) {
      if (typeof b.endpointPrefix !== 'string' || b.endpointPrefix === '') bad('endpointPrefix must be a non-empty string');
      out.endpointPrefix = b.endpointPrefix as string;
    }
  } else if (b.group !== undefined) {
    if (typeof b.group !== 'string' || b.group === '') bad('group must be a group name');
    out.group = b.group as string;
  }
  return out;
}

/** The configuration as the API returns it: secret keys replaced by `hasSecretKey`. */
export function redactConfig<T extends BootstrapConfig>(config: T): T {
  if (!config.security) return config;
  const security: Record<string, SecurityConfig & { hasSecretKey?: boolean }> = {};
  for (const [k, s] of Object.entries(config.security)) {
    const { secretKey, ...rest } = s;
    security[k] = secretKey !== undefined ? { ...rest, hasSecretKey: true } : rest;
  }
  return { ...config, security };
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS bootstrap_config (
  kind TEXT NOT NULL CHECK (kind IN ('device', 'group')),
  name TEXT NOT NULL,
  sealed INTEGER NOT NULL,
  body BLOB NOT NULL,
  PRIMARY KEY (kind, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS bootstrap_device (
  endpoint TEXT PRIMARY KEY,
  address TEXT,
  port INTEGER,
  secure INTEGER NOT NULL,
  identity TEXT,
  content_format INTEGER,
  bootstraps INTEGER NOT NULL,
  last_finished_at INTEGER
) WITHOUT ROWID;
`;

/** What the bootstrap server remembers of a device: where it was last seen, for server-initiated bootstrap. */
export interface BootstrapDeviceRow {
  endpoint: string;
  address: string | null;
  port: number | null;
  secure: boolean;
  identity: string | null;
  contentFormat: number | null;
  /** Completed bootstrap sequences. */
  bootstraps: number;
  lastFinishedAt: number | null;
}

/** Device and group configurations in SQLite, sealed with the SecretBox when one is given. */
export class BootstrapConfigStore {
  private readonly stmt;

  constructor(
    store: { readonly db: Database.Database },
    private readonly box?: SecretBox,
  ) {
    const db = store.db;
    db.exec(SCHEMA);
    this.stmt = {
      put: db.prepare('INSERT OR REPLACE INTO bootstrap_config VALUES (?, ?, ?, ?)'),
      get: db.prepare('SELECT sealed, body FROM bootstrap_config WHERE kind = ? AND name = ?'),
      del: db.prepare('DELETE FROM bootstrap_config WHERE kind = ? AND name = ?'),
      names: db.prepare('SELECT name FROM bootstrap_config WHERE kind = ? ORDER BY name'),
      getDevice: db.prepare('SELECT * FROM bootstrap_device WHERE endpoint = ?'),
      seen: db.prepare(`INSERT INTO bootstrap_device VALUES (@endpoint, @address, @port, @secure, @identity, @contentFormat, 0, NULL)
        ON CONFLICT(endpoint) DO UPDATE SET address = excluded.address, port = excluded.port, secure = excluded.secure,
        identity = excluded.identity, content_format = excluded.content_format`),
      finished: db.prepare('UPDATE bootstrap_device SET bootstraps = bootstraps + 1, last_finished_at = ? WHERE endpoint = ?'),
    };
  }

  private aad(kind: string, name: string): string {
    return JSON.stringify(['warden-bootstrap-config', kind, name]);
  }

  private put(kind: 'device' | 'group', name: string, config: BootstrapConfig): void {
    const json = Buffer.from(JSON.stringify(config), 'utf8');
    if (this.box) this.stmt.put.run(kind, name, 1, Buffer.from(this.box.seal(json, this.aad(kind, name))));
    else this.stmt.put.run(kind, name, 0, json);
  }

  private read(kind: 'device' | 'group', name: string): GroupConfig | undefined {
    const row = this.stmt.get.get(kind, name) as { sealed: number; body: Buffer } | undefined;
    if (!row) return undefined;
    if (row.sealed === 1 && !this.box) throw new BootstrapError('INVALID_CONFIG', `the ${kind} configuration of ${name} is sealed and no key was given`);
    const bytes = row.sealed === 1 ? this.box!.open(row.body, this.aad(kind, name)) : row.body;
    return JSON.parse(Buffer.from(bytes).toString('utf8')) as GroupConfig;
  }

  putDevice(endpoint: string, config: BootstrapConfig): void {
    this.put('device', endpoint, config);
  }
  getDevice(endpoint: string): BootstrapConfig | undefined {
    return this.read('device', endpoint);
  }
  deleteDevice(endpoint: string): boolean {
    return this.stmt.del.run('device', endpoint).changes > 0;
  }
  devices(): string[] {
    return (this.stmt.names.all('device') as { name: string }[]).map((r) => r.name);
  }
  putGroup(name: string, config: GroupConfig): void {
    this.put('group', name, config);
  }
  getGroup(name: string): GroupConfig | undefined {
    return this.read('group', name);
  }
  deleteGroup(name: string): boolean {
    return this.stmt.del.run('group', name).changes > 0;
  }
  groups(): string[] {
    return (this.stmt.names.all('group') as { name: string }[]).map((r) => r.name);
  }

  /**
   * The configuration that applies to `endpoint`: its own (over its group's, when it names one: the device's
   * servers, security, acls and toDelete replace the group's entry by entry), else the first group (by name) that
   * lists it or whose prefix it has.
   */
  resolve(endpoint: string): BootstrapConfig | undefined {
    const own = this.getDevice(endpoint);
    if (own) {
      if (own.group === undefined) return own;
      const group = this.getGroup(own.group);
      if (!group) return own;
      return mergeConfigs(group, own);
    }
    for (const name of this.groups()) {
      const g = this.getGroup(name)!;
      if (g.endpoints?.includes(endpoint) || (g.endpointPrefix !== undefined && endpoint.startsWith(g.endpointPrefix))) return mergeConfigs(g, { servers: {} });
    }
    return undefined;
  }

  /** Remembers where the device asked from (server-initiated bootstrap goes there). */
  deviceSeen(row: Omit<BootstrapDeviceRow, 'bootstraps' | 'lastFinishedAt'>): void {
    this.stmt.seen.run({ ...row, secure: row.secure ? 1 : 0 });
  }

  deviceFinished(endpoint: string, at: number): void {
    this.stmt.finished.run(at, endpoint);
  }

  device(endpoint: string): BootstrapDeviceRow | undefined {
    const r = this.stmt.getDevice.get(endpoint) as Record<string, unknown> | undefined;
    if (!r) return undefined;
    return {
      endpoint: r.endpoint as string,
      address: (r.address as string | null) ?? null,
      port: (r.port as number | null) ?? null,
      secure: r.secure === 1,
      identity: (r.identity as string | null) ?? null,
      contentFormat: (r.content_format as number | null) ?? null,
      bootstraps: r.bootstraps as number,
      lastFinishedAt: (r.last_finished_at as number | null) ?? null,
    };
  }
}

function mergeConfigs(group: GroupConfig, device: BootstrapConfig): BootstrapConfig {
  const out: BootstrapConfig = {
    servers: { ...group.servers, ...device.servers },
    security: { ...group.security, ...device.security },
    acls: { ...group.acls, ...device.acls },
  };
  const toDelete = device.toDelete ?? group.toDelete;
  if (toDelete) out.toDelete = toDelete;
  const discover = device.discover ?? group.discover;
  if (discover !== undefined) out.discover = discover;
  const dmCredential = device.dmCredential ?? group.dmCredential;
  if (dmCredential !== undefined) out.dmCredential = dmCredential;
  return out;
}
