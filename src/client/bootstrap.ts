/**
 * The client's side of the Bootstrap Interface (LwM2M 1.1 Core §6.1, Transport §6.1): Bootstrap-Request to the
 * Bootstrap-Server account of /0, then Bootstrap-Discover/-Read/-Write/-Delete/-Finish from that server only.
 * /0, /1 and /2 are snapshotted first and restored if the sequence does not end in a consistent Finish within the
 * timeout (rollback to the last working configuration).
 */
import {
  CoapEndpoint,
  codeToString,
  Method,
  OptionNumber,
  uintOption,
  uriPathOptions,
  uriQueryOptions,
  UdpTransport,
  type Clock,
  type CoapEndpointOptions,
  type IncomingRequest,
  type OutgoingResponse,
  type PeerAddress,
  type Transport,
} from '../coap/index.js';
import { codecFor, ContentFormat, formatLinks, Lwm2mError, Lwm2mPath, ResponseCode, type Link, type LwM2mNode, type ResourceNode } from '../lwm2m/index.js';
import type { Logger } from '../log.js';
import { DtlsLink } from './dtls-link.js';
import { enroll } from './est.js';
import type { ObjectInstance } from './object.js';
import { SecurityMode, SecurityResource } from './objects/security.js';
import { ServerResource } from './objects/server.js';
import { checkSchemeAndMode, dtlsClientOptions, type ClientSecurity, type DtlsExtras, type SecurityAccount } from './security.js';
import type { ObjectTree } from './tree.js';

/** The client's Bootstrap-Server account. */
export interface ClientBootstrapOptions {
  /** coap://host[:port] or coaps://host[:port] (default ports 5783 / 5784 are not assumed: give the port). */
  serverUri: string;
  security: ClientSecurity;
  /** ms from the Bootstrap-Request to a consistent Bootstrap-Finish before rolling back (default 60 000). */
  timeout?: number;
  /** Consecutive refusals (4.03, failed DTLS handshakes) by the DM server before falling back to bootstrap (default 3). */
  refusalsBeforeBootstrap?: number;
}

/** Objects a bootstrap sequence configures: Security, Server, Access Control. */
const BOOTSTRAP_OBJECTS = [0, 1, 2] as const;

interface InstanceSnapshot {
  id: number;
  resources: ResourceNode[];
}

/** /0, /1 and /2 with every resource (Secret Keys included): what a rollback restores. */
export type ConfigSnapshot = Map<number, InstanceSnapshot[]>;

export function takeSnapshot(tree: ObjectTree): ConfigSnapshot {
  const out: ConfigSnapshot = new Map();
  for (const oid of BOOTSTRAP_OBJECTS) {
    const e = tree.enabler(oid);
    if (!e) continue;
    out.set(
      oid,
      e.instanceIds().map((iid) => {
        const inst = e.instance(iid)!;
        const resources: ResourceNode[] = [];
        for (const rid of inst.resourceIds()) {
          const node = inst.read(rid);
          if (node) resources.push(node.kind === 'multipleResource' ? { ...node, instances: new Map(node.instances) } : node);
        }
        return { id: iid, resources };
      }),
    );
  }
  return out;
}

export function restoreSnapshot(tree: ObjectTree, snapshot: ConfigSnapshot): void {
  for (const [oid, instances] of snapshot) {
    const e = tree.enabler(oid)!;
    for (const iid of e.instanceIds()) e.bootstrapDelete(iid);
    for (const s of instances) e.bootstrapCreate(s.id, s.resources);
  }
}

function single(inst: ObjectInstance | undefined, rid: number): string | number | boolean | Uint8Array | undefined {
  const n = inst?.read(rid);
  if (n?.kind !== 'singleResource') return undefined;
  const v = n.value.value;
  return typeof v === 'bigint' ? Number(v) : (v as string | number | boolean | Uint8Array);
}

