/** The Register/Update request contents (LwM2M 1.1 Core §6.2.1-6.2.2, Transport §6.2). */
import { formatLinks, type Link } from '../lwm2m/index.js';
import type { ObjectEnabler } from './object.js';

export type Lwm2mVersion = '1.0' | '1.1';

export interface RegisterParams {
  endpoint: string;
  lifetime: number;
  lwm2mVersion: Lwm2mVersion;
  /** The Server object's Binding (resource 7), e.g. "U". */
  binding: string;
  queueMode: boolean;
}

/**
 * Register Uri-Query items: `ep`, `lt`, `lwm2m`, `b`, and for Queue Mode the 1.1 parameter `Q`
 * (no value, Core §6.2.1 Table 6.2.1-1) or, for 1.0, the binding "UQ" (1.0 §5.3.1.1).
 */
export function registerQuery(p: RegisterParams): string[] {
  const items = [`ep=${p.endpoint}`, `lt=${p.lifetime}`, `lwm2m=${p.lwm2mVersion}`];
  if (p.lwm2mVersion === '1.0') {
    items.push(`b=${p.queueMode && !p.binding.includes('Q') ? p.binding + 'Q' : p.binding}`);
  } else {
    items.push(`b=${p.binding.replace('Q', '')}`);
    if (p.queueMode) items.push('Q');
  }
  return items;
}

/** Objects never listed in Register/Update (Core §6.2.1): Security (0) and OSCORE (21). */
const UNLISTED = new Set([0, 21]);

/**
 * The object links of Register/Update (Core §6.2.1): the root link `</>;rt="oma.lwm2m"` with the
 * supported Content-Formats in `ct` (1.1), then per object a `</o>;ver=x.y` link when its version is
 * not 1.0, an `</o>` link when it has no instances, and `</o/i>` per instance.
 */
export function objectLinks(enablers: readonly ObjectEnabler[], version: Lwm2mVersion, contentFormats: readonly number[]): string {
  const root: Link = { uri: '/', attributes: { rt: 'oma.lwm2m' } };
  if (version !== '1.0' && contentFormats.length > 0) root.attributes.ct = contentFormats.join(' ');
  const links: Link[] = [root];
  for (const e of [...enablers].sort((a, b) => a.id - b.id)) {
    if (UNLISTED.has(e.id)) continue;
    const ids = e.instanceIds();
    const ver = e.definition.version;
    if (version !== '1.0' && ver && ver !== '1.0') links.push({ uri: `/${e.id}`, attributes: { ver } });
    else if (ids.length === 0) links.push({ uri: `/${e.id}`, attributes: {} });
    for (const iid of ids) links.push({ uri: `/${e.id}/${iid}`, attributes: {} });
  }
  return formatLinks(links);
}
