/** Inputs the link-format fuzz target (test/fuzz/targets/link-format.ts) found, kept as unit tests. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatLinks, parseLinks } from './link-format.js';

test('formatLinks quotes a value holding "<" or ">", so parseLinks reads it back', () => {
  const links = parseLinks('<>;t="",<>;t=">",<>,<>;x="a<b"');
  assert.deepEqual(links[1], { uri: '', attributes: { t: '>' } });
  const text = formatLinks(links);
  assert.equal(text, '<>;t="",<>;t=">",<>,<>;x="a<b"');
  assert.deepEqual(parseLinks(text), links);
  assert.equal(formatLinks([{ uri: '/3/0', attributes: { pmin: '10', x: 'a=b' } }]), '</3/0>;pmin=10;x=a=b');
});
