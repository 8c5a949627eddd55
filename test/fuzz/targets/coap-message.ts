/**
 * CoAP message codec (RFC 7252 §3). The header, option and length encodings are canonical, so
 * encodeMessage(decodeMessage(x)) must give back x byte for byte; the option helpers run on every
 * decoded message too.
 */
import { CoapError } from '../../../src/coap/error.js';
import { decodeMessage, encodeMessage } from '../../../src/coap/message.js';
import { decodeBlock, encodeBlock } from '../../../src/coap/block.js';
import {
  decodeUint,
  getString,
  getStrings,
  getUint,
  sortOptions,
  stringOption,
  uintOption,
  uriPathOptions,
  uriQueryOptions,
} from '../../../src/coap/option.js';
import { OptionNumber, type CoapMessage } from '../../../src/coap/types.js';
import { check, checkSame, errorsOf, hex, type FuzzTarget } from '../target.js';

function seeds(): Uint8Array[] {
  const msgs: CoapMessage[] = [
    // RFC 7252 Appendix A: a GET with a token and a Uri-Path, and its piggybacked response
    { type: 0, code: 1, messageId: 0x7d34, token: Uint8Array.of(0x20), options: uriPathOptions('/temperature'), payload: new Uint8Array(0) },
    { type: 2, code: 69, messageId: 0x7d34, token: Uint8Array.of(0x20), options: [], payload: Buffer.from('22.3 C') },
    // an LwM2M Register with queries, Content-Format and a link-format body
    {
      type: 0,
      code: 2,
      messageId: 1,
      token: Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8),
      options: sortOptions([...uriPathOptions('/rd'), uintOption(OptionNumber.ContentFormat, 40), ...uriQueryOptions(['ep=dev1', 'lt=300', 'lwm2m=1.1', 'b=U'])]),
      payload: Buffer.from('</>;rt="oma.lwm2m";ct=11543,</1/0>,</3/0>'),
    },
    // Observe notification with Block2, ETag, Max-Age, and a long option (extended 2-byte length)
    {
      type: 1,
      code: 69,
      messageId: 0xffff,
      token: Uint8Array.of(0xaa, 0xbb),
      options: sortOptions([
        uintOption(OptionNumber.Observe, 0x123456),
        { number: OptionNumber.ETag, value: Uint8Array.of(1, 2, 3, 4) },
        uintOption(OptionNumber.MaxAge, 60),
        { number: OptionNumber.Block2, value: encodeBlock({ num: 3, more: true, szx: 6 }) },
        stringOption(OptionNumber.ProxyUri, 'coap://example.com/' + 'x'.repeat(300)),
        { number: 2048, value: Uint8Array.of(9) },
      ]),
      payload: new Uint8Array(64).fill(0x41),
    },
    // Empty ACK and RST (RFC 7252 §4.1)
    { type: 2, code: 0, messageId: 0x1234, token: new Uint8Array(0), options: [], payload: new Uint8Array(0) },
    { type: 3, code: 0, messageId: 0x1234, token: new Uint8Array(0), options: [], payload: new Uint8Array(0) },
  ];
  return [...msgs.map((m) => new Uint8Array(encodeMessage(m))), hex('5401abcd12345678bd02' + '61'.repeat(20))];
}

export default {
  name: 'coap-message',
  seeds,
  maxLen: 1500,
  dictionary: [hex('ff'), hex('d0'), hex('e0'), hex('0d'), hex('0e'), hex('b1'), hex('11'), hex('61'), hex('d10a'), hex('d10e'), hex('40'), hex('44'), hex('60'), hex('70'), hex('c1')],
  expected: errorsOf(CoapError),
  run(data) {
    const msg = decodeMessage(data);
    const again = encodeMessage(msg);
    checkSame(again, data, 'encodeMessage(decodeMessage(x))');
    for (let i = 1; i < msg.options.length; i++) check(msg.options[i - 1]!.number <= msg.options[i]!.number, 'options out of order');
    check(sortOptions([...msg.options]).length === msg.options.length, 'sortOptions lost options');
    getString(msg, OptionNumber.UriHost);
    getStrings(msg, OptionNumber.UriPath);
    getStrings(msg, OptionNumber.UriQuery);
    const cf = getUint(msg, OptionNumber.ContentFormat);
    check(cf === undefined || cf >= 0, 'negative uint option');
    for (const o of msg.options) {
      if (o.value.length <= 4) check(decodeUint(o.value) < 2 ** 32, 'uint option above 32 bits');
      if (o.number === OptionNumber.Block1 || o.number === OptionNumber.Block2) {
        const b = decodeBlock(o.value);
        if (b) checkSame(decodeBlock(encodeBlock(b)), b, 'decodeBlock(encodeBlock(b))');
      }
    }
  },
} satisfies FuzzTarget;
