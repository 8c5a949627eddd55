/**
 * The LwM2M client: registration (LwM2M 1.1 Core §6.2, Transport §6.2), the Device Management
 * and Information Reporting interfaces over its objects (dispatch.ts, observe.ts), Send (Core §6.4.3)
 * and Queue Mode (Transport §6.5). Cheap per instance: one socket, one endpoint, one timer.
 */
import { EventEmitter } from 'node:events';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import {
  CoapEndpoint,
  CoapError,
  codeToString,
  getStrings,
  Method,
  OptionNumber,
  systemClock,
  UdpTransport,
  uintOption,
  uriPathOptions,
  uriQueryOptions,
  type Clock,
  type CoapEndpointOptions,
  type CoapOption,
  type CoapResponse,
  type IncomingRequest,
  type OutgoingResponse,
  type PeerAddress,
  type PeerIdentity,
  type Transport,
} from '../coap/index.js';
import {
  compositeCodecFor,
  ContentFormat,
  Lwm2mError,
  Lwm2mPath,
  ModelRegistry,
  ResponseCode,
  supportedFormats,
  type Attributes,
  type Model,
  type PathNode,
  type ResourceValue,
} from '../lwm2m/index.js';
import { DtlsAlert, type DtlsClient, type DtlsClientOptions } from '../dtls/index.js';
import { silentLogger, type Logger } from '../log.js';
import { AttributeStore } from './attribute-store.js';
import { runClientBootstrap, type ClientBootstrapOptions } from './bootstrap.js';
import { RequestDispatcher } from './dispatch.js';
import { DtlsLink } from './dtls-link.js';
import type { ClientAction, EnablerHost, ObjectEnabler } from './object.js';
import { AccessControlObject } from './objects/access-control.js';
import { standardObjects, type StandardObjectsOptions } from './objects/index.js';
import { SecurityResource } from './objects/security.js';
import { ServerInstance, ServerResource } from './objects/server.js';
import { ObservationManager } from './observe.js';
import { objectLinks, registerQuery, type Lwm2mVersion } from './registration.js';
import { Scheduler } from './scheduler.js';
import { checkSchemeAndMode, dtlsClientOptions, findSecurityAccount, findSecurityAccountFor, securityCredentials, type ClientSecurity, type SecurityAccount } from './security.js';
import { ObjectTree } from './tree.js';
import { bool, int, opaque, str } from './value.js';

/** Back-off of failed registrations (Core §6.2.1.1, Communication Retry Timer / Count / Sequence Delay). */
export interface RetryOptions {
  /** First retry delay in ms, doubled at each failure (Communication Retry Timer, default 60 s). */
  initialDelay?: number;
  /** Attempts in a sequence (Communication Retry Count, default 5). */
  attempts?: number;
  /** Pause between sequences in ms (Communication Sequence Delay Timer, default 24 h). */
  sequenceDelay?: number;
}

/** DTLS settings beyond the Security object. */
export interface ClientDtlsOptions {
  /** Initial handshake retransmission timer in ms (RFC 6347 §4.2.4.1: 1 s; RFC 7925 §11: 9 s on slow links). */
  retransmitInitial?: number;
  /** IANA cipher suite numbers to offer (default: CCM_8 and GCM suites for the credentials). */
  cipherSuites?: number[];
  /** Handshake flight retransmissions before the handshake fails (default 6, RFC 6347 §4.2.4). */
  maxRetransmissions?: number;
}

