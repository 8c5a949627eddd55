/** Wires the layers into a running Warden: store, model, LwM2M server and the REST API. */
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { countDeviceRequests, createApi, defaultWebRoot, Metrics } from '../api/index.js';
import { BootstrapServer, bootstrapPskLookup, lwm2mRotationDriver, RotationManager, type FactoryKeys } from '../bootstrap/index.js';
import { FirmwareCampaignManager, lwm2mCampaignDriver, type CampaignPackages, FirmwareHttpServer, FirmwareRepository, firmwareCoapRoute, packageSchemes, packageUri, type PackageScheme, type PackageUriConfig } from '../firmware/index.js';
import { CertificateAuthority, FactoryKeyDeriver, type IssuedCertificate, type KeyStore } from '../keys/index.js';
import { UdpTransport, type CoapEndpointOptions, type PeerAddress } from '../coap/index.js';
import { CipherSuite, DEFAULT_SERVER_SUITES, DtlsServer, type HandshakeEvent, type PeerCredential } from '../dtls/index.js';
import { createRawPublicKeyVerifier, fingerprint, spkiOf } from '../dtls/rpk.js';
import { createCertificateVerifier } from '../dtls/x509.js';
import { generateKeyPairSync, createPrivateKey, createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { ModelRegistry } from '../lwm2m/registry.js';
import type { Logger } from '../log.js';
import { collectFirmwareFacts, DeviceInventory, estHandler, Lwm2mServer, recordRegistrations, type Registration } from '../server/index.js';
import { ApiTokenStore, AuditLog, DeviceEventLog, DeviceFactsStore, DtlsSessionStore, RequestAudit, SecretBox, SecurityStore, SessionStore, SqliteStore, UserStore } from '../store/index.js';
import { resolveApiToken } from './api-token.js';
import { securityAuthorizer } from './authorizer.js';
import { FACTORY_MASTER_LABEL, openKeyStore, type KeysCliIo } from './keys.js';
import { readDerObjects, readPrivateKey } from './pem.js';

export interface WardenOptions {
  dataDir: string;
  /** Plain CoAP port; undefined: no plain CoAP listener. */
  coapPort?: number;
  coapHost: string;
  /** CoAPs (DTLS) port; undefined: no DTLS listener. */
  coapsPort?: number;
  dtls?: DtlsFiles;
  /** Bootstrap server: plain CoAP port (5783) and CoAPs port (5784); undefined: not started. */
  bootstrapPort?: number;
  bootstrapsPort?: number;
  /** The DM server URI written into devices at bootstrap (default coaps://127.0.0.1:<CoAPs port>). */
  dmServerUri?: string;
  /** Called on every completed DTLS handshake (metrics, tests). */
  onDtlsHandshake?: (e: HandshakeEvent) => void;
  apiPort: number;
  apiHost: string;
  apiToken?: string;
  /** Session cookies Secure and `__Host-` named although the API listens on plain HTTP (a TLS proxy in front). */
  apiSecureCookies?: boolean;
  /** The API and console speak HTTPS with this certificate chain and key (PEM files). */
  apiTls?: { certFile: string; keyFile: string };
  modelsDir?: string;
  logger: Logger;
  /** Transmission parameters of the LwM2M server's CoAP endpoints (RFC 7252 §4.8; tests over lossy links). */
  coap?: Omit<CoapEndpointOptions, 'logger'>;
  /** The firmware repository and package delivery. */
  firmware?: FirmwareServeOptions;
  /** Packages firmware campaigns roll out (the firmware repository); without it no campaign can be created. */
  campaignPackages?: CampaignPackages;
  /** The built web console served at / (default: dist/web beside the compiled server; none if not built). */
  webRoot?: string;
  /** Read /3/0/3 of every newly registered device for the device inventory (default true; CLI --no-inventory-read). */
  inventoryRead?: boolean;
  /** Options of the campaign driver (tests: short polls). */
  campaignDriver?: { requestTimeout?: number; queueTimeout?: number; pollInterval?: number };
}

/** How long registration history is kept (each device's latest event stays: when it was last seen). */
const DEVICE_EVENT_RETENTION_MS = 90 * 86_400_000;

/** How long the audit of API requests is kept. */
const REQUEST_AUDIT_RETENTION_MS = 365 * 86_400_000;

/** Firmware packages: who may sign them, and where devices download them. */
export interface FirmwareServeOptions {
  /** Public keys (PEM or DER SPKI) whose signatures uploads must carry; `*.pem` in `<data>/firmware-keys/` are added. */
  trustedKeyFiles?: string[];
  /** Port of the HTTP(S) download listener (on `coapHost`, the device-facing address); undefined: no listener. */
  httpPort?: number;
  /** The listener speaks HTTPS with this certificate chain and key (PEM files). */
  httpTls?: { certFile: string; keyFile: string };
  /** Host devices reach this server by, in Package URIs (default: the DM server URI's host, else `coapHost` unless a wildcard, else 127.0.0.1). */
  publicHost?: string;
  /** True while a campaign needs the package (removal is refused). */
  inUse?: (id: string) => boolean;
}

/** Files for the DTLS server's own credentials and the trust it places in device certificates. */
export interface DtlsFiles {
  /** Server certificate chain (PEM), leaf first: enables X.509 mode. */
  certFile?: string;
  /** Server private key (PEM or PKCS#8 DER); without one a P-256 key is generated and kept sealed in the store. */
  keyFile?: string;
  /** CA certificates (PEM) that device certificates must chain to. */
  caFile?: string;
  /** CRLs (PEM or DER), read at every certificate handshake so a revocation takes effect at once. */
  crlFile?: string;
  /** Also offer the CBC suites LwM2M 1.1 servers must accept (off by default). */
  cbc?: boolean;
}

export interface Warden {
  server: Lwm2mServer;
  api: FastifyInstance;
  model: ModelRegistry;
  apiUrl: string;
  coapPort?: number;
  coapsPort?: number;
  bootstrap?: BootstrapServer;
  ca: CertificateAuthority;
  bootstrapPort?: number;
  bootstrapsPort?: number;
  security: SecurityStore;
  /** Firmware facts learned from devices (/3/0/3, /5/0/3, /5/0/5). */
  deviceFacts: DeviceFactsStore;
  /** Known devices, for GET /api/devices. */
  inventory: DeviceInventory;
  campaigns: FirmwareCampaignManager;
  /** Credential rotation campaigns. */
  rotation: RotationManager;
  firmware: FirmwareRepository;
  /** Bound port of the HTTP(S) download listener, if one runs. */
  firmwareHttpPort?: number;
  /** What /metrics serves (registrations, API and device requests, DTLS handshakes, campaigns). */
  metrics: Metrics;
  /** The URI devices pull a stored package from over `scheme` (throws for a scheme not served). */
  packageUri(id: string, scheme: PackageScheme): string;
  close(): Promise<void>;
}

export async function startWarden(o: WardenOptions): Promise<Warden> {
  const model = new ModelRegistry();
  const metrics = new Metrics();
  if (o.modelsDir) {
    const { loaded, errors } = model.loadDirectory(o.modelsDir);
    o.logger.info({ dir: o.modelsDir, loaded }, 'object models loaded');
    for (const e of errors) o.logger.warn({ file: e.file, err: e.message }, 'object model skipped');
  }
  const store = new SqliteStore(join(o.dataDir, 'warden.db'));
  const box = SecretBox.openOrCreate(join(o.dataDir, 'secret.key'), o.logger);
  const audit = new AuditLog(store);
  const security = new SecurityStore(store, box, {
    onRemoved: (endpoint) => audit.record({ endpoint, kind: 'revoked', actor: 'api' }),
  });
  const sessions = new DtlsSessionStore(store, box);
  const transport = o.coapPort !== undefined ? await UdpTransport.bind(o.coapPort, o.coapHost, 'server') : undefined;
  // Warden's device CA: EST enrollment over CoAPs, and a trust anchor (with its CRL) for device certificates.
  const ca = await CertificateAuthority.openOrCreate({ store, box });
  let dtls: DtlsServer | undefined;
  let dtlsKey: KeyObject | undefined;
  let server: Lwm2mServer | undefined;
  if (o.coapsPort !== undefined) {
    dtlsKey = serverKey(o, store, box);
    dtls = await startDtls(o, dtlsKey, store, security, ca, (from, to) => server?.peerMoved(from, to, true), metrics);
    const { sessions: saved, unreadable } = sessions.take();
    const restored = dtls.importSessions(saved);
    if (saved.length || unreadable) o.logger.info({ restored, unreadable }, 'DTLS sessions restored');
  }
  if (!transport && !dtls) throw new Error('nothing to listen on: give a CoAP or a CoAPs port');
  const firmware = new FirmwareRepository({
    dataDir: o.dataDir, store, trustedKeys: trustedFirmwareKeys(o),
    // Called only once the API serves, after `campaigns` exists.
    inUse: (id: string): boolean => campaigns.usesPackage(id) || (o.firmware?.inUse?.(id) ?? false),
  });
  // Plain CoAP serves packages exactly when Warden accepts NoSec devices, i.e. has a plain listener (see FirmwareCoapRouteOptions).
  const firmwareRoute = firmwareCoapRoute({ repository: firmware, allowPlain: transport !== undefined, logger: o.logger.child({ layer: 'firmware' }) });
  const est = estHandler({
    ca, security, logger: o.logger.child({ layer: 'est' }),
    onIssued: (c, operation) => audit.record({ endpoint: c.endpoint, kind: operation === 'sen' ? 'created' : 'rotated', actor: 'est', detail: { serial: c.serial } }),
  });
  server = await Lwm2mServer.start({
    model, store, transport, secureTransport: dtls,
    authorize: securityAuthorizer(security, (endpoint) => ca.hasActiveCertificate(endpoint)),
    routes: (req, secure) => (secure ? est(req) : undefined) ?? firmwareRoute(req, secure),
    logger: o.logger.child({ layer: 'server' }),
    ...(o.coap ? { coap: o.coap } : {}),
  });
  const deviceFacts = new DeviceFactsStore(store);
  const stopFacts = collectFirmwareFacts(server, deviceFacts, { logger: o.logger.child({ layer: 'inventory' }), inventoryRead: o.inventoryRead ?? true });
  const deviceEvents = new DeviceEventLog(store);
  const agedEvents = deviceEvents.prune(Date.now() - DEVICE_EVENT_RETENTION_MS);
  if (agedEvents) o.logger.info({ events: agedEvents }, 'registration history older than 90 days removed');
  const stopHistory = recordRegistrations(server, deviceEvents);
  const inventory = new DeviceInventory({ server, security, facts: deviceFacts, lastSeen: deviceEvents.lastSeen() });
  server.on('registered', (reg: Registration) => {
    if (reg.identity) audit.usedFirst(reg.endpoint, reg.identity.name);
  });
  // A device that registers with its pending raw public key proves it: the old key goes (Core §6.2 Register/Update).
  const provePendingKey = (reg: Registration) => {
    const presented = reg.identity?.mode === 'rpk' ? dtls?.rawPublicKeyOf(reg.identity) : undefined;
    const pending = presented && security.getPendingRawPublicKey(reg.endpoint);
    if (!pending || !Buffer.from(pending).equals(presented)) return;
    security.promotePendingRawPublicKey(reg.endpoint);
    audit.record({ endpoint: reg.endpoint, kind: 'rotated', actor: 'dm-server', detail: { fingerprint: fingerprint(pending) } });
  };
  server.on('registered', provePendingKey);
  server.on('updated', provePendingKey);
  const firmwareHttp = o.firmware?.httpPort !== undefined
    ? await FirmwareHttpServer.listen({
        repository: firmware, port: o.firmware.httpPort, host: o.coapHost, logger: o.logger.child({ layer: 'firmware-http' }),
        ...(o.firmware.httpTls ? { tls: { cert: readFileSync(o.firmware.httpTls.certFile), key: readFileSync(o.firmware.httpTls.keyFile) } } : {}),
      })
    : undefined;
  const uriConfig: PackageUriConfig = {
    host: o.firmware?.publicHost ?? publicHostOf(o),
    coapPort: transport?.address().port,
    coapsPort: dtls?.address().port,
    httpPort: firmwareHttp && !firmwareHttp.secure ? firmwareHttp.port : undefined,
    httpsPort: firmwareHttp?.secure ? firmwareHttp.port : undefined,
  };
  const boot = await startBootstrap(o, store, box, security, model, dtls?.address().port, audit, ca, dtls && spkiOf(dtlsKey!), metrics);
  const closeOpenedBy = (certs: readonly IssuedCertificate[]) => (dtls && certs.length ? dtls.closeWhere(openedBy(certs)) : { associations: 0, sessions: 0 });
  // Device groups are the bootstrap server's groups (explicit endpoints, or an endpoint prefix over known devices).
  const resolveGroup = (name: string): string[] | undefined => {
    const group = boot?.server.configs.getGroup(name);
    if (!group) return undefined;
    if (group.endpoints) return group.endpoints;
    const prefix = group.endpointPrefix ?? '';
    const known = new Set([...security.list({ limit: 10_000_000 }).map((i) => i.endpoint), ...server!.listRegistrations({ limit: Number.MAX_SAFE_INTEGER }).map((r) => r.endpoint)]);
    return [...known].filter((ep) => ep.startsWith(prefix));
  };
  const rotation = new RotationManager({
    store, security, audit,
    driver: lwm2mRotationDriver(server, {
      rawPublicKeyOf: (identity) => dtls?.rawPublicKeyOf(identity),
      certificateIssuedAt: (identity) => {
        const serial = dtls?.certificateSerialOf(identity);
        const c = serial === undefined ? undefined : ca.certificate(serial);
        return c && c.revokedAt === undefined && c.notAfter.getTime() > Date.now() ? c.issuedAt?.getTime() : undefined;
      },
    }),
    certificates: {
      has: (endpoint) => ca.hasActiveCertificate(endpoint),
      endpoints: () => ca.activeEndpoints(),
      revokeIssuedBefore: (endpoint, time) => {
        const old = ca.certificates(endpoint).filter((c) => c.revokedAt === undefined && (c.issuedAt?.getTime() ?? 0) < time);
        for (const c of old) ca.revoke({ serial: c.serial });
        closeOpenedBy(old);
        return old.map((c) => c.serial);
      },
    },
    resolveGroup,
  });
  // A campaign interrupted by a crash or an upgrade carries on where it stopped.
  const resumed = rotation.resume();
  if (resumed.length) o.logger.info({ campaigns: resumed }, 'rotation campaigns resumed');
  const campaigns: FirmwareCampaignManager = new FirmwareCampaignManager({
    store,
    packages: o.campaignPackages ?? {
      get: (id) => firmware.get(id),
      uri: (id, scheme) => packageUri(uriConfig, id, scheme as PackageScheme),
      content: async (id) => {
        const data = await firmware.open(id);
        if (!data) throw new Error(`no package ${id}`);
        return data;
      },
    },
    driver: lwm2mCampaignDriver(countDeviceRequests(server, metrics, 'campaign'), o.campaignDriver ?? {}),
    resolveGroup,
  });
  const resumedCampaigns = campaigns.resume();
  if (resumedCampaigns.length) o.logger.info({ campaigns: resumedCampaigns }, 'firmware campaigns resumed');
  const { token, origin } = resolveApiToken(o.dataDir, o.apiToken);
  const sessionStore = new SessionStore(store);
  const pruned = sessionStore.prune();
  if (pruned) o.logger.info({ sessions: pruned }, 'expired console sessions removed');
  const requestAudit = new RequestAudit(store);
  const aged = requestAudit.prune(Date.now() - REQUEST_AUDIT_RETENTION_MS);
  if (aged) o.logger.info({ entries: aged }, 'request audit entries older than a year removed');
  const api = await createApi({
    requestAudit,
    access: { users: new UserStore(store), sessions: sessionStore, tokens: new ApiTokenStore(store), secureCookies: o.apiSecureCookies },
    webRoot: o.webRoot ?? defaultWebRoot(),
    server, model, apiToken: token, security, inventory, deviceEvents, bootstrap: boot?.server, credentials: { rotation, audit, ages: security }, campaigns, metrics,
    firmware: {
      repository: firmware,
      uris: (id) => Object.fromEntries(packageSchemes(uriConfig).map((scheme) => [scheme, packageUri(uriConfig, id, scheme)])),
      logger: o.logger.child({ layer: 'firmware' }),
    },
    certificates: {
      ca, audit,
      // The CRL stops new handshakes; associations (and resumable sessions) the certificates opened end here.
      onRevoked: (certs) => {
        if (!dtls) return 0;
        const closed = closeOpenedBy(certs);
        o.logger.info({ serials: certs.map((c) => c.serial), ...closed }, 'certificates revoked: their DTLS sessions ended');
        return closed.associations;
      },
    },
    logger: o.logger.child({ layer: 'api' }),
    ...(o.apiTls ? { https: { cert: readFileSync(o.apiTls.certFile), key: readFileSync(o.apiTls.keyFile) } } : {}),
  });
  await api.listen({ port: o.apiPort, host: o.apiHost });
  const bound = api.server.address();
  const apiUrl = `${o.apiTls ? 'https' : 'http'}://${o.apiHost.includes(':') ? `[${o.apiHost}]` : o.apiHost}:${typeof bound === 'object' && bound ? bound.port : o.apiPort}`;
  const coapPort = transport?.address().port;
  const coapsPort = dtls?.address().port;
  o.logger.info({
    coapPort, coapsPort, bootstrapPort: boot?.port, bootstrapsPort: boot?.securePort, host: o.coapHost, api: apiUrl, apiToken: origin,
    firmwareHttp: firmwareHttp && `${firmwareHttp.secure ? 'https' : 'http'}://${uriConfig.host}:${firmwareHttp.port}`,
  }, 'Warden server started');
  return {
    server,
    api,
    model,
    apiUrl,
    coapPort,
    coapsPort,
    bootstrap: boot?.server,
    ca,
    bootstrapPort: boot?.port,
    bootstrapsPort: boot?.securePort,
    security,
    deviceFacts,
    inventory,
    campaigns,
    rotation,
    firmware,
    firmwareHttpPort: firmwareHttp?.port,
    metrics,
    packageUri: (id, scheme) => packageUri(uriConfig, id, scheme),
    async close() {
      await api.close();
      await firmwareHttp?.close();
      rotation.close();
      await campaigns.close();
      await boot?.server.close();
      await boot?.keyStore?.close();
      // Saved, and closed without close_notify, so devices keep their sessions across an upgrade.
      if (dtls) {
        sessions.save(dtls.exportSessions());
        await dtls.close({ notify: false });
      }
      stopFacts();
      stopHistory();
      inventory.close();
      await server.close();
      deviceEvents.close();
      store.close();
    },
  };
}

/** The firmware signing keys uploads are checked against: the given files and `<data>/firmware-keys/*.pem`. */
function trustedFirmwareKeys(o: WardenOptions): KeyObject[] {
  const dir = join(o.dataDir, 'firmware-keys');
  const files = [...(o.firmware?.trustedKeyFiles ?? []), ...(existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.pem')).sort().map((f) => join(dir, f)) : [])];
  const keys = files.map((f) => {
    const bytes = readFileSync(f);
    return bytes.includes('-----BEGIN') ? createPublicKey(bytes) : createPublicKey({ key: bytes, format: 'der', type: 'spki' });
  });
  if (keys.length === 0) o.logger.warn('no trusted firmware keys (--firmware-key, or PEM files in DATA/firmware-keys): every upload is refused');
  return keys;
}

/** The host in Package URIs when none is configured: where devices already reach this server. */
function publicHostOf(o: WardenOptions): string {
  if (o.dmServerUri) return new URL(o.dmServerUri).hostname.replace(/^\[|\]$/g, '');
  return o.coapHost === '0.0.0.0' || o.coapHost === '::' ? '127.0.0.1' : o.coapHost;
}

/**
 * Selects what one of `certs` authenticated: by the leaf's serial, or by endpoint name for sessions restored after a
 * restart (which no longer know their certificate).
 */
function openedBy(certs: readonly IssuedCertificate[]): (p: PeerCredential) => boolean {
  const serials = new Set(certs.map((c) => c.serial));
  const endpoints = new Set(certs.map((c) => c.endpoint));
  return (p) =>
    p.identity?.mode === 'x509' && (p.certificateSerial !== undefined ? serials.has(p.certificateSerial) : endpoints.has(p.identity.name));
}

const SERVER_KEY_SETTING = 'dtls.serverKey';

/** The DTLS server's key: from a file, or generated once and kept sealed in the store. */
function serverKey(o: WardenOptions, store: SqliteStore, box: SecretBox): KeyObject {
  if (o.dtls?.keyFile) return readPrivateKey(o.dtls.keyFile);
  const sealed = store.getSetting(SERVER_KEY_SETTING);
  if (sealed) return createPrivateKey({ key: Buffer.from(box.open(Buffer.from(sealed, 'base64'), SERVER_KEY_SETTING)), format: 'der', type: 'pkcs8' });
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const der = privateKey.export({ format: 'der', type: 'pkcs8' });
  store.putSetting(SERVER_KEY_SETTING, Buffer.from(box.seal(der, SERVER_KEY_SETTING)).toString('base64'));
  o.logger.info('generated the DTLS server key (raw public key mode); it is kept sealed in the store');
  return privateKey;
}

const SERVER_CERT_SETTING = 'dtls.serverCertificate';
const RENEW_BEFORE = 30 * 86_400_000;

/**
 * Without a `--cert` file the DTLS server presents a certificate from Warden's own CA, naming the host of the DM
 * server URI, so devices given CA-issued credentials (bootstrap `dmCredential` certificate or est) can check it
 * against the CA (Certificate Usage 2). Kept in the store; re-issued when the key or the names change, or 30 days
 * before it expires.
 */
function serverCertificate(o: WardenOptions, store: SqliteStore, ca: CertificateAuthority, privateKey: KeyObject): Uint8Array {
  const host = o.dmServerUri ? new URL(o.dmServerUri).hostname.replace(/^\[|\]$/g, '') : undefined;
  const names = host ? [host] : ['127.0.0.1', 'localhost'];
  const saved = store.getSetting(SERVER_CERT_SETTING);
  if (saved) {
    const der = Buffer.from(saved, 'base64');
    const cert = new X509Certificate(der);
    const fits = cert.publicKey.export({ format: 'der', type: 'spki' }).equals(createPublicKey(privateKey).export({ format: 'der', type: 'spki' }))
      && names.every((n) => (isIP(n) ? cert.checkIP(n) : cert.checkHost(n)) !== undefined)
      && cert.checkIssued(new X509Certificate(ca.caCertificate()))
      && new Date(cert.validTo).getTime() - Date.now() > RENEW_BEFORE;
    if (fits) return new Uint8Array(der);
  }
  const der = ca.issueServerCertificate(createPublicKey(privateKey), { names });
  store.putSetting(SERVER_CERT_SETTING, Buffer.from(der).toString('base64'));
  o.logger.info({ names }, 'issued the DTLS server certificate from Warden\'s CA');
  return der;
}

async function startDtls(
  o: WardenOptions,
  privateKey: KeyObject,
  store: SqliteStore,
  security: SecurityStore,
  ca: CertificateAuthority,
  onPeerMoved: (from: PeerAddress, to: PeerAddress) => void,
  metrics: Metrics,
): Promise<DtlsServer> {
  const files = o.dtls ?? {};
  const trustAnchors = [ca.caCertificate(), ...(files.caFile ? readDerObjects(files.caFile, 'CERTIFICATE') : [])];
  const crlFile = files.crlFile;
  return DtlsServer.bind(o.coapsPort!, o.coapHost, {
    pskLookup: security.pskLookup(),
    verifyRawPublicKey: createRawPublicKeyVerifier(security.rawPublicKeyLookup()),
    verifyCertificate: createCertificateVerifier({
      trustAnchors,
      crls: () => (crlFile ? [ca.crl(), ...readDerObjects(crlFile, 'X509 CRL')] : [ca.crl()]),
      logger: o.logger,
    }),
    certificate: { chain: files.certFile ? readDerObjects(files.certFile, 'CERTIFICATE') : [serverCertificate(o, store, ca, privateKey)], privateKey },
    rawPublicKey: { privateKey },
    cipherSuites: files.cbc
      ? [...DEFAULT_SERVER_SUITES, CipherSuite.TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256, CipherSuite.TLS_PSK_WITH_AES_128_CBC_SHA256]
      : undefined,
    logger: o.logger.child({ layer: 'dtls' }),
    onHandshake: (e) => {
      metrics.dtlsHandshake('dm', e);
      o.onDtlsHandshake?.(e);
    },
    onPeerMoved,
    onHandshakeFailure: (e) => {
      metrics.dtlsHandshakeFailed('dm', e);
      o.logger.info({ peer: `${e.peer.address}:${e.peer.port}`, alert: e.alert?.message }, 'DTLS handshake failed');
    },
  });
}

/**
 * Factory keys come from the key store when `warden keys init` made one and its secret is in the environment
 * (WARDEN_KEYSTORE_PASS, or WARDEN_PKCS11_PIN for a token); the server never prompts.
 */
async function factoryKeys(o: WardenOptions): Promise<{ keys: FactoryKeys & { endpointFor(identity: string): string | undefined }; store: KeyStore } | undefined> {
  const hasSoftware = existsSync(join(o.dataDir, 'keystore.json'));
  const hasToken = existsSync(join(o.dataDir, 'pkcs11.json'));
  if (!hasSoftware && !hasToken) return undefined;
  if (hasToken ? !process.env.WARDEN_PKCS11_PIN : !process.env.WARDEN_KEYSTORE_PASS) {
    o.logger.warn(`a key store exists but ${hasToken ? 'WARDEN_PKCS11_PIN' : 'WARDEN_KEYSTORE_PASS'} is not set: factory keys are not available to bootstrap`);
    return undefined;
  }
  const noPrompt: KeysCliIo = {
    env: process.env,
    out: () => {},
    err: () => {},
    progress: () => {},
    askSecret: () => Promise.reject(new Error('the server never prompts for a secret')),
  };
  const store = await openKeyStore({ data: o.dataDir }, noPrompt);
  if (!(await store.hasKey(FACTORY_MASTER_LABEL))) {
    await store.close();
    return undefined;
  }
  const deriver = new FactoryKeyDeriver(store, { masterLabel: FACTORY_MASTER_LABEL, keyVersion: 1 });
  return {
    store,
    keys: {
      keyFor: (identity) => deriver.keyFor(identity),
      endpointFor: (identity) => deriver.parseIdentity(identity)?.endpoint,
    },
  };
}

async function startBootstrap(
  o: WardenOptions,
  store: SqliteStore,
  box: SecretBox,
  security: SecurityStore,
  model: ModelRegistry,
  coapsPort: number | undefined,
  audit: AuditLog,
  ca: CertificateAuthority,
  dmServerPublicKey: Uint8Array | undefined,
  metrics: Metrics,
): Promise<{ server: BootstrapServer; port?: number; securePort?: number; keyStore?: KeyStore } | undefined> {
  if (o.bootstrapPort === undefined && o.bootstrapsPort === undefined) return undefined;
  const factory = await factoryKeys(o);
  const plain = o.bootstrapPort !== undefined ? await UdpTransport.bind(o.bootstrapPort, o.coapHost, 'server') : undefined;
  const secure = o.bootstrapsPort !== undefined
    ? await DtlsServer.bind(o.bootstrapsPort, o.coapHost, {
        pskLookup: bootstrapPskLookup({ factoryKeys: factory?.keys }),
        logger: o.logger.child({ layer: 'bootstrap-dtls' }),
        onHandshake: (e) => metrics.dtlsHandshake('bootstrap', e),
        onHandshakeFailure: (e) => metrics.dtlsHandshakeFailed('bootstrap', e),
      })
    : undefined;
  // Security mode 4: a device enrolls over its bootstrap session, for its own endpoint, when its configuration says so.
  let server: BootstrapServer | undefined;
  const est = estHandler({
    ca,
    endpointOf: (identity) => {
      const endpoint = server?.endpointOf(identity);
      return endpoint !== undefined && server?.configs.resolve(endpoint)?.dmCredential === 'est' ? endpoint : undefined;
    },
    onIssued: (c) => audit.record({ endpoint: c.endpoint, kind: 'created', actor: 'bootstrap-est', detail: { serial: c.serial } }),
    logger: o.logger.child({ layer: 'bootstrap-est' }),
  });
  server = await BootstrapServer.start({
    transport: plain, secureTransport: secure, store, security, box, model, ca, routes: est, dmServerPublicKey,
    dmServerUri: o.dmServerUri ?? `coaps://127.0.0.1:${coapsPort ?? 5684}`,
    factoryKeys: factory?.keys,
    audit,
    endpointForIdentity: factory ? (id) => factory.keys.endpointFor(id) ?? id : undefined,
    logger: o.logger.child({ layer: 'bootstrap' }),
  });
  return { server, port: plain?.address().port, securePort: secure?.address().port, keyStore: factory?.store };
}
