/**
 * Shared shape of the LwM2M content-format targets. Input: one mode byte (low 3 bits: path depth 0-4;
 * 0x40: composite decodeNodes; 0x80: decodePaths), then depth big-endian u16 path ids, then the payload.
 * Oracles: decode rejects only with Lwm2mError 4.xx, and decode(encode(decode(x))) equals decode(x).
 */
import { Lwm2mError, Lwm2mPath, type CompositeCodec, type NodeCodec, type PathNode } from '../../../src/lwm2m/index.js';
import { casesAtEveryLevel, resourceIdOf, TEST_OBJECT } from '../../../src/lwm2m/format/test-model.js';
import { afterDecode, check, checkSame, type FuzzTarget } from '../target.js';
import { fuzzModel } from './model.js';

export const MODE_NODES = 0x40;
export const MODE_PATHS = 0x80;

/** The input for `payload` addressed to `path` with mode bits `mode`. */
export function frame(path: Lwm2mPath, payload: Uint8Array, mode = 0): Uint8Array {
  const ids = path.ids;
  const out = new Uint8Array(1 + 2 * ids.length + payload.length);
  out[0] = mode | ids.length;
  ids.forEach((id, i) => {
    out[1 + 2 * i] = id >>> 8;
    out[2 + 2 * i] = id & 0xff;
  });
  out.set(payload, 1 + 2 * ids.length);
  return out;
}

/** Splits an input into mode, path and payload. */
export function unframe(data: Uint8Array): { mode: number; path: Lwm2mPath; payload: Uint8Array } {
  const mode = data.length > 0 ? data[0]! & 0xc0 : 0;
  let depth = data.length > 0 ? (data[0]! & 7) % 5 : 0;
  depth = Math.min(depth, (data.length - 1) >> 1);
  const ids: number[] = [];
  for (let i = 0; i < depth; i++) ids.push((data[1 + 2 * i]! << 8) | data[2 + 2 * i]!);
  return { mode, path: Lwm2mPath.of(...ids), payload: data.subarray(Math.min(data.length, 1 + 2 * depth)) };
}

/** Decoding rejects malformed input with a 4.xx Lwm2mError (Core §7.4: 4.00 Bad Request, 4.06, 4.15). */
export function isDecodeRejection(err: unknown): boolean {
  return err instanceof Lwm2mError && err.code >= 128 && err.code < 160;
}

/** Seeds: every sample node at every level, encoded by `codec`. */
export function nodeSeeds(codec: NodeCodec): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const c of casesAtEveryLevel()) {
    try {
      out.push(frame(c.path, codec.encode(c.node, c.path, fuzzModel)));
    } catch {
      // the format cannot carry this node (text/opaque and objects, say)
    }
  }
  return out;
}

/** Composite seeds: a Send-like payload with times, and a Read-Composite path list. */
export function compositeSeeds(codec: CompositeCodec, withPaths: boolean): Uint8Array[] {
  const nodes: PathNode[] = [
    { path: Lwm2mPath.of(3, 0, 9), node: { kind: 'singleResource', id: 9, value: { type: 'integer', value: 80 } }, time: new Date(1_600_000_000_500) },
    {
      path: Lwm2mPath.of(TEST_OBJECT, 0, resourceIdOf('objlnk')),
      node: { kind: 'singleResource', id: resourceIdOf('objlnk'), value: { type: 'objlnk', value: { objectId: 3, instanceId: 0 } } },
    },
    { path: Lwm2mPath.of(3, 0, 6, 1), node: { kind: 'resourceInstance', id: 1, value: { type: 'integer', value: 5 } } },
  ];
  const out = [frame(Lwm2mPath.root(), codec.encodeNodes(nodes, fuzzModel), MODE_NODES)];
  if (withPaths) out.push(frame(Lwm2mPath.root(), codec.encodePaths([Lwm2mPath.of(3, 0, 9), Lwm2mPath.of(1), Lwm2mPath.root()]), MODE_PATHS));
  return out;
}

/** SenML times below 2^28 are relative (RFC 8428 §4.5.3): an absolute time there cannot round-trip. */
function timesRoundTrip(nodes: readonly PathNode[]): boolean {
  return nodes.every((n) => n.time === undefined || n.time.getTime() / 1000 >= 2 ** 28);
}

/** A target for a node codec (and its composite forms when `composite` is given). */
export function formatTarget(opts: {
  name: string;
  codec: NodeCodec;
  composite?: CompositeCodec;
  paths?: boolean;
  seeds: () => Uint8Array[];
  dictionary: readonly (string | Uint8Array)[];
}): FuzzTarget {
  const { codec, composite } = opts;
  return {
    name: opts.name,
    seeds: opts.seeds,
    dictionary: opts.dictionary,
    maxLen: 2048,
    expected: isDecodeRejection,
    run(data) {
      const { mode, path, payload } = unframe(data);
      if (composite && mode === MODE_PATHS && opts.paths) {
        const paths = composite.decodePaths(payload);
        const again = afterDecode('encodePaths/decodePaths', () => composite.decodePaths(composite.encodePaths(paths)));
        checkSame(again, paths, 'decodePaths(encodePaths(p))');
        return;
      }
      if (composite && mode !== 0) {
        const nodes = composite.decodeNodes(payload, fuzzModel);
        for (const n of nodes) check(n.time === undefined || Number.isFinite(n.time.getTime()), () => `decodeNodes gave an invalid Date at ${n.path}`);
        if (!timesRoundTrip(nodes)) return;
        const again = afterDecode('encodeNodes/decodeNodes', () => composite.decodeNodes(composite.encodeNodes(nodes, fuzzModel), fuzzModel));
        checkSame(again, nodes, 'decodeNodes(encodeNodes(n))');
        return;
      }
      const node = codec.decode(payload, path, fuzzModel);
      const bytes = afterDecode('encode', () => codec.encode(node, path, fuzzModel));
      const again = afterDecode('decode of the re-encoded node', () => codec.decode(bytes, path, fuzzModel));
      checkSame(again, node, `decode(encode(decode(x))) at ${path}`);
    },
  };
}
