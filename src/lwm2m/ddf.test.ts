import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { DdfError, parseDdf } from './ddf.js';
import type { ObjectDefinition, ResourceType } from './model.js';
import { coreObjects } from './objects/core-objects.js';
import { parseXml } from './xml.js';
import { registryDir } from '../../test/registry.js';


function registryFiles(): string[] {
  assert.ok(existsSync(registryDir), `LwM2M registry folder not found: ${registryDir} (set WARDEN_REGISTRY_DIR)`);
  return readdirSync(registryDir)
    .filter((f) => f.endsWith('.xml'))
    .sort();
}

/** Files of the registry that are XML but no object definition. */
const NOT_OBJECTS = new Set(['Common.xml', 'DDF.xml', 'LWM2M_senml_units.xml']);
const TYPES = new Set<ResourceType>(['string', 'integer', 'unsignedInteger', 'float', 'boolean', 'opaque', 'time', 'objlnk', 'corelnk', 'none']);

const byId = new Map<number, ObjectDefinition>();

test('every registry file is well-formed XML and every object file parses to sane definitions', () => {
  const files = registryFiles();
  assert.ok(files.length >= 330, `expected the full registry (330 *.xml files), found ${files.length}`);
  let objects = 0;
  for (const file of files) {
    const text = readFileSync(join(registryDir, file), 'utf8');
    parseXml(text);
    if (NOT_OBJECTS.has(file)) {
      assert.throws(() => parseDdf(text), DdfError, file);
      continue;
    }
    const defs = parseDdf(text);
    assert.ok(defs.length >= 1, file);
    const ids = new Set<number>();
    for (const def of defs) {
      assert.ok(!ids.has(def.id), `${file}: object ${def.id} twice`);
      ids.add(def.id);
      if (/^\d+\.xml$/.test(file)) assert.equal(def.id, Number(file.slice(0, -4)), file);
      assert.ok(Number.isInteger(def.id) && def.id >= 0 && def.id <= 65535, file);
      assert.ok(def.name.length > 0, file);
      assert.match(def.version, /^\d+\.\d+$/, file);
      for (const [rid, r] of def.resources) {
        assert.equal(rid, r.id, file);
        assert.ok(Number.isInteger(r.id) && r.id >= 0 && r.id <= 65535, `${file}: resource id ${r.id}`);
        assert.ok(TYPES.has(r.type), `${file}: resource ${r.id} type ${r.type}`);
        assert.ok(['', 'R', 'W', 'RW', 'E'].includes(r.operations), `${file}: resource ${r.id} operations`);
        if (r.operations === 'E') assert.equal(r.type, 'none', `${file}: executable resource ${r.id} has a type`);
      }
      byId.set(def.id, def);
      objects++;
    }
  }
  assert.equal(objects, files.length - NOT_OBJECTS.size);
});

test('targeted facts from the registry', () => {
  if (byId.size === 0) for (const f of registryFiles()) if (!NOT_OBJECTS.has(f)) for (const d of parseDdf(readFileSync(join(registryDir, f), 'utf8'))) byId.set(d.id, d);
  const device = byId.get(3)!;
  assert.equal(device.name, 'Device');
  assert.equal(device.multiple, false);
  assert.equal(device.mandatory, true);
  assert.deepEqual(device.resources.get(11), {
    ...device.resources.get(11),
    id: 11,
    name: 'Error Code',
    multiple: true,
    type: 'integer',
    operations: 'R',
  });
  assert.equal(device.resources.get(4)?.type, 'none');
  assert.equal(device.resources.get(4)?.operations, 'E');
  const pkgUri = byId.get(5)!.resources.get(1)!;
  assert.equal(pkgUri.name, 'Package URI');
  assert.equal(pkgUri.type, 'string');
  assert.equal(pkgUri.operations, 'RW');
  assert.equal(byId.get(5)!.resources.get(0)?.operations, 'W');
  assert.equal(byId.get(5)!.resources.has(4), false);
  assert.equal(byId.get(1)!.resources.get(1)?.units, 's');
  assert.equal(byId.get(0)!.resources.get(0)?.name, 'LWM2M Server URI');
  assert.equal(byId.get(3303)?.resources.get(5700)?.type, 'float');
});

