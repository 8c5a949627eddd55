/**
 * The LwM2M server (LwM2M 1.1 Core §6): the Registration interface (/rd), Send (/dp), and the
 * Device Management and Information Reporting requests it makes to registered devices.
 */
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import {
  CoapEndpoint,
  CoapError,
  OptionNumber,
  Method,
  UdpTransport,
  getUint,
  uintOption,
  type CoapEndpointOptions,
  type CoapOption,
  type CoapRequest,
  type CoapResponse,
  type IncomingRequest,
  type Observation,
  type OutgoingResponse,
  type PeerAddress,
  type PeerIdentity,
  type Transport,
} from '../coap/index.js';
import { formatAttributes, type Attributes } from '../lwm2m/attributes.js';
import { Lwm2mError, ResponseCode } from '../lwm2m/error.js';
import { codecFor, compositeCodecFor } from '../lwm2m/format/index.js';
import type { PathNode } from '../lwm2m/format/types.js';
import { parseLinks } from '../lwm2m/link-format.js';
import type { Model } from '../lwm2m/model.js';
import { ContentFormat, type LwM2mNode, type ObjectInstanceNode } from '../lwm2m/node.js';
import { Lwm2mPath } from '../lwm2m/path.js';
import { silentLogger, type Logger } from '../log.js';
import type { SqliteStore } from '../store/sqlite.js';
import { ServerError } from './error.js';
import { parseRegistrationParams, Registration } from './registration.js';
import { SleepTracker } from './sleep-tracker.js';
import type {
  DeviceManagement,
  DeviceResponse,
  Notification,
  ObservationInfo,
  ReadData,
  RequestOpts,
  WriteOpts,
} from './types.js';

const { GET, POST, PUT, DELETE, FETCH, iPATCH: IPATCH } = Method;

export interface ServerOptions {
  model: Model;
  store: SqliteStore;
  /** Where to listen for CoAP: a transport, or a port on `host`. */
  transport?: Transport;
  port?: number;
  host?: string;
  /** Where to listen for CoAPs: a DTLS transport (`DtlsServer`), whose datagrams carry the peer's identity. */
  secureTransport?: Transport;
  /**
   * Decides whether a device may register under `endpoint` with what its transport authenticated
   * (`identity`, undefined over plain CoAP). Refusals get 4.03. Default: everyone may register.
   */
  authorize?: Authorizer;
  /**
   * Other resources served beside /rd and /dp (EST's /est for instance): answer a request or return undefined.
   * `secure` says whether it came over DTLS.
   */
  routes?: (req: IncomingRequest, secure: boolean) => OutgoingResponse | undefined | Promise<OutgoingResponse | undefined>;
  logger?: Logger;
  /** Ms a request waits for a device when the caller gives no timeout. */
  defaultTimeout?: number;
  /** Ms past lifetime before a registration expires (clock skew, in-flight updates). */
  expiryGrace?: number;
  /** Ms a queue-mode device is presumed listening after its last message. */
  queueAwakeTime?: number;
  /** Registrations above this are refused with 5.03 (flood protection). */
  maxRegistrations?: number;
  /** How often expiry and queue-mode sleep are checked, ms. */
  sweepInterval?: number;
  now?: () => number;
  /** Transmission parameters of the CoAP and CoAPs endpoints (ACK_TIMEOUT, MAX_RETRANSMIT ...; RFC 7252 §4.8). */
  coap?: Omit<CoapEndpointOptions, 'logger'>;
}

/** See ServerOptions.authorize. */
export type Authorizer = (endpoint: string, identity: PeerIdentity | undefined) => boolean;

interface ObservationState {
  info: ObservationInfo;
  registrationId: string;
  token: Uint8Array;
  requestFormat: number | null;
  observation?: Observation;
  detach?: () => void;
}

/** The LwM2M server: owns a CoAP endpoint, the registrations and the observations. */
export class Lwm2mServer extends EventEmitter implements DeviceManagement {
  /** Plain CoAP endpoint, if the server listens on one. */
  readonly coap: CoapEndpoint | undefined;
  /** CoAPs (DTLS) endpoint, if the server listens on one. */
  readonly coaps: CoapEndpoint | undefined;
  private readonly authorize: Authorizer;
  private readonly routes: ServerOptions['routes'];
  private readonly model: Model;
  private readonly store: SqliteStore;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly defaultTimeout: number;
  private readonly expiryGrace: number;
  private readonly maxRegistrations: number;
  private readonly byEndpoint = new Map<string, Registration>();
  private readonly byId = new Map<string, Registration>();
  private readonly byPeer = new Map<string, Registration>();
  /** Observations by endpoint, then by id: every lookup is per device, never a scan of the fleet's observations. */
  private readonly observationsOf = new Map<string, Map<string, ObservationState>>();
  private readonly sleep: SleepTracker;
  private readonly sweepTimer: NodeJS.Timeout;
  private sortedEndpoints: string[] | undefined;