export interface Lwm2mClientOptions {
  /** Endpoint Client Name (`ep`). */
  endpoint: string;
  /**
   * `coap://host[:port]` (NoSec) or `coaps://host[:port]` (DTLS); default coap://127.0.0.1:5683, or
   * coaps://127.0.0.1:5684 with `security`. Stored in the Security object (/0/0/0).
   */
  serverUri?: string;
  /**
   * Credentials, written into the standard Security object (/0/0: mode, identity/keys, certificate usage); the
   * client reads them back from there when it connects. Default NoSec.
   */
  security?: ClientSecurity;
  /** Negotiate a DTLS Connection ID (RFC 9146) so the session survives NAT rebinding (default true). */
  connectionId?: boolean;
  dtls?: ClientDtlsOptions;
  /** Registration lifetime in seconds (default 300). */
  lifetime?: number;
  queueMode?: boolean;
  /** Queue Mode: ms without traffic before the client sleeps (default 93000, MAX_TRANSMIT_WAIT). */
  queueModeAwakeTime?: number;
  lwm2mVersion?: Lwm2mVersion;
  /** The objects to run; defaults to the standard set 0-6 (see `standard`). */
  objects?: ObjectEnabler[];
  /** Options of the default standard objects. */
  standard?: Partial<Omit<StandardObjectsOptions, 'serverUri' | 'lifetime' | 'binding'>>;
  /** Definitions (default: a ModelRegistry with the core objects). */
  model?: Model;
  /**
   * Local address of the client's UDP sockets (default: any). Each address has its own ephemeral ports (about
   * 28,000 on Linux), so a fleet larger than that on one host spreads over several (e.g. 127.0.0.2, 127.0.0.3).
   */
  localAddress?: string;
  /** A datagram transport; default: a new UdpTransport on an ephemeral port, closed on stop. */
  transport?: Transport;
  /** Close a given `transport` on stop (default false: the caller owns it). */
  closeTransport?: boolean;
  logger?: Logger;
  /** Timers of the client (registration, observation periods, queue mode, value changes). */
  clock?: Clock;
  /** Uniform random numbers in [0, 1). */
  random?: () => number;
  /** Wall clock, ms since the epoch (Current Time, timestamps of Send). */
  wallClock?: () => number;
  /** Content-Format for Read/Observe without Accept (default SenML CBOR for 1.1, TLV for 1.0). */
  preferredFormat?: number;
  /** Short Server ID of the server (default 1). */
  shortServerId?: number;
  /** Simulated value changes every this many ms (default 10000; 0 disables). */
  valueUpdateInterval?: number;
  retry?: RetryOptions;
  /** Timeout in ms of each registration request exchange (default: the CoAP exchange lifetime). */
  requestTimeout?: number;
  /** Options of the CoAP endpoint the client creates. */
  coap?: CoapEndpointOptions;
  /**
   * The Bootstrap-Server account (Core §6.1). With it, the client bootstraps when /0 holds no LwM2M Server account
   * (give neither `serverUri` nor `security` for a device that only has its factory bootstrap credentials), when
   * the DM server refuses it `refusalsBeforeBootstrap` times in a row, and when /1/x/9 is executed.
   */
  bootstrap?: ClientBootstrapOptions;
}

type State = 'stopped' | 'registering' | 'registered' | 'disabled';

const CORE_LINK = ContentFormat.CORE_LINK;

/** Content-Formats announced in `ct` (Core §6.2.1): the multi-node ones the client encodes. */
const ANNOUNCED = supportedFormats.filter((f) => f !== ContentFormat.TEXT && f !== ContentFormat.OPAQUE).sort((a, b) => a - b);

/**
 * An LwM2M client. Events: 'registered' (location), 'updated', 'deregistered', 'registration-failed'
 * (error), 'sleeping', 'awake', 'reboot'.
 */
export class Lwm2mClient extends EventEmitter {
  readonly endpointName: string;
  readonly lwm2mVersion: Lwm2mVersion;
  readonly queueMode: boolean;
  readonly tree: ObjectTree;
  readonly attributes = new AttributeStore();
  readonly observations: ObservationManager;
  readonly logger: Logger;

  private readonly options: Lwm2mClientOptions;
  private readonly serverUri: string;
  private readonly clock: Clock;
  private readonly randomSource: () => number;
  private readonly wallClock: () => number;
  private readonly preferredFormat: number;
  private readonly awakeTime: number;
  private readonly dispatcher: RequestDispatcher;
  private readonly host: EnablerHost;
  private scheduler: Scheduler;
  private coap: CoapEndpoint | undefined;
  private gate: GatedTransport | undefined;
  private link: DtlsLink | undefined;
  private account: SecurityAccount | undefined;
  private peer: PeerAddress | undefined;
  private state: State = 'stopped';
  private location: string[] | undefined;
  private registered: { lifetime: number; binding: string } | undefined;
  private objectsDirty = false;
  private updateSoon = false;
  private updating: Promise<void> | undefined;
  private sleeping = false;
  private attempt = 0;
  private cancelUpdateTimer: (() => void) | undefined;
  private cancelRetry: (() => void) | undefined;
  private cancelSleep: (() => void) | undefined;
  private cancelTick: (() => void) | undefined;
  private waiters: { resolve: () => void; reject: (err: Error) => void }[] = [];
  private forceBootstrap = false;
  private refusals = 0;
  private bootstrapping = false;