/** Security instance ids flagged Bootstrap-Server (resource 1). */
export function bootstrapInstanceIds(tree: ObjectTree): number[] {
  const e = tree.enabler(0);
  return e ? e.instanceIds().filter((iid) => single(e.instance(iid), SecurityResource.BootstrapServer) === true) : [];
}

/** The Bootstrap-Server account of /0 as a SecurityAccount, if any. */
export function findBootstrapAccount(tree: ObjectTree): SecurityAccount | undefined {
  const iid = bootstrapInstanceIds(tree)[0];
  if (iid === undefined) return undefined;
  const inst = tree.enabler(0)!.instance(iid);
  const bytes = (rid: number): Uint8Array => {
    const v = single(inst, rid);
    return v instanceof Uint8Array ? v : new Uint8Array(0);
  };
  const mode = single(inst, SecurityResource.SecurityMode);
  const uri = single(inst, SecurityResource.ServerUri);
  return {
    instanceId: iid,
    serverUri: typeof uri === 'string' ? uri : '',
    securityMode: typeof mode === 'number' ? mode : SecurityMode.NoSec,
    publicKeyOrIdentity: bytes(SecurityResource.PublicKeyOrIdentity),
    serverPublicKey: bytes(SecurityResource.ServerPublicKey),
    secretKey: bytes(SecurityResource.SecretKey),
  };
}

/**
 * Core §6.1.7.6 (Bootstrap-Finish): the configuration is usable when at least one LwM2M Server account exists whose
 * Security instance (Short Server ID, URI scheme fitting the mode) has a Server instance of the same Short Server ID.
 * Returns the problem, or undefined when consistent.
 */
export function checkConsistency(tree: ObjectTree): string | undefined {
  const sec = tree.enabler(0);
  const srv = tree.enabler(1);
  if (!sec || !srv) return 'no Security or Server object';
  const serverIds = new Set(srv.instanceIds().map((iid) => single(srv.instance(iid), ServerResource.ShortServerId)));
  let accounts = 0;
  for (const iid of sec.instanceIds()) {
    const inst = sec.instance(iid);
    if (single(inst, SecurityResource.BootstrapServer) === true) continue;
    const ssid = single(inst, SecurityResource.ShortServerId);
    const uri = single(inst, SecurityResource.ServerUri);
    const mode = single(inst, SecurityResource.SecurityMode);
    if (typeof uri !== 'string' || typeof mode !== 'number') return `/0/${iid} lacks its URI or Security Mode`;
    try {
      checkSchemeAndMode(uri, mode);
    } catch (err) {
      return `/0/${iid}: ${(err as Error).message}`;
    }
    if (!serverIds.has(ssid)) return `/0/${iid}: no Server instance with Short Server ID ${String(ssid)}`;
    accounts++;
  }
  return accounts === 0 ? 'no LwM2M Server account' : undefined;
}

/**
 * Security mode 4 (Certificate with EST, Core Appendix E.1): for each LwM2M Server account in that mode without a
 * certificate, a fresh P-256 key pair is generated here and enrolled (RFC 9148 /est/sen) over the Bootstrap-Server's
 * DTLS session, which authenticated this endpoint; the certificate goes to /0/x/3 and the PKCS#8 key to /0/x/5. The
 * private key never leaves the device. A failed enrollment fails the bootstrap (and so rolls it back).
 */