  private constructor(coap: CoapEndpoint | undefined, coaps: CoapEndpoint | undefined, opts: ServerOptions) {
    super();
    this.coap = coap;
    this.coaps = coaps;
    this.authorize = opts.authorize ?? (() => true);
    this.routes = opts.routes;
    this.model = opts.model;
    this.store = opts.store;
    this.log = opts.logger ?? silentLogger;
    this.now = opts.now ?? Date.now;
    this.defaultTimeout = opts.defaultTimeout ?? 5000;
    this.expiryGrace = opts.expiryGrace ?? 5000;
    this.maxRegistrations = opts.maxRegistrations ?? 2_000_000;
    this.sleep = new SleepTracker(opts.queueAwakeTime);
    coap?.onRequest((req) => this.handle(req, false));
    coaps?.onRequest((req) => this.handle(req, true));
    this.sweepTimer = setInterval(() => this.sweep(), opts.sweepInterval ?? 1000);
    this.sweepTimer.unref();
  }

  /** Starts the server: restores stored registrations and observations, then listens. */
  static async start(opts: ServerOptions): Promise<Lwm2mServer> {
    const transport = opts.transport ?? (opts.secureTransport ? undefined : await UdpTransport.bind(opts.port ?? 5683, opts.host ?? '0.0.0.0', 'server'));
    const coap = transport && new CoapEndpoint(transport, { ...opts.coap, logger: opts.logger });
    const coaps = opts.secureTransport && new CoapEndpoint(opts.secureTransport, { ...opts.coap, logger: opts.logger });
    const server = new Lwm2mServer(coap, coaps, opts);
    server.restore();
    return server;
  }

  /** The endpoint a registration's requests go through: the one it registered on. */
  private endpointFor(reg: Registration): CoapEndpoint {
    const ep = reg.secure ? this.coaps : this.coap;
    if (!ep) throw new ServerError('NOT_REGISTERED', `device ${reg.endpoint} registered on a transport that is closed`);
    return ep;
  }

  private restore(): void {
    const now = this.now();
    let restored = 0;
    for (const row of this.store.loadRegistrations()) {
      const reg = Registration.fromRow(row);
      if (reg.expiresAt(this.expiryGrace) <= now) {
        this.store.removeRegistration(reg.endpoint, reg.registrationId);
        this.store.removeObservationsOf(reg.endpoint);
        continue;
      }
      this.index(reg);
      if (reg.queueMode) this.sleep.heard(reg.endpoint, reg.lastUpdate);
      restored++;
    }
    let observations = 0;
    for (const row of this.store.loadObservations()) {
      const reg = this.byEndpoint.get(row.endpoint);
      if (!reg || reg.registrationId !== row.registrationId) {
        this.store.removeObservation(row.observationId);
        continue;
      }
      const paths = row.paths.split(',').map((p) => Lwm2mPath.parse(p));
      const state: ObservationState = {
        info: { observationId: row.observationId, endpoint: row.endpoint, paths, composite: row.composite, createdAt: row.createdAt },
        registrationId: row.registrationId,
        token: row.token,
        requestFormat: row.requestFormat,
      };
      const endpoint = reg.secure ? this.coaps : this.coap;
      if (!endpoint) continue;
      state.detach = endpoint.attachObservation(row.token, (n) => this.onNotification(state, n));
      this.addObservation(state);
      observations++;
    }
    if (restored || observations) this.log.info({ registrations: restored, observations }, 'restored from the store');
  }

  async close(): Promise<void> {
    clearInterval(this.sweepTimer);
    this.sleep.close();
    for (const byId of this.observationsOf.values()) for (const s of byId.values()) s.detach?.();
    await Promise.all([this.coap?.close(), this.coaps?.close()]);
  }

  // ---- Registration interface (Core §6.2) ------------------------------------------------

