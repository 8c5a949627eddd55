import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ModelRegistry } from '../lwm2m/index.js';
import { ObjectEnabler } from './object.js';
import { standardObjects } from './objects/index.js';
import { objectLinks, registerQuery } from './registration.js';

test('Register query: 1.1 puts Queue Mode in Q, 1.0 in the binding', () => {
  const base = { endpoint: 'dev1', lifetime: 300, binding: 'U' };
  assert.deepEqual(registerQuery({ ...base, lwm2mVersion: '1.1', queueMode: false }), ['ep=dev1', 'lt=300', 'lwm2m=1.1', 'b=U']);
  assert.deepEqual(registerQuery({ ...base, lwm2mVersion: '1.1', queueMode: true }), ['ep=dev1', 'lt=300', 'lwm2m=1.1', 'b=U', 'Q']);
  assert.deepEqual(registerQuery({ ...base, lwm2mVersion: '1.0', queueMode: true }), ['ep=dev1', 'lt=300', 'lwm2m=1.0', 'b=UQ']);
  assert.deepEqual(registerQuery({ ...base, binding: 'UQ', lwm2mVersion: '1.1', queueMode: true }), ['ep=dev1', 'lt=300', 'lwm2m=1.1', 'b=U', 'Q']);
});

test('object links: root link with ct, versions, no Security object, empty objects listed bare', () => {
  const model = new ModelRegistry();
  const objects = standardObjects(model, { serverUri: 'coap://127.0.0.1', shortServerId: 1, lifetime: 300, binding: 'U' });
  objects.push(new ObjectEnabler(model.object(7)!));
  const links = objectLinks(objects, '1.1', [110, 112, 11542]);
  const v = (id: number) => model.object(id)!.version;
  const expected = [
    '</>;rt="oma.lwm2m";ct="110 112 11542"',
    `</1>;ver=${v(1)}`, '</1/0>',
    '</2>',
    '</3>;ver=' + v(3), '</3/0>',
    `</4>;ver=${v(4)}`, '</4/0>',
    '</5/0>', '</6/0>', '</7>',
  ].join(',');
  assert.equal(links, expected);
  assert.ok(!links.includes('</0'), 'Security is never listed');
  assert.equal(objectLinks(objects.slice(2, 4), '1.0', [110]), '</>;rt="oma.lwm2m",</2>,</3/0>');
});