export async function enrollPendingAccounts(tree: ObjectTree, coap: CoapEndpoint, peer: PeerAddress, endpointName: string, logger: Logger): Promise<number> {
  const sec = tree.enabler(0);
  if (!sec) return 0;
  let enrolled = 0;
  for (const iid of sec.instanceIds()) {
    const inst = sec.instance(iid)!;
    if (single(inst, SecurityResource.BootstrapServer) === true || single(inst, SecurityResource.SecurityMode) !== SecurityMode.CertificateWithEst) continue;
    const cert = single(inst, SecurityResource.PublicKeyOrIdentity);
    if (cert instanceof Uint8Array && cert.length > 0) continue;
    const { certificateChain, privateKey } = await enroll(coap, peer, { endpointName });
    const opaque = (id: number, value: Uint8Array): ResourceNode => ({ kind: 'singleResource', id, value: { type: 'opaque', value } });
    inst.write(SecurityResource.PublicKeyOrIdentity, opaque(SecurityResource.PublicKeyOrIdentity, new Uint8Array(Buffer.concat(certificateChain))), true);
    inst.write(SecurityResource.SecretKey, opaque(SecurityResource.SecretKey, new Uint8Array(privateKey.export({ format: 'der', type: 'pkcs8' }))), true);
    logger.info({ instance: iid }, 'EST enrollment done for Security mode 4 account');
    enrolled++;
  }
  return enrolled;
}

function fail(code: number, message: string): never {
  throw new Lwm2mError(code, message);
}

/**
 * The operations a Bootstrap-Server may send (Core §6.1.7): Discover (GET Accept 40), Read of /1 and /2 (GET), Write
 * (PUT, creating absent instances), Delete (DELETE on /, /0, /1, /2 or an instance; the Bootstrap-Server account is
 * kept), Finish (POST /bs).
 */
export class BootstrapRequestHandler {
  constructor(
    private readonly tree: ObjectTree,
    private readonly version: string,
    private readonly preferredFormat: number,
    private readonly onFinish: () => string | undefined,
  ) {}

  handle(req: IncomingRequest): OutgoingResponse {
    try {
      return this.route(req);
    } catch (err) {
      if (err instanceof Lwm2mError) return { code: err.code, payload: Buffer.from(err.message, 'utf8') };
      return { code: ResponseCode.InternalServerError };
    }
  }

  private route(req: IncomingRequest): OutgoingResponse {
    if (req.code === Method.POST && req.path.length === 1 && req.path[0] === 'bs') {
      const problem = this.onFinish();
      return problem === undefined ? { code: ResponseCode.Changed } : { code: ResponseCode.NotAcceptable, payload: Buffer.from(problem, 'utf8') };
    }
    const path = Lwm2mPath.fromSegments(req.path) ?? fail(ResponseCode.NotFound, 'not an LwM2M path');
    switch (req.code) {
      case Method.GET:
        return req.accept === ContentFormat.CORE_LINK ? this.discover(path) : this.read(req, path);
      case Method.PUT:
        return this.write(req, path);
      case Method.DELETE:
        return this.delete(path);
      default:
        fail(ResponseCode.MethodNotAllowed, 'not a bootstrap operation');
    }
  }

  // Bootstrap-Discover (Core §5.2.7.3): lwm2m version, then instances with ssid (and uri for /0).
  private discover(path: Lwm2mPath): OutgoingResponse {
    if (!(path.isRoot() || path.isObject())) fail(ResponseCode.BadRequest, 'Bootstrap-Discover targets / or an object');
    const links: Link[] = [];
    if (path.isRoot()) links.push({ uri: '/', attributes: { lwm2m: this.version } });
    const enablers = path.isRoot() ? this.tree.enablers() : [this.tree.enabler(path.objectId!) ?? fail(ResponseCode.NotFound, 'no such object')];
    for (const e of enablers) {
      const ids = e.instanceIds();
      if (ids.length === 0) links.push({ uri: `/${e.id}`, attributes: {} });
      for (const iid of ids) {
        const inst = e.instance(iid);
        const attributes: Record<string, string> = {};
        if (e.id === 0) {
          const ssid = single(inst, SecurityResource.ShortServerId);
          if (single(inst, SecurityResource.BootstrapServer) !== true && ssid !== undefined) attributes.ssid = String(ssid);
          const uri = single(inst, SecurityResource.ServerUri);
          if (typeof uri === 'string') attributes.uri = uri;
        } else if (e.id === 1) {
          const ssid = single(inst, ServerResource.ShortServerId);
          if (ssid !== undefined) attributes.ssid = String(ssid);
        }
        links.push({ uri: `/${e.id}/${iid}`, attributes });
      }
    }
    return { code: ResponseCode.Content, options: [uintOption(OptionNumber.ContentFormat, ContentFormat.CORE_LINK)], payload: Buffer.from(formatLinks(links), 'utf8') };
  }