  private async handle(req: IncomingRequest, secure: boolean): Promise<OutgoingResponse> {
    try {
      const [first, id, ...rest] = req.path;
      if (first === 'rd' && rest.length === 0) {
        if (id === undefined && req.code === POST) return this.register(req, secure);
        if (id !== undefined && req.code === POST) return this.update(req, id, secure);
        if (id !== undefined && req.code === DELETE) return this.deregister(req, id, secure);
        return { code: ResponseCode.MethodNotAllowed };
      }
      if (first === 'dp' && id === undefined) {
        if (req.code !== POST) return { code: ResponseCode.MethodNotAllowed };
        return this.onSend(req, secure);
      }
      const routed = this.routes && (await this.routes(req, secure));
      if (routed) return routed;
      return { code: ResponseCode.NotFound };
    } catch (err) {
      if (err instanceof Lwm2mError) {
        this.log.debug({ peer: `${req.peer.address}:${req.peer.port}`, err: err.message }, 'request refused');
        return { code: err.code, payload: Buffer.from(err.message) };
      }
      throw err;
    }
  }

  private linksPayload(req: IncomingRequest): string | undefined {
    if (req.payload.length === 0) return undefined;
    if (req.contentFormat !== undefined && req.contentFormat !== ContentFormat.CORE_LINK) {
      throw new Lwm2mError(ResponseCode.UnsupportedContentFormat, 'registration payload must be application/link-format');
    }
    return Buffer.from(req.payload).toString('utf8');
  }

  private register(req: IncomingRequest, secure: boolean): OutgoingResponse {
    const params = parseRegistrationParams(req.query);
    const links = this.linksPayload(req) ?? '';
    if (params.endpoint !== undefined && !this.authorize(params.endpoint, req.identity)) {
      // No detail in the answer: it would tell an attacker which endpoint names exist.
      this.log.warn({ endpoint: params.endpoint, mode: req.identity?.mode ?? 'nosec' }, 'registration refused: identity does not match the endpoint');
      return { code: ResponseCode.Forbidden };
    }
    const previous = params.endpoint !== undefined ? this.byEndpoint.get(params.endpoint) : undefined;
    if (!previous && this.byEndpoint.size >= this.maxRegistrations) {
      this.log.warn({ registrations: this.byEndpoint.size }, 'registration refused: server full');
      return { code: ResponseCode.ServiceUnavailable, options: [uintOption(OptionNumber.MaxAge, 60)] };
    }
    const now = this.now();
    const reg = Registration.fromRegister(newRegistrationId(), params, req.peer, links, now, req.identity, secure);
    if (previous) this.remove(previous, 'replaced');
    this.index(reg);
    this.store.saveRegistration(reg.toRow());
    if (reg.queueMode) this.sleep.heard(reg.endpoint, now);
    this.log.info({ endpoint: reg.endpoint, lifetime: reg.lifetime, version: reg.lwm2mVersion }, 'registered');
    this.emit('registered', reg);
    return {
      code: ResponseCode.Created,
      options: [
        { number: OptionNumber.LocationPath, value: Buffer.from('rd') },
        { number: OptionNumber.LocationPath, value: Buffer.from(reg.registrationId) },
      ],
    };
  }

  /** Update and De-register must come from the identity that registered (Core §6.2: the server authenticates each). */
  private sameDevice(reg: Registration, req: IncomingRequest, secure: boolean): boolean {
    if (reg.secure !== secure) return false;
    const a = reg.identity;
    const b = req.identity;
    return a === b || (a !== undefined && b !== undefined && a.mode === b.mode && a.name === b.name);
  }

  private update(req: IncomingRequest, registrationId: string, secure: boolean): OutgoingResponse {
    const previous = this.byId.get(registrationId);
    if (!previous) return { code: ResponseCode.NotFound };
    if (!this.sameDevice(previous, req, secure)) return { code: ResponseCode.Forbidden };
    const now = this.now();
    const reg = previous.updated(parseRegistrationParams(req.query), req.peer, this.linksPayload(req), now);
    this.unindex(previous);
    this.index(reg);
    this.store.saveRegistration(reg.toRow());
    this.heard(reg, now);
    this.emit('updated', reg, previous);
    return { code: ResponseCode.Changed };
  }

  private deregister(req: IncomingRequest, registrationId: string, secure: boolean): OutgoingResponse {
    const reg = this.byId.get(registrationId);
    if (!reg) return { code: ResponseCode.NotFound };
    if (!this.sameDevice(reg, req, secure)) return { code: ResponseCode.Forbidden };
    this.remove(reg, 'deregister');
    return { code: ResponseCode.Deleted };
  }

  /** Information Reporting: Send (Core §6.4.3); the device is found by its address. */
  private onSend(req: IncomingRequest, secure: boolean): OutgoingResponse {
    const reg = this.byPeer.get(peerKey(req.peer, secure));
    if (!reg) return { code: ResponseCode.NotFound, payload: Buffer.from('not registered') };
    const format = req.contentFormat ?? ContentFormat.SENML_CBOR;
    const codec = compositeCodecFor(format);
    if (!codec) return { code: ResponseCode.UnsupportedContentFormat };
    const contents = codec.decodeNodes(req.payload, this.model);
    this.heard(reg, this.now());
    this.emit('send', { endpoint: reg.endpoint, contents });
    return { code: ResponseCode.Changed };
  }

