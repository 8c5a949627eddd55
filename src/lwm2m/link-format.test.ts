import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Lwm2mError } from './error.js';
import { formatLinks, parseLinks } from './link-format.js';

test('parses an LwM2M register payload', () => {
  const links = parseLinks('</>;rt="oma.lwm2m";ct=11543,</1/0>,</3/0>,</5>;ver=1.1,</3442/0>');
  assert.deepEqual(links, [
    { uri: '/', attributes: { rt: 'oma.lwm2m', ct: '11543' } },
    { uri: '/1/0', attributes: {} },
    { uri: '/3/0', attributes: {} },
    { uri: '/5', attributes: { ver: '1.1' } },
    { uri: '/3442/0', attributes: {} },
  ]);
});

test('parses a Discover answer, bare attributes, quoted values with separators and escapes, whitespace', () => {
  const links = parseLinks(' </3>;ver=1.1, </3/0>,\n</3/0/7>;dim=2;pmin=10,</3/0/11>;obs;title="a,b;\\"c\\"";if="x y" ');
  assert.equal(links.length, 4);
  assert.deepEqual(links[2], { uri: '/3/0/7', attributes: { dim: '2', pmin: '10' } });
  assert.deepEqual(links[3], { uri: '/3/0/11', attributes: { obs: true, title: 'a,b;"c"', if: 'x y' } });
});

test('the last repeated attribute wins; empty text gives no links', () => {
  assert.deepEqual(parseLinks('</a>;x=1;x=2')[0]!.attributes, { x: '2' });
  assert.deepEqual(parseLinks(''), []);
  assert.deepEqual(parseLinks('  \n'), []);
});

test('rejects malformed input with Lwm2mError 4.00', () => {
  for (const text of ['/1/0', '</1/0', '</1/0>;', '</1/0>;=3', '</1/0>,', '</1/0> </2>', '</1>;a="x', '</1>;a=', '<1 2>', '</1>;a=b"c"', '</1>,,</2>']) {
    assert.throws(
      () => parseLinks(text),
      (err: unknown) => err instanceof Lwm2mError && err.code === 128,
      JSON.stringify(text),
    );
  }
});

test('formats links: quotes rt/if and values that need it, bare names for true, round-trips', () => {
  const text = formatLinks([
    { uri: '/', attributes: { rt: 'oma.lwm2m', ct: '60 110' } },
    { uri: '/3/0/7', attributes: { dim: '2', pmin: '10', obs: true, title: 'say "hi"' } },
    { uri: '/5', attributes: { ver: '1.1' } },
  ]);
  assert.equal(text, '</>;rt="oma.lwm2m";ct="60 110",</3/0/7>;dim=2;pmin=10;obs;title="say \\"hi\\"",</5>;ver=1.1');
  assert.deepEqual(parseLinks(text)[1]!.attributes, { dim: '2', pmin: '10', obs: true, title: 'say "hi"' });
  assert.equal(formatLinks([]), '');
});
