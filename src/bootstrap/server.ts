/**
 * The LwM2M Bootstrap-Server (LwM2M 1.1 Core §6.1, Transport §6.1): client-initiated bootstrap (`POST /bs?ep=`) and
 * server-initiated bootstrap, on CoAP (5783) and CoAPs (5784). A sequence is Bootstrap-Discover, Bootstrap-Delete,
 * Bootstrap-Write of the Security, Server and ACL instances, then Bootstrap-Finish. The Warden DM server's account
 * gets a fresh random 256-bit PSK at every bootstrap; it reaches the security store only once Finish succeeded, so
 * the factory key is never a DM credential. Events: 'bootstrap-started', 'bootstrap-finished', 'bootstrap-failed', and
 * 'bootstrap-progress' ({endpoint, state}) as each step's first request goes out.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import {
  CoapEndpoint,
  codeToString,
  Method,
  OptionNumber,
  uintOption,
  uriPathOptions,
  type CoapEndpointOptions,
  type CoapOption,
  type CoapResponse,
  type IncomingRequest,
  type OutgoingResponse,
  type PeerAddress,
  type PeerIdentity,
  type Transport,
} from '../coap/index.js';
import type { PskLookup } from '../dtls/index.js';
import { fingerprint } from '../dtls/rpk.js';
import { createCsr, type CertificateAuthority } from '../keys/index.js';
import { codecFor, ContentFormat, Lwm2mPath, ResponseCode, type Model } from '../lwm2m/index.js';
import { silentLogger, type Logger } from '../log.js';
import type { AuditLog, SecretBox, SecurityInfo, SecurityStore, SqliteStore } from '../store/index.js';
import { BootstrapConfigStore, type BootstrapConfig } from './config.js';
import { BootstrapError } from './error.js';
import { BootstrapSession } from './session.js';
import { planBootstrap, writeFormat, type BootstrapPlan, type GeneratedCredential, type GeneratedPsk } from './writer.js';

/** Factory credentials, derived or imported elsewhere (src/keys): the key of a factory PSK identity. */
export interface FactoryKeys {
  keyFor(identity: string): Promise<Uint8Array | undefined>;
}

/** Bootstrap-specific credentials: a store (a SecurityStore on its own database works) finding PSKs by identity. */
export interface BootstrapCredentials {
  findByPskIdentity(identity: string): SecurityInfo | undefined;
}

export interface BootstrapServerOptions {
  /** Plain CoAP listener (5783). Fresh PSKs are never sent over it: a sequence that would is failed. */
  transport?: Transport;
  /** CoAPs listener (5784), e.g. a DtlsServer whose pskLookup is `bootstrapPskLookup(...)`. */
  secureTransport?: Transport;
  store: SqliteStore;
  /** The DM server's security store: receives the generated DM PSK after Finish. */
  security: SecurityStore;
  /** Seals configurations at rest (they may hold keys). */
  box?: SecretBox;
  model: Model;
  logger?: Logger;
  /** URI of the Warden DM server written into generated accounts, e.g. coaps://host:5684. */
  dmServerUri: string;
  /** Short Server ID used by the default configuration (default 1). */
  dmShortServerId?: number;
  bootstrapCredentials?: BootstrapCredentials;
  factoryKeys?: FactoryKeys;
  /** Endpoint name a factory PSK identity belongs to (default: the identity itself). */
  endpointForIdentity?: (identity: string) => string;
  /** PSK identity of a generated DM account (default: the endpoint name). */
  dmIdentityFor?: (endpoint: string) => string;
  /** Whole-sequence timeout in ms (default 120 000). */
  sequenceTimeout?: number;
  /** Timeout of each request to the device in ms (default: the CoAP exchange lifetime). */
  requestTimeout?: number;
  random?: (n: number) => Uint8Array;
  now?: () => number;
  coap?: CoapEndpointOptions;
  /** Receives a 'created' event for each DM credential stored after Finish. */
  audit?: AuditLog;
  /**
   * Warden's CA, for configurations whose `dmCredential` is 'certificate' (issued here) or 'est' (the device enrolls
   * through `routes`); its certificate is the trust anchor written to /0/x/4 for the DM server.
   */
  ca?: Pick<CertificateAuthority, 'issue' | 'revoke' | 'caCertificate' | 'hasActiveCertificate'>;
  /** The DM server's raw public key (SubjectPublicKeyInfo), for configurations whose `dmCredential` is 'rpk'. */
  dmServerPublicKey?: Uint8Array;
  /** Other resources on the CoAPs listener (e.g. EST, RFC 9148); undefined passes the request on. */
  routes?: (req: IncomingRequest) => OutgoingResponse | undefined;
}

