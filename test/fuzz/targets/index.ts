/**
 * The fuzz target registry: every target the runner and the CI test know, by name. Targets load
 * lazily, so a worker holds only its own target's code: V8 walks every loaded function on each
 * coverage read, and fewer functions make each execution cheaper.
 */
import type { FuzzTarget } from '../target.js';

type Loader = () => Promise<{ default: FuzzTarget }>;

const LOADERS: readonly (readonly [string, Loader])[] = [
  ['coap-message', () => import('./coap-message.js')],
  ['coap-block', () => import('./coap-block.js')],
  ['coap-query', () => import('./coap-query.js')],
  ['dtls-record', () => import('./dtls-record.js')],
  ['dtls-handshake', () => import('./dtls-handshake.js')],
  ['dtls-reassembly', () => import('./dtls-reassembly.js')],
  ['tlv', () => import('./tlv.js')],
  ['senml-json', () => import('./senml-json.js')],
  ['senml-cbor', () => import('./senml-cbor.js')],
  ['lwm2m-cbor', () => import('./lwm2m-cbor.js')],
  ['text-opaque', () => import('./text-opaque.js')],
  ['link-format', () => import('./link-format.js')],
  ['ddf-xml', () => import('./ddf-xml.js')],
  ['lwm2m-path', () => import('./lwm2m-path.js')],
  ['execute-args', () => import('./execute-args.js')],
  ['der', () => import('./der.js')],
  ['pkcs10', () => import('./pkcs10.js')],
  ['firmware-manifest', () => import('./firmware-manifest.js')],
  ['firmware-delta', () => import('./firmware-delta.js')],
];

/** Every target name, in the order the runner goes through them. */
export const targetNames: readonly string[] = LOADERS.map(([n]) => n);

/** Loads the target named `name`; undefined if there is none. */
export async function loadTarget(name: string): Promise<FuzzTarget | undefined> {
  const loader = LOADERS.find(([n]) => n === name)?.[1];
  if (!loader) return undefined;
  const t = (await loader()).default;
  if (t.name !== name) throw new Error(`target module for ${name} exports ${t.name}`);
  return t;
}
