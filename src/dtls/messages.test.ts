import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DtlsAlert } from './alert.js';
import * as m from './messages.js';

const isDecodeError = (e: unknown) => e instanceof DtlsAlert && e.code === 'decode_error';

/** Every strict prefix and the message plus a trailing byte must be refused with decode_error. */
function assertStrict(name: string, body: Uint8Array, decode: (b: Uint8Array) => unknown, validPrefix = -1): void {
  decode(body);
  for (let n = 0; n < body.length; n++) if (n !== validPrefix) assert.throws(() => decode(body.subarray(0, n)), isDecodeError, `${name}: truncated to ${n}`);
  assert.throws(() => decode(Buffer.concat([body, Uint8Array.of(0)])), isDecodeError, `${name}: trailing byte`);
}

const r32 = new Uint8Array(32).fill(7);

describe('handshake messages', () => {
  it('handshake header: msg_type, length, message_seq, fragment_offset, fragment_length (RFC 6347 §4.2.2)', () => {
    const f = m.encodeHandshakeFragment(1, 300, 2, 100, Uint8Array.of(9, 9));
    assert.deepEqual(Array.from(f.subarray(0, 12)), [1, 0, 1, 44, 0, 2, 0, 0, 100, 0, 0, 2]);
    const [d] = m.decodeHandshakeFragments(Buffer.concat([f, m.encodeHandshake(14, 3, new Uint8Array(0))])).slice(0, 1);
    assert.deepEqual([d!.msgType, d!.length, d!.messageSeq, d!.fragmentOffset, d!.fragmentLength], [1, 300, 2, 100, 2]);
    assert.equal(m.decodeHandshakeFragments(Buffer.concat([f, m.encodeHandshake(14, 3, new Uint8Array(0))])).length, 2);
    for (let n = 1; n < f.length; n++) assert.throws(() => m.decodeHandshakeFragments(f.subarray(0, n)), isDecodeError);
  });

  it('ClientHello with cookie and every extension round-trips and is decoded strictly', () => {
    const hello: m.ClientHello = {
      clientVersion: 0xfefd,
      random: r32,
      sessionId: new Uint8Array(32).fill(1),
      cookie: Uint8Array.of(1, 2, 3),
      cipherSuites: [0xc0a8, 0xc0ae, m.TLS_EMPTY_RENEGOTIATION_INFO_SCSV],
      compressionMethods: [0],
      extensions: {
        serverName: 'device.example',
        supportedGroups: [23],
        ecPointFormats: [0],
        signatureAlgorithms: [m.ECDSA_SHA256],
        extendedMasterSecret: true,
        renegotiationInfo: new Uint8Array(0),
        clientCertificateTypes: [2, 0],
        serverCertificateTypes: [2],
        connectionId: new Uint8Array(0),
      },
    };
    const body = m.encodeClientHello(hello);
    const d = m.decodeClientHello(body);
    const { present, ...ext } = d.extensions;
    assert.deepEqual(ext, hello.extensions);
    assert.deepEqual(present, [0, 10, 11, 13, 23, 19, 20, 54, 0xff01]);
    assert.deepEqual(d.cipherSuites, hello.cipherSuites);
    assert.deepEqual(Array.from(d.cookie), [1, 2, 3]);
    // Ending right before the extensions block is a valid ClientHello without extensions.
    assertStrict('ClientHello', body, m.decodeClientHello, 2 + 32 + 1 + 32 + 1 + 3 + 2 + 6 + 1 + 1);
  });

  it('refuses a duplicated extension and malformed lists', () => {
    const dup = Buffer.concat([m.encodeExtensions({ extendedMasterSecret: true }, true), m.encodeExtensions({ extendedMasterSecret: true }, true)]);
    assert.throws(() => m.decodeExtensions(dup, true), isDecodeError);
    // supported_groups with an odd length
    assert.throws(() => m.decodeExtensions(Uint8Array.of(0, 10, 0, 3, 0, 1, 23), true), isDecodeError);
    // extended_master_secret must be empty
    assert.throws(() => m.decodeExtensions(Uint8Array.of(0, 23, 0, 1, 0), true), isDecodeError);
    // cookie longer than its vector
    const hello = m.encodeClientHello({ clientVersion: 0xfefd, random: r32, sessionId: new Uint8Array(0), cookie: new Uint8Array(0), cipherSuites: [1], compressionMethods: [0], extensions: {} });
    const bad = Buffer.from(hello);
    bad[35] = 200;
    assert.throws(() => m.decodeClientHello(bad), isDecodeError);
    // session_id longer than 32
    const sid = Buffer.from(hello);
    sid[34] = 33;
    assert.throws(() => m.decodeClientHello(sid), isDecodeError);
  });

  it('skips unknown extensions but records them', () => {
    const ext = m.decodeExtensions(Uint8Array.of(0x12, 0x34, 0, 2, 1, 2), true);
    assert.deepEqual(ext.present, [0x1234]);
  });

  it('HelloVerifyRequest, ServerHello', () => {
    const hvr = m.encodeHelloVerifyRequest({ serverVersion: 0xfeff, cookie: new Uint8Array(16).fill(5) });
    assert.equal(m.decodeHelloVerifyRequest(hvr).cookie.length, 16);
    assertStrict('HelloVerifyRequest', hvr, m.decodeHelloVerifyRequest);
    const sh = m.encodeServerHello({
      serverVersion: 0xfefd,
      random: r32,
      sessionId: Uint8Array.of(1, 2),
      cipherSuite: 0xc0a8,
      compressionMethod: 0,
      extensions: { extendedMasterSecret: true, connectionId: Uint8Array.of(1, 2, 3, 4, 5, 6), serverCertificateType: 2, clientCertificateType: 0, renegotiationInfo: new Uint8Array(0), ecPointFormats: [0] },
    });
    const d = m.decodeServerHello(sh);
    assert.equal(d.cipherSuite, 0xc0a8);
    assert.equal(d.extensions.serverCertificateType, 2);
    assert.equal(d.extensions.clientCertificateType, 0);
    assert.deepEqual(Array.from(d.extensions.connectionId!), [1, 2, 3, 4, 5, 6]);
    assertStrict('ServerHello', sh, m.decodeServerHello, 2 + 32 + 1 + 2 + 2 + 1);
  });

  it('Certificate in X.509 and RFC 7250 raw public key forms', () => {
    const chain = [new Uint8Array(40).fill(1), new Uint8Array(30).fill(2)];
    const body = m.encodeCertificate(chain);
    assert.deepEqual(m.decodeCertificate(body), chain);
    assertStrict('Certificate', body, m.decodeCertificate);
    assert.deepEqual(m.decodeCertificate(m.encodeCertificate([])), []);
    // an empty ASN.1Cert inside the list
    assert.throws(() => m.decodeCertificate(Uint8Array.of(0, 0, 3, 0, 0, 0)), isDecodeError);
    const rpk = m.encodeRawPublicKeyCertificate(new Uint8Array(91).fill(3));
    assert.equal(m.decodeRawPublicKeyCertificate(rpk).length, 91);
    assertStrict('RawPublicKey', rpk, m.decodeRawPublicKeyCertificate);
  });

  it('ServerKeyExchange for PSK, ECDHE_ECDSA and ECDHE_PSK', () => {
    const params = { namedCurve: 23, point: new Uint8Array(65).fill(4) };
    const psk = m.encodePskServerKeyExchange(Buffer.from('hint'));
    assert.equal(Buffer.from(m.decodePskServerKeyExchange(psk)).toString(), 'hint');
    assertStrict('PSK SKE', psk, m.decodePskServerKeyExchange);
    const ec = m.encodeEcdheServerKeyExchange(params, m.ECDSA_SHA256, new Uint8Array(70).fill(9));
    const d = m.decodeEcdheServerKeyExchange(ec);
    assert.deepEqual(d.paramsBytes, m.encodeEcdhParams(params));
    assert.equal(d.signature.length, 70);
    assertStrict('ECDHE SKE', ec, m.decodeEcdheServerKeyExchange);
    const ep = m.encodeEcdhePskServerKeyExchange(new Uint8Array(0), params);
    assert.equal(m.decodeEcdhePskServerKeyExchange(ep).params.point.length, 65);
    assertStrict('ECDHE_PSK SKE', ep, m.decodeEcdhePskServerKeyExchange);
    // explicit curves are refused
    const explicit = Buffer.from(ep);
    explicit[2] = 1;
    assert.throws(() => m.decodeEcdhePskServerKeyExchange(explicit), DtlsAlert);
  });

  it('CertificateRequest, ClientKeyExchange forms, CertificateVerify, Finished, ServerHelloDone', () => {
    const cr = m.encodeCertificateRequest({ certificateTypes: [64], signatureAlgorithms: [m.ECDSA_SHA256], certificateAuthorities: [Uint8Array.of(1, 2)] });
    assert.deepEqual(m.decodeCertificateRequest(cr).certificateAuthorities, [Uint8Array.of(1, 2)]);
    assertStrict('CertificateRequest', cr, m.decodeCertificateRequest);
    const pskCke = m.encodePskClientKeyExchange(Buffer.from('id'));
    assertStrict('PSK CKE', pskCke, m.decodePskClientKeyExchange);
    const ecCke = m.encodeEcdhClientKeyExchange(new Uint8Array(65).fill(4));
    assertStrict('ECDH CKE', ecCke, m.decodeEcdhClientKeyExchange);
    const both = m.encodeEcdhePskClientKeyExchange(Buffer.from('id'), new Uint8Array(65).fill(4));
    assert.equal(Buffer.from(m.decodeEcdhePskClientKeyExchange(both).identity).toString(), 'id');
    assertStrict('ECDHE_PSK CKE', both, m.decodeEcdhePskClientKeyExchange);
    const cv = m.encodeDigitallySigned({ signatureScheme: m.ECDSA_SHA256, signature: new Uint8Array(71) });
    assertStrict('CertificateVerify', cv, m.decodeDigitallySigned);
    assert.throws(() => m.decodeFinished(new Uint8Array(11)), isDecodeError);
    assert.throws(() => m.decodeFinished(new Uint8Array(13)), isDecodeError);
    assert.throws(() => m.decodeServerHelloDone(Uint8Array.of(0)), isDecodeError);
  });
});