export interface BootstrapStartedEvent {
  endpoint: string;
  initiatedBy: 'client' | 'server';
  secure: boolean;
}
export interface BootstrapFinishedEvent {
  endpoint: string;
  /** True when a fresh DM credential was stored. */
  credentialReplaced: boolean;
  /** True when the sequence delivered the endpoint's pending (rotation) PSK, which stays pending in the store. */
  rotation?: boolean;
}
export interface BootstrapFailedEvent {
  endpoint: string;
  reason: string;
}

/** The PskLookup of the CoAPs bootstrap listener: bootstrap-specific credentials first, then factory keys. */
export function bootstrapPskLookup(opts: { bootstrapCredentials?: BootstrapCredentials; factoryKeys?: FactoryKeys }): PskLookup {
  return async (identity) => {
    const own = opts.bootstrapCredentials?.findByPskIdentity(identity);
    if (own?.pskKey) return own.pskKey;
    return opts.factoryKeys ? opts.factoryKeys.keyFor(identity) : undefined;
  };
}

interface Channel {
  coap: CoapEndpoint;
  secure: boolean;
}

const DEFAULT_CONFIG = (ssid: number): BootstrapConfig => ({ servers: { '0': { shortId: ssid } } });

export class BootstrapServer extends EventEmitter {
  readonly configs: BootstrapConfigStore;
  private readonly logger: Logger;
  private readonly plain: Channel | undefined;
  private readonly secure: Channel | undefined;
  private readonly sessions = new Map<string, BootstrapSession>();
  private readonly random: (n: number) => Uint8Array;
  private readonly now: () => number;
  private nextId = 1;
  private closed = false;

  private constructor(private readonly opts: BootstrapServerOptions) {
    super();
    this.logger = (opts.logger ?? silentLogger).child({ layer: 'bootstrap' });
    this.configs = new BootstrapConfigStore(opts.store, opts.box);
    this.random = opts.random ?? ((n) => new Uint8Array(randomBytes(n)));
    this.now = opts.now ?? Date.now;
    const coapOpts = { logger: this.logger, ...opts.coap };
    if (opts.transport) this.plain = { coap: new CoapEndpoint(opts.transport, coapOpts), secure: false };
    if (opts.secureTransport) this.secure = { coap: new CoapEndpoint(opts.secureTransport, coapOpts), secure: true };
    for (const ch of [this.plain, this.secure]) ch?.coap.onRequest((req) => this.onRequest(ch, req));
  }

  /** Starts serving on the given transports (at least one). */
  static async start(opts: BootstrapServerOptions): Promise<BootstrapServer> {
    if (!opts.transport && !opts.secureTransport) throw new Error('a bootstrap server needs a transport or a secureTransport');
    return new BootstrapServer(opts);
  }

  /** Endpoints with a sequence running. */
  running(): string[] {
    return [...this.sessions.values()].filter((s) => s.active).map((s) => s.endpoint);
  }