  // Bootstrap-Read (Core §5.2.7.2): Server and Access Control objects only.
  private read(req: IncomingRequest, path: Lwm2mPath): OutgoingResponse {
    if (path.isRoot() || (path.objectId !== 1 && path.objectId !== 2)) fail(ResponseCode.BadRequest, 'Bootstrap-Read targets /1 or /2');
    if (!path.isObject() && !path.isInstance()) fail(ResponseCode.BadRequest, 'Bootstrap-Read targets an object or an instance');
    const format = req.accept ?? this.preferredFormat;
    const codec = codecFor(format) ?? fail(ResponseCode.NotAcceptable, `Content-Format ${format} not supported`);
    const node = this.tree.read(path);
    return { code: ResponseCode.Content, options: [uintOption(OptionNumber.ContentFormat, format)], payload: codec.encode(node, path, this.tree.model) };
  }

  // Bootstrap-Write (Core §5.2.7.4): absent instances are created; given resources overwrite, others stay.
  private write(req: IncomingRequest, path: Lwm2mPath): OutgoingResponse {
    if (path.isRoot() || path.isResourceInstance()) fail(ResponseCode.BadRequest, 'Bootstrap-Write targets an object, instance or resource');
    const enabler = this.tree.enabler(path.objectId!) ?? fail(ResponseCode.NotFound, `no object ${path.objectId}`);
    if (req.contentFormat === undefined) fail(ResponseCode.BadRequest, 'Bootstrap-Write without Content-Format');
    const codec = codecFor(req.contentFormat) ?? fail(ResponseCode.UnsupportedContentFormat, `Content-Format ${req.contentFormat} not supported`);
    let node: LwM2mNode;
    try {
      node = codec.decode(req.payload, path, this.tree.model);
    } catch (err) {
      if (err instanceof Lwm2mError) throw err;
      fail(ResponseCode.BadRequest, 'undecodable payload');
    }
    const instances = node.kind === 'object' ? node.instances : node.kind === 'instance' ? [node] : undefined;
    if (instances) {
      for (const i of instances) {
        for (const r of i.resources) if (!enabler.definition.resources.has(r.id)) fail(ResponseCode.BadRequest, `object ${enabler.id} has no resource ${r.id}`);
      }
      for (const i of instances) {
        const existing = enabler.instance(i.id);
        if (existing) for (const r of i.resources) existing.write(r.id, r, true);
        else enabler.bootstrapCreate(i.id, i.resources);
      }
      return { code: ResponseCode.Changed };
    }
    if (!path.isResource() || (node.kind !== 'singleResource' && node.kind !== 'multipleResource')) fail(ResponseCode.BadRequest, 'payload does not fit the path');
    const inst = enabler.instance(path.instanceId!) ?? enabler.bootstrapCreate(path.instanceId!, []);
    inst.write(path.resourceId!, node, true);
    return { code: ResponseCode.Changed };
  }

