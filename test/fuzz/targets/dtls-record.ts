/**
 * DTLS record layer framing (RFC 6347 §4.1, RFC 9146 tls12_cid). The first input byte picks the CID
 * length the receiver expects (0, 1, 4 or 8); the rest is a datagram. Each record re-encodes to its
 * exact bytes; inner plaintexts and alert bodies are parsed too.
 */
import { decodeAlert, DtlsAlert } from '../../../src/dtls/alert.js';
import { ContentType, decodeInnerPlaintext, decodeRecords, encodeInnerPlaintext, encodeRecord } from '../../../src/dtls/record.js';
import { afterDecode, check, checkSame, errorsOf, hex, type FuzzTarget } from '../target.js';
import { handshakeMessages } from './dtls-seeds.js';

const CID_LENGTHS = [0, 1, 4, 8];

function seeds(): Uint8Array[] {
  const hs = handshakeMessages();
  const plain = hs.slice(0, 3).map((h, i) => encodeRecord(ContentType.handshake, 0, i, h));
  const withCid = encodeRecord(ContentType.tls12_cid, 1, 2 ** 40, encodeInnerPlaintext(Uint8Array.of(1, 2, 3), ContentType.application_data, 3), Uint8Array.of(1, 2, 3, 4));
  return [
    Buffer.concat([Uint8Array.of(0), ...plain]),
    Buffer.concat([Uint8Array.of(2), withCid]),
    Buffer.concat([Uint8Array.of(0), encodeRecord(ContentType.alert, 0, 5, Uint8Array.of(2, 40)), encodeRecord(ContentType.change_cipher_spec, 0, 6, Uint8Array.of(1))]),
  ];
}

export default {
  name: 'dtls-record',
  seeds,
  maxLen: 2048,
  dictionary: [hex('16fefd'), hex('17fefd'), hex('19fefd'), hex('15fefd'), hex('14fefd'), hex('feff'), hex('0001'), hex('ffffffffffff'), hex('4800'), hex('4801')],
  expected: errorsOf(DtlsAlert),
  run(data) {
    if (data.length === 0) return;
    const cidLength = CID_LENGTHS[data[0]! & 3]!;
    const datagram = data.subarray(1);
    const records = decodeRecords(datagram, cidLength);
    let at = 0;
    for (const r of records) {
      const enc = afterDecode('encodeRecord', () => encodeRecord(r.type, r.epoch, r.sequenceNumber, r.fragment, r.cid, r.version));
      checkSame(enc, datagram.subarray(at, at + enc.length), 'encodeRecord(decodeRecords(x))');
      check(r.sequenceNumber <= 0xffffffffffff && r.epoch <= 0xffff, 'record header field out of range');
      at += enc.length;
      if (r.type === ContentType.tls12_cid) {
        const inner = decodeInnerPlaintext(r.fragment);
        if (inner) check(inner.content.length < r.fragment.length && inner.type !== 0, 'inner plaintext type');
      }
      if (r.type === ContentType.alert) {
        try {
          const a = decodeAlert(r.fragment);
          check(a.level <= 255 && a.description <= 255, 'alert field out of range');
        } catch (err) {
          if (!(err instanceof DtlsAlert)) throw err;
        }
      }
    }
    check(at === datagram.length, 'records do not cover the datagram');
  },
} satisfies FuzzTarget;
