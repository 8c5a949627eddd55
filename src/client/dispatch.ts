/**
 * Request handling of the Device Management and Information Reporting interfaces
 * (LwM2M 1.1 Core §5.4, §5.5; Transport §6.3-6.4): CoAP requests to LwM2M operations on the
 * client's objects, with the response codes of Core §5.4 / §5.5.
 */
import { Method, OptionNumber, uintOption, locationPathOptions, type IncomingRequest, type OutgoingResponse } from '../coap/index.js';
import {
  applyAttributes,
  attributesToLinkParams,
  checkWritableAttributes,
  codecFor,
  compositeCodecFor,
  ContentFormat,
  formatLinks,
  Lwm2mError,
  Lwm2mPath,
  parseAttributes,
  ResponseCode,
  validateAttributes,
  type Attributes,
  type Link,
  type LwM2mNode,
  type PathNode,
  type ResourceDefinition,
  type ResourceNode,
} from '../lwm2m/index.js';
import type { Logger } from '../log.js';
import type { AttributeStore } from './attribute-store.js';
import { parseExecuteArgs } from './execute-args.js';
import type { ObjectEnabler, ObjectInstance } from './object.js';
import type { ObservationManager } from './observe.js';
import type { ObjectTree } from './tree.js';

/** What the dispatcher needs from the client. */
export interface DispatchHost {
  readonly tree: ObjectTree;
  readonly attributes: AttributeStore;
  readonly observations: ObservationManager;
  readonly logger: Logger;
  /** Content-Format for Read/Observe without Accept. */
  readonly preferredFormat: number;
  /** Values changed by a server request. */
  fireChange(paths: readonly Lwm2mPath[]): void;
  /** The server created or deleted instances (the next Update carries the object links). */
  instancesChanged(objectId: number): void;
}

/** Objects only the Bootstrap-Server may touch (Core §6.1.1 / §7.1): Security and OSCORE. */
const BOOTSTRAP_ONLY = new Set([0, 21]);
const NUMERIC = new Set(['integer', 'unsignedInteger', 'float']);
const EMPTY = new Uint8Array(0);

function fail(code: number, message: string): never {
  throw new Lwm2mError(code, message);
}

function content(format: number, payload: Uint8Array): OutgoingResponse {
  return { code: ResponseCode.Content, options: [uintOption(OptionNumber.ContentFormat, format)], payload };
}

export class RequestDispatcher {
  private readonly host: DispatchHost;

  constructor(host: DispatchHost) {
    this.host = host;
  }

  /** Answers one request; never throws (errors become 4.xx/5.00 with a diagnostic payload). */
  async handle(req: IncomingRequest): Promise<OutgoingResponse> {
    try {
      return await this.route(req);
    } catch (err) {
      if (err instanceof Lwm2mError) {
        return { code: err.code, payload: Buffer.from(err.message, 'utf8') };
      }
      this.host.logger.error({ err, path: req.path }, 'request handler failed');
      return { code: ResponseCode.InternalServerError };
    }
  }

