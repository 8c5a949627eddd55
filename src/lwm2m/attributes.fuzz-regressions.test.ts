/** What the coap-query fuzz target (test/fuzz/targets/coap-query.ts) checks, kept as unit tests. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { attributesToLinkParams, formatAttributes, parseAttributes } from './attributes.js';

test('formatAttributes writes numbers without an exponent, so parseAttributes reads them back (Core §5.1.2)', () => {
  const cases = ['gt=0.0000001', 'lt=-1000000000000000000000000', 'st=0.000001234', 'gt=123456789012345680000000'];
  for (const item of cases) {
    const attrs = parseAttributes([item]);
    const written = formatAttributes(attrs);
    assert.doesNotMatch(written[0]!, /e/i, item);
    assert.deepEqual(parseAttributes(written), attrs, item);
  }
  assert.deepEqual(formatAttributes({ gt: 1e-7, lt: -1e24, pmin: 10 }), ['pmin=10', 'gt=0.0000001', 'lt=-1000000000000000000000000']);
  assert.deepEqual(attributesToLinkParams({ st: 2.5e-7 }), { st: '0.00000025' });
});