  private heard(reg: Registration, now: number): void {
    if (reg.queueMode && this.sleep.heard(reg.endpoint, now)) this.emit('awake', reg);
  }

  private index(reg: Registration): void {
    if (!this.byEndpoint.has(reg.endpoint)) this.sortedEndpoints = undefined;
    this.byEndpoint.set(reg.endpoint, reg);
    this.byId.set(reg.registrationId, reg);
    this.byPeer.set(peerKey(reg, reg.secure), reg);
  }

  private unindex(reg: Registration): void {
    this.byId.delete(reg.registrationId);
    const key = peerKey(reg, reg.secure);
    if (this.byPeer.get(key) === reg) this.byPeer.delete(key);
  }

  private remove(reg: Registration, reason: 'deregister' | 'expired' | 'replaced'): void {
    this.unindex(reg);
    if (this.byEndpoint.get(reg.endpoint) === reg) {
      this.byEndpoint.delete(reg.endpoint);
      this.sortedEndpoints = undefined;
    }
    this.store.removeRegistration(reg.endpoint, reg.registrationId);
    // Core §6.2.1/§6.2.3: a new registration or a de-registration ends the old one's observations.
    for (const [id, s] of [...(this.observationsOf.get(reg.endpoint) ?? [])]) this.dropObservation(id, s);
    this.store.removeObservationsOf(reg.endpoint);
    this.sleep.forget(reg.endpoint, () => new ServerError('NOT_REGISTERED', `device ${reg.endpoint} de-registered`));
    this.log.info({ endpoint: reg.endpoint, reason }, 'de-registered');
    this.emit('deregistered', reg, reason);
  }

  private sweep(): void {
    const now = this.now();
    for (const reg of this.byEndpoint.values()) {
      if (reg.expiresAt(this.expiryGrace) <= now) this.remove(reg, 'expired');
    }
    for (const ep of this.sleep.sweep(now)) {
      const reg = this.byEndpoint.get(ep);
      if (reg) this.emit('sleeping', reg);
    }
  }

  /**
   * The secure transport saw a device's association move to a new address (DTLS Connection ID, NAT
   * rebinding): requests follow it at once instead of waiting for the device's next Update.
   */
  peerMoved(from: PeerAddress, to: PeerAddress, secure: boolean): void {
    // Requests to the device in flight follow it (their answers now come from `to`).
    (secure ? this.coaps : this.coap)?.movePeer(from, to);
    const reg = this.byPeer.get(peerKey(from, secure));
    if (!reg) return;
    const moved = reg.movedTo(to);
    this.unindex(reg);
    this.index(moved);
    this.store.saveRegistration(moved.toRow());
    this.log.info({ endpoint: reg.endpoint, to: `${to.address}:${to.port}` }, 'device address changed (DTLS Connection ID)');
  }

  // ---- Registrations -----------------------------------------------------------------------

  registrationCount(search?: string): number {
    if (!search) return this.byEndpoint.size;
    let n = 0;
    for (const ep of this.byEndpoint.keys()) if (ep.includes(search)) n++;
    return n;
  }

  listRegistrations(opts: { offset?: number; limit?: number; search?: string } = {}): Registration[] {
    this.sortedEndpoints ??= [...this.byEndpoint.keys()].sort();
    const offset = opts.offset ?? 0;
    const limit = opts.limit ?? 100;
    const out: Registration[] = [];
    let skipped = 0;
    for (const ep of this.sortedEndpoints) {
      if (opts.search && !ep.includes(opts.search)) continue;
      if (skipped++ < offset) continue;
      const reg = this.byEndpoint.get(ep);
      if (reg) out.push(reg);
      if (out.length >= limit) break;
    }
    return out;
  }

  getRegistration(endpoint: string): Registration | undefined {
    return this.byEndpoint.get(endpoint);
  }

  isSleeping(endpoint: string): boolean {
    return this.sleep.isSleeping(endpoint);
  }

  // ---- Device Management (Core §6.3) ---------------------------------------------------------

  async read(endpoint: string, path: Lwm2mPath, opts: RequestOpts = {}): Promise<DeviceResponse> {
    const options = opts.format !== undefined ? [uintOption(OptionNumber.Accept, opts.format)] : [];
    const { reg, res } = await this.send(endpoint, path, { code: GET, options }, opts);
    const out = this.contentResponse(reg, path, res);
    if (out.content !== undefined && this.listenerCount('read') > 0) this.emit('read', { endpoint, path, content: out.content } satisfies ReadData);
    return out;
  }