  private async route(req: IncomingRequest): Promise<OutgoingResponse> {
    const path = Lwm2mPath.fromSegments(req.path);
    if (!path) fail(ResponseCode.NotFound, `/${req.path.join('/')} is not an LwM2M path`);
    if (path.objectId !== undefined && BOOTSTRAP_ONLY.has(path.objectId)) {
      fail(ResponseCode.Unauthorized, `object ${path.objectId} is reserved to the Bootstrap-Server`);
    }
    switch (req.code) {
      case Method.GET:
        if (req.accept === ContentFormat.CORE_LINK) return this.discover(path);
        return this.read(req, path, req.observe === 0);
      case Method.PUT:
        if (req.payload.length === 0 && req.contentFormat === undefined) {
          if (req.query.length > 0) return this.writeAttributes(req, path);
          fail(ResponseCode.BadRequest, 'Write without payload and Content-Format');
        }
        return this.write(req, path, true);
      case Method.POST:
        if (path.isObject()) return this.create(req, path);
        if (path.isInstance()) return this.write(req, path, false);
        if (path.isResource()) {
          const def = this.host.tree.resourceDefinition(path);
          if (def.operations.includes('E')) return this.execute(req, path, def);
          // Core §5.4.3 (1.1): partial update of a multiple resource adds or changes its instances.
          if (def.multiple && def.operations.includes('W')) return this.write(req, path, false);
          this.host.tree.instanceAt(path);
          fail(ResponseCode.MethodNotAllowed, `${path.toString()} is not executable`);
        }
        fail(ResponseCode.MethodNotAllowed, `POST is not allowed on ${path.toString()}`);
      case Method.DELETE:
        return this.delete(path);
      case Method.FETCH:
        if (!path.isRoot()) fail(ResponseCode.MethodNotAllowed, 'FETCH is only used by Read-/Observe-Composite on /');
        return this.readComposite(req, req.observe === 0);
      case Method.iPATCH:
        if (!path.isRoot()) fail(ResponseCode.MethodNotAllowed, 'iPATCH is only used by Write-Composite on /');
        return this.writeComposite(req);
      default:
        fail(ResponseCode.MethodNotAllowed, `method ${req.code} not allowed`);
    }
  }

  // ---- Read / Observe (Core §5.4.1, §5.5.1) ------------------------------------------------

  private read(req: IncomingRequest, path: Lwm2mPath, observe: boolean): OutgoingResponse {
    const format = req.accept ?? this.host.preferredFormat;
    const codec = codecFor(format);
    if (!codec) fail(ResponseCode.NotAcceptable, `Content-Format ${format} not supported`);
    const node = this.host.tree.read(path);
    const response = content(format, codec.encode(node, path, this.host.tree.model));
    if (observe) response.observe = (relation) => this.host.observations.add(relation, [path], false, format);
    return response;
  }

  /** The payload of a notification: the observed node(s) now. */
  encode(paths: readonly Lwm2mPath[], composite: boolean, format: number): OutgoingResponse {
    const model = this.host.tree.model;
    if (!composite) {
      const codec = codecFor(format)!;
      return content(format, codec.encode(this.host.tree.read(paths[0]!), paths[0]!, model));
    }
    const codec = compositeCodecFor(format)!;
    return content(format, codec.encodeNodes(this.readPaths(paths), model));
  }

  // ---- Composite operations (Core §5.4.7-5.4.8, §5.5.2) -----------------------------------

  private readComposite(req: IncomingRequest, observe: boolean): OutgoingResponse {
    if (req.contentFormat === undefined) fail(ResponseCode.BadRequest, 'Read-Composite without Content-Format');
    const inCodec = compositeCodecFor(req.contentFormat);
    if (!inCodec) fail(ResponseCode.UnsupportedContentFormat, `Content-Format ${req.contentFormat} cannot carry paths`);
    const paths = inCodec.decodePaths(req.payload);
    if (paths.length === 0) fail(ResponseCode.BadRequest, 'Read-Composite without paths');
    for (const p of paths) {
      if (p.objectId !== undefined && BOOTSTRAP_ONLY.has(p.objectId)) fail(ResponseCode.Unauthorized, `${p.toString()} is reserved to the Bootstrap-Server`);
    }
    const format = req.accept ?? req.contentFormat;
    const codec = compositeCodecFor(format);
    if (!codec) fail(ResponseCode.NotAcceptable, `Content-Format ${format} cannot carry several paths`);
    const nodes = this.readPaths(paths);
    if (nodes.length === 0) fail(ResponseCode.NotFound, 'none of the paths exists');
    const response = content(format, codec.encodeNodes(nodes, this.host.tree.model));
    if (observe) response.observe = (relation) => this.host.observations.add(relation, paths, true, format);
    return response;
  }

