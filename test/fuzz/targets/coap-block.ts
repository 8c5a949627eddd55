/** CoAP Block1/Block2 option values (RFC 7959 §2.2) and block sizes. */
import { decodeBlock, encodeBlock, sizeToSzx, szxToSize } from '../../../src/coap/block.js';
import { check, checkSame, hex, type FuzzTarget } from '../target.js';

export default {
  name: 'coap-block',
  seeds: () => [new Uint8Array(0), hex('0e'), hex('16'), hex('0100'), hex('fffff6'), hex('ffffff'), encodeBlock({ num: 1000, more: true, szx: 2 })],
  maxLen: 8,
  expected: () => false,
  run(data) {
    const b = decodeBlock(data);
    if (!b) {
      check(data.length > 3 || (data.length > 0 && (data[data.length - 1]! & 7) === 7), 'decodeBlock refused a valid value');
      return;
    }
    check(b.num >= 0 && b.num <= 0xfffff && b.szx >= 0 && b.szx <= 6, () => `decodeBlock out of range: ${JSON.stringify(b)}`);
    const enc = encodeBlock(b);
    check(enc.length <= 3, 'encodeBlock longer than 3 bytes');
    checkSame(decodeBlock(enc), b, 'decodeBlock(encodeBlock(b))');
    const size = szxToSize(b.szx);
    check(sizeToSzx(size) === b.szx, 'sizeToSzx(szxToSize(szx)) != szx');
    if (data.length >= 2) check(sizeToSzx((data[0]! << 8) | data[1]!) <= 6, 'sizeToSzx above 6');
  },
} satisfies FuzzTarget;