  async discover(endpoint: string, path: Lwm2mPath, opts: RequestOpts = {}): Promise<DeviceResponse> {
    const { res } = await this.send(endpoint, path, { code: GET, options: [uintOption(OptionNumber.Accept, ContentFormat.CORE_LINK)] }, opts);
    if (res.code !== ResponseCode.Content) return errorResponse(res);
    return { code: res.code, links: parseLinks(Buffer.from(res.payload).toString('utf8')) };
  }

  async write(endpoint: string, path: Lwm2mPath, node: LwM2mNode, opts: WriteOpts = {}): Promise<DeviceResponse> {
    if (path.isRoot() || path.isObject()) throw new ServerError('INVALID_REQUEST', 'Write targets an instance, a resource or a resource instance');
    const reg = this.registration(endpoint);
    const format = opts.format ?? this.writeFormat(reg);
    const payload = this.encode(node, path, format);
    const code = opts.replace === false ? POST : PUT;
    const { res } = await this.send(endpoint, path, { code, options: [uintOption(OptionNumber.ContentFormat, format)], payload }, opts);
    return statusResponse(res);
  }

  async execute(endpoint: string, path: Lwm2mPath, args?: string, opts: RequestOpts = {}): Promise<DeviceResponse> {
    if (!path.isResource()) throw new ServerError('INVALID_REQUEST', 'Execute targets a resource');
    const req: CoapRequest = { code: POST };
    if (args) {
      req.options = [uintOption(OptionNumber.ContentFormat, ContentFormat.TEXT)];
      req.payload = Buffer.from(args, 'utf8');
    }
    const { res } = await this.send(endpoint, path, req, opts);
    return statusResponse(res);
  }

  async create(endpoint: string, objectPath: Lwm2mPath, instances: ObjectInstanceNode[], opts: RequestOpts = {}): Promise<DeviceResponse> {
    if (!objectPath.isObject()) throw new ServerError('INVALID_REQUEST', 'Create targets an object');
    const reg = this.registration(endpoint);
    const format = opts.format ?? this.writeFormat(reg);
    const payload = this.encode({ kind: 'object', id: objectPath.objectId!, instances }, objectPath, format);
    const { res } = await this.send(endpoint, objectPath, { code: POST, options: [uintOption(OptionNumber.ContentFormat, format)], payload }, opts);
    if (res.code !== ResponseCode.Created) return errorResponse(res);
    const location = res.options.filter((o) => o.number === OptionNumber.LocationPath).map((o) => Buffer.from(o.value).toString('utf8'));
    return { code: res.code, location: location.length ? '/' + location.join('/') : undefined };
  }

  async delete(endpoint: string, path: Lwm2mPath, opts: RequestOpts = {}): Promise<DeviceResponse> {
    if (!path.isInstance() && !path.isRoot()) throw new ServerError('INVALID_REQUEST', 'Delete targets an object instance');
    const { res } = await this.send(endpoint, path, { code: DELETE }, opts);
    return statusResponse(res);
  }

  async writeAttributes(endpoint: string, path: Lwm2mPath, attributes: Attributes, opts: RequestOpts = {}): Promise<DeviceResponse> {
    if (path.isRoot()) throw new ServerError('INVALID_REQUEST', 'Write-Attributes targets an object, instance or resource');
    const options = formatAttributes(attributes).map((q) => ({ number: OptionNumber.UriQuery, value: Buffer.from(q) }));
    const { res } = await this.send(endpoint, path, { code: PUT, options }, opts);
    return statusResponse(res);
  }

  // ---- Composite operations (Core §6.3.x, 1.1) ------------------------------------------------

  async readComposite(endpoint: string, paths: Lwm2mPath[], opts: RequestOpts & { requestFormat?: number } = {}): Promise<DeviceResponse> {
    const req = this.compositeRequest(endpoint, paths, opts);
    const { reg, res } = await this.send(endpoint, Lwm2mPath.root(), req, opts);
    const out = this.compositeResponse(reg, res);
    if (out.contents !== undefined && this.listenerCount('read') > 0) this.emit('read', { endpoint, contents: out.contents } satisfies ReadData);
    return out;
  }

  async writeComposite(endpoint: string, nodes: PathNode[], opts: RequestOpts = {}): Promise<DeviceResponse> {
    const reg = this.registration(endpoint);
    const format = opts.format ?? this.compositeFormat(reg);
    const codec = compositeCodecFor(format);
    if (!codec) throw new ServerError('UNSUPPORTED_FORMAT', `format ${format} cannot carry a composite write`);
    const payload = codec.encodeNodes(nodes, this.model);
    const { res } = await this.send(endpoint, Lwm2mPath.root(), { code: IPATCH, options: [uintOption(OptionNumber.ContentFormat, format)], payload }, opts);
    return statusResponse(res);
  }

