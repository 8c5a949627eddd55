/** SenML JSON (RFC 8428 §5, LwM2M 1.1 Core §7.4.4), single path and composite. */
import { Lwm2mPath, SenmlJsonCodec } from '../../../src/lwm2m/index.js';
import { utf8 } from '../target.js';
import { compositeSeeds, formatTarget, frame, nodeSeeds } from './lwm2m-format.js';

/** A fixed clock: relative SenML times (RFC 8428 §4.5.3) resolve the same in every run. */
const codec = new SenmlJsonCodec({ now: () => 1_700_000_000_000 });

export default formatTarget({
  name: 'senml-json',
  codec,
  composite: codec,
  paths: true,
  seeds: () => [
    ...nodeSeeds(codec),
    ...compositeSeeds(codec, true),
    frame(Lwm2mPath.of(3, 0), utf8('[{"bn":"/3/0/","n":"0","vs":"Open Mobile Alliance"},{"n":"9","v":100},{"n":"13","v":1367491215}]')),
    frame(Lwm2mPath.root(), utf8('[{"bn":"/3/0/","bt":-10,"n":"9","v":1},{"n":"10","t":5,"v":2}]'), 0x40),
  ],
  dictionary: ['"bn":', '"bt":', '"n":', '"t":', '"v":', '"vs":', '"vb":', '"vd":', '"vlo":', '"x_":', '[{', '}]', '},{', 'true', 'false', 'null', '"/3/0/"', '1e400', '-', '.5', '\\u00', '"AQI="', '"3:0"'],
});
