/** Node JSON (src/api/node-json.ts) as plain text; the caller puts it in textContent. */

export type Scalar = string | number | boolean | null;

export interface ResourceJson {
  kind: 'singleResource' | 'multiResource' | 'resourceInstance';
  id: number;
  type: string;
  value?: Scalar;
  values?: Record<string, Scalar>;
}
export interface InstanceJson {
  kind: 'instance';
  id: number;
  resources: ResourceJson[];
}
export interface ObjJson {
  kind: 'obj';
  id: number;
  instances: InstanceJson[];
}
export type NodeJson = ObjJson | InstanceJson | ResourceJson;

/** A device's answer (src/api/device-response.ts). */
export interface DeviceResponseJson {
  status: string;
  success: boolean;
  content?: NodeJson | Record<string, NodeJson>;
  objectLinks?: { url: string; attributes: Record<string, string> }[];
  /** Create: the new instance's path. */
  location?: string;
  observationId?: string;
  errormessage?: string;
}

/** A scalar as text (null as empty). */
export function scalarText(v: Scalar | undefined): string {
  return v === null || v === undefined ? '' : String(v);
}

/** The value of a resource as one line: "v", or "0=a, 1=b" for a multiple resource. */
export function resourceText(r: ResourceJson): string {
  if (r.kind === 'multiResource') return Object.entries(r.values ?? {}).map(([i, v]) => `${i}=${scalarText(v)}`).join(', ');
  return scalarText(r.value);
}

/** Any node as text lines ("/3/0/0 = Warden"). */
export function nodeText(node: NodeJson, prefix = ''): string {
  switch (node.kind) {
    case 'obj':
      return node.instances.map((i) => nodeText(i, `${prefix}/${node.id}`)).join('\n');
    case 'instance':
      return node.resources.map((r) => nodeText(r, `${prefix}/${node.id}`)).join('\n');
    default:
      return `${prefix}/${node.id} = ${resourceText(node)} (${node.type})`;
  }
}

/** True if `c` is one node (not a composite answer keyed by path). */
export function isNode(c: unknown): c is NodeJson {
  return typeof c === 'object' && c !== null && typeof (c as { kind?: unknown }).kind === 'string';
}

/** A device answer as text: the status, then the content. */
export function responseText(r: DeviceResponseJson, path: string): string {
  const lines = [r.status];
  if (r.errormessage) lines.push(r.errormessage);
  const parent = path.split('/').filter((s) => s !== '').slice(0, -1);
  const prefix = parent.length ? `/${parent.join('/')}` : '';
  if (isNode(r.content)) lines.push(nodeText(r.content, prefix));
  else if (r.content !== undefined) {
    // Composite: `{"/3/0/1": node}`; each node's own id is the last segment of its path.
    for (const [p, n] of Object.entries(r.content)) lines.push(isNode(n) ? nodeText(n, p.split('/').filter((s) => s !== '').slice(0, -1).map((s) => `/${s}`).join('')) : `${p}:`);
  }
  if (r.objectLinks) lines.push(r.objectLinks.map((l) => `<${l.url}>${Object.entries(l.attributes).map(([k, v]) => `;${k}${v ? `=${v}` : ''}`).join('')}`).join(','));
  return lines.join('\n');
}