  private compositeRequest(endpoint: string, paths: Lwm2mPath[], opts: RequestOpts & { requestFormat?: number }): CoapRequest {
    if (paths.length === 0) throw new ServerError('INVALID_REQUEST', 'a composite request needs at least one path');
    const reg = this.registration(endpoint);
    const requestFormat = opts.requestFormat ?? this.compositeFormat(reg);
    const codec = compositeCodecFor(requestFormat);
    if (!codec) throw new ServerError('UNSUPPORTED_FORMAT', `format ${requestFormat} cannot carry composite paths`);
    const accept = opts.format ?? requestFormat;
    return {
      code: FETCH,
      options: [uintOption(OptionNumber.ContentFormat, requestFormat), uintOption(OptionNumber.Accept, accept)],
      payload: codec.encodePaths(paths),
    };
  }

  // ---- Observe (Core §6.4) --------------------------------------------------------------------

  async observe(endpoint: string, path: Lwm2mPath, opts: RequestOpts = {}): Promise<DeviceResponse & { observationId?: string }> {
    const options = opts.format !== undefined ? [uintOption(OptionNumber.Accept, opts.format)] : [];
    return this.startObservation(endpoint, [path], false, { code: GET, options }, null, opts);
  }

  async observeComposite(endpoint: string, paths: Lwm2mPath[], opts: RequestOpts & { requestFormat?: number } = {}): Promise<DeviceResponse & { observationId?: string }> {
    const req = this.compositeRequest(endpoint, paths, opts);
    const requestFormat = opts.requestFormat ?? this.compositeFormat(this.registration(endpoint));
    return this.startObservation(endpoint, paths, true, req, requestFormat, opts);
  }

  private async startObservation(
    endpoint: string,
    paths: Lwm2mPath[],
    composite: boolean,
    req: CoapRequest,
    requestFormat: number | null,
    opts: RequestOpts,
  ): Promise<DeviceResponse & { observationId?: string }> {
    // A new observation of the same target replaces the old one.
    await this.cancelMatching(endpoint, paths, composite, false);
    const reg = await this.awake(endpoint, opts);
    const target = composite ? Lwm2mPath.root() : paths[0]!;
    const token = randomBytes(8);
    const state: ObservationState = {
      info: { observationId: Buffer.from(token).toString('hex'), endpoint, paths, composite, createdAt: this.now() },
      registrationId: reg.registrationId,
      token,
      requestFormat,
    };
    const fullReq: CoapRequest = { ...req, options: [...uriPath(reg.rootPath, target), ...(req.options ?? [])] };
    let observation: Observation;
    try {
      observation = await this.endpointFor(reg).observe(peerOf(reg), fullReq, (n) => this.onNotification(state, n), {
        token,
        timeout: opts.timeout ?? this.defaultTimeout,
      });
    } catch (err) {
      throw this.coapFailure(endpoint, err, opts);
    }
    this.heard(reg, this.now());
    const res = observation.response;
    const result = composite ? this.compositeResponse(reg, res) : this.contentResponse(reg, target, res);
    if ((result.content !== undefined || result.contents !== undefined) && this.listenerCount('read') > 0) {
      this.emit('read', { endpoint, path: composite ? undefined : target, content: result.content, contents: result.contents } satisfies ReadData);
    }
    if (res.code !== ResponseCode.Content || !res.options.some((o) => o.number === OptionNumber.Observe)) {
      void observation.cancel(false);
      return result;
    }
    state.observation = observation;
    this.addObservation(state);
    this.store.saveObservation({
      observationId: state.info.observationId, endpoint, registrationId: reg.registrationId, token,
      paths: paths.map(String).join(','), composite, requestFormat, createdAt: state.info.createdAt,
    });
    return { ...result, observationId: state.info.observationId };
  }

  private onNotification(state: ObservationState, n: CoapResponse): void {
    const reg = this.byEndpoint.get(state.info.endpoint);
    if (!reg || reg.registrationId !== state.registrationId) return;
    this.heard(reg, this.now());
    let notification: Notification;
    try {
      const decoded = state.info.composite
        ? this.compositeResponse(reg, n)
        : this.contentResponse(reg, state.info.paths[0]!, n);
      notification = { endpoint: reg.endpoint, observationId: state.info.observationId, paths: state.info.paths, code: n.code, content: decoded.content, contents: decoded.contents };
    } catch (err) {
      this.log.warn({ endpoint: reg.endpoint, err: (err as Error).message }, 'undecodable notification dropped');
      return;
    }
    if (n.code >= 128) {
      // RFC 7641 §3.2: an error response ends the observation.
      this.dropObservation(state.info.observationId, state);
    }
    this.emit('notification', notification);
  }