  constructor(options: Lwm2mClientOptions) {
    super();
    this.options = options;
    this.endpointName = options.endpoint;
    const secured = options.security !== undefined && options.security.mode !== 'nosec';
    this.serverUri = options.serverUri ?? (secured ? 'coaps://127.0.0.1:5684' : 'coap://127.0.0.1:5683');
    if (options.security && options.objects) {
      throw new Error('the security option fills the standard Security object: with your own objects, put the credentials in your Security object (/0)');
    }
    const credentials = options.security ? securityCredentials(options.security) : undefined;
    if (!options.objects) checkSchemeAndMode(this.serverUri, credentials?.securityMode ?? 3);
    this.lwm2mVersion = options.lwm2mVersion ?? '1.1';
    this.queueMode = options.queueMode ?? false;
    this.awakeTime = options.queueModeAwakeTime ?? 93_000;
    this.clock = options.clock ?? systemClock;
    this.randomSource = options.random ?? Math.random;
    this.wallClock = options.wallClock ?? Date.now;
    this.preferredFormat = options.preferredFormat ?? (this.lwm2mVersion === '1.0' ? ContentFormat.TLV : ContentFormat.SENML_CBOR);
    this.logger = (options.logger ?? silentLogger).child({ ep: options.endpoint });
    this.scheduler = new Scheduler(this.clock, (err) => this.logger.error({ err }, 'client timer failed'));
    const model = options.model ?? new ModelRegistry();
    const shortServerId = options.shortServerId ?? 1;
    const objects =
      options.objects ??
      standardObjects(model, {
        ...options.standard,
        serverUri: this.serverUri,
        shortServerId,
        ...(credentials ? { security: credentials } : {}),
        lifetime: options.lifetime ?? 300,
        binding: this.lwm2mVersion === '1.0' && this.queueMode ? 'UQ' : 'U',
      });
    if (options.bootstrap && !options.objects) addBootstrapAccount(objects, options.bootstrap, options.serverUri === undefined && options.security === undefined);
    this.tree = new ObjectTree(model, objects);
    const self = this;
    this.host = {
      fireChange: (paths) => this.observations.changed(paths),
      instancesChanged: (objectId) => this.instancesChanged(objectId),
      wallNow: () => this.wallClock(),
      random: () => this.randomSource(),
      schedule: (ms, fn) => this.scheduler.schedule(ms, fn),
      trigger: (action) => this.onAction(action),
    };
    this.observations = new ObservationManager({
      tree: this.tree,
      attributes: this.attributes,
      get scheduler() {
        return self.scheduler;
      },
      serverDefaults: () => this.serverDefaults(),
      encode: (paths, composite, format) => this.dispatcher.encode(paths, composite, format),
      beforeNotify: () => this.wakeForTraffic(),
    });
    this.dispatcher = new RequestDispatcher({
      tree: this.tree,
      attributes: this.attributes,
      observations: this.observations,
      logger: this.logger,
      preferredFormat: this.preferredFormat,
      fireChange: (paths) => this.observations.changed(paths),
      instancesChanged: (objectId) => this.instancesChanged(objectId),
    });
  }

  /** True while registered (and not disabled). */
  get isRegistered(): boolean {
    return this.state === 'registered';
  }

  /** True while sleeping in Queue Mode. */
  get isSleeping(): boolean {
    return this.sleeping;
  }

  /** The registration's Location-Path (e.g. ["rd", "abc"]) while registered. */
  get registrationLocation(): readonly string[] | undefined {
    return this.location;
  }

  /** The local address of the client's socket (when it owns a UdpTransport or a DTLS association). */
  get localAddress(): { address: string; port: number } | undefined {
    const t = this.gate?.inner;
    if (t instanceof DtlsLink) return t.localAddress();
    return t instanceof UdpTransport ? t.address() : undefined;
  }

  /** The DTLS association to the server (suite, Connection ID, server identity) over coaps://. */
  get dtls(): DtlsClient | undefined {
    return this.link?.current;
  }

  /**
   * Moves the DTLS association to a new local port, as a NAT rebinding does, then sends an Update so the server
   * learns the new address (the association itself follows by its Connection ID, RFC 9146 §6).
   */
  async rebind(): Promise<void> {
    if (!this.link) throw new Error('rebind needs a coaps:// server');
    await this.link.rebind();
    if (this.state === 'registered') await this.update();
  }

  /**
   * Opens the transport and registers; resolves once registered (failed attempts are retried with
   * back-off and reported as 'registration-failed'); rejects if stopped before that.
   */
  async start(): Promise<void> {
    if (this.state !== 'stopped') throw new Error('client already started');
    this.state = 'registering';
    if (this.options.bootstrap && (this.forceBootstrap || !findSecurityAccount(this.tree, this.options.shortServerId ?? 1))) {
      this.forceBootstrap = false;
      try {
        await this.bootstrapNow();
      } catch (err) {
        // Rolled back: register with the previous configuration if there is one.
        if (!findSecurityAccount(this.tree, this.options.shortServerId ?? 1)) {
          this.state = 'stopped';
          throw err;
        }
      }
      if ((this.state as State) === 'stopped') throw new Error('client stopped');
    }
    try {
      // The Security object is the source of truth (Core Appendix E.1); without one, the serverUri option.
      const account = findSecurityAccount(this.tree, this.options.shortServerId ?? 1);
      this.account = account;
      const uri = account?.serverUri || this.serverUri;
      const secure = checkSchemeAndMode(uri, account?.securityMode ?? 3);
      if (secure && this.options.transport) throw new Error('a coaps:// server URI needs the client\'s own DTLS transport: do not pass `transport`');
      if (secure) this.dtlsOptions(); // configuration errors now, not at each retry
      this.peer = await resolvePeer(uri);
      let inner: Transport;
      if (secure) {
        const peer = this.peer;
        this.link = new DtlsLink(peer, () => this.dtlsOptions(), () => this.connectionLost());
        inner = this.link;
      } else {
        inner = this.options.transport ?? (await UdpTransport.bind(0, this.options.localAddress ?? (this.peer.family === 'IPv6' ? '::' : '0.0.0.0')));
      }
      const owned = this.options.transport === undefined || this.options.closeTransport === true;
      this.gate = new GatedTransport(inner, owned, () => this.onTraffic());
      this.coap = new CoapEndpoint(this.gate, { logger: this.logger, ...this.options.coap });
    } catch (err) {
      this.state = 'stopped';
      throw err;
    }
    this.scheduler = new Scheduler(this.clock, (err) => this.logger.error({ err }, 'client timer failed'));
    this.coap.onRequest((req) => this.onRequest(req));
    for (const e of this.tree.enablers()) e.attach(this.host);
    this.syncAccessControl();
    this.objectsDirty = false;
    this.scheduleTick();
    const registered = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    this.registerLoop();
    return registered;
  }