test('the built-in core objects match the registry definitions of the same resources', () => {
  const expected: Record<number, string> = { 0: '1.1', 1: '1.1', 2: '1.0', 3: '1.1', 4: '1.2', 5: '1.0', 6: '1.0', 7: '1.0' };
  assert.deepEqual(
    coreObjects.map((o) => o.id),
    [0, 1, 2, 3, 4, 5, 6, 7],
  );
  for (const core of coreObjects) {
    const [reg] = parseDdf(readFileSync(join(registryDir, `${core.id}.xml`), 'utf8'));
    assert.ok(reg);
    assert.equal(core.version, expected[core.id]);
    assert.equal(core.name, reg.name);
    assert.equal(core.multiple, reg.multiple, `object ${core.id} multiple`);
    assert.equal(core.mandatory, reg.mandatory, `object ${core.id} mandatory`);
    assert.ok(core.resources.size > 0);
    for (const r of core.resources.values()) {
      const x = reg.resources.get(r.id);
      assert.ok(x, `${core.id}/${r.id} missing from the registry`);
      const pick = (d: typeof r) => [d.id, d.name, d.type, d.operations, d.multiple, d.mandatory, d.units, d.rangeEnumeration];
      assert.deepEqual(pick(r), pick(x), `${core.id}/${r.id}`);
    }
    // The registry holds newer object versions: they only add resources above the 1.1 ones.
    const maxCore = Math.max(...core.resources.keys());
    for (const id of reg.resources.keys()) if (!core.resources.has(id)) assert.ok(id > maxCore, `${core.id}/${id} missing from the core object`);
  }
  const ids = (id: number) => [...coreObjects[id]!.resources.keys()];
  assert.deepEqual(ids(0), Array.from({ length: 18 }, (_, i) => i));
  assert.deepEqual(ids(1), Array.from({ length: 24 }, (_, i) => i));
  assert.deepEqual(ids(5), [0, 1, 2, 3, 5, 6, 7, 8, 9]);
});

test('tolerates registry quirks: whitespace, lower case, missing optional elements, several objects', () => {
  const xml = `<LWM2M>
  <Object><Name> Pump </Name><ObjectID> 9000 </ObjectID><MultipleInstances>multiple</MultipleInstances>
    <Resources>
      <Item ID=" 0 "><Name>Speed</Name><Operations> rw </Operations><MultipleInstances>single</MultipleInstances><Mandatory>mandatory</Mandatory><Type> unsigned  integer </Type><Units>rpm</Units></Item>
      <Item ID="1"><Name>Start</Name><Operations>E</Operations><Type/></Item>
    </Resources>
  </Object>
  <Object><Name>Valve</Name><ObjectID>9001</ObjectID><ObjectVersion>2.3</ObjectVersion></Object>
</LWM2M>`;
  const [pump, valve] = parseDdf(xml);
  assert.equal(pump!.id, 9000);
  assert.equal(pump!.name, 'Pump');
  assert.equal(pump!.version, '1.0');
  assert.equal(pump!.multiple, true);
  assert.equal(pump!.mandatory, false);
  assert.deepEqual(pump!.resources.get(0), { id: 0, name: 'Speed', operations: 'RW', multiple: false, mandatory: true, type: 'unsignedInteger', units: 'rpm' });
  assert.deepEqual(pump!.resources.get(1), { id: 1, name: 'Start', operations: 'E', multiple: false, mandatory: false, type: 'none' });
  assert.equal(valve!.version, '2.3');
  assert.equal(valve!.resources.size, 0);
});

test('rejects files that are not usable object definitions, with a clear error', () => {
  const obj = (inner: string) => `<LWM2M><Object>${inner}</Object></LWM2M>`;
  const item = (inner: string) => obj(`<Name>X</Name><ObjectID>1</ObjectID><Resources><Item ID="0"><Name>r</Name>${inner}</Item></Resources>`);
  const cases: [string, RegExp][] = [
    [obj('<Name>X</Name>'), /no ObjectID/],
    [obj('<ObjectID>12</ObjectID>'), /object 12 has no Name/],
    [obj('<Name>X</Name><ObjectID>abc</ObjectID>'), /ObjectID "abc"/],
    [obj('<Name>X</Name><ObjectID>70000</ObjectID>'), /ObjectID "70000"/],
    ['<LWM2M></LWM2M>', /holds no <Object>/],
    [item('<Type>Number</Type>'), /unknown Type "Number"/],
    [item('<Operations>RX</Operations>'), /unknown Operations/],
    [item('<MultipleInstances>Many</MultipleInstances>'), /MultipleInstances "Many"/],
    [item('<Mandatory>Maybe</Mandatory>'), /Mandatory "Maybe"/],
    [obj('<Name>X</Name><ObjectID>1</ObjectID><ObjectVersion>v2</ObjectVersion>'), /ObjectVersion "v2"/],
    [obj('<Name>X</Name><ObjectID>1</ObjectID><Resources><Item ID="0"><Name>a</Name></Item><Item ID="0"><Name>b</Name></Item></Resources>'), /defined twice/],
    [obj('<Name>X</Name><ObjectID>1</ObjectID><Resources><Item><Name>a</Name></Item></Resources>'), /ID ""/],
  ];
  for (const [xml, re] of cases) assert.throws(() => parseDdf(xml), (e: unknown) => e instanceof DdfError && re.test(e.message), xml);
  assert.throws(() => parseDdf('<LWM2M><Object>'), /XML error at line 1/);
});
