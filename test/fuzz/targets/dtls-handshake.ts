/**
 * DTLS handshake message parsers (RFC 6347 §4.2, RFC 5246 §7.4 and the PSK/ECC/RPK/CID extensions):
 * the input is a record's plaintext of handshake fragments; every complete one is decoded with each
 * parser its type may use. The fragment header encoding is canonical (byte-exact round trip); each
 * message body must survive decode(encode(decode(x))).
 */
import { DtlsAlert } from '../../../src/dtls/alert.js';
import * as m from '../../../src/dtls/messages.js';
import { afterDecode, check, checkSame, errorsOf, hex, type FuzzTarget } from '../target.js';
import { handshakeBodies, handshakeMessages } from './dtls-seeds.js';

const T = m.HandshakeType;

function withoutPresent<X extends { extensions: m.Extensions }>(x: X): X {
  const { present: _p, ...extensions } = x.extensions;
  return { ...x, extensions };
}

/** Tries `decode`; a DtlsAlert is the expected rejection, anything else propagates. */
function attempt<X>(decode: () => X, roundTrip: (x: X) => void): void {
  let x: X;
  try {
    x = decode();
  } catch (err) {
    if (err instanceof DtlsAlert) return;
    throw err;
  }
  afterDecode('the round trip', () => roundTrip(x));
}

function body(type: number, b: Uint8Array): void {
  switch (type) {
    case T.client_hello:
      return attempt(
        () => m.decodeClientHello(b),
        (x) => checkSame(withoutPresent(m.decodeClientHello(m.encodeClientHello(x))), withoutPresent(x), 'ClientHello round trip'),
      );
    case T.server_hello:
      return attempt(
        () => m.decodeServerHello(b),
        (x) => checkSame(withoutPresent(m.decodeServerHello(m.encodeServerHello(x))), withoutPresent(x), 'ServerHello round trip'),
      );
    case T.hello_verify_request:
      return attempt(
        () => m.decodeHelloVerifyRequest(b),
        (x) => checkSame(m.encodeHelloVerifyRequest(x), b, 'HelloVerifyRequest byte round trip'),
      );
    case T.certificate:
      attempt(
        () => m.decodeCertificate(b),
        (x) => checkSame(m.encodeCertificate(x), b, 'Certificate byte round trip'),
      );
      return attempt(
        () => m.decodeRawPublicKeyCertificate(b),
        (x) => checkSame(m.encodeRawPublicKeyCertificate(x), b, 'RPK Certificate byte round trip'),
      );
    case T.server_key_exchange:
      attempt(
        () => m.decodePskServerKeyExchange(b),
        (x) => checkSame(m.encodePskServerKeyExchange(x), b, 'PSK ServerKeyExchange byte round trip'),
      );
      attempt(
        () => m.decodeEcdheServerKeyExchange(b),
        (x) => {
          checkSame(m.encodeEcdheServerKeyExchange(x.params, x.signatureScheme, x.signature), b, 'ECDHE ServerKeyExchange byte round trip');
          checkSame(m.encodeEcdhParams(x.params), x.paramsBytes, 'ServerECDHParams bytes');
        },
      );
      return attempt(
        () => m.decodeEcdhePskServerKeyExchange(b),
        (x) => checkSame(m.encodeEcdhePskServerKeyExchange(x.hint, x.params), b, 'ECDHE_PSK ServerKeyExchange byte round trip'),
      );
    case T.certificate_request:
      return attempt(
        () => m.decodeCertificateRequest(b),
        (x) => checkSame(m.encodeCertificateRequest(x), b, 'CertificateRequest byte round trip'),
      );
    case T.server_hello_done:
      return attempt(() => m.decodeServerHelloDone(b), () => check(b.length === 0, 'ServerHelloDone with a body'));
    case T.client_key_exchange:
      attempt(
        () => m.decodePskClientKeyExchange(b),
        (x) => checkSame(m.encodePskClientKeyExchange(x), b, 'PSK ClientKeyExchange byte round trip'),
      );
      attempt(
        () => m.decodeEcdhClientKeyExchange(b),
        (x) => checkSame(m.encodeEcdhClientKeyExchange(x), b, 'ECDH ClientKeyExchange byte round trip'),
      );
      return attempt(
        () => m.decodeEcdhePskClientKeyExchange(b),
        (x) => checkSame(m.encodeEcdhePskClientKeyExchange(x.identity, x.point), b, 'ECDHE_PSK ClientKeyExchange byte round trip'),
      );
    case T.certificate_verify:
      return attempt(
        () => m.decodeDigitallySigned(b),
        (x) => checkSame(m.encodeDigitallySigned(x), b, 'DigitallySigned byte round trip'),
      );
    case T.finished:
      return attempt(() => m.decodeFinished(b), (x) => check(x.length === 12, 'Finished not 12 bytes'));
    default:
      // Unknown types: the extensions parser still gets the bytes, both ways.
      attempt(() => m.decodeExtensions(b, true), () => undefined);
      attempt(() => m.decodeExtensions(b, false), () => undefined);
  }
}

export default {
  name: 'dtls-handshake',
  seeds: () => [...handshakeMessages(), handshakeMessages().slice(9, 13).reduce((a, b) => Buffer.concat([a, b]), new Uint8Array(0))],
  maxLen: 2048,
  dictionary: [
    ...handshakeBodies().map(([t]) => Uint8Array.of(t)),
    hex('fefd'), hex('feff'), hex('0017'), hex('000a'), hex('000b'), hex('000d'), hex('0013'), hex('0014'), hex('0016'), hex('0036'), hex('ff01'), hex('0000'), hex('c0a8'), hex('00ff'), hex('0403'), hex('03'), hex('0017'), hex('ffffff'),
  ],
  expected: errorsOf(DtlsAlert),
  run(data) {
    const frags = m.decodeHandshakeFragments(data);
    let at = 0;
    for (const f of frags) {
      const whole = data.subarray(at, at + m.HANDSHAKE_HEADER_LENGTH + f.fragmentLength);
      const enc = afterDecode('encodeHandshakeFragment', () => m.encodeHandshakeFragment(f.msgType, f.length, f.messageSeq, f.fragmentOffset, f.fragment));
      checkSame(enc, whole, 'handshake fragment header round trip');
      at += whole.length;
      if (f.fragmentOffset === 0 && f.fragmentLength === f.length) body(f.msgType, f.fragment);
    }
    check(at === data.length, 'fragments do not cover the plaintext');
  },
} satisfies FuzzTarget;