  /**
   * Client-initiated bootstrap now (as /1/x/9 does): de-registers, bootstraps, and registers with the new
   * configuration, or with the previous one when the bootstrap failed and was rolled back. Resolves once registered.
   */
  requestBootstrap(): Promise<void> {
    if (!this.options.bootstrap) return Promise.reject(new Error('no bootstrap account configured'));
    return this.restartWithBootstrap();
  }

  private async restartWithBootstrap(): Promise<void> {
    if (this.bootstrapping || this.state === 'stopped') return;
    this.bootstrapping = true;
    const waiters = this.waiters.splice(0);
    try {
      await this.stop({ deregister: this.state === 'registered' });
      this.forceBootstrap = true;
      await this.start();
      for (const w of waiters) w.resolve();
    } catch (err) {
      for (const w of waiters) w.reject(err as Error);
      throw err;
    } finally {
      this.bootstrapping = false;
    }
  }

  private async bootstrapNow(): Promise<void> {
    this.emit('bootstrap-started');
    try {
      const sec = this.options.bootstrap!.security;
      await runClientBootstrap({
        tree: this.tree,
        endpoint: this.endpointName,
        version: this.lwm2mVersion,
        preferredFormat: this.preferredFormat,
        resolve: resolvePeer,
        dtls: {
          connectionId: this.options.connectionId ?? true,
          ...(sec.mode === 'x509' && sec.trustAnchors ? { trustAnchors: sec.trustAnchors } : {}),
          ...(this.options.dtls?.retransmitInitial !== undefined ? { retransmitInitial: this.options.dtls.retransmitInitial } : {}),
          ...(this.options.localAddress !== undefined ? { localAddress: this.options.localAddress } : {}),
          logger: this.logger,
          clock: this.clock,
        },
        clock: this.clock,
        logger: this.logger,
        timeout: this.options.bootstrap!.timeout ?? 60_000,
        ...(this.options.coap ? { coap: this.options.coap } : {}),
      });
      this.emit('bootstrap-finished');
    } catch (err) {
      this.emit('bootstrap-failed', err);
      throw err;
    }
  }

  /** De-registers (Core §6.2.3) unless `deregister` is false, then closes everything. */
  async stop(options: { deregister?: boolean } = {}): Promise<void> {
    if (this.state === 'stopped') return;
    const wasRegistered = this.state === 'registered';
    this.state = 'stopped';
    this.clearTimers();
    for (const w of this.waiters.splice(0)) w.reject(new Error('client stopped'));
    this.observations.clear();
    if ((options.deregister ?? true) && wasRegistered && this.location) {
      this.wake();
      try {
        await this.deregister();
      } catch (err) {
        this.logger.warn({ err }, 'de-registration failed');
      }
    }
    this.location = undefined;
    this.registered = undefined;
    for (const e of this.tree.enablers()) e.detach();
    this.scheduler.close();
    const coap = this.coap;
    this.coap = undefined;
    this.gate = undefined;
    this.link = undefined;
    await coap?.close();
  }

  /**
   * Registration Update (Core §6.2.2): `lt`/`b` when they changed, the object links when
   * objects or instances changed. A 4.04 answer makes the client register again.
   */
  update(): Promise<void> {
    if (this.state !== 'registered' || !this.location) return Promise.reject(new Error('not registered'));
    // One Update at a time; a request made meanwhile gets its own Update after the current one.
    if (this.updating) return this.updating.catch(() => {}).then(() => this.update());
    this.wake();
    const run = async (): Promise<boolean> => {
      try {
        return await this.doUpdate();
      } finally {
        this.updating = undefined;
      }
    };
    this.updating = run().then((updated) => {
      if (updated) this.emit('updated');
    });
    return this.updating;
  }

