/** Inputs for the DDF/XML fuzz target (test/fuzz/targets/ddf-xml.ts), kept as unit tests. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseXml, XmlError } from './xml.js';

test('deeply nested elements are an XmlError, not a stack overflow', () => {
  for (const n of [257, 5000, 50000]) {
    assert.throws(() => parseXml('<a>'.repeat(n) + '</a>'.repeat(n)), (e: unknown) => e instanceof XmlError && /nested deeper than 256/.test(e.message));
  }
  const ok = parseXml('<a>'.repeat(256) + '</a>'.repeat(256));
  assert.equal(ok.name, 'a');
});
