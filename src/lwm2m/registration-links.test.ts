import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Lwm2mError } from './error.js';
import { formatObjectLinks, parseObjectLinks } from './registration-links.js';

test('interprets a register payload at the root path', () => {
  const r = parseObjectLinks('</>;rt="oma.lwm2m";ct=11543,</1/0>,</3/0>,</5>;ver=1.1,</3442/0>,</3442/2>,</3442/1>');
  assert.equal(r.rootPath, '/');
  assert.deepEqual(r.supportedContentFormats, [11543]);
  assert.deepEqual(
    [...r.objects],
    [
      [1, { instances: [0] }],
      [3, { instances: [0] }],
      [5, { version: '1.1', instances: [] }],
      [3442, { instances: [0, 1, 2] }],
    ],
  );
});

test('alternate root path, quoted ct list, links outside the root path and deeper links are ignored', () => {
  const r = parseObjectLinks('</lwm2m>;rt="oma.lwm2m";ct="60 110 11542",</lwm2m/1/0>,</lwm2m/3>;ver=1.1,</lwm2m/3/0>,</other/4/0>,</4/0>,</lwm2m/x/0>,</lwm2m/3/0/1>');
  assert.equal(r.rootPath, '/lwm2m');
  assert.deepEqual(r.supportedContentFormats, [60, 110, 11542]);
  assert.deepEqual([...r.objects.keys()], [1, 3]);
  assert.deepEqual(r.objects.get(3), { version: '1.1', instances: [0] });
  assert.equal(r.links.length, 8);
});

test('a 1.0 payload without a root link', () => {
  const r = parseObjectLinks('</1/0>,</3/0>');
  assert.equal(r.rootPath, '/');
  assert.deepEqual(r.supportedContentFormats, []);
  assert.deepEqual([...r.objects.keys()], [1, 3]);
});

test('rejects bad ct, bad ver and malformed link format with 4.00', () => {
  for (const text of ['</>;rt="oma.lwm2m";ct=abc', '</>;rt="oma.lwm2m";ct="60 70000"', '</3>;ver=one', '</3>;ver', '</3/0'])
    assert.throws(
      () => parseObjectLinks(text),
      (err: unknown) => err instanceof Lwm2mError && err.code === 128,
      text,
    );
});

test('formats a payload that parses back to the same objects', () => {
  const objects = new Map([
    [3, { version: '1.1', instances: [0] }],
    [1, { instances: [1, 0] }],
    [5, { version: '1.0', instances: [] }],
  ]);
  const text = formatObjectLinks({ supportedContentFormats: [110, 11542], objects });
  assert.equal(text, '</>;rt="oma.lwm2m";ct="110 11542",</1/0>,</1/1>,</3>;ver=1.1,</3/0>,</5>');
  const back = parseObjectLinks(text);
  assert.deepEqual(back.supportedContentFormats, [110, 11542]);
  assert.deepEqual(back.objects.get(1), { instances: [0, 1] });
  assert.deepEqual(back.objects.get(3), { version: '1.1', instances: [0] });
  assert.equal(formatObjectLinks({ rootPath: '/lwm2m', objects: new Map([[3, { instances: [0] }]]) }), '</lwm2m>;rt="oma.lwm2m",</lwm2m/3/0>');
  assert.equal(formatObjectLinks({ objects: new Map([[3, { instances: [0] }]]) }), '</3/0>');
});
