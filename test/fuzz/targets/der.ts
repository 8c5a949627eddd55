/**
 * The DER readers in src/keys (X.690 §8, §10): every TLV of the input walked recursively, OIDs decoded,
 * and the certs-only PKCS#7 reader (RFC 5652 / RFC 8551 certs-only, used by EST). readTlv's rejections
 * are plain Errors (der.ts throws `new Error(...)`); a TypeError or RangeError is a finding. Definite
 * lengths are canonical in DER, so tlv(tag, content) must give back the exact bytes.
 */
import { oid, oidString, readChildren, readTlv, tlv, type Tlv } from '../../../src/keys/der.js';
import { certsOnly, parseCertsOnly } from '../../../src/keys/pkcs7.js';
import { afterDecode, check, checkSame, hex, type FuzzTarget } from '../target.js';

function walk(t: Tlv, depth: number): void {
  checkSame(afterDecode('tlv', () => tlv(t.tag, t.content)), t.whole, 'tlv(readTlv(x))');
  if (t.tag === 0x06) {
    const dotted = oidString(t.content);
    check(/^\d+(\.\d+)+$/.test(dotted), () => `oidString gave "${dotted}"`);
    checkSame(afterDecode('oid', () => oid(dotted)), t.whole, `oid(oidString(x)) for ${dotted}`);
  }
  if (t.tag & 0x20 && depth < 64) for (const c of readChildren(t.content)) walk(c, depth + 1);
}

/** A plain Error is der.ts/pkcs7.ts's rejection; subclasses (TypeError, RangeError ...) are not. */
function isPlainError(err: unknown): boolean {
  return err instanceof Error && Object.getPrototypeOf(err) === Error.prototype;
}

export default {
  name: 'der',
  seeds: () => [
    hex('3013310f300d06092a864886f70d0101010500020101'),
    tlv(0x30, oid('1.2.840.10045.4.3.2'), oid('2.5.4.3'), oid('1.3.6.1.4.1.311.21.20'), tlv(0x02, Uint8Array.of(0))),
    certsOnly([new Uint8Array(200).fill(0x30), tlv(0x30, tlv(0x30, new Uint8Array(0)))]),
    hex('06032a8648'),
    hex('3082010000'),
  ],
  maxLen: 1024,
  dictionary: [hex('30'), hex('31'), hex('06'), hex('02'), hex('03'), hex('04'), hex('a0'), hex('81'), hex('82'), hex('83'), hex('80'), hex('84'), hex('1f'), hex('2a864886f70d010702')],
  expected: isPlainError,
  run(data) {
    let at = 0;
    while (at < data.length) {
      const t = readTlv(data, at);
      walk(t, 0);
      at = t.end;
    }
    try {
      const certs = parseCertsOnly(data);
      check(certs.every((c) => c.length > 0), 'empty certificate');
    } catch (err) {
      if (!isPlainError(err)) throw err;
    }
  },
} satisfies FuzzTarget;
