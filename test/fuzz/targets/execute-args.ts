/** Execute arguments (LwM2M 1.1 Core §5.4.5): `0='abc',1,2='x y'`. */
import { parseExecuteArgs } from '../../../src/client/execute-args.js';
import { Lwm2mError } from '../../../src/lwm2m/index.js';
import { afterDecode, check, errorsOf, utf8, type FuzzTarget } from '../target.js';

/** Core §5.4.5 arglist, written back from parsed arguments. */
function format(args: ReadonlyMap<number, string | undefined>): string {
  return [...args].map(([d, v]) => (v === undefined ? `${d}` : `${d}='${v}'`)).join(',');
}

export default {
  name: 'execute-args',
  seeds: () => ["0='abc',1,2='x y'", '5', "9=''", "0='a\"b',1='!#$%&()*+-./:;<=>?@[\\]^_`{|}~'", ''].map(utf8),
  maxLen: 256,
  dictionary: ["='", "'", ',', '=', '"', '0', '9', '\x7f', '\x1f'],
  expected: errorsOf(Lwm2mError),
  run(data) {
    const args = parseExecuteArgs(data);
    for (const [d, v] of args) {
      check(Number.isInteger(d) && d >= 0 && d <= 9, `argument number ${d}`);
      if (v !== undefined) check(/^[\x20-\x26\x28-\x7e]*$/.test(v), () => `argument value ${JSON.stringify(v)} outside CHAR`);
    }
    if (args.size > 0) {
      const again = afterDecode('parseExecuteArgs(format(a))', () => parseExecuteArgs(utf8(format(args))));
      check(format(again) === format(args), 'parseExecuteArgs(format(a)) != a');
    }
  },
} satisfies FuzzTarget;
