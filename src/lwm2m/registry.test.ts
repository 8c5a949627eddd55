import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { ObjectDefinition } from './model.js';
import { coreObjects } from './objects/core-objects.js';
import { compareVersions, ModelRegistry } from './registry.js';

const ddf = (id: number, version: string, resourceName: string): string => `<?xml version="1.0"?>
<LWM2M><Object ObjectType="MODefinition"><Name>Thing ${id}</Name><ObjectID>${id}</ObjectID><ObjectVersion>${version}</ObjectVersion>
<MultipleInstances>Multiple</MultipleInstances><Mandatory>Optional</Mandatory><Resources>
<Item ID="1"><Name>${resourceName}</Name><Operations>RW</Operations><MultipleInstances>Single</MultipleInstances><Mandatory>Mandatory</Mandatory><Type>Float</Type></Item>
</Resources></Object></LWM2M>`;

test('defaults to the core objects and answers Model lookups', () => {
  const reg = new ModelRegistry();
  assert.deepEqual(
    reg.objects().map((o) => o.id),
    [0, 1, 2, 3, 4, 5, 6, 7],
  );
  assert.equal(reg.object(3)?.name, 'Device');
  assert.equal(reg.resource(3, 0)?.name, 'Manufacturer');
  assert.equal(reg.resource(3, 999), undefined);
  assert.equal(reg.object(9999), undefined);
  assert.equal(new ModelRegistry([]).objects().length, 0);
  assert.equal(new ModelRegistry(coreObjects.slice(0, 2)).objects().length, 2);
});

test('keeps every version; object(id) is the newest; same id and version: the later one wins', () => {
  const reg = new ModelRegistry([]);
  reg.addDdf(ddf(5000, '1.1', 'B'));
  reg.addDdf(ddf(5000, '1.0', 'A'));
  assert.equal(reg.object(5000)?.version, '1.1');
  assert.equal(reg.object(5000, '1.0')?.resources.get(1)?.name, 'A');
  assert.equal(reg.resource(5000, 1)?.name, 'B');
  reg.addDdf(ddf(5000, '1.1', 'C'));
  assert.equal(reg.resource(5000, 1)?.name, 'C');
  assert.deepEqual(
    reg.versions(5000).map((d: ObjectDefinition) => d.version),
    ['1.0', '1.1'],
  );
  assert.equal(reg.object(5000, '2.0'), undefined);
  assert.ok(compareVersions('1.10', '1.2') > 0);
  assert.equal(compareVersions('1.0', '1.0'), 0);
});

test('loadDirectory loads good files and reports broken ones', () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-models-'));
  try {
    writeFileSync(join(dir, 'good.xml'), ddf(6000, '1.0', 'Temperature'));
    writeFileSync(join(dir, 'broken.xml'), '<LWM2M><Object><Name>x</Name></Object>');
    writeFileSync(join(dir, 'noid.XML'), '<LWM2M><Object><Name>x</Name></Object></LWM2M>');
    writeFileSync(join(dir, 'notes.txt'), 'ignored');
    const reg = new ModelRegistry();
    const result = reg.loadDirectory(dir);
    assert.equal(result.loaded, 1);
    assert.deepEqual(
      result.errors.map((e) => e.file),
      [join(dir, 'broken.xml'), join(dir, 'noid.XML')],
    );
    assert.match(result.errors[0]!.message, /line 1/);
    assert.match(result.errors[1]!.message, /no ObjectID/);
    assert.equal(reg.resource(6000, 1)?.type, 'float');
    assert.equal(reg.object(3)?.name, 'Device');
    assert.throws(() => reg.loadDirectory(join(dir, 'missing')), /ENOENT/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