  /**
   * Send (Core §6.4.3, Transport §6.4): POST /dp with the current values at `paths`, timestamped,
   * in SenML CBOR (or the preferred composite format). Rejects with Lwm2mError on an error answer.
   */
  async send(paths: readonly (Lwm2mPath | string)[]): Promise<void> {
    if (this.state !== 'registered' || !this.peer) throw new Error('not registered');
    const server = this.serverInstance();
    if (server?.get(ServerResource.MuteSend)?.value === true) throw new Error('Send is muted by the server (/1/x/23)');
    const time = new Date(this.wallClock());
    const nodes: PathNode[] = paths.map((p) => {
      const path = typeof p === 'string' ? Lwm2mPath.parse(p) : p;
      return { path, node: this.tree.read(path), time };
    });
    const format =
      this.preferredFormat === ContentFormat.SENML_JSON || this.preferredFormat === ContentFormat.SENML_CBOR
        ? this.preferredFormat
        : ContentFormat.SENML_CBOR;
    const payload = compositeCodecFor(format)!.encodeNodes(nodes, this.tree.model);
    if (this.sleeping) await this.update();
    const res = await this.request({
      code: Method.POST,
      options: [...uriPathOptions(['dp']), uintOption(OptionNumber.ContentFormat, format)],
      payload,
    });
    if (res.code !== ResponseCode.Changed) throw new Lwm2mError(res.code, `Send refused: ${codeToString(res.code)}`);
  }

  // ---- Registration ------------------------------------------------------------------------

  private registerLoop(): void {
    if (this.state === 'stopped') return;
    this.state = 'registering';
    this.register().then(
      () => {
        this.attempt = 0;
        this.refusals = 0;
        for (const w of this.waiters.splice(0)) w.resolve();
      },
      (err: unknown) => {
        if (this.state === 'stopped') return;
        this.logger.warn({ err }, 'registration failed');
        this.emit('registration-failed', err);
        if (this.options.bootstrap && isRefusal(err)) {
          // Every DM server refuses the client: back to the Bootstrap-Server (Core §6.2.1.1).
          if (++this.refusals >= (this.options.bootstrap.refusalsBeforeBootstrap ?? 3)) {
            this.refusals = 0;
            void this.restartWithBootstrap();
            return;
          }
        } else {
          this.refusals = 0;
        }
        const retry = this.options.retry ?? {};
        const attempts = retry.attempts ?? 5;
        const initial = retry.initialDelay ?? 60_000;
        let delay: number;
        if (this.attempt + 1 < attempts) {
          delay = initial * 2 ** this.attempt;
          this.attempt++;
        } else {
          delay = retry.sequenceDelay ?? 86_400_000;
          this.attempt = 0;
        }
        this.cancelRetry = this.scheduler.schedule(delay, () => {
          this.cancelRetry = undefined;
          this.registerLoop();
        });
      },
    );
  }

  private async register(): Promise<void> {
    // Over coaps:// the handshake comes first (again, when the association was lost); its failure is this attempt's.
    if (this.link && !this.link.usable) {
      await this.link.connect();
      if ((this.state as State) === 'stopped') return;
    }
    const server = this.serverInstance();
    const lifetime = server?.number(ServerResource.Lifetime) ?? this.options.lifetime ?? 300;
    const binding = server?.string(ServerResource.Binding) ?? 'U';
    const query = registerQuery({
      endpoint: this.endpointName,
      lifetime,
      lwm2mVersion: this.lwm2mVersion,
      binding,
      queueMode: this.queueMode,
    });
    this.wake();
    const res = await this.request({
      code: Method.POST,
      options: [...uriPathOptions(['rd']), uintOption(OptionNumber.ContentFormat, CORE_LINK), ...uriQueryOptions(query)],
      payload: Buffer.from(objectLinks(this.tree.enablers(), this.lwm2mVersion, ANNOUNCED), 'utf8'),
    });
    if (this.state === 'stopped') return;
    if (res.code !== ResponseCode.Created) throw new Lwm2mError(res.code, `Register refused: ${codeToString(res.code)}`);
    const location = getStrings(res, OptionNumber.LocationPath);
    if (location.length === 0) throw new Lwm2mError(ResponseCode.BadRequest, 'Register answer without Location-Path');
    // A new registration ends the observations of the previous one (Core §6.2.1).
    this.observations.clear();
    this.location = location;
    this.registered = { lifetime, binding };
    this.objectsDirty = false;
    this.state = 'registered';
    this.scheduleUpdate(lifetime);
    this.emit('registered', { location: '/' + location.join('/') });
  }

