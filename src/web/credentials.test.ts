import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newerDevice, rotationTargetText, type RotationDeviceJson } from './credentials.js';
import { parseAttributes } from './firmware.js';

const dev = (state: RotationDeviceJson['state'], updatedAt: number): RotationDeviceJson => ({ endpoint: 'e', state, attempts: 0, newIdentity: null, lastError: null, updatedAt });

test('newerDevice: the later time wins; in the same millisecond the further state', () => {
  assert.equal(newerDevice(dev('prepared', 2), dev('done', 1)), true);
  assert.equal(newerDevice(dev('done', 1), dev('prepared', 2)), false);
  assert.equal(newerDevice(dev('delivered', 5), dev('prepared', 5)), true);
  assert.equal(newerDevice(dev('prepared', 5), dev('delivered', 5)), false);
  assert.equal(newerDevice(dev('done', 5), dev('done', 5)), false, 'an equal view is not newer');
});

test('rotation targets as text', () => {
  assert.equal(rotationTargetText({ all: true }), 'all devices');
  assert.equal(rotationTargetText({ group: 'g1' }), 'group g1');
  assert.equal(rotationTargetText({ endpoint: 'a' }), 'endpoint a');
  assert.equal(rotationTargetText({ endpoints: ['a', 'b'] }), 'endpoints a, b');
  assert.equal(rotationTargetText({ endpoints: ['a', 'b', 'c', 'd'] }), '4 endpoints (a, b, c, …)');
});

test('campaign form attributes: name=value pairs, commas or lines', () => {
  assert.deepEqual(parseAttributes(''), {});
  assert.deepEqual(parseAttributes('secure=true, b = UQ\nlwm2m=1.1'), { secure: 'true', b: 'UQ', lwm2m: '1.1' });
  assert.throws(() => parseAttributes('secure'), /not name=value/);
  assert.throws(() => parseAttributes('=x'), /not name=value/);
});
