/**
 * DTLS 1.2 handshake message codecs (RFC 6347 §4.2, RFC 5246 §7.4, RFC 4279 / RFC 5489 PSK,
 * RFC 8422 ECC, RFC 7250 raw public keys, RFC 7627, RFC 5746, RFC 6066 SNI, RFC 9146 CID).
 * Decoding is strict: every length is checked and garbage is DtlsAlert(decode_error).
 */
import { alert } from './alert.js';
import { Reader, Writer } from './codec.js';

/** RFC 5246 §7.4 HandshakeType (+ RFC 6347 hello_verify_request). */
export const HandshakeType = {
  hello_request: 0,
  client_hello: 1,
  server_hello: 2,
  hello_verify_request: 3,
  certificate: 11,
  server_key_exchange: 12,
  certificate_request: 13,
  server_hello_done: 14,
  certificate_verify: 15,
  client_key_exchange: 16,
  finished: 20,
} as const;

/** IANA TLS ExtensionType values we read or write. */
export const ExtensionType = {
  server_name: 0,
  supported_groups: 10,
  ec_point_formats: 11,
  signature_algorithms: 13,
  client_certificate_type: 19,
  server_certificate_type: 20,
  encrypt_then_mac: 22,
  extended_master_secret: 23,
  session_ticket: 35,
  connection_id: 54,
  renegotiation_info: 0xff01,
} as const;

/** RFC 8422 §5.1.1: secp256r1 is the only group we speak. */
export const NamedCurve = { secp256r1: 23 } as const;
/** RFC 8422 §5.4: ECCurveType named_curve. */
export const EC_CURVE_TYPE_NAMED = 3;
/** RFC 8422 §5.1.2: uncompressed point format. */
export const EC_POINT_FORMAT_UNCOMPRESSED = 0;
/** RFC 5246 §7.4.1.4.1: SignatureAndHashAlgorithm {sha256(4), ecdsa(3)} = ecdsa_secp256r1_sha256. */
export const ECDSA_SHA256 = 0x0403;
/** RFC 7250 §3 / IANA TLS Certificate Types. */
export const CertificateType = { X509: 0, RawPublicKey: 2 } as const;
/** RFC 8422 §5.5 ClientCertificateType ecdsa_sign. */
export const ECDSA_SIGN = 64;
/** RFC 5746 §3.3. */
export const TLS_EMPTY_RENEGOTIATION_INFO_SCSV = 0x00ff;

/** msg_type(1) length(3) message_seq(2) fragment_offset(3) fragment_length(3). */
export const HANDSHAKE_HEADER_LENGTH = 12;

/** The DTLS handshake header of RFC 6347 §4.2.2. */
export interface HandshakeFragment {
  msgType: number;
  length: number;
  messageSeq: number;
  fragmentOffset: number;
  fragmentLength: number;
  /** The fragment bytes (a view). */
  fragment: Uint8Array;
}

/** Parses every handshake fragment of a record's plaintext (several may share a record). */
export function decodeHandshakeFragments(plaintext: Uint8Array): HandshakeFragment[] {
  const out: HandshakeFragment[] = [];
  const r = new Reader(plaintext);
  while (r.remaining > 0) {
    const msgType = r.u8('msg_type');
    const length = r.u24('length');
    const messageSeq = r.u16('message_seq');
    const fragmentOffset = r.u24('fragment_offset');
    const fragmentLength = r.u24('fragment_length');
    const fragment = r.bytes(fragmentLength, 'handshake fragment');
    out.push({ msgType, length, messageSeq, fragmentOffset, fragmentLength, fragment });
  }
  return out;
}

