/** LwM2M CBOR (Content-Format 11544, LwM2M 1.2 Core §7.4.6), single path and composite. */
import { lwm2mCborCodec } from '../../../src/lwm2m/index.js';
import { hex } from '../target.js';
import { compositeSeeds, formatTarget, frame, nodeSeeds } from './lwm2m-format.js';
import { Lwm2mPath } from '../../../src/lwm2m/index.js';

export default formatTarget({
  name: 'lwm2m-cbor',
  codec: lwm2mCborCodec,
  composite: lwm2mCborCodec,
  seeds: () => [
    ...nodeSeeds(lwm2mCborCodec),
    ...compositeSeeds(lwm2mCborCodec, false),
    // Core §7.4.6 example forms of /3/0 (collapsed array keys)
    frame(Lwm2mPath.of(3, 0), hex('a1820300a300617806a200010105' + '0dc11a5182428f')),
    frame(Lwm2mPath.of(3, 0, 9), hex('a1830300091864')),
  ],
  dictionary: [hex('a1'), hex('a2'), hex('82'), hex('83'), hex('84'), hex('80'), hex('1903'), hex('19ffff'), hex('1a00010000'), hex('c1'), hex('c0'), hex('f5'), hex('f6'), hex('9f'), hex('bf'), hex('ff'), hex('fb7ff8000000000000'), hex('6333'), hex('633a30'), hex('20')],
});
