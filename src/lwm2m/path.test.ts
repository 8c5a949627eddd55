import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Lwm2mPath } from './path.js';

test('parses and prints paths at every level', () => {
  assert.equal(Lwm2mPath.parse('/').toString(), '/');
  assert.equal(Lwm2mPath.parse('/3/0/1').toString(), '/3/0/1');
  assert.equal(Lwm2mPath.parse('3/0/11/2').resourceInstanceId, 2);
  assert.ok(Lwm2mPath.parse('/3/0').isInstance());
});

test('rejects paths that are not LwM2M paths', () => {
  assert.throws(() => Lwm2mPath.parse('/3/a'), RangeError);
  assert.throws(() => Lwm2mPath.parse('/1/2/3/4/5'), RangeError);
  assert.throws(() => Lwm2mPath.parse('/70000'), RangeError);
  assert.equal(Lwm2mPath.fromSegments(['rd', '1']), undefined);
});

test('containment follows the tree', () => {
  const inst = Lwm2mPath.parse('/3/0');
  assert.ok(inst.contains(Lwm2mPath.parse('/3/0/1')));
  assert.ok(!inst.contains(Lwm2mPath.parse('/3/1/1')));
  assert.ok(!inst.contains(Lwm2mPath.parse('/3')));
  assert.ok(Lwm2mPath.root().contains(inst));
});