/** Writes a handshake header + fragment. */
export function encodeHandshakeFragment(msgType: number, length: number, messageSeq: number, fragmentOffset: number, fragment: Uint8Array): Uint8Array {
  const out = new Uint8Array(HANDSHAKE_HEADER_LENGTH + fragment.length);
  out[0] = msgType;
  out[1] = length >>> 16;
  out[2] = (length >>> 8) & 0xff;
  out[3] = length & 0xff;
  out[4] = messageSeq >>> 8;
  out[5] = messageSeq & 0xff;
  out[6] = fragmentOffset >>> 16;
  out[7] = (fragmentOffset >>> 8) & 0xff;
  out[8] = fragmentOffset & 0xff;
  out[9] = fragment.length >>> 16;
  out[10] = (fragment.length >>> 8) & 0xff;
  out[11] = fragment.length & 0xff;
  out.set(fragment, HANDSHAKE_HEADER_LENGTH);
  return out;
}

/**
 * A whole message as one fragment (offset 0, fragment_length = length): the form that goes into the
 * handshake transcript (RFC 6347 §4.2.6).
 */
export function encodeHandshake(msgType: number, messageSeq: number, body: Uint8Array): Uint8Array {
  return encodeHandshakeFragment(msgType, body.length, messageSeq, 0, body);
}

// ---------------------------------------------------------------- extensions

/** The extensions we understand; unknown ones are skipped (RFC 5246 §7.4.1.4). */
export interface Extensions {
  /** RFC 6066 §3: the host_name (ClientHello); `serverNameAck` in a ServerHello. */
  serverName?: string;
  serverNameAck?: boolean;
  supportedGroups?: number[];
  ecPointFormats?: number[];
  signatureAlgorithms?: number[];
  extendedMasterSecret?: boolean;
  /** RFC 5746: renegotiated_connection (empty on an initial handshake). */
  renegotiationInfo?: Uint8Array;
  /** RFC 7250 §3: the ClientHello carries lists, the ServerHello one choice. */
  clientCertificateTypes?: number[];
  serverCertificateTypes?: number[];
  clientCertificateType?: number;
  serverCertificateType?: number;
  /** RFC 9146 §3: the CID the sender wants to receive (may be empty). */
  connectionId?: Uint8Array;
  /** Extension types present, in order (including unknown ones). */
  present?: number[];
}

function list8(r: Reader, what: string, min: number): number[] {
  const v = r.vec8(what, min);
  return Array.from(v);
}

function list16(r: Reader, what: string, min: number): number[] {
  const v = r.vec16(what, min);
  if (v.length % 2 !== 0) throw alert('decode_error', `${what} odd length`);
  const out: number[] = [];
  for (let i = 0; i < v.length; i += 2) out.push((v[i]! << 8) | v[i + 1]!);
  return out;
}

/** Decodes an extensions block (after the outer length). `fromClient` selects the ClientHello forms. */
export function decodeExtensions(data: Uint8Array, fromClient: boolean): Extensions {
  const ext: Extensions = { present: [] };
  const r = new Reader(data);
  const seen = new Set<number>();
  while (r.remaining > 0) {
    const type = r.u16('extension_type');
    const body = r.vec16('extension_data');
    if (seen.has(type)) throw alert('decode_error', `duplicate extension ${type}`);
    seen.add(type);
    ext.present!.push(type);
    const e = new Reader(body);
    switch (type) {
      case ExtensionType.server_name:
        if (fromClient) {
          const lr = new Reader(e.vec16('server_name_list', 1));
          e.done('server_name');
          while (lr.remaining > 0) {
            const nameType = lr.u8('name_type');
            const name = lr.vec16('host_name', 1);
            if (nameType === 0 && ext.serverName === undefined) ext.serverName = new TextDecoder().decode(name);
          }
        } else {
          e.done('server_name');
          ext.serverNameAck = true;
        }
        break;
      case ExtensionType.supported_groups:
        ext.supportedGroups = list16(e, 'supported_groups', 2);
        e.done('supported_groups');
        break;
      case ExtensionType.ec_point_formats:
        ext.ecPointFormats = list8(e, 'ec_point_formats', 1);
        e.done('ec_point_formats');
        break;
      case ExtensionType.signature_algorithms:
        ext.signatureAlgorithms = list16(e, 'signature_algorithms', 2);
        e.done('signature_algorithms');
        break;
      case ExtensionType.extended_master_secret:
        e.done('extended_master_secret');
        ext.extendedMasterSecret = true;
        break;
      case ExtensionType.renegotiation_info:
        ext.renegotiationInfo = e.vec8('renegotiated_connection');
        e.done('renegotiation_info');
        break;
      case ExtensionType.client_certificate_type:
        if (fromClient) ext.clientCertificateTypes = list8(e, 'client_certificate_types', 1);
        else ext.clientCertificateType = e.u8('client_certificate_type');
        e.done('client_certificate_type');
        break;
      case ExtensionType.server_certificate_type:
        if (fromClient) ext.serverCertificateTypes = list8(e, 'server_certificate_types', 1);
        else ext.serverCertificateType = e.u8('server_certificate_type');
        e.done('server_certificate_type');
        break;
      case ExtensionType.connection_id:
        ext.connectionId = e.vec8('connection_id');
        e.done('connection_id');
        break;
      default:
        break;
    }
  }
  return ext;
}