  /** Sends the Update; true when the server accepted it. */
  private async doUpdate(): Promise<boolean> {
    const server = this.serverInstance();
    const lifetime = server?.number(ServerResource.Lifetime) ?? this.registered!.lifetime;
    const binding = server?.string(ServerResource.Binding) ?? this.registered!.binding;
    const query: string[] = [];
    if (lifetime !== this.registered!.lifetime) query.push(`lt=${lifetime}`);
    if (binding !== this.registered!.binding) query.push(`b=${binding}`);
    const withLinks = this.objectsDirty;
    this.objectsDirty = false;
    const location = this.location;
    const options = [...uriPathOptions(location!), ...uriQueryOptions(query)];
    let payload: Uint8Array | undefined;
    if (withLinks) {
      options.push(uintOption(OptionNumber.ContentFormat, CORE_LINK));
      payload = Buffer.from(objectLinks(this.tree.enablers(), this.lwm2mVersion, ANNOUNCED), 'utf8');
    }
    let res: CoapResponse;
    try {
      res = await this.request({ code: Method.POST, options, ...(payload ? { payload } : {}) });
    } catch (err) {
      if (withLinks) this.objectsDirty = true;
      throw err;
    }
    // A late answer about a registration replaced meanwhile (re-registered after the association was lost).
    if (this.state !== 'registered' || this.location !== location) return false;
    if (res.code === ResponseCode.Changed) {
      this.registered = { lifetime, binding };
      this.scheduleUpdate(lifetime);
      return true;
    }
    if (withLinks) this.objectsDirty = true;
    if (res.code === ResponseCode.NotFound) {
      // The server forgot the registration (Core §6.2.2): register again.
      this.location = undefined;
      this.cancelUpdateTimer?.();
      this.registerLoop();
      return false;
    }
    throw new Lwm2mError(res.code, `Update refused: ${codeToString(res.code)}`);
  }

  private async deregister(): Promise<void> {
    const res = await this.request({ code: Method.DELETE, options: uriPathOptions(this.location!) }, this.options.requestTimeout ?? 5000);
    if (res.code !== ResponseCode.Deleted) throw new Lwm2mError(res.code, `De-register refused: ${codeToString(res.code)}`);
    this.emit('deregistered');
  }

  /** Next Update before the lifetime runs out: at lifetime - max(10 s, 10%), at least at half of it. */
  private scheduleUpdate(lifetime: number): void {
    this.cancelUpdateTimer?.();
    const margin = Math.min(Math.max(10, lifetime * 0.1), lifetime / 2);
    this.cancelUpdateTimer = this.scheduler.schedule((lifetime - margin) * 1000, () => {
      this.cancelUpdateTimer = undefined;
      this.backgroundUpdate();
    });
  }

  /** An Update nobody awaits: a failure other than 4.04 makes the client register again. */
  private backgroundUpdate(): void {
    if (this.state !== 'registered') return;
    this.update().catch((err: unknown) => {
      if (this.state !== 'registered') return;
      this.logger.warn({ err }, 'update failed, registering again');
      this.location = undefined;
      this.registerLoop();
    });
  }

  private request(req: { code: number; options: CoapOption[]; payload?: Uint8Array }, timeout?: number): Promise<CoapResponse> {
    const coap = this.coap;
    if (!coap || !this.peer) return Promise.reject(new Error('client not started'));
    const t = timeout ?? this.options.requestTimeout;
    const sent = coap.request(this.peer, req, t !== undefined ? { timeout: t } : {});
    const link = this.link;
    if (!link) return sent;
    const generation = link.generation;
    return sent.catch((err: unknown) => {
      // No answer over DTLS: the server may have lost the association (restart without its sessions).
      if (err instanceof CoapError && err.code === 'TIMEOUT') link.suspect(generation);
      throw err;
    });
  }

  /**
   * DTLS options for a coaps:// firmware download from `uri`: the credentials of the Security instance whose Server
   * URI has the same host and port; undefined when none has.
   */
  dtlsOptionsFor(uri: string): DtlsClientOptions | undefined {
    const account = findSecurityAccountFor(this.tree, uri);
    return account && this.dtlsOptionsOf(account);
  }

  /** DtlsClientOptions from the Security object as it is now. */
  private dtlsOptions(): DtlsClientOptions {
    const account = findSecurityAccount(this.tree, this.options.shortServerId ?? 1) ?? this.account;
    if (!account) throw new Error('no Security object instance for the server');
    return this.dtlsOptionsOf(account);
  }

  private dtlsOptionsOf(account: SecurityAccount): DtlsClientOptions {
    const sec = this.options.security;
    return dtlsClientOptions(account, {
      connectionId: this.options.connectionId ?? true,
      ...(sec?.mode === 'x509' && sec.trustAnchors ? { trustAnchors: sec.trustAnchors } : {}),
      ...(this.options.dtls?.retransmitInitial !== undefined ? { retransmitInitial: this.options.dtls.retransmitInitial } : {}),
      ...(this.options.dtls?.cipherSuites ? { cipherSuites: this.options.dtls.cipherSuites } : {}),
      ...(this.options.dtls?.maxRetransmissions !== undefined ? { maxRetransmissions: this.options.dtls.maxRetransmissions } : {}),
      ...(this.options.localAddress !== undefined ? { localAddress: this.options.localAddress } : {}),
      logger: this.logger,
      clock: this.clock,
    });
  }