  // Bootstrap-Delete (Core §5.2.7.5): on / or an object, every instance but the Bootstrap-Server account (and
  // objects other than 0, 1, 2 keep theirs: the device's own objects are not the bootstrap's to remove).
  private delete(path: Lwm2mPath): OutgoingResponse {
    if (path.isResource() || path.isResourceInstance()) fail(ResponseCode.BadRequest, 'Bootstrap-Delete targets /, an object or an instance');
    const keep = new Set(bootstrapInstanceIds(this.tree));
    if (path.isInstance()) {
      if (path.objectId === 0 && keep.has(path.instanceId!)) fail(ResponseCode.BadRequest, 'the Bootstrap-Server account cannot be deleted');
      this.tree.enabler(path.objectId!)?.bootstrapDelete(path.instanceId!);
      return { code: ResponseCode.Deleted };
    }
    const oids = path.isRoot() ? BOOTSTRAP_OBJECTS : [path.objectId!];
    for (const oid of oids) {
      const e = this.tree.enabler(oid);
      if (!e) continue;
      if (!path.isRoot() && !(BOOTSTRAP_OBJECTS as readonly number[]).includes(oid)) fail(ResponseCode.BadRequest, `object ${oid} is not configured by bootstrap`);
      for (const iid of e.instanceIds()) if (!(oid === 0 && keep.has(iid))) e.bootstrapDelete(iid);
    }
    return { code: ResponseCode.Deleted };
  }
}

export interface BootstrapRunOptions {
  tree: ObjectTree;
  endpoint: string;
  version: string;
  preferredFormat: number;
  /** Resolves the Bootstrap-Server URI to an address. */
  resolve: (uri: string) => Promise<PeerAddress>;
  dtls: DtlsExtras;
  clock: Clock;
  logger: Logger;
  timeout: number;
  coap?: CoapEndpointOptions;
}

/**
 * One client-initiated bootstrap: Bootstrap-Request, the server's operations, Finish. Resolves after a consistent
 * Finish; otherwise restores /0 /1 /2 and rejects.
 */
export async function runClientBootstrap(o: BootstrapRunOptions): Promise<void> {
  const account = findBootstrapAccount(o.tree);
  if (!account) throw new Error('no Bootstrap-Server account in the Security object');
  const secure = checkSchemeAndMode(account.serverUri, account.securityMode);
  const peer = await o.resolve(account.serverUri);
  const snapshot = takeSnapshot(o.tree);
  let transport: Transport;
  if (secure) {
    const link = new DtlsLink(peer, () => dtlsClientOptions(account, o.dtls), () => {});
    await link.connect();
    transport = link;
  } else {
    transport = await UdpTransport.bind(0, o.dtls.localAddress ?? (peer.family === 'IPv6' ? '::' : '0.0.0.0'));
  }
  const coap = new CoapEndpoint(transport, { logger: o.logger, ...o.coap });
  let done: (err?: Error) => void = () => {};
  const outcome = new Promise<void>((resolve, reject) => {
    done = (err) => (err ? reject(err) : resolve());
  });
  const handler = new BootstrapRequestHandler(o.tree, o.version, o.preferredFormat, () => {
    const problem = checkConsistency(o.tree);
    if (problem === undefined) setImmediate(() => done());
    else o.logger.warn({ problem }, 'Bootstrap-Finish refused: inconsistent configuration');
    return problem;
  });
  coap.onRequest((req) => handler.handle(req));
  const timer = o.clock.setTimeout(() => done(new Error(`no consistent Bootstrap-Finish within ${o.timeout} ms`)), o.timeout);
  try {
    const query = [`ep=${o.endpoint}`];
    if (o.version !== '1.0') query.push(`pct=${o.preferredFormat}`);
    const res = await Promise.race([
      coap.request(peer, { code: Method.POST, options: [...uriPathOptions(['bs']), ...uriQueryOptions(query)] }, { timeout: o.timeout }),
      outcome.then(() => undefined),
    ]);
    if (res && res.code !== ResponseCode.Changed) throw new Lwm2mError(res.code, `Bootstrap-Request refused: ${codeToString(res.code)}`);
    await outcome;
    await enrollPendingAccounts(o.tree, coap, peer, o.endpoint, o.logger);
    o.logger.info('bootstrap finished');
  } catch (err) {
    restoreSnapshot(o.tree, snapshot);
    o.logger.warn({ err: (err as Error).message }, 'bootstrap failed: configuration rolled back');
    throw err;
  } finally {
    o.clock.clearTimeout(timer);
    await coap.close();
  }
}