/** Encodes the extensions set in `ext` (in a fixed order); `fromClient` selects the ClientHello forms. */
export function encodeExtensions(ext: Extensions, fromClient: boolean): Uint8Array {
  const w = new Writer();
  const put = (type: number, fill: (x: Writer) => void) => {
    w.u16(type).nested(2, fill);
  };
  if (fromClient && ext.serverName !== undefined) {
    const name = new TextEncoder().encode(ext.serverName);
    put(ExtensionType.server_name, (x) => x.nested(2, (l) => l.u8(0).vec16(name)));
  }
  if (!fromClient && ext.serverNameAck) put(ExtensionType.server_name, () => {});
  if (ext.supportedGroups) {
    const g = ext.supportedGroups;
    put(ExtensionType.supported_groups, (x) => x.nested(2, (l) => g.forEach((v) => l.u16(v))));
  }
  if (ext.ecPointFormats) {
    const f = ext.ecPointFormats;
    put(ExtensionType.ec_point_formats, (x) => x.nested(1, (l) => f.forEach((v) => l.u8(v))));
  }
  if (ext.signatureAlgorithms) {
    const s = ext.signatureAlgorithms;
    put(ExtensionType.signature_algorithms, (x) => x.nested(2, (l) => s.forEach((v) => l.u16(v))));
  }
  if (ext.extendedMasterSecret) put(ExtensionType.extended_master_secret, () => {});
  if (fromClient) {
    const c = ext.clientCertificateTypes;
    if (c) put(ExtensionType.client_certificate_type, (x) => x.nested(1, (l) => c.forEach((v) => l.u8(v))));
    const s = ext.serverCertificateTypes;
    if (s) put(ExtensionType.server_certificate_type, (x) => x.nested(1, (l) => s.forEach((v) => l.u8(v))));
  } else {
    const c = ext.clientCertificateType;
    if (c !== undefined) put(ExtensionType.client_certificate_type, (x) => x.u8(c));
    const s = ext.serverCertificateType;
    if (s !== undefined) put(ExtensionType.server_certificate_type, (x) => x.u8(s));
  }
  if (ext.connectionId) {
    const cid = ext.connectionId;
    put(ExtensionType.connection_id, (x) => x.vec8(cid));
  }
  if (ext.renegotiationInfo) {
    const ri = ext.renegotiationInfo;
    put(ExtensionType.renegotiation_info, (x) => x.vec8(ri));
  }
  return w.finish();
}

// ---------------------------------------------------------------- hellos

/** RFC 6347 §4.2.1 ClientHello (with cookie). */
export interface ClientHello {
  clientVersion: number;
  random: Uint8Array;
  sessionId: Uint8Array;
  cookie: Uint8Array;
  cipherSuites: number[];
  compressionMethods: number[];
  extensions: Extensions;
}

