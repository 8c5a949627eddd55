/** DDF object definition files (src/lwm2m/ddf.ts) on the small XML parser (src/lwm2m/xml.ts). */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DdfError, parseDdf, parseXml, XmlError } from '../../../src/lwm2m/index.js';
import { REPO_ROOT } from '../files.js';
import { check, errorsOf, latin1, utf8, type FuzzTarget } from '../target.js';

/** A few small registry files (the whole registry is 333 files; the corpus keeps the small ones). */
function registrySeeds(): Uint8Array[] {
  const dir = join(REPO_ROOT, 'test', 'fixtures', 'lwm2m-registry');
  const picks = ['3303.xml', '10363.xml', '2049.xml', '3420.xml'];
  const out: Uint8Array[] = [];
  for (const name of picks) {
    try {
      if (statSync(join(dir, name)).size <= 8192) out.push(new Uint8Array(readFileSync(join(dir, name))));
    } catch {
      // not in this checkout
    }
  }
  if (out.length === 0) for (const n of readdirSync(dir).slice(0, 3)) out.push(new Uint8Array(readFileSync(join(dir, n))));
  return out;
}

const SMALL = `<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE LWM2M [<!ENTITY x "y">]>
<LWM2M xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <Object ObjectType="MODefinition">
    <Name>Test &amp; &#x41;&#66;</Name><Description1><![CDATA[a <b> c]]></Description1>
    <ObjectID>9000</ObjectID><ObjectURN>urn:oma:lwm2m:x:9000</ObjectURN><LWM2MVersion>1.1</LWM2MVersion>
    <ObjectVersion>1.2</ObjectVersion><MultipleInstances>Multiple</MultipleInstances><Mandatory>Optional</Mandatory>
    <Resources>
      <Item ID="0"><Name>Value</Name><Operations>RW</Operations><MultipleInstances>Single</MultipleInstances>
        <Mandatory>Mandatory</Mandatory><Type>Unsigned Integer</Type><RangeEnumeration>0..255</RangeEnumeration><Units>s</Units><Description>d</Description></Item>
      <Item ID="1"><Name>Run</Name><Operations>E</Operations><MultipleInstances>Single</MultipleInstances><Mandatory>Optional</Mandatory><Type></Type></Item>
    </Resources><!-- comment -->
  </Object>
</LWM2M>
<?pi x?>`;

export default {
  name: 'ddf-xml',
  seeds: () => [...registrySeeds(), utf8(SMALL)],
  maxLen: 8192,
  dictionary: ['<Object>', '</Object>', '<Item ID="', '">', '</Item>', '<Resources>', '<Name>', '<ObjectID>', '<Type>', '<![CDATA[', ']]>', '<!--', '-->', '<?', '?>', '<!DOCTYPE', '&#x', '&#', ';', '&amp;', '&lt;', '/>', "='", '"', 'Multiple', 'Mandatory', 'Opaque', 'Integer', 'Objlnk', 'Corelnk', '65535'],
  expected: errorsOf(XmlError, DdfError),
  run(data) {
    const text = latin1(data);
    const root = parseXml(text);
    check(typeof root.name === 'string' && root.name.length > 0, 'root element without a name');
    const defs = parseDdf(text);
    for (const d of defs) {
      check(Number.isInteger(d.id) && d.id >= 0 && d.id <= 65535, 'object id out of range');
      for (const [id, r] of d.resources) check(id === r.id && r.id >= 0 && r.id <= 65535 && r.name !== '', 'resource id/name');
    }
  },
} satisfies FuzzTarget;