  async cancelObservation(endpoint: string, path: Lwm2mPath, opts: { active?: boolean } = {}): Promise<number> {
    return this.cancelMatching(endpoint, [path], false, opts.active ?? false);
  }

  async cancelCompositeObservation(endpoint: string, paths: Lwm2mPath[], opts: { active?: boolean } = {}): Promise<number> {
    return this.cancelMatching(endpoint, paths, true, opts.active ?? false);
  }

  private async cancelMatching(endpoint: string, paths: Lwm2mPath[], composite: boolean, active: boolean): Promise<number> {
    const key = paths.map(String).join(',');
    let count = 0;
    for (const [id, s] of [...(this.observationsOf.get(endpoint) ?? [])]) {
      if (s.info.composite !== composite || s.info.paths.map(String).join(',') !== key) continue;
      count++;
      this.dropObservation(id, s);
      this.store.removeObservation(id);
      if (active) await this.activeCancel(endpoint, s).catch((err) => this.log.debug({ endpoint, err: (err as Error).message }, 'active cancel failed'));
    }
    return count;
  }

  /** RFC 7641 §3.6: a GET with Observe=1 and the observation's token. */
  private async activeCancel(endpoint: string, s: ObservationState): Promise<void> {
    const reg = this.registration(endpoint);
    const target = s.info.composite ? Lwm2mPath.root() : s.info.paths[0]!;
    const options: CoapOption[] = [...uriPath(reg.rootPath, target), uintOption(OptionNumber.Observe, 1)];
    await this.endpointFor(reg).request(peerOf(reg), { code: s.info.composite ? FETCH : GET, options }, { token: s.token, timeout: this.defaultTimeout });
  }

  private addObservation(s: ObservationState): void {
    let byId = this.observationsOf.get(s.info.endpoint);
    if (!byId) this.observationsOf.set(s.info.endpoint, (byId = new Map()));
    byId.set(s.info.observationId, s);
  }

  private dropObservation(id: string, s: ObservationState): void {
    const byId = this.observationsOf.get(s.info.endpoint);
    byId?.delete(id);
    if (byId?.size === 0) this.observationsOf.delete(s.info.endpoint);
    s.detach?.();
    void s.observation?.cancel(false);
  }

  observations(endpoint: string): ObservationInfo[] {
    return [...(this.observationsOf.get(endpoint)?.values() ?? [])].map((s) => s.info);
  }

  // ---- Plumbing ------------------------------------------------------------------------------

  private registration(endpoint: string): Registration {
    const reg = this.byEndpoint.get(endpoint);
    if (!reg) throw new ServerError('NOT_REGISTERED', `device ${endpoint} is not registered`);
    return reg;
  }

  /** Waits, for a queue-mode device, until it is listening (Core §6.5). */
  private async awake(endpoint: string, opts: RequestOpts): Promise<Registration> {
    const reg = this.registration(endpoint);
    if (!reg.queueMode || this.sleep.isAwake(endpoint, this.now())) return reg;
    const timeout = opts.timeout ?? this.defaultTimeout;
    await this.sleep.waitAwake(endpoint, timeout, () =>
      new ServerError('TIMEOUT', `device ${endpoint} is sleeping (queue mode) and did not wake up within ${timeout / 1000} s`));
    return this.registration(endpoint);
  }

  private async send(endpoint: string, path: Lwm2mPath, req: CoapRequest, opts: RequestOpts): Promise<{ reg: Registration; res: CoapResponse }> {
    const started = this.now();
    const reg = await this.awake(endpoint, opts);
    const timeout = Math.max(1, (opts.timeout ?? this.defaultTimeout) - (this.now() - started));
    const full: CoapRequest = { ...req, options: [...uriPath(reg.rootPath, path), ...(req.options ?? [])] };
    let res: CoapResponse;
    try {
      res = await this.endpointFor(reg).request(peerOf(reg), full, { timeout });
    } catch (err) {
      throw this.coapFailure(endpoint, err, opts);
    }
    this.heard(reg, this.now());
    return { reg, res };
  }