export function encodeClientHello(m: ClientHello): Uint8Array {
  const w = new Writer(160);
  w.u16(m.clientVersion).bytes(m.random).vec8(m.sessionId).vec8(m.cookie);
  w.nested(2, (x) => m.cipherSuites.forEach((s) => x.u16(s)));
  w.nested(1, (x) => m.compressionMethods.forEach((c) => x.u8(c)));
  const ext = encodeExtensions(m.extensions, true);
  if (ext.length > 0) w.vec16(ext);
  return w.finish();
}

export function decodeClientHello(body: Uint8Array): ClientHello {
  const r = new Reader(body);
  const clientVersion = r.u16('client_version');
  const random = r.bytes(32, 'random');
  const sessionId = r.vec8('session_id', 0, 32);
  const cookie = r.vec8('cookie', 0, 255);
  const suites = r.vec16('cipher_suites', 2, 0xfffe);
  if (suites.length % 2 !== 0) throw alert('decode_error', 'cipher_suites odd length');
  const cipherSuites: number[] = [];
  for (let i = 0; i < suites.length; i += 2) cipherSuites.push((suites[i]! << 8) | suites[i + 1]!);
  const compressionMethods = Array.from(r.vec8('compression_methods', 1));
  const extensions = r.remaining > 0 ? decodeExtensions(r.vec16('extensions'), true) : { present: [] };
  r.done('ClientHello');
  return { clientVersion, random, sessionId, cookie, cipherSuites, compressionMethods, extensions };
}

/** RFC 6347 §4.2.1 HelloVerifyRequest. */
export interface HelloVerifyRequest {
  serverVersion: number;
  cookie: Uint8Array;
}

export function encodeHelloVerifyRequest(m: HelloVerifyRequest): Uint8Array {
  return new Writer(40).u16(m.serverVersion).vec8(m.cookie).finish();
}

export function decodeHelloVerifyRequest(body: Uint8Array): HelloVerifyRequest {
  const r = new Reader(body);
  const serverVersion = r.u16('server_version');
  const cookie = r.vec8('cookie', 0, 255);
  r.done('HelloVerifyRequest');
  return { serverVersion, cookie };
}

/** RFC 5246 §7.4.1.3 ServerHello. */
export interface ServerHello {
  serverVersion: number;
  random: Uint8Array;
  sessionId: Uint8Array;
  cipherSuite: number;
  compressionMethod: number;
  extensions: Extensions;
}

export function encodeServerHello(m: ServerHello): Uint8Array {
  const w = new Writer(128);
  w.u16(m.serverVersion).bytes(m.random).vec8(m.sessionId).u16(m.cipherSuite).u8(m.compressionMethod);
  const ext = encodeExtensions(m.extensions, false);
  if (ext.length > 0) w.vec16(ext);
  return w.finish();
}

export function decodeServerHello(body: Uint8Array): ServerHello {
  const r = new Reader(body);
  const serverVersion = r.u16('server_version');
  const random = r.bytes(32, 'random');
  const sessionId = r.vec8('session_id', 0, 32);
  const cipherSuite = r.u16('cipher_suite');
  const compressionMethod = r.u8('compression_method');
  const extensions = r.remaining > 0 ? decodeExtensions(r.vec16('extensions'), false) : { present: [] };
  r.done('ServerHello');
  return { serverVersion, random, sessionId, cipherSuite, compressionMethod, extensions };
}

// ---------------------------------------------------------------- certificates

/** RFC 5246 §7.4.2: certificate_list<0..2^24-1> of ASN.1Cert<1..2^24-1>. */
export function encodeCertificate(chain: readonly Uint8Array[]): Uint8Array {
  const w = new Writer(1024);
  w.nested(3, (x) => chain.forEach((c) => x.vec24(c)));
  return w.finish();
}

export function decodeCertificate(body: Uint8Array): Uint8Array[] {
  const r = new Reader(body);
  const list = new Reader(r.vec24('certificate_list'));
  r.done('Certificate');
  const out: Uint8Array[] = [];
  while (list.remaining > 0) out.push(list.vec24('ASN.1Cert', 1));
  return out;
}