  /** The DTLS association is gone (alert, close_notify, or no answers): handshake and register again. */
  private connectionLost(): void {
    this.scheduler.schedule(0, () => {
      if (this.state !== 'registered') return;
      this.logger.warn('DTLS association lost: connecting and registering again');
      this.clearRegistrationTimers();
      this.location = undefined;
      this.registerLoop();
    });
  }

  // ---- Requests from the server ------------------------------------------------------------

  private onRequest(req: IncomingRequest): Promise<OutgoingResponse> {
    return this.dispatcher.handle(req);
  }

  private onAction(action: ClientAction): void {
    // Acted on after the response to the triggering request has gone out.
    this.scheduler.schedule(0, () => {
      if (this.state === 'stopped') return;
      switch (action) {
        case 'update':
        case 'registration-params-changed':
          if (this.state === 'registered') this.backgroundUpdate();
          return;
        case 'disable':
          void this.disable();
          return;
        case 'factory-reset':
          this.attributes.clear();
          this.reboot();
          return;
        case 'reboot':
          this.reboot();
          return;
        case 'bootstrap':
          this.restartWithBootstrap().catch((err: unknown) => this.logger.warn({ err }, 'bootstrap after Bootstrap-Request Trigger failed'));
          return;
      }
    });
  }

  /** Disable (/1/x/4, Core §E.2): de-register, stay away for Disable Timeout, then register. */
  private async disable(): Promise<void> {
    if (this.state !== 'registered') return;
    const timeout = this.serverInstance()?.number(ServerResource.DisableTimeout) ?? 86400;
    this.state = 'disabled';
    this.clearRegistrationTimers();
    this.observations.clear();
    try {
      await this.deregister();
    } catch (err) {
      this.logger.warn({ err }, 'de-registration for Disable failed');
    }
    this.location = undefined;
    this.cancelRetry = this.scheduler.schedule(timeout * 1000, () => {
      this.cancelRetry = undefined;
      if (this.state === 'disabled') this.registerLoop();
    });
  }

  /** A simulated reboot: observations and registration are lost, the client registers anew. */
  private reboot(): void {
    this.clearRegistrationTimers();
    this.observations.clear();
    this.location = undefined;
    this.emit('reboot');
    this.registerLoop();
  }

  private instancesChanged(objectId: number): void {
    if (objectId !== 2) this.syncAccessControl();
    this.objectsDirty = true;
    if (this.state !== 'registered' || this.updateSoon) return;
    this.updateSoon = true;
    this.scheduler.schedule(0, () => {
      this.updateSoon = false;
      if (this.objectsDirty) this.backgroundUpdate();
    });
  }

  private syncAccessControl(): void {
    const acl = this.tree.enabler(2);
    if (acl instanceof AccessControlObject) acl.sync(this.tree.enablers(), this.options.shortServerId ?? 1);
  }

  private serverInstance(): ServerInstance | undefined {
    const e = this.tree.enabler(1);
    for (const iid of e?.instanceIds() ?? []) {
      const inst = e!.instance(iid);
      if (inst instanceof ServerInstance) return inst;
    }
    return undefined;
  }

  /** pmin/pmax defaults from the Server object (resources 2 and 3, Core §5.1.2). */
  private serverDefaults(): Attributes {
    const server = this.serverInstance();
    const out: Attributes = {};
    const pmin = server?.number(ServerResource.DefaultPmin);
    const pmax = server?.number(ServerResource.DefaultPmax);
    if (pmin !== undefined) out.pmin = pmin;
    if (pmax !== undefined) out.pmax = pmax;
    return out;
  }

  // ---- Queue Mode (Transport §6.5) and timers -----------------------------------------------

  /** Any datagram in or out restarts the awake timer. */
  private onTraffic(): void {
    if (!this.queueMode || this.sleeping || this.state === 'stopped') return;
    this.cancelSleep?.();
    this.cancelSleep = this.scheduler.schedule(this.awakeTime, () => {
      this.cancelSleep = undefined;
      this.sleep();
    });
  }

  private sleep(): void {
    if (this.sleeping || this.state !== 'registered') return;
    this.sleeping = true;
    if (this.gate) this.gate.sleeping = true;
    this.emit('sleeping');
  }

  /** Opens the gate; returns true if the client was sleeping. */
  private wake(): boolean {
    if (!this.sleeping) return false;
    this.sleeping = false;
    if (this.gate) this.gate.sleeping = false;
    this.emit('awake');
    this.onTraffic();
    return true;
  }