  /** Nodes at the paths that exist (Core §5.4.7: absent ones are left out); "/" means every object. */
  private readPaths(paths: readonly Lwm2mPath[]): PathNode[] {
    const out: PathNode[] = [];
    for (const p of paths) {
      if (p.isRoot()) {
        for (const e of this.host.tree.enablers()) {
          if (!BOOTSTRAP_ONLY.has(e.id)) out.push({ path: Lwm2mPath.of(e.id), node: this.host.tree.read(Lwm2mPath.of(e.id)) });
        }
        continue;
      }
      try {
        out.push({ path: p, node: this.host.tree.read(p) });
      } catch (err) {
        if (!(err instanceof Lwm2mError) || err.code !== ResponseCode.NotFound) throw err;
      }
    }
    return out;
  }

  private writeComposite(req: IncomingRequest): OutgoingResponse {
    if (req.contentFormat === undefined) fail(ResponseCode.BadRequest, 'Write-Composite without Content-Format');
    const codec = compositeCodecFor(req.contentFormat);
    if (!codec) fail(ResponseCode.UnsupportedContentFormat, `Content-Format ${req.contentFormat} cannot carry several paths`);
    const entries = codec.decodeNodes(req.payload, this.host.tree.model);
    if (entries.length === 0) fail(ResponseCode.BadRequest, 'Write-Composite without values');
    // Check every target before changing anything.
    const plan: { instance: ObjectInstance; def: ResourceDefinition; node: ResourceNode; replace: boolean }[] = [];
    for (const { path, node } of entries) {
      if (path.objectId !== undefined && BOOTSTRAP_ONLY.has(path.objectId)) fail(ResponseCode.Unauthorized, `${path.toString()} is reserved to the Bootstrap-Server`);
      if (!path.isResource() && !path.isResourceInstance()) fail(ResponseCode.BadRequest, `Write-Composite value at ${path.toString()}`);
      const { instance } = this.host.tree.instanceAt(path);
      const def = this.writableResource(path);
      plan.push({ instance, def, node: this.resourceNodeFor(path, def, node), replace: path.isResource() });
    }
    for (const step of plan) step.instance.write(step.def.id, step.node, step.replace);
    this.host.fireChange(entries.map((e) => e.path));
    return { code: ResponseCode.Changed };
  }

  // ---- Discover (Core §5.4.2) --------------------------------------------------------------

  private discover(path: Lwm2mPath): OutgoingResponse {
    if (path.isRoot()) fail(ResponseCode.MethodNotAllowed, 'Discover on / is a Bootstrap-Server operation');
    const tree = this.host.tree;
    tree.locate(path);
    const enabler = tree.enabler(path.objectId!)!;
    const links: Link[] = [];
    if (path.isObject()) {
      const attrs: Record<string, string> = {};
      if (enabler.definition.version !== '1.0') attrs.ver = enabler.definition.version;
      links.push({ uri: path.toString(), attributes: { ...attrs, ...this.attached(path) } });
      for (const iid of enabler.instanceIds()) this.instanceLinks(enabler, enabler.instance(iid)!, links);
    } else if (path.isInstance()) {
      this.instanceLinks(enabler, enabler.instance(path.instanceId!)!, links);
    } else {
      const { instance } = tree.instanceAt(path);
      const def = tree.resourceDefinition(path);
      // A resource's Discover answer carries the attributes it inherits (Core §5.4.2).
      const inherited = attributesToLinkParams(this.host.attributes.inherited(path.isResource() ? path : path.parent()));
      if (path.isResource()) {
        links.push({ uri: path.toString(), attributes: { ...this.dim(def, instance), ...inherited } });
        const node = def.multiple ? instance.read(def.id) : undefined;
        if (node?.kind === 'multipleResource') {
          for (const riid of [...node.instances.keys()].sort((a, b) => a - b)) {
            const p = path.child(riid);
            links.push({ uri: p.toString(), attributes: this.attached(p) });
          }
        }
      } else {
        links.push({ uri: path.toString(), attributes: { ...inherited, ...this.attached(path) } });
      }
    }
    return content(ContentFormat.CORE_LINK, Buffer.from(formatLinks(links), 'utf8'));
  }

