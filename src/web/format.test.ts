import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nodeText, resourceText, responseText } from './format.js';
import { objectTree } from './device.js';

test('object links become the object tree, the root path stripped', () => {
  const tree = objectTree({
    rootPath: '/lwm2m',
    objectLinks: [
      { url: '/', attributes: { rt: 'oma.lwm2m' } }, { url: '/lwm2m/3/0', attributes: {} }, { url: '/lwm2m/1', attributes: {} },
      { url: '/lwm2m/2/1', attributes: {} }, { url: '/lwm2m/2/0', attributes: {} }, { url: '/lwm2m/3/0', attributes: {} }, { url: 'junk', attributes: {} },
    ],
  });
  assert.deepEqual([...tree.entries()], [[1, []], [2, [1, 0]], [3, [0]]]);
});

test('nodes as text lines with their full paths; device strings stay as given', () => {
  const evil = '<img src=x onerror=alert(1)>';
  assert.equal(resourceText({ kind: 'multiResource', id: 6, type: 'INTEGER', values: { 0: 1, 1: 5 } }), '0=1, 1=5');
  assert.equal(nodeText({ kind: 'instance', id: 0, resources: [{ kind: 'singleResource', id: 0, type: 'STRING', value: evil }] }, '/3'), `/3/0/0 = ${evil} (STRING)`);
  assert.equal(responseText({ status: 'CONTENT(205)', success: true, content: { kind: 'singleResource', id: 14, type: 'STRING', value: '+01:00' } }, '/3/0/14'),
    'CONTENT(205)\n/3/0/14 = +01:00 (STRING)');
  assert.equal(responseText({ status: 'NOT_FOUND(404)', success: false }, '/3/0/99'), 'NOT_FOUND(404)');
});

test('a composite answer lists each node under its own path', () => {
  const text = responseText({
    status: 'CONTENT(205)', success: true,
    content: { '/3/0/0': { kind: 'singleResource', id: 0, type: 'STRING', value: 'ACME' }, '/3/0/3': { kind: 'singleResource', id: 3, type: 'STRING', value: '1.0' } },
  }, '');
  assert.equal(text, 'CONTENT(205)\n/3/0/0 = ACME (STRING)\n/3/0/3 = 1.0 (STRING)');
});