  /** A notification must go out: a sleeping client wakes and announces itself with an Update first. */
  private wakeForTraffic(): void {
    if (this.sleeping) {
      this.wake();
      this.backgroundUpdate();
    }
  }

  private scheduleTick(): void {
    const interval = this.options.valueUpdateInterval ?? 10_000;
    if (interval <= 0) return;
    this.cancelTick = this.scheduler.schedule(interval, () => {
      this.cancelTick = undefined;
      if (this.state === 'stopped') return;
      const now = this.wallClock();
      for (const e of this.tree.enablers()) e.tick(now);
      this.scheduleTick();
    });
  }

  private clearRegistrationTimers(): void {
    this.cancelUpdateTimer?.();
    this.cancelUpdateTimer = undefined;
    this.cancelRetry?.();
    this.cancelRetry = undefined;
  }

  private clearTimers(): void {
    this.clearRegistrationTimers();
    this.cancelSleep?.();
    this.cancelSleep = undefined;
    this.cancelTick?.();
    this.cancelTick = undefined;
  }
}

/**
 * The client's view of its transport: counts traffic for Queue Mode and, while sleeping, drops
 * what arrives (the radio is off). Closes the inner transport only when the client owns it.
 */
class GatedTransport implements Transport {
  sleeping = false;
  readonly inner: Transport;
  private readonly owned: boolean;
  private readonly onActivity: () => void;

  constructor(inner: Transport, owned: boolean, onActivity: () => void) {
    this.inner = inner;
    this.owned = owned;
    this.onActivity = onActivity;
  }

  send(datagram: Uint8Array, peer: PeerAddress): void {
    this.onActivity();
    this.inner.send(datagram, peer);
  }

  onDatagram(handler: (datagram: Uint8Array, peer: PeerAddress, identity?: PeerIdentity) => void): void {
    this.inner.onDatagram((d, p, id) => {
      if (this.sleeping) return;
      this.onActivity();
      handler(d, p, id);
    });
  }

  close(): Promise<void> {
    return this.owned ? this.inner.close() : Promise.resolve();
  }
}

/** A DM server refusing the client: 4.03 to Register, or a DTLS handshake that fails. */
function isRefusal(err: unknown): boolean {
  if (err instanceof Lwm2mError) return err.code === ResponseCode.Forbidden;
  return err instanceof DtlsAlert || (err instanceof Error && /handshake/i.test(err.message));
}

/**
 * Adds the Bootstrap-Server account to the standard Security object (at the first free instance id); `only` removes
 * the default LwM2M Server account and Server instance, so the client starts with nothing but its bootstrap account.
 */
function addBootstrapAccount(objects: readonly ObjectEnabler[], bs: ClientBootstrapOptions, only: boolean): void {
  const security = objects.find((e) => e.id === 0);
  const server = objects.find((e) => e.id === 1);
  if (!security) return;
  if (only) {
    for (const iid of security.instanceIds()) security.bootstrapDelete(iid);
    for (const iid of server?.instanceIds() ?? []) server!.bootstrapDelete(iid);
  }
  const cred = securityCredentials(bs.security);
  checkSchemeAndMode(bs.serverUri, cred.securityMode ?? 3);
  const values: [number, ResourceValue][] = [
    [SecurityResource.ServerUri, str(bs.serverUri)],
    [SecurityResource.BootstrapServer, bool(true)],
    [SecurityResource.SecurityMode, int(cred.securityMode ?? 3)],
    [SecurityResource.PublicKeyOrIdentity, opaque(cred.publicKeyOrIdentity ?? new Uint8Array(0))],
    [SecurityResource.ServerPublicKey, opaque(cred.serverPublicKey ?? new Uint8Array(0))],
    [SecurityResource.SecretKey, opaque(cred.secretKey ?? new Uint8Array(0))],
    [SecurityResource.ClientHoldOffTime, int(0)],
  ];
  security.bootstrapCreate(security.freeInstanceId(), values.map(([id, value]) => ({ kind: 'singleResource', id, value })));
}

/** `coap://host[:port]` or `coaps://host[:port]` to a peer address (resolving host names). */
async function resolvePeer(uri: string): Promise<PeerAddress> {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw new Error(`invalid server URI "${uri}"`);
  }
  if (url.protocol !== 'coap:' && url.protocol !== 'coaps:') throw new Error(`unsupported server URI scheme ${url.protocol} (coap: or coaps:)`);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = url.port === '' ? (url.protocol === 'coaps:' ? 5684 : 5683) : Number(url.port);
  if (isIP(host) === 4) return { address: host, port, family: 'IPv4' };
  if (isIP(host) === 6) return { address: host, port, family: 'IPv6' };
  const found = await lookup(host);
  return { address: found.address, port, family: found.family === 6 ? 'IPv6' : 'IPv4' };
}