  private coapFailure(endpoint: string, err: unknown, opts: RequestOpts): Error {
    if (err instanceof CoapError) {
      if (err.code === 'TIMEOUT') {
        return new ServerError('TIMEOUT', `device ${endpoint} did not answer within ${(opts.timeout ?? this.defaultTimeout) / 1000} s`);
      }
      if (err.code === 'RESET') return new ServerError('BAD_RESPONSE', `device ${endpoint} reset the request`);
      return new ServerError('BAD_RESPONSE', `request to ${endpoint} failed: ${err.message}`);
    }
    return err as Error;
  }

  private contentResponse(reg: Registration, path: Lwm2mPath, res: CoapResponse): DeviceResponse {
    if (res.code !== ResponseCode.Content) return errorResponse(res);
    const format = contentFormatOf(res) ?? (path.isResource() || path.isResourceInstance() ? ContentFormat.TEXT : ContentFormat.TLV);
    const codec = codecFor(format);
    if (!codec) throw new ServerError('BAD_RESPONSE', `device ${reg.endpoint} answered in unsupported content format ${format}`);
    try {
      return { code: res.code, content: codec.decode(res.payload, path, this.model) };
    } catch (err) {
      throw new ServerError('BAD_RESPONSE', `device ${reg.endpoint} sent an undecodable payload: ${(err as Error).message}`);
    }
  }

  private compositeResponse(reg: Registration, res: CoapResponse): DeviceResponse {
    if (res.code !== ResponseCode.Content) return errorResponse(res);
    const format = contentFormatOf(res) ?? ContentFormat.SENML_CBOR;
    const codec = compositeCodecFor(format);
    if (!codec) throw new ServerError('BAD_RESPONSE', `device ${reg.endpoint} answered in unsupported content format ${format}`);
    try {
      return { code: res.code, contents: codec.decodeNodes(res.payload, this.model) };
    } catch (err) {
      throw new ServerError('BAD_RESPONSE', `device ${reg.endpoint} sent an undecodable payload: ${(err as Error).message}`);
    }
  }

  private encode(node: LwM2mNode, path: Lwm2mPath, format: number): Uint8Array {
    const codec = codecFor(format);
    if (!codec) throw new ServerError('UNSUPPORTED_FORMAT', `unsupported content format ${format}`);
    try {
      return codec.encode(node, path, this.model);
    } catch (err) {
      throw new ServerError('INVALID_REQUEST', (err as Error).message);
    }
  }

  /** TLV is what every 1.0 and 1.1 client reads; SenML CBOR when the device lists it and not TLV. */
  private writeFormat(reg: Registration): number {
    const ct = reg.supportedContentFormats;
    if (ct.length > 0 && !ct.includes(ContentFormat.TLV) && ct.includes(ContentFormat.SENML_CBOR)) return ContentFormat.SENML_CBOR;
    return ContentFormat.TLV;
  }

  private compositeFormat(reg: Registration): number {
    const ct = reg.supportedContentFormats;
    if (ct.length > 0 && !ct.includes(ContentFormat.SENML_CBOR) && ct.includes(ContentFormat.SENML_JSON)) return ContentFormat.SENML_JSON;
    return ContentFormat.SENML_CBOR;
  }
}

function peerKey(p: { address: string; port: number }, secure: boolean): string {
  return `${secure ? 'coaps' : 'coap'}://${p.address}:${p.port}`;
}

function peerOf(reg: Registration): PeerAddress {
  return { address: reg.address, port: reg.port };
}

function newRegistrationId(): string {
  return randomBytes(8).toString('base64url');
}

/** Encoded Uri-Path values of small ids, shared by every request. */
const ID_SEGMENTS: Uint8Array[] = Array.from({ length: 1024 }, (_, i) => Buffer.from(String(i)));

/** Uri-Path options for `path` below the device's alternate root path (Core §6.2.1 rt="oma.lwm2m"). */
function uriPath(rootPath: string, path: Lwm2mPath): CoapOption[] {
  const out: CoapOption[] = [];
  if (rootPath !== '/') {
    for (const s of rootPath.split('/')) if (s !== '') out.push({ number: OptionNumber.UriPath, value: Buffer.from(s) });
  }
  for (const id of path.ids) out.push({ number: OptionNumber.UriPath, value: ID_SEGMENTS[id] ?? Buffer.from(String(id)) });
  return out;
}

function contentFormatOf(res: CoapResponse): number | undefined {
  return getUint(res, OptionNumber.ContentFormat);
}

function errorResponse(res: CoapResponse): DeviceResponse {
  return { code: res.code, errorMessage: res.payload.length ? Buffer.from(res.payload).toString('utf8') : undefined };
}

function statusResponse(res: CoapResponse): DeviceResponse {
  return res.code >= 128 ? errorResponse(res) : { code: res.code };
}
