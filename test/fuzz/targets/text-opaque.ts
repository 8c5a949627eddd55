/** text/plain (Core §7.4.1) and opaque (Core §7.4.2): mode bit 0x40 picks opaque. */
import { opaqueCodec, textCodec, type Lwm2mPath, type LwM2mNode, type Model, type NodeCodec } from '../../../src/lwm2m/index.js';
import { formatTarget, MODE_NODES, nodeSeeds } from './lwm2m-format.js';

/** Dispatches on the mode bit the frame carries: the generic target sees one codec. */
let opaque = false;
const either: NodeCodec = {
  encode: (node: LwM2mNode, path: Lwm2mPath, model: Model) => (opaque ? opaqueCodec : textCodec).encode(node, path, model),
  decode: (payload: Uint8Array, path: Lwm2mPath, model: Model) => (opaque ? opaqueCodec : textCodec).decode(payload, path, model),
};

const base = formatTarget({
  name: 'text-opaque',
  codec: either,
  seeds: () => [...nodeSeeds(textCodec), ...nodeSeeds(opaqueCodec).map((d) => ((d[0] = d[0]! | MODE_NODES), d))],
  dictionary: ['-', '+', '.', 'e', 'E', '9223372036854775807', '18446744073709551615', '65535:65535', ':', '=', '==', '_', '/'],
});

export default {
  ...base,
  run(data: Uint8Array): void {
    opaque = data.length > 0 && (data[0]! & MODE_NODES) !== 0;
    const plain = new Uint8Array(data);
    if (plain.length > 0) plain[0] = plain[0]! & 0x3f;
    base.run(plain);
  },
};
