/** Execute arguments (LwM2M 1.1 Core §5.4.5): `0='abc',1,2='x y'`. */
import { Lwm2mError, ResponseCode } from '../lwm2m/index.js';
import type { ExecuteArgs } from './object.js';

const NO_ARGS: ExecuteArgs = new Map();

/**
 * Parses `arglist = arg *( "," arg )`, `arg = DIGIT [ "=" "'" *CHAR "'" ]` with CHAR any printable
 * ASCII but `'` (%x20-21 / %x23-26 / %x28-7E, plus `"`). An empty payload means no arguments.
 * Throws Lwm2mError(4.00) on anything else, including a repeated digit.
 */
export function parseExecuteArgs(payload: Uint8Array): ExecuteArgs {
  if (payload.length === 0) return NO_ARGS;
  const text = Buffer.from(payload).toString('latin1');
  const args = new Map<number, string | undefined>();
  let i = 0;
  const fail = (why: string): never => {
    throw new Lwm2mError(ResponseCode.BadRequest, `invalid Execute arguments at ${i}: ${why}`);
  };
  for (;;) {
    const c = text.charCodeAt(i);
    if (!(c >= 0x30 && c <= 0x39)) fail('expected a digit');
    const digit = c - 0x30;
    if (args.has(digit)) fail(`argument ${digit} repeated`);
    i++;
    let value: string | undefined;
    if (text[i] === '=') {
      if (text[i + 1] !== "'") fail("expected ' after =");
      const end = text.indexOf("'", i + 2);
      if (end < 0) fail("unterminated ' value");
      value = text.slice(i + 2, end);
      for (let k = 0; k < value.length; k++) {
        const ch = value.charCodeAt(k);
        if (ch < 0x20 || ch > 0x7e) {
          i += 2 + k;
          fail('non-printable character in value');
        }
      }
      i = end + 1;
    }
    args.set(digit, value);
    if (i === text.length) return args;
    if (text[i] !== ',') fail('expected ,');
    i++;
  }
}