  private instanceLinks(enabler: ObjectEnabler, instance: ObjectInstance, links: Link[]): void {
    const ip = Lwm2mPath.of(enabler.id, instance.id);
    links.push({ uri: ip.toString(), attributes: this.attached(ip) });
    for (const rid of instance.resourceIds()) {
      const def = enabler.definition.resources.get(rid);
      if (!def) continue;
      const rp = ip.child(rid);
      links.push({ uri: rp.toString(), attributes: { ...this.dim(def, instance), ...this.attached(rp) } });
    }
  }

  private attached(path: Lwm2mPath): Record<string, string> {
    const a = this.host.attributes.get(path);
    return a ? attributesToLinkParams(a) : {};
  }

  /** `dim` (Core §5.1.2): the number of instances of a multiple resource. */
  private dim(def: ResourceDefinition, instance: ObjectInstance): Record<string, string> {
    if (!def.multiple) return {};
    const node = instance.read(def.id);
    return { dim: String(node?.kind === 'multipleResource' ? node.instances.size : 0) };
  }

  // ---- Write (Core §5.4.3) and Write-Attributes (Core §5.4.4) ------------------------------

  private write(req: IncomingRequest, path: Lwm2mPath, replace: boolean): OutgoingResponse {
    if (path.isRoot() || path.isObject()) fail(ResponseCode.MethodNotAllowed, `Write is not allowed on ${path.toString()}`);
    const tree = this.host.tree;
    const { enabler, instance } = tree.instanceAt(path);
    if (path.isResource() || path.isResourceInstance()) this.writableResource(path);
    const node = this.decode(req, path);
    if (path.isInstance()) {
      if (node.kind !== 'instance' || node.id !== path.instanceId) fail(ResponseCode.BadRequest, `payload is not instance ${path.toString()}`);
      const defs = node.resources.map((r) => this.writableResource(path.child(r.id)));
      node.resources.forEach((r, k) => instance.write(r.id, this.resourceNodeFor(path.child(r.id), defs[k]!, r), replace));
      if (replace) {
        // Replace (Core §5.4.3): optional writable resources the payload leaves out are removed.
        const given = new Set(node.resources.map((r) => r.id));
        for (const rid of instance.resourceIds()) {
          const def = enabler.definition.resources.get(rid);
          if (def && !given.has(rid) && !def.mandatory && def.operations.includes('W')) instance.remove(rid);
        }
      }
    } else {
      const def = tree.resourceDefinition(path);
      instance.write(def.id, this.resourceNodeFor(path, def, node), replace && path.isResource());
    }
    this.host.fireChange([path]);
    return { code: ResponseCode.Changed };
  }

  private decode(req: IncomingRequest, path: Lwm2mPath): LwM2mNode {
    if (req.contentFormat === undefined) fail(ResponseCode.BadRequest, 'Write without Content-Format');
    const codec = codecFor(req.contentFormat);
    if (!codec) fail(ResponseCode.UnsupportedContentFormat, `Content-Format ${req.contentFormat} not supported`);
    try {
      return codec.decode(req.payload, path, this.host.tree.model);
    } catch (err) {
      if (err instanceof Lwm2mError) throw err;
      fail(ResponseCode.BadRequest, `undecodable payload: ${(err as Error).message}`);
    }
  }

  /** The resource definition at `path` if the server may write it: 4.04 unknown, 4.05 not W. */
  private writableResource(path: Lwm2mPath): ResourceDefinition {
    const def = this.host.tree.resourceDefinition(Lwm2mPath.of(...path.ids.slice(0, 3)));
    if (!def.operations.includes('W')) fail(ResponseCode.MethodNotAllowed, `${path.toString()} is not writable`);
    if (path.isResourceInstance() && !def.multiple) fail(ResponseCode.NotFound, `${path.toString()}: resource is single`);
    return def;
  }

