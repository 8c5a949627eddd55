/**
 * The embedded store: one SQLite file (WAL) behind small typed methods. Each layer that persists
 * state has its own table and its own rows type here; nothing else touches SQL.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

/** A registration row: everything needed to rebuild a Registration after a restart. */
export interface RegistrationRow {
  endpoint: string;
  registrationId: string;
  address: string;
  port: number;
  lifetime: number;
  lwm2mVersion: string;
  bindingMode: string;
  queueMode: boolean;
  smsNumber: string | null;
  objectLinks: string;
  registeredAt: number;
  lastUpdate: number;
  /** JSON of the PeerIdentity, if the transport authenticated one. */
  identity: string | null;
  /** Registered over DTLS. */
  secure: boolean;
}

/** An observation row: the token lets the CoAP endpoint accept notifications after a restart. */
export interface ObservationRow {
  observationId: string;
  endpoint: string;
  registrationId: string;
  token: Uint8Array;
  /** Paths as text, comma separated. */
  paths: string;
  composite: boolean;
  /** Content format of the request body for composite observations (or null). */
  requestFormat: number | null;
  createdAt: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS registration (
  endpoint TEXT PRIMARY KEY,
  registration_id TEXT NOT NULL UNIQUE,
  address TEXT NOT NULL,
  port INTEGER NOT NULL,
  lifetime INTEGER NOT NULL,
  lwm2m_version TEXT NOT NULL,
  binding_mode TEXT NOT NULL,
  queue_mode INTEGER NOT NULL,
  sms_number TEXT,
  object_links TEXT NOT NULL,
  registered_at INTEGER NOT NULL,
  last_update INTEGER NOT NULL,
  identity TEXT,
  secure INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS observation (
  observation_id TEXT PRIMARY KEY,
  endpoint TEXT NOT NULL,
  registration_id TEXT NOT NULL,
  token BLOB NOT NULL,
  paths TEXT NOT NULL,
  composite INTEGER NOT NULL,
  request_format INTEGER,
  created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS observation_endpoint ON observation(endpoint);
CREATE TABLE IF NOT EXISTS setting (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS fw_campaign (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  package_id TEXT NOT NULL,
  package_version TEXT NOT NULL,
  target TEXT NOT NULL,
  settings TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('created', 'running', 'paused', 'finished', 'cancelled')),
  current_wave INTEGER NOT NULL DEFAULT 0,
  approved_wave INTEGER NOT NULL DEFAULT -1,
  error_base_failed INTEGER NOT NULL DEFAULT 0,
  error_base_finished INTEGER NOT NULL DEFAULT 0,
  pause_reason TEXT,
  package_uri TEXT,
  actor TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  started_at INTEGER,
  updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS fw_campaign_device (
  campaign_id INTEGER NOT NULL REFERENCES fw_campaign(id),
  endpoint TEXT NOT NULL,
  wave INTEGER NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('queued', 'delivering', 'downloading', 'downloaded', 'updating', 'verifying', 'succeeded', 'failed', 'cancelled')),
  attempts INTEGER NOT NULL DEFAULT 0,
  next_at INTEGER NOT NULL DEFAULT 0,
  step_at INTEGER NOT NULL DEFAULT 0,
  update_result INTEGER,
  last_error TEXT,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (campaign_id, endpoint)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS fw_campaign_device_endpoint ON fw_campaign_device(endpoint, state);
CREATE TABLE IF NOT EXISTS fw_campaign_history (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  campaign_id INTEGER NOT NULL,
  endpoint TEXT NOT NULL,
  time INTEGER NOT NULL,
  from_state TEXT NOT NULL,
  to_state TEXT NOT NULL,
  detail TEXT
);
-- By endpoint first: one campaign's device and a device's whole history (its timeline) both use it.
DROP INDEX IF EXISTS fw_campaign_history_device;
CREATE INDEX IF NOT EXISTS fw_campaign_history_endpoint ON fw_campaign_history(endpoint, campaign_id);
CREATE TABLE IF NOT EXISTS firmware_package (
  id TEXT PRIMARY KEY,
  vendor TEXT NOT NULL,
  class TEXT NOT NULL,
  version TEXT NOT NULL,
  sequence INTEGER NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('image', 'delta')),
  base_digest TEXT,
  base_size INTEGER,
  image_digest TEXT NOT NULL,
  image_size INTEGER NOT NULL,
  payload_size INTEGER NOT NULL,
  package_size INTEGER NOT NULL,
  key_id TEXT NOT NULL,
  uploaded_at INTEGER NOT NULL,
  name TEXT,
  notes TEXT
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS firmware_package_target ON firmware_package(vendor, class, sequence);
CREATE TABLE IF NOT EXISTS api_user (
  name TEXT PRIMARY KEY,
  role TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
  password_hash TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS api_session (
  id_hash BLOB PRIMARY KEY,
  username TEXT NOT NULL REFERENCES api_user(name) ON DELETE CASCADE ON UPDATE CASCADE,
  created_at INTEGER NOT NULL,
  last_seen INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS api_session_user ON api_session(username);
CREATE TABLE IF NOT EXISTS api_token (
  id TEXT PRIMARY KEY,
  token_hash BLOB NOT NULL UNIQUE,
  username TEXT NOT NULL REFERENCES api_user(name) ON DELETE CASCADE ON UPDATE CASCADE,
  scope TEXT NOT NULL CHECK (scope IN ('read', 'write', 'admin')),
  name TEXT,
  created_at INTEGER NOT NULL,
  expires_at INTEGER,
  revoked_at INTEGER,
  last_used INTEGER
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS api_token_user ON api_token(username);
`;

/** Opens (and creates) the database; `:memory:` works for tests. */
export class SqliteStore {
  readonly db: Database.Database;
  private readonly stmt: ReturnType<SqliteStore['prepare']>;

  constructor(file: string) {
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    // NORMAL in WAL mode is durable against a process crash (SIGKILL), not against power loss.
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('foreign_keys = ON');
    this.db.exec(SCHEMA);
    this.stmt = this.prepare();
  }

  private prepare() {
    const db = this.db;
    return {
      upsertRegistration: db.prepare(`INSERT INTO registration VALUES (@endpoint, @registrationId, @address, @port,
        @lifetime, @lwm2mVersion, @bindingMode, @queueMode, @smsNumber, @objectLinks, @registeredAt, @lastUpdate, @identity, @secure)
        ON CONFLICT(endpoint) DO UPDATE SET registration_id = excluded.registration_id, address = excluded.address,
        port = excluded.port, lifetime = excluded.lifetime, lwm2m_version = excluded.lwm2m_version,
        binding_mode = excluded.binding_mode, queue_mode = excluded.queue_mode, sms_number = excluded.sms_number,
        object_links = excluded.object_links, registered_at = excluded.registered_at, last_update = excluded.last_update,
        identity = excluded.identity, secure = excluded.secure`),
      deleteRegistration: db.prepare('DELETE FROM registration WHERE endpoint = ? AND registration_id = ?'),
      allRegistrations: db.prepare('SELECT * FROM registration'),
      insertObservation: db.prepare(`INSERT OR REPLACE INTO observation VALUES (@observationId, @endpoint, @registrationId,
        @token, @paths, @composite, @requestFormat, @createdAt)`),
      deleteObservation: db.prepare('DELETE FROM observation WHERE observation_id = ?'),
      deleteObservationsOf: db.prepare('DELETE FROM observation WHERE endpoint = ?'),
      allObservations: db.prepare('SELECT * FROM observation'),
      getSetting: db.prepare('SELECT value FROM setting WHERE key = ?'),
      putSetting: db.prepare('INSERT OR REPLACE INTO setting VALUES (?, ?)'),
    };
  }

  saveRegistration(row: RegistrationRow): void {
    this.stmt.upsertRegistration.run({ ...row, queueMode: row.queueMode ? 1 : 0, secure: row.secure ? 1 : 0 });
  }

  /** Removes the row only if it still belongs to that registration (a newer one may have replaced it). */
  removeRegistration(endpoint: string, registrationId: string): void {
    this.stmt.deleteRegistration.run(endpoint, registrationId);
  }

  loadRegistrations(): RegistrationRow[] {
    return (this.stmt.allRegistrations.all() as Record<string, unknown>[]).map((r) => ({
      endpoint: r.endpoint as string,
      registrationId: r.registration_id as string,
      address: r.address as string,
      port: r.port as number,
      lifetime: r.lifetime as number,
      lwm2mVersion: r.lwm2m_version as string,
      bindingMode: r.binding_mode as string,
      queueMode: r.queue_mode === 1,
      smsNumber: (r.sms_number as string | null) ?? null,
      objectLinks: r.object_links as string,
      registeredAt: r.registered_at as number,
      lastUpdate: r.last_update as number,
      identity: (r.identity as string | null) ?? null,
      secure: r.secure === 1,
    }));
  }

  saveObservation(row: ObservationRow): void {
    this.stmt.insertObservation.run({ ...row, token: Buffer.from(row.token), composite: row.composite ? 1 : 0 });
  }

  removeObservation(observationId: string): void {
    this.stmt.deleteObservation.run(observationId);
  }

  removeObservationsOf(endpoint: string): void {
    this.stmt.deleteObservationsOf.run(endpoint);
  }

  loadObservations(): ObservationRow[] {
    return (this.stmt.allObservations.all() as Record<string, unknown>[]).map((r) => ({
      observationId: r.observation_id as string,
      endpoint: r.endpoint as string,
      registrationId: r.registration_id as string,
      token: new Uint8Array(r.token as Buffer),
      paths: r.paths as string,
      composite: r.composite === 1,
      requestFormat: (r.request_format as number | null) ?? null,
      createdAt: r.created_at as number,
    }));
  }

  getSetting(key: string): string | undefined {
    const row = this.stmt.getSetting.get(key) as { value: string } | undefined;
    return row?.value;
  }

  putSetting(key: string, value: string): void {
    this.stmt.putSetting.run(key, value);
  }

  /** Runs `fn` in one transaction (one fsync for many writes). */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