/** RFC 7250 §3: the Certificate message carrying one SubjectPublicKeyInfo (an empty body = no key). */
export function encodeRawPublicKeyCertificate(spki: Uint8Array): Uint8Array {
  return new Writer(spki.length + 3).vec24(spki).finish();
}

export function decodeRawPublicKeyCertificate(body: Uint8Array): Uint8Array {
  const r = new Reader(body);
  const spki = r.vec24('ASN.1_subjectPublicKeyInfo');
  r.done('Certificate');
  return spki;
}

// ---------------------------------------------------------------- key exchange

/** RFC 8422 §5.4 ServerECDHParams: curve_type named_curve, namedcurve, ECPoint public<1..2^8-1>. */
export interface EcdhParams {
  namedCurve: number;
  point: Uint8Array;
}

function writeEcdhParams(w: Writer, p: EcdhParams): void {
  w.u8(EC_CURVE_TYPE_NAMED).u16(p.namedCurve).vec8(p.point);
}

function readEcdhParams(r: Reader): EcdhParams {
  const curveType = r.u8('curve_type');
  if (curveType !== EC_CURVE_TYPE_NAMED) throw alert('illegal_parameter', 'curve type not named_curve');
  const namedCurve = r.u16('namedcurve');
  const point = r.vec8('ECPoint', 1);
  return { namedCurve, point };
}

/** The bytes of ServerECDHParams, as signed (RFC 8422 §5.4). */
export function encodeEcdhParams(p: EcdhParams): Uint8Array {
  const w = new Writer(70);
  writeEcdhParams(w, p);
  return w.finish();
}

/** RFC 4279 §2: ServerKeyExchange for PSK carries only psk_identity_hint<0..2^16-1>. */
export function encodePskServerKeyExchange(hint: Uint8Array): Uint8Array {
  return new Writer(hint.length + 2).vec16(hint).finish();
}

export function decodePskServerKeyExchange(body: Uint8Array): Uint8Array {
  const r = new Reader(body);
  const hint = r.vec16('psk_identity_hint');
  r.done('ServerKeyExchange');
  return hint;
}

/** RFC 8422 §5.4: ServerKeyExchange for ECDHE_ECDSA: params + digitally-signed struct. */
export interface EcdheServerKeyExchange {
  params: EcdhParams;
  /** The exact bytes of the params (what the signature covers). */
  paramsBytes: Uint8Array;
  signatureScheme: number;
  signature: Uint8Array;
}

export function encodeEcdheServerKeyExchange(params: EcdhParams, signatureScheme: number, signature: Uint8Array): Uint8Array {
  const w = new Writer(160);
  writeEcdhParams(w, params);
  w.u16(signatureScheme).vec16(signature);
  return w.finish();
}

export function decodeEcdheServerKeyExchange(body: Uint8Array): EcdheServerKeyExchange {
  const r = new Reader(body);
  const start = r.offset;
  const params = readEcdhParams(r);
  const paramsBytes = body.subarray(start, r.offset);
  const signatureScheme = r.u16('signature_algorithm');
  const signature = r.vec16('signature', 1);
  r.done('ServerKeyExchange');
  return { params, paramsBytes, signatureScheme, signature };
}

/** RFC 5489 §2: ServerKeyExchange for ECDHE_PSK: psk_identity_hint + ServerECDHParams. */
export function encodeEcdhePskServerKeyExchange(hint: Uint8Array, params: EcdhParams): Uint8Array {
  const w = new Writer(100);
  w.vec16(hint);
  writeEcdhParams(w, params);
  return w.finish();
}

export function decodeEcdhePskServerKeyExchange(body: Uint8Array): { hint: Uint8Array; params: EcdhParams } {
  const r = new Reader(body);
  const hint = r.vec16('psk_identity_hint');
  const params = readEcdhParams(r);
  r.done('ServerKeyExchange');
  return { hint, params };
}

