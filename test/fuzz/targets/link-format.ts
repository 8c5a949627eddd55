/**
 * CoRE Link Format (RFC 6690 §2) and the Register/Update object links built on it (LwM2M 1.1 Core
 * §6.2.1). Oracles: parseLinks(formatLinks(l)) equals l, and the object links a server reads back
 * from formatObjectLinks(parseObjectLinks(x)) are the ones it read from x.
 */
import { formatLinks, formatObjectLinks, Lwm2mError, parseLinks, parseObjectLinks } from '../../../src/lwm2m/index.js';
import { afterDecode, checkSame, errorsOf, utf8, utf8Lenient, type FuzzTarget } from '../target.js';

function objectsView(o: ReturnType<typeof parseObjectLinks>): unknown {
  // A version of 1.0 is the default and is not written out (Core §6.2.1); objects come out sorted by id.
  const objects = [...o.objects].sort(([a], [b]) => a - b).map(([id, info]) => [id, info.version === '1.0' ? undefined : info.version, info.instances]);
  return { rootPath: o.rootPath, supportedContentFormats: o.supportedContentFormats, objects };
}

export default {
  name: 'link-format',
  seeds: () =>
    [
      '</>;rt="oma.lwm2m";ct=11543,</1/0>,</3/0>,</5>;ver=1.1',
      '</lwm2m>;rt="oma.lwm2m";ct="60 110 112 11542 11543",</lwm2m/1/101>,</lwm2m/3/0>,</lwm2m/3303>;ver=1.1,</lwm2m/3303/0>',
      '</3/0>;pmin=10;pmax=60,</3/0/9>;gt=50;lt=10.5;st=1,</3/0/7>;dim=2',
      '</sensors/temp>;rt="temperature-c";if="sensor", </sensors/light>;rt="light-lux";if="sensor";title="a \\"quoted\\" title";ct=0',
      '<>;x;y=1',
      '',
    ].map(utf8),
  maxLen: 2048,
  dictionary: ['<', '>', ';', ',', '=', '"', '\\', 'rt=', 'ct=', 'ver=', 'if=', '"oma.lwm2m"', '</', '/0>', '65535', '65536', ' ', '\t'],
  expected: errorsOf(Lwm2mError),
  run(data) {
    const text = utf8Lenient(data);
    const links = parseLinks(text);
    checkSame(afterDecode('parseLinks(formatLinks(l))', () => parseLinks(formatLinks(links))), links, 'parseLinks(formatLinks(l))');
    const obj = parseObjectLinks(text);
    const again = afterDecode('parseObjectLinks(formatObjectLinks(o))', () => parseObjectLinks(formatObjectLinks(obj)));
    checkSame(objectsView(again), objectsView(obj), 'parseObjectLinks(formatObjectLinks(o))');
  },
} satisfies FuzzTarget;
