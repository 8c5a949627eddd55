import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Lwm2mError } from '../lwm2m/index.js';
import { parseExecuteArgs } from './execute-args.js';

const parse = (s: string) => parseExecuteArgs(Buffer.from(s, 'latin1'));

test('Core §5.4.5 argument lists', () => {
  assert.equal(parse('').size, 0);
  assert.deepEqual([...parse('0')], [[0, undefined]]);
  assert.deepEqual([...parse("0='abc',1")], [[0, 'abc'], [1, undefined]]);
  assert.deepEqual([...parse("2='x y',5=''")], [[2, 'x y'], [5, '']]);
  assert.deepEqual([...parse("9='a,b=c'")], [[9, 'a,b=c']]);
});

test('malformed argument lists are 4.00', () => {
  for (const bad of ['a', '10', "0=abc", "0='abc", '0,', ',0', '0,0', "0='x'1", '0 ', "0='\x01'"]) {
    assert.throws(() => parse(bad), (e: unknown) => e instanceof Lwm2mError && e.code === 128, JSON.stringify(bad));
  }
});
