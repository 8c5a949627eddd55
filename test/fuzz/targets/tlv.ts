/** OMA-TLV (LwM2M 1.1 Core §7.4.3). */
import { tlvCodec } from '../../../src/lwm2m/index.js';
import { Lwm2mPath } from '../../../src/lwm2m/index.js';
import { hex } from '../target.js';
import { formatTarget, frame, nodeSeeds } from './lwm2m-format.js';

// Core §7.4.3.2: Read of /3/0, and of /2 (two Access Control instances).
const DEVICE_3_0 =
  'C800144F70656E204D6F62696C6520416C6C69616E6365C801164C69676874776569676874204D324D20436C69656E74C80209333435303030313233C303312E30' +
  '8606410001410105880708420ED842011388870841007D42010384C10964C10A0F830B410000C40D5182428FC60E2B30323A3030C11055';
const ACL_2 = '08000EC10001C10100830241 7F07C1037F' + '080212C10003C10100870241 7F0761013601C1037F';

export default formatTarget({
  name: 'tlv',
  codec: tlvCodec,
  seeds: () => [...nodeSeeds(tlvCodec), frame(Lwm2mPath.of(3, 0), hex(DEVICE_3_0)), frame(Lwm2mPath.of(2), hex(ACL_2))],
  dictionary: [hex('c8'), hex('88'), hex('08'), hex('41'), hex('61'), hex('e8'), hex('f8'), hex('18'), hex('ffffff'), hex('00')],
});
