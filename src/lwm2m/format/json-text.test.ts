import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ResponseCode } from '../error.js';
import { jsonNumber, parseJson } from './json-text.js';
import { throwsCode } from './test-model.js';

describe('JSON reader', () => {
  it('parses the JSON grammar', () => {
    const doc = parseJson(' {"a":[1,-2.5e3,true,false,null,"x\\"\\u00e9\\n"],"b":{},"__proto__":1} ') as Record<string, unknown>;
    // Objects have no prototype, so a "__proto__" member is plain data.
    assert.equal(Object.getPrototypeOf(doc), null);
    assert.deepEqual({ ...doc, b: { ...(doc.b as object) } }, {
      a: [1, -2500, true, false, null, 'x"é\n'],
      b: {},
      ['__proto__']: 1,
    });
  });

  it('keeps integers beyond 2^53 exact as bigint', () => {
    assert.deepEqual(parseJson('[9007199254740991,9007199254740993,-9223372036854775808,1.5,1e2]'), [
      9007199254740991,
      9007199254740993n,
      -(2n ** 63n),
      1.5,
      100,
    ]);
    assert.equal(jsonNumber(2n ** 64n - 1n), '18446744073709551615');
    assert.equal(jsonNumber(0.1), '0.1');
  });

  it('rejects invalid JSON with 4.00', () => {
    for (const s of ['', '[1,]', '{"a" 1}', '01', '"\\x"', '"\u0001"', '[1] 2', 'nul', '"abc', '{"a":1,}', '-', '1.', '.5', '[' .repeat(100)]) {
      assert.doesNotThrow(() => throwsCode(() => parseJson(s), ResponseCode.BadRequest), JSON.stringify(s));
    }
  });
});
