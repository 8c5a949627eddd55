/** Real DTLS 1.2 handshake messages from our own encoders, shared by the DTLS targets' seeds. */
import {
  CertificateType,
  ECDSA_SHA256,
  ECDSA_SIGN,
  encodeCertificate,
  encodeCertificateRequest,
  encodeClientHello,
  encodeDigitallySigned,
  encodeEcdhClientKeyExchange,
  encodeEcdheServerKeyExchange,
  encodeEcdhePskClientKeyExchange,
  encodeEcdhePskServerKeyExchange,
  encodeHandshake,
  encodeHelloVerifyRequest,
  encodePskClientKeyExchange,
  encodePskServerKeyExchange,
  encodeRawPublicKeyCertificate,
  encodeServerHello,
  HandshakeType,
  NamedCurve,
  TLS_EMPTY_RENEGOTIATION_INFO_SCSV,
} from '../../../src/dtls/messages.js';

const random = Uint8Array.from({ length: 32 }, (_, i) => i);
const point = Uint8Array.from({ length: 65 }, (_, i) => (i === 0 ? 4 : i));

/** [msgType, body] of every handshake message we speak. */
export function handshakeBodies(): [number, Uint8Array][] {
  return [
    [
      HandshakeType.client_hello,
      encodeClientHello({
        clientVersion: 0xfefd,
        random,
        sessionId: new Uint8Array(0),
        cookie: new Uint8Array(32).fill(7),
        cipherSuites: [0xc0a8, 0xc0ae, 0xc023, TLS_EMPTY_RENEGOTIATION_INFO_SCSV],
        compressionMethods: [0],
        extensions: {
          serverName: 'lwm2m.example.com',
          supportedGroups: [NamedCurve.secp256r1],
          ecPointFormats: [0],
          signatureAlgorithms: [ECDSA_SHA256],
          extendedMasterSecret: true,
          renegotiationInfo: new Uint8Array(0),
          clientCertificateTypes: [CertificateType.RawPublicKey, CertificateType.X509],
          serverCertificateTypes: [CertificateType.RawPublicKey],
          connectionId: new Uint8Array(0),
        },
      }),
    ],
    [HandshakeType.hello_verify_request, encodeHelloVerifyRequest({ serverVersion: 0xfeff, cookie: new Uint8Array(32).fill(9) })],
    [
      HandshakeType.server_hello,
      encodeServerHello({
        serverVersion: 0xfefd,
        random,
        sessionId: new Uint8Array(32).fill(1),
        cipherSuite: 0xc0a8,
        compressionMethod: 0,
        extensions: { extendedMasterSecret: true, renegotiationInfo: new Uint8Array(0), connectionId: Uint8Array.of(1, 2, 3, 4), serverCertificateType: 2, clientCertificateType: 2, serverNameAck: true },
      }),
    ],
    [HandshakeType.certificate, encodeCertificate([new Uint8Array(40).fill(0x30), new Uint8Array(3).fill(0x31)])],
    [HandshakeType.certificate, encodeRawPublicKeyCertificate(new Uint8Array(91).fill(0x30))],
    [HandshakeType.server_key_exchange, encodePskServerKeyExchange(Buffer.from('hint'))],
    [HandshakeType.server_key_exchange, encodeEcdheServerKeyExchange({ namedCurve: NamedCurve.secp256r1, point }, ECDSA_SHA256, new Uint8Array(70).fill(0x30))],
    [HandshakeType.server_key_exchange, encodeEcdhePskServerKeyExchange(new Uint8Array(0), { namedCurve: NamedCurve.secp256r1, point })],
    [HandshakeType.certificate_request, encodeCertificateRequest({ certificateTypes: [ECDSA_SIGN], signatureAlgorithms: [ECDSA_SHA256], certificateAuthorities: [Uint8Array.of(0x30, 0)] })],
    [HandshakeType.server_hello_done, new Uint8Array(0)],
    [HandshakeType.client_key_exchange, encodePskClientKeyExchange(Buffer.from('device-1'))],
    [HandshakeType.client_key_exchange, encodeEcdhClientKeyExchange(point)],
    [HandshakeType.client_key_exchange, encodeEcdhePskClientKeyExchange(Buffer.from('device-1'), point)],
    [HandshakeType.certificate_verify, encodeDigitallySigned({ signatureScheme: ECDSA_SHA256, signature: new Uint8Array(71).fill(0x30) })],
    [HandshakeType.finished, new Uint8Array(12).fill(0xee)],
  ];
}

/** Each message as one unfragmented handshake message (RFC 6347 §4.2.2 header), message_seq = index. */
export function handshakeMessages(): Uint8Array[] {
  return handshakeBodies().map(([t, body], i) => encodeHandshake(t, i, body));
}