/** RFC 5246 §7.4.4 CertificateRequest. */
export interface CertificateRequest {
  certificateTypes: number[];
  signatureAlgorithms: number[];
  certificateAuthorities: Uint8Array[];
}

export function encodeCertificateRequest(m: CertificateRequest): Uint8Array {
  const w = new Writer(64);
  w.nested(1, (x) => m.certificateTypes.forEach((t) => x.u8(t)));
  w.nested(2, (x) => m.signatureAlgorithms.forEach((s) => x.u16(s)));
  w.nested(2, (x) => m.certificateAuthorities.forEach((a) => x.vec16(a)));
  return w.finish();
}

export function decodeCertificateRequest(body: Uint8Array): CertificateRequest {
  const r = new Reader(body);
  const certificateTypes = list8(r, 'certificate_types', 1);
  const signatureAlgorithms = list16(r, 'supported_signature_algorithms', 2);
  const cas = new Reader(r.vec16('certificate_authorities'));
  r.done('CertificateRequest');
  const certificateAuthorities: Uint8Array[] = [];
  while (cas.remaining > 0) certificateAuthorities.push(cas.vec16('DistinguishedName', 1));
  return { certificateTypes, signatureAlgorithms, certificateAuthorities };
}

/** ServerHelloDone has an empty body. */
export function decodeServerHelloDone(body: Uint8Array): void {
  if (body.length !== 0) throw alert('decode_error', 'ServerHelloDone not empty');
}

/** RFC 4279 §2: ClientKeyExchange psk_identity<0..2^16-1>. */
export function encodePskClientKeyExchange(identity: Uint8Array): Uint8Array {
  return new Writer(identity.length + 2).vec16(identity).finish();
}

export function decodePskClientKeyExchange(body: Uint8Array): Uint8Array {
  const r = new Reader(body);
  const identity = r.vec16('psk_identity');
  r.done('ClientKeyExchange');
  return identity;
}

/** RFC 8422 §5.7: ClientECDiffieHellmanPublic ecdh_Yc<1..2^8-1>. */
export function encodeEcdhClientKeyExchange(point: Uint8Array): Uint8Array {
  return new Writer(point.length + 1).vec8(point).finish();
}

export function decodeEcdhClientKeyExchange(body: Uint8Array): Uint8Array {
  const r = new Reader(body);
  const point = r.vec8('ecdh_Yc', 1);
  r.done('ClientKeyExchange');
  return point;
}

/** RFC 5489 §2: ClientKeyExchange for ECDHE_PSK: psk_identity + ClientECDiffieHellmanPublic. */
export function encodeEcdhePskClientKeyExchange(identity: Uint8Array, point: Uint8Array): Uint8Array {
  return new Writer(identity.length + point.length + 3).vec16(identity).vec8(point).finish();
}

export function decodeEcdhePskClientKeyExchange(body: Uint8Array): { identity: Uint8Array; point: Uint8Array } {
  const r = new Reader(body);
  const identity = r.vec16('psk_identity');
  const point = r.vec8('ecdh_Yc', 1);
  r.done('ClientKeyExchange');
  return { identity, point };
}

/** RFC 5246 §7.4.8 CertificateVerify: digitally-signed struct. */
export interface DigitallySigned {
  signatureScheme: number;
  signature: Uint8Array;
}

export function encodeDigitallySigned(m: DigitallySigned): Uint8Array {
  return new Writer(m.signature.length + 4).u16(m.signatureScheme).vec16(m.signature).finish();
}

export function decodeDigitallySigned(body: Uint8Array): DigitallySigned {
  const r = new Reader(body);
  const signatureScheme = r.u16('signature_algorithm');
  const signature = r.vec16('signature', 1);
  r.done('CertificateVerify');
  return { signatureScheme, signature };
}

/** RFC 5246 §7.4.9: verify_data is 12 bytes for every suite we speak. */
export function decodeFinished(body: Uint8Array): Uint8Array {
  if (body.length !== 12) throw alert('decode_error', 'Finished length');
  return body;
}
