/**
 * Uri-Query parsing: LwM2M attributes of Write-Attributes (Core §5.1.2, §5.4.4) and the Register/Update
 * parameters (Core §6.2.1). The input is the query items separated by "&". Attributes round-trip
 * through formatAttributes; registration params through the client's registerQuery.
 */
import { formatAttributes, Lwm2mError, parseAttributes } from '../../../src/lwm2m/index.js';
import { parseRegistrationParams } from '../../../src/server/registration.js';
import { afterDecode, check, checkSame, errorsOf, latin1, utf8, type FuzzTarget } from '../target.js';

export default {
  name: 'coap-query',
  seeds: () =>
    [
      'pmin=10&pmax=60&gt=50.5&lt=-10&st=1',
      'epmin=1&epmax=5&con=1&hqmax=3&edge=0',
      'pmin&pmax&gt',
      'dim=2&ver=1.1',
      'ep=dev1&lt=300&lwm2m=1.1&b=U&Q',
      'ep=urn:imei:123456789012345&lt=86400&lwm2m=1.0&b=UQ&sms=+123',
    ].map(utf8),
  maxLen: 512,
  dictionary: ['&', '=', 'pmin', 'pmax', 'gt', 'lt', 'st', 'epmin', 'epmax', 'dim', 'ver', 'con', 'hqmax', 'edge', 'ep', 'lwm2m', 'b', 'sms', 'Q', '.', '-', '1.1', '4294967295', '9999999999', '0.000000', '000000000000'],
  expected: errorsOf(Lwm2mError),
  run(data) {
    const items = latin1(data).split('&');
    try {
      const reg = parseRegistrationParams(items);
      check(reg.lifetime === undefined || (Number.isInteger(reg.lifetime) && reg.lifetime > 0), 'lifetime');
      check(reg.endpoint === undefined || reg.endpoint.length > 0, 'empty endpoint');
    } catch (err) {
      if (!(err instanceof Lwm2mError)) throw err;
    }
    const attrs = parseAttributes(items);
    const again = afterDecode('parseAttributes(formatAttributes(a))', () => parseAttributes(formatAttributes(attrs)));
    checkSame(again, attrs, 'parseAttributes(formatAttributes(a))');
  },
} satisfies FuzzTarget;