  /**
   * Server-initiated bootstrap (Core §6.1.4): runs the sequence on a device at the address it last bootstrapped
   * from. Over CoAPs the device's DTLS association must still be up. Resolves true when Finish succeeded.
   */
  async bootstrap(endpoint: string): Promise<boolean> {
    const row = this.configs.device(endpoint);
    if (!row || row.address === null || row.port === null) throw new BootstrapError('UNKNOWN_DEVICE', `no known address for ${endpoint}`);
    const channel = row.secure ? this.secure : this.plain;
    if (!channel) throw new BootstrapError('UNKNOWN_DEVICE', `no ${row.secure ? 'CoAPs' : 'CoAP'} listener to reach ${endpoint}`);
    const config = this.configFor(endpoint);
    if (!config) throw new BootstrapError('NO_CONFIG', `no bootstrap configuration for ${endpoint}`);
    const peer: PeerAddress = { address: row.address, port: row.port };
    const session = this.begin(endpoint, 'server', channel.secure);
    return this.run(session, channel, peer, config, row.contentFormat ?? undefined);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.sessions.values()) this.fail(s, 'server closing');
    await Promise.all([this.plain?.coap.close(), this.secure?.coap.close()]);
  }

  private configFor(endpoint: string): BootstrapConfig | undefined {
    return this.configs.resolve(endpoint);
  }

  /** The endpoint an authenticated identity may bootstrap as. */
  endpointOf(identity: PeerIdentity): string | undefined {
    if (identity.mode !== 'psk') return identity.name;
    const own = this.opts.bootstrapCredentials?.findByPskIdentity(identity.name);
    if (own) return own.endpoint;
    return this.opts.factoryKeys ? (this.opts.endpointForIdentity ?? ((i) => i))(identity.name) : undefined;
  }

  // Bootstrap-Request (Core §6.1.3 / Transport §6.1): POST /bs?ep={Endpoint Client Name}[&pct={Content-Format}].
  private onRequest(channel: Channel, req: IncomingRequest): OutgoingResponse {
    if (channel.secure && this.opts.routes) {
      const routed = this.opts.routes(req);
      if (routed) return routed;
    }
    if (req.path.length !== 1 || req.path[0] !== 'bs') return { code: ResponseCode.NotFound };
    if (req.code !== Method.POST) return { code: ResponseCode.MethodNotAllowed };
    let endpoint: string | undefined;
    let pct: number | undefined;
    for (const q of req.query) {
      if (q.startsWith('ep=')) endpoint = q.slice(3);
      else if (q.startsWith('pct=')) pct = /^\d+$/.test(q.slice(4)) ? Number(q.slice(4)) : Number.NaN;
    }
    if (!endpoint) return text(ResponseCode.BadRequest, 'missing ep');
    if (pct !== undefined && (Number.isNaN(pct) || !codecFor(pct))) return text(ResponseCode.BadRequest, 'unsupported pct');
    if (channel.secure) {
      const owner = req.identity && this.endpointOf(req.identity);
      if (owner !== endpoint) {
        this.logger.warn({ ep: endpoint, identity: req.identity?.name }, 'bootstrap refused: identity belongs to another endpoint');
        this.emit('bootstrap-failed', { endpoint, reason: 'identity does not match the endpoint' } satisfies BootstrapFailedEvent);
        return { code: ResponseCode.Forbidden };
      }
    }
    // A device that proved a factory key is one of ours: without a configuration of its own it gets the default
    // (Warden's DM server with fresh credentials), which is what first contact is for.
    const config = this.configFor(endpoint) ?? (channel.secure && this.opts.factoryKeys ? this.defaultConfig() : undefined);
    if (!config) {
      this.logger.info({ ep: endpoint }, 'bootstrap refused: no configuration');
      return text(ResponseCode.BadRequest, 'unknown endpoint');
    }
    this.configs.deviceSeen({
      endpoint,
      address: req.peer.address,
      port: req.peer.port,
      secure: channel.secure,
      identity: req.identity?.name ?? null,
      contentFormat: pct ?? null,
    });
    // A new Bootstrap-Request while a sequence runs (the device restarted it, e.g. after its own timeout) supersedes
    // it: the old one is failed and its outstanding requests aborted. Retransmissions of the same request are
    // answered by the CoAP deduplication and never get here.
    const session = this.begin(endpoint, 'client', channel.secure);
    const peer = req.peer;
    // The sequence starts once the 2.04 is on its way (Core §6.1.3: the server answers, then writes).
    setImmediate(() => void this.run(session, channel, peer, config, pct));
    return { code: ResponseCode.Changed };
  }

  private begin(endpoint: string, initiatedBy: 'client' | 'server', secure: boolean): BootstrapSession {
    const previous = this.sessions.get(endpoint);
    if (previous?.active) this.fail(previous, 'superseded by a new bootstrap request');
    const session = new BootstrapSession(endpoint, this.nextId++);
    this.sessions.set(endpoint, session);
    this.logger.info({ ep: endpoint, initiatedBy }, 'bootstrap started');
    this.emit('bootstrap-started', { endpoint, initiatedBy, secure } satisfies BootstrapStartedEvent);
    return session;
  }

  private fail(session: BootstrapSession, reason: string): void {
    if (!session.fail(reason)) return;
    this.logger.warn({ ep: session.endpoint, reason }, 'bootstrap failed');
    this.emit('bootstrap-failed', { endpoint: session.endpoint, reason } satisfies BootstrapFailedEvent);
  }

  private async run(session: BootstrapSession, channel: Channel, peer: PeerAddress, config: BootstrapConfig, pct: number | undefined): Promise<boolean> {
    const timer = setTimeout(() => this.fail(session, 'sequence timeout'), this.opts.sequenceTimeout ?? 120_000);
    timer.unref?.();
    let lastReported: string | undefined;
    let generated: GeneratedCredential | undefined;
    let delivered = false;
    try {
      const ask = async (what: string, code: number, path: string, options: CoapOption[] = [], payload?: Uint8Array): Promise<CoapResponse> => {
        if (!session.active) throw new SequenceEnded();
        if (session.state !== lastReported) {
          lastReported = session.state;
          this.emit('bootstrap-progress', { endpoint: session.endpoint, state: session.state });
        }
        const ids = path === '/' ? [] : path.slice(1).split('/');
        const res = await channel.coap.request(
          peer,
          { code, options: [...uriPathOptions(ids), ...options], ...(payload ? { payload } : {}) },
          { signal: session.abort.signal, ...(this.opts.requestTimeout !== undefined ? { timeout: this.opts.requestTimeout } : {}) },
        );
        if (!session.active) throw new SequenceEnded();
        this.logger.debug({ ep: session.endpoint, what, path, code: codeToString(res.code) }, 'bootstrap step');
        return res;
      };
      let format = writeFormat(pct);
      let bootstrapIds: number[] = [];
      if (config.discover !== false) {
        session.step('discover');
        // Bootstrap-Discover (Core §5.2.7.3): GET / with Accept application/link-format.
        const res = await ask('discover', Method.GET, '/', [uintOption(OptionNumber.Accept, ContentFormat.CORE_LINK)]);
        if (res.code === ResponseCode.Content) {
          const found = parseDiscover(Buffer.from(res.payload).toString('utf8'));
          bootstrapIds = found.bootstrapSecurityIds;
          if (found.version === '1.0') format = ContentFormat.TLV;
        } else if (res.code !== ResponseCode.NotFound && res.code !== ResponseCode.MethodNotAllowed && res.code !== ResponseCode.NotImplemented) {
          throw new StepFailed(`Bootstrap-Discover answered ${codeToString(res.code)}`);
        }
      }
      let plan: BootstrapPlan;
      try {
        plan = planBootstrap({
          config,
          bootstrapInstanceIds: bootstrapIds,
          dmServerUri: this.opts.dmServerUri,
          generate: () => (generated = this.generate(session.endpoint, config)),
        });
      } catch (err) {
        throw new StepFailed(`configuration: ${(err as Error).message}`);
      }
      // A generated key is never sent in the clear, and mode 4 enrolls over the bootstrap DTLS session.
      if (plan.generated && !channel.secure) throw new StepFailed(`a generated ${plan.generated.kind} credential is never sent over plain CoAP`);
      session.step('delete');
      // Bootstrap-Delete (Core §5.2.7.5); the client keeps its Bootstrap-Server account.
      for (const path of plan.toDelete) {
        const res = await ask('delete', Method.DELETE, path);
        if (res.code !== ResponseCode.Deleted) throw new StepFailed(`Bootstrap-Delete ${path} answered ${codeToString(res.code)}`);
      }
      session.step('write');
      const codec = codecFor(format)!;
      for (const w of plan.writes) {
        const path = Lwm2mPath.of(w.objectId, w.instance.id);
        const payload = codec.encode(w.instance, path, this.opts.model);
        // Bootstrap-Write (Core §5.2.7.4): PUT, creating the instance when absent.
        const res = await ask('write', Method.PUT, path.toString(), [uintOption(OptionNumber.ContentFormat, format)], payload);
        if (res.code !== ResponseCode.Changed) throw new StepFailed(`Bootstrap-Write ${path.toString()} answered ${codeToString(res.code)}`);
      }
      session.step('finish');
      // Bootstrap-Finish (Core §5.2.7.6): POST /bs; 4.06 when the client finds the configuration inconsistent.
      const res = await ask('finish', Method.POST, '/bs');
      if (res.code !== ResponseCode.Changed) throw new StepFailed(`Bootstrap-Finish answered ${codeToString(res.code)}`);
      session.step('finished');
      delivered = true;
      const g = plan.generated;
      const rotation = (g?.kind === 'psk' || g?.kind === 'rpk') && g.pending === true;
      if (g && !rotation) this.storeDmCredential(session.endpoint, g);
      this.configs.deviceFinished(session.endpoint, this.now());
      // Mode 4: the credential is the certificate the device enrolls for next (recorded by the EST route).
      const replaced = g !== undefined && !rotation && g.kind !== 'est';
      this.logger.info({ ep: session.endpoint, credentialReplaced: replaced, rotation }, 'bootstrap finished');
      this.emit('bootstrap-finished', { endpoint: session.endpoint, credentialReplaced: replaced, ...(rotation ? { rotation } : {}) } satisfies BootstrapFinishedEvent);
      return true;
    } catch (err) {
      if (!(err instanceof SequenceEnded)) {
        const reason = err instanceof StepFailed ? err.message : `no answer: ${(err as Error).message}`;
        this.fail(session, reason);
      }
      return false;
    } finally {
      if (generated) this.forget(generated, delivered);
      clearTimeout(timer);
      if (this.sessions.get(session.endpoint) === session) this.sessions.delete(session.endpoint);
    }
  }

  private generate(endpoint: string, config: BootstrapConfig): GeneratedCredential {
    const current = this.opts.security.get(endpoint, { withKey: false });
    const kind = config.dmCredential ?? (current?.mode === 'rpk' ? 'rpk' : current === undefined && this.opts.ca?.hasActiveCertificate(endpoint) ? 'certificate' : 'psk');
    if (kind === 'psk' || this.opts.security.getPending(endpoint)) return this.generatePsk(endpoint);
    if (kind === 'rpk') {
      const serverPublicKey = this.opts.dmServerPublicKey;
      if (!serverPublicKey) throw new Error('dmCredential rpk needs the DM server\'s public key');
      const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const spki = new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }));
      // A device that holds a raw public key keeps it accepted until it registers with the new one.
      const pending = current?.mode === 'rpk';
      if (pending) this.opts.security.setPendingRawPublicKey(endpoint, spki);
      return { kind, publicKey: spki, privateKey: new Uint8Array(privateKey.export({ format: 'der', type: 'pkcs8' })), serverPublicKey, pending };
    }
    const ca = this.opts.ca;
    if (!ca) throw new Error(`dmCredential ${kind} needs Warden's CA`);
    if (kind === 'est') return { kind, serverTrustAnchor: ca.caCertificate() };
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const issued = ca.issue(createCsr({ commonName: endpoint, privateKey, publicKey }), { endpoint });
    return {
      kind,
      serial: issued.serial,
      certificate: issued.certificate,
      privateKey: new Uint8Array(privateKey.export({ format: 'der', type: 'pkcs8' })),
      serverTrustAnchor: ca.caCertificate(),
    };
  }

  /** Drops a generated secret once the sequence is over; a certificate whose sequence failed is revoked, unused. */
  private forget(g: GeneratedCredential, delivered: boolean): void {
    if (g.kind === 'psk') g.key.fill(0);
    if (g.kind === 'rpk') g.privateKey.fill(0);
    if (g.kind !== 'certificate') return;
    g.privateKey.fill(0);
    if (!delivered) this.opts.ca?.revoke({ serial: g.serial });
  }

  private generatePsk(endpoint: string): GeneratedPsk {
    // A rotation in progress: every sequence writes the pending PSK (the store accepts it alongside the current one),
    // so a device that re-bootstraps mid-rotation cannot end up with a key the DM server does not know.
    const pending = this.opts.security.getPending(endpoint, { withKey: true });
    if (pending?.pskKey) return { kind: 'psk', identity: pending.pskIdentity, key: pending.pskKey, pending: true };
    const identity = (this.opts.dmIdentityFor ?? ((e) => e))(endpoint);
    return { kind: 'psk', identity, key: this.random(32) };
  }

  private storeDmCredential(endpoint: string, g: GeneratedCredential): void {
    if (g.kind === 'psk') {
      this.opts.security.add({ endpoint, mode: 'psk', pskIdentity: g.identity, pskKey: g.key });
      this.opts.audit?.record({ endpoint, kind: 'created', actor: 'bootstrap', detail: { identity: g.identity } });
    } else if (g.kind === 'rpk' && !g.pending) {
      this.opts.security.add({ endpoint, mode: 'rpk', rpkPublicKey: g.publicKey });
      this.opts.audit?.record({ endpoint, kind: 'created', actor: 'bootstrap', detail: { fingerprint: fingerprint(g.publicKey) } });
    } else if (g.kind === 'certificate') {
      // The CA's record authorizes the certificate at the DM server; the security store keeps no secret for it.
      this.opts.audit?.record({ endpoint, kind: 'created', actor: 'bootstrap', detail: { serial: g.serial } });
    }
  }

  /** The default configuration (one DM server, Warden's) for `PUT` convenience and the CLI. */
  defaultConfig(): BootstrapConfig {
    return DEFAULT_CONFIG(this.opts.dmShortServerId ?? 1);
  }
}

class StepFailed extends Error {}
class SequenceEnded extends Error {}

function text(code: number, message: string): OutgoingResponse {
  return { code, payload: Buffer.from(message, 'utf8') };
}

/**
 * The bootstrap accounts (Security instances without `ssid`, Core §5.2.7.3) and the `lwm2m` version of a
 * Bootstrap-Discover answer, e.g. `</>;lwm2m=1.1,</0/0>;uri="coap://bs",</0/1>;ssid=1;uri="coaps://dm"`. Tolerates
 * the 1.0 form without `</>` (`lwm2m="1.0",</0/0>...`).
 */
export function parseDiscover(body: string): { version?: string; bootstrapSecurityIds: number[] } {
  const out: { version?: string; bootstrapSecurityIds: number[] } = { bootstrapSecurityIds: [] };
  const version = /(?:^|[;,])\s*lwm2m="?([0-9.]+)"?/.exec(body);
  if (version) out.version = version[1]!;
  for (const m of body.matchAll(/<\/0\/(\d+)>([^,<]*)/g)) {
    if (!/;\s*ssid=/.test(m[2]!)) out.bootstrapSecurityIds.push(Number(m[1]));
  }
  return out;
}
