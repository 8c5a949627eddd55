/** SenML CBOR (RFC 8428 §6, LwM2M 1.1 Core §7.4.5), single path and composite. */
import { SenmlCborCodec } from '../../../src/lwm2m/index.js';
import { hex } from '../target.js';
import { compositeSeeds, formatTarget, nodeSeeds } from './lwm2m-format.js';

const codec = new SenmlCborCodec({ now: () => 1_700_000_000_000 });

export default formatTarget({
  name: 'senml-cbor',
  codec,
  composite: codec,
  paths: true,
  seeds: () => [...nodeSeeds(codec), ...compositeSeeds(codec, true)],
  // labels -2 (bn), -3 (bt), 0 n, 2 v, 3 vs, 4 vb, 6 t, 8 vd, "vlo"; map/array heads; floats; tags; indefinite lengths
  dictionary: [hex('21'), hex('22'), hex('00'), hex('02'), hex('03'), hex('04'), hex('06'), hex('08'), hex('63766c6f'), hex('a1'), hex('a2'), hex('81'), hex('9f'), hex('bf'), hex('ff'), hex('f97e00'), hex('fb7ff0000000000000'), hex('1bffffffffffffffff'), hex('3bffffffffffffffff'), hex('c1'), hex('d9d9f7'), hex('f5'), hex('f6'), hex('f7')],
});
