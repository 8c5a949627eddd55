/**
 * The object-links payload of Register and Update (LwM2M 1.1 Core §6.2.1, §6.2.2):
 * `</>;rt="oma.lwm2m";ct=11543,</1/0>,</3/0>,</5>;ver=1.1`.
 */
import { Lwm2mError, ResponseCode } from './error.js';
import { formatLinks, parseLinks, type Link } from './link-format.js';

/** One object the client reports: its version (absent means 1.0, Core §6.2.1) and instance ids. */
export interface ObjectLinkInfo {
  version?: string;
  instances: number[];
}

export interface ObjectLinks {
  /** "/" or the alternate path a link with rt="oma.lwm2m" names, e.g. "/lwm2m" (Core §6.2.1). */
  rootPath: string;
  /** ct= on the root link; a quoted, space-separated list or a single number. */
  supportedContentFormats: number[];
  /** By object id, ascending instance ids. */
  objects: Map<number, ObjectLinkInfo>;
  /** All links as parsed, including those ignored above. */
  links: Link[];
}

function hasResourceType(link: Link, rt: string): boolean {
  const v = link.attributes['rt'];
  return typeof v === 'string' && v.split(/\s+/).includes(rt);
}

function normalizeRoot(uri: string): string {
  const trimmed = uri.replace(/\/+$/, '');
  return trimmed === '' ? '/' : trimmed.startsWith('/') ? trimmed : '/' + trimmed;
}

function parseContentFormats(value: string | true | undefined): number[] {
  if (value === undefined || value === true) return [];
  const out: number[] = [];
  for (const part of value.trim().split(/\s+/)) {
    if (part === '') continue;
    if (!/^\d{1,5}$/.test(part) || Number(part) > 65535) {
      throw new Lwm2mError(ResponseCode.BadRequest, `invalid content format "${part}" in ct=`);
    }
    out.push(Number(part));
  }
  return out;
}

/**
 * Interprets a Register/Update payload. Links outside the root path, and links deeper than an
 * object instance, are ignored; a path segment that is not an id in 0..65535 is ignored too.
 * Throws Lwm2mError(4.00) on malformed link format or a bad `ct=`/`ver=`.
 */
export function parseObjectLinks(text: string): ObjectLinks {
  const links = parseLinks(text);
  const rootLink = links.find((l) => hasResourceType(l, 'oma.lwm2m'));
  const rootPath = rootLink ? normalizeRoot(rootLink.uri) : '/';
  const root = rootLink ?? links.find((l) => normalizeRoot(l.uri) === '/' && l.uri.startsWith('/'));
  const supportedContentFormats = parseContentFormats(root?.attributes['ct']);
  const prefix = rootPath === '/' ? '/' : rootPath + '/';
  const objects = new Map<number, ObjectLinkInfo>();
  for (const link of links) {
    if (link === root || !link.uri.startsWith(prefix)) continue;
    const rest = link.uri.slice(prefix.length).replace(/\/+$/, '');
    if (rest === '') continue;
    const parts = rest.split('/');
    if (parts.length > 2 || !parts.every((p) => /^\d{1,5}$/.test(p) && Number(p) <= 65535)) continue;
    const objectId = Number(parts[0]);
    let info = objects.get(objectId);
    if (!info) {
      info = { instances: [] };
      objects.set(objectId, info);
    }
    const ver = link.attributes['ver'];
    if (ver !== undefined) {
      if (ver === true || !/^\d+\.\d+$/.test(ver)) throw new Lwm2mError(ResponseCode.BadRequest, `invalid ver= on <${link.uri}>`);
      info.version = ver;
    }
    if (parts.length === 2) {
      const instanceId = Number(parts[1]);
      if (!info.instances.includes(instanceId)) info.instances.push(instanceId);
    }
  }
  for (const info of objects.values()) info.instances.sort((a, b) => a - b);
  return { rootPath, supportedContentFormats, objects, links };
}

/**
 * Builds a Register/Update payload (Core §6.2.1): the root link when there is an alternate path or
 * content formats to announce, then per object `</id>;ver=x.y` when the version is not 1.0 or the
 * object has no instance, and one link per instance.
 */
export function formatObjectLinks(input: {
  rootPath?: string;
  supportedContentFormats?: readonly number[];
  objects: ReadonlyMap<number, ObjectLinkInfo>;
}): string {
  const rootPath = normalizeRoot(input.rootPath ?? '/');
  const prefix = rootPath === '/' ? '' : rootPath;
  const links: Link[] = [];
  const cts = input.supportedContentFormats ?? [];
  if (rootPath !== '/' || cts.length > 0) {
    const attributes: Record<string, string> = { rt: 'oma.lwm2m' };
    if (cts.length > 0) attributes['ct'] = cts.join(' ');
    links.push({ uri: rootPath, attributes });
  }
  for (const id of [...input.objects.keys()].sort((a, b) => a - b)) {
    const info = input.objects.get(id)!;
    const versioned = info.version !== undefined && info.version !== '1.0';
    if (versioned || info.instances.length === 0) {
      links.push({ uri: `${prefix}/${id}`, attributes: versioned ? { ver: info.version! } : {} });
    }
    for (const inst of [...info.instances].sort((a, b) => a - b)) links.push({ uri: `${prefix}/${id}/${inst}`, attributes: {} });
  }
  return formatLinks(links);
}