  /** A decoded node for a resource or resource-instance path as the ResourceNode instances take. */
  private resourceNodeFor(path: Lwm2mPath, def: ResourceDefinition, node: LwM2mNode): ResourceNode {
    if (path.isResourceInstance()) {
      if (node.kind !== 'resourceInstance' && node.kind !== 'singleResource') fail(ResponseCode.BadRequest, `payload is not a value for ${path.toString()}`);
      return { kind: 'multipleResource', id: def.id, type: def.type, instances: new Map([[path.resourceInstanceId!, node.value]]) };
    }
    if (node.kind === 'singleResource' || node.kind === 'multipleResource') {
      if (node.id !== def.id) fail(ResponseCode.BadRequest, `payload is resource ${node.id}, not ${def.id}`);
      if ((node.kind === 'multipleResource') !== def.multiple) {
        fail(ResponseCode.BadRequest, `resource ${path.toString()} is ${def.multiple ? 'multiple' : 'single'}`);
      }
      return node;
    }
    fail(ResponseCode.BadRequest, `payload is not a resource for ${path.toString()}`);
  }

  private writeAttributes(req: IncomingRequest, path: Lwm2mPath): OutgoingResponse {
    const update = parseAttributes(req.query);
    checkWritableAttributes(update, path);
    const def = this.host.tree.locate(path);
    if (update.gt != null || update.lt != null || update.st != null) {
      if (!def || !NUMERIC.has(def.type)) fail(ResponseCode.BadRequest, 'gt/lt/st apply to numeric resources only');
    }
    const merged: Attributes = applyAttributes(this.host.attributes.get(path) ?? {}, update);
    validateAttributes(merged);
    this.host.attributes.apply(path, update);
    this.host.observations.attributesChanged(path);
    return { code: ResponseCode.Changed };
  }

  // ---- Execute (Core §5.4.5) ---------------------------------------------------------------

  private async execute(req: IncomingRequest, path: Lwm2mPath, def: ResourceDefinition): Promise<OutgoingResponse> {
    const { instance } = this.host.tree.instanceAt(path);
    if (!instance.resourceIds().includes(def.id)) fail(ResponseCode.NotFound, `${path.toString()} not found`);
    const args = parseExecuteArgs(req.payload);
    await instance.execute(def.id, args);
    return { code: ResponseCode.Changed };
  }

  // ---- Create (Core §5.4.6) and Delete (Core §5.4.7) ---------------------------------------

  private create(req: IncomingRequest, path: Lwm2mPath): OutgoingResponse {
    const enabler = this.host.tree.enabler(path.objectId!);
    if (!enabler) fail(ResponseCode.NotFound, `${path.toString()} not found`);
    const node = this.decode(req, path);
    let instances = node.kind === 'object' ? node.instances : node.kind === 'instance' ? [node] : fail(ResponseCode.BadRequest, 'Create payload holds no instance');
    // TLV resources without an Object Instance TLV: the client picks the id (Core §5.4.6).
    const idGiven = !(req.contentFormat === ContentFormat.TLV && req.payload.length > 0 && req.payload[0]! >> 6 !== 0);
    if (!idGiven) instances = instances.map((i) => ({ ...i, id: enabler.freeInstanceId() }));
    if (instances.length === 0) instances = [{ kind: 'instance', id: enabler.freeInstanceId(), resources: [] }];
    for (const inst of instances) {
      for (const r of inst.resources) {
        if (!enabler.definition.resources.has(r.id)) fail(ResponseCode.BadRequest, `object ${enabler.id} has no resource ${r.id}`);
      }
    }
    const created: number[] = [];
    for (const inst of instances) created.push(enabler.create(inst.id, inst.resources).id);
    this.host.instancesChanged(enabler.id);
    const options = created.length === 1 ? locationPathOptions([String(enabler.id), String(created[0])]) : [];
    return { code: ResponseCode.Created, options, payload: EMPTY };
  }

  private delete(path: Lwm2mPath): OutgoingResponse {
    if (!path.isInstance()) fail(ResponseCode.MethodNotAllowed, `Delete is not allowed on ${path.toString()}`);
    const enabler = this.host.tree.enabler(path.objectId!);
    if (!enabler || !enabler.instance(path.instanceId!)) fail(ResponseCode.NotFound, `${path.toString()} not found`);
    enabler.delete(path.instanceId!);
    this.host.attributes.removeUnder(path);
    this.host.fireChange([path]);
    this.host.instancesChanged(enabler.id);
    return { code: ResponseCode.Deleted };
  }
}
