/**
 * The client handshake state machine (RFC 6347 §4.2, RFC 5246 §7.3): cookie exchange, full handshakes
 * for PSK, ECDHE_PSK and ECDHE_ECDSA (server certificate or raw public key, our certificate or raw key
 * when asked), and the abbreviated handshake when the server resumes our session.
 */
import { randomBytes, timingSafeEqual, type KeyObject } from 'node:crypto';
import { alert } from './alert.js';
import { suiteInfo, type KeyMaterial, type RecordCipher, type SuiteInfo } from './cipher.js';
import {
  deriveCiphers,
  MessageWriter,
  Transcript,
  unexpected,
  type HandshakeInput,
  type HandshakeMachine,
  type OutItem,
  type StepResult,
} from './handshake.js';
import { ecdhSharedSecret, generateEcdhKeyPair, publicKeyOfCertificate, publicKeyOfSpki, runVerifier, signEcdsa, verifyEcdsa, type EcdhKeyPair } from './kex.js';
import {
  CertificateType,
  decodeCertificate,
  decodeCertificateRequest,
  decodeEcdhePskServerKeyExchange,
  decodeEcdheServerKeyExchange,
  decodeFinished,
  decodeHelloVerifyRequest,
  decodePskServerKeyExchange,
  decodeRawPublicKeyCertificate,
  decodeServerHello,
  decodeServerHelloDone,
  EC_POINT_FORMAT_UNCOMPRESSED,
  ECDSA_SHA256,
  ECDSA_SIGN,
  encodeCertificate,
  encodeClientHello,
  encodeDigitallySigned,
  encodeEcdhClientKeyExchange,
  encodeEcdhePskClientKeyExchange,
  encodePskClientKeyExchange,
  encodeRawPublicKeyCertificate,
  ExtensionType,
  HandshakeType,
  NamedCurve,
  type ClientHello,
  type EcdhParams,
  type Extensions,
} from './messages.js';
import { extendedMasterSecret, finishedVerifyData, masterSecret, pskPreMasterSecret } from './prf.js';
import { DTLS1_2 } from './record.js';
import type { DtlsSession } from './session.js';
import type { CertificateCredential, CertificateVerifier, PeerIdentity, RawPublicKeyVerifier } from './types.js';

export type ClientHandshakeState =
  | 'start'
  | 'wait_server_hello'
  | 'wait_certificate'
  | 'wait_server_key_exchange'
  | 'wait_certificate_request'
  | 'wait_server_hello_done'
  | 'wait_change_cipher_spec'
  | 'wait_finished'
  | 'established';

/** The inputs each state accepts; anything else is unexpected_message. */
export const clientTransitions: Readonly<Record<ClientHandshakeState, readonly (number | 'ccs')[]>> = {
  start: [],
  wait_server_hello: [HandshakeType.hello_verify_request, HandshakeType.server_hello],
  wait_certificate: [HandshakeType.certificate],
  // PSK: the ServerKeyExchange is optional (RFC 4279 §2).
  wait_server_key_exchange: [HandshakeType.server_key_exchange, HandshakeType.server_hello_done],
  wait_certificate_request: [HandshakeType.certificate_request, HandshakeType.server_hello_done],
  wait_server_hello_done: [HandshakeType.server_hello_done],
  wait_change_cipher_spec: ['ccs'],
  wait_finished: [HandshakeType.finished],
  established: [],
};

/** How many HelloVerifyRequests a client follows before giving up. */
const MAX_HELLO_VERIFY = 4;

export interface ClientHandshakeConfig {
  cipherSuites: readonly number[];
  psk?: { identity: string | Uint8Array; key: Uint8Array };
  certificate?: CertificateCredential;
  rawPublicKey?: { privateKey: KeyObject; spki: Uint8Array };
  verifyCertificate?: CertificateVerifier;
  verifyRawPublicKey?: RawPublicKeyVerifier;
  serverName?: string;
  /** Negotiate RFC 9146: we ask for no CID ourselves (zero length), the server gives us its own. */
  connectionId?: boolean;
  session?: DtlsSession;
  random?: (n: number) => Uint8Array;
}

export class ClientHandshake implements HandshakeMachine {
  readonly isClient = true;
  state: ClientHandshakeState = 'start';
  private readonly transcript = new Transcript();
  private readonly out = new MessageWriter(0, this.transcript);
  private readonly random: (n: number) => Uint8Array;
  private hello!: ClientHello;
  private helloRaw!: Uint8Array;
  private helloVerifies = 0;
  private offeredExtensions = new Set<number>();
  private suite!: SuiteInfo;
  private serverRandom!: Uint8Array;
  private sessionId: Uint8Array = new Uint8Array(0);
  private ems = false;
  private resumed = false;
  private serverCertType: number = CertificateType.X509;
  private clientCertType: number = CertificateType.X509;
  private serverKey: KeyObject | undefined;
  private serverEcdh: EcdhParams | undefined;
  private certificateRequested = false;
  private identity: PeerIdentity | undefined;
  private master!: Uint8Array;
  private keys!: KeyMaterial;
  private ciphers!: { read: RecordCipher; write: RecordCipher };
  private peerCid: Uint8Array | undefined;
  private ownCid: Uint8Array | undefined;
  private nextReceiveSeq = 0;

  constructor(private readonly config: ClientHandshakeConfig) {
    this.random = config.random ?? ((n) => randomBytes(n));
  }

  get connectionIds(): { own?: Uint8Array; peer?: Uint8Array } {
    return { ...(this.ownCid ? { own: this.ownCid } : {}), ...(this.peerCid ? { peer: this.peerCid } : {}) };
  }

  get awaitingFinished(): boolean {
    return this.state === 'wait_finished';
  }

  /** The first flight: a ClientHello without cookie. */
  start(): StepResult {
    if (this.state !== 'start') throw alert('internal_error', 'handshake already started');
    const c = this.config;
    const suites = [...c.cipherSuites];
    const ecc = suites.some((id) => suiteInfo(id)?.keyExchange !== 'psk');
    const ext: Extensions = { extendedMasterSecret: true, renegotiationInfo: new Uint8Array(0) };
    if (c.serverName !== undefined) ext.serverName = c.serverName;
    if (ecc) {
      ext.supportedGroups = [NamedCurve.secp256r1];
      ext.ecPointFormats = [EC_POINT_FORMAT_UNCOMPRESSED];
    }
    if (suites.some((id) => suiteInfo(id)?.keyExchange === 'ecdhe_ecdsa')) {
      ext.signatureAlgorithms = [ECDSA_SHA256];
      // RFC 7250 §4.1: only send the extensions when something other than X.509 is on offer.
      if (c.rawPublicKey) ext.clientCertificateTypes = c.certificate ? [CertificateType.RawPublicKey, CertificateType.X509] : [CertificateType.RawPublicKey];
      if (c.verifyRawPublicKey) ext.serverCertificateTypes = c.verifyCertificate ? [CertificateType.RawPublicKey, CertificateType.X509] : [CertificateType.RawPublicKey];
    }
    if (c.connectionId) ext.connectionId = new Uint8Array(0);
    this.offeredExtensions = new Set(encodeOffered(ext));
    const sessionId = c.session?.id ?? new Uint8Array(0);
    this.hello = {
      clientVersion: DTLS1_2,
      random: this.random(32),
      sessionId,
      cookie: new Uint8Array(0),
      cipherSuites: suites,
      compressionMethods: [0],
      extensions: ext,
    };
    this.state = 'wait_server_hello';
    return { flight: [this.sendHello()] };
  }

  private sendHello(): OutItem {
    this.transcript.reset();
    const item = this.out.message(HandshakeType.client_hello, encodeClientHello(this.hello));
    this.helloRaw = (item as { raw: Uint8Array }).raw;
    return item;
  }

  handle(input: HandshakeInput): StepResult | Promise<StepResult> {
    const allowed = clientTransitions[this.state];
    if (input.kind === 'ccs') {
      if (!allowed.includes('ccs')) unexpected(this.state, input);
      this.state = 'wait_finished';
      return { readCipher: this.ciphers.read };
    }
    const m = input.message;
    if (!allowed.includes(m.msgType)) unexpected(this.state, input);
    this.nextReceiveSeq = m.messageSeq + 1;
    switch (m.msgType) {
      case HandshakeType.hello_verify_request:
        return this.onHelloVerifyRequest(m.body);
      case HandshakeType.server_hello:
        return this.onServerHello(m.raw, m.body);
      case HandshakeType.certificate:
        return this.onCertificate(m.raw, m.body);
      case HandshakeType.server_key_exchange:
        return this.onServerKeyExchange(m.raw, m.body);
      case HandshakeType.certificate_request:
        return this.onCertificateRequest(m.raw, m.body);
      case HandshakeType.server_hello_done:
        return this.onServerHelloDone(m.raw, m.body);
      case HandshakeType.finished:
        return this.onFinished(m.raw, m.body);
      default:
        return unexpected(this.state, input);
    }
  }

  private onHelloVerifyRequest(body: Uint8Array): StepResult {
    const hvr = decodeHelloVerifyRequest(body);
    if (++this.helloVerifies > MAX_HELLO_VERIFY) throw alert('handshake_failure', 'too many HelloVerifyRequests');
    // RFC 6347 §4.2.1: the second ClientHello repeats the first with the cookie; neither the first
    // ClientHello nor the HelloVerifyRequest enter the transcript.
    this.hello.cookie = hvr.cookie;
    return { flight: [this.sendHello()], restart: true };
  }

  private onServerHello(raw: Uint8Array, body: Uint8Array): StepResult {
    const sh = decodeServerHello(body);
    if (sh.serverVersion !== DTLS1_2) throw alert('protocol_version', 'server did not choose DTLS 1.2');
    if (!this.hello.cipherSuites.includes(sh.cipherSuite)) throw alert('illegal_parameter', 'server chose a suite we did not offer');
    const suite = suiteInfo(sh.cipherSuite);
    if (!suite) throw alert('illegal_parameter', 'unknown suite');
    if (sh.compressionMethod !== 0) throw alert('illegal_parameter', 'compression');
    // RFC 5246 §7.4.1.4: no extension the client did not offer.
    for (const t of sh.extensions.present ?? []) {
      if (!this.offeredExtensions.has(t)) throw alert('unsupported_extension', `server sent extension ${t}`);
    }
    if (sh.extensions.renegotiationInfo && sh.extensions.renegotiationInfo.length > 0) throw alert('handshake_failure', 'renegotiation_info not empty');
    this.suite = suite;
    this.serverRandom = sh.random;
    this.sessionId = sh.sessionId;
    this.ems = sh.extensions.extendedMasterSecret === true;
    if (sh.extensions.connectionId !== undefined) {
      this.peerCid = sh.extensions.connectionId;
      this.ownCid = this.hello.extensions.connectionId;
    }
    this.transcript.add(raw);

    const s = this.config.session;
    if (s && s.id.length > 0 && sh.sessionId.length === s.id.length && timingSafeEqual(sh.sessionId, s.id)) {
      // Abbreviated handshake (RFC 5246 §7.3); RFC 7627 §5.3: the EMS choice must not change.
      if (sh.cipherSuite !== s.cipherSuite || this.ems !== s.extendedMasterSecret) throw alert('handshake_failure', 'resumed session parameters differ');
      this.resumed = true;
      this.master = s.masterSecret;
      this.identity = s.identity;
      this.derive();
      this.state = 'wait_change_cipher_spec';
      return {};
    }
    if (suite.keyExchange === 'ecdhe_ecdsa') {
      this.serverCertType = sh.extensions.serverCertificateType ?? CertificateType.X509;
      this.clientCertType = sh.extensions.clientCertificateType ?? CertificateType.X509;
      const offeredServer = this.hello.extensions.serverCertificateTypes ?? [CertificateType.X509];
      if (!offeredServer.includes(this.serverCertType)) throw alert('illegal_parameter', 'server certificate type not offered');
      this.state = 'wait_certificate';
    } else {
      this.state = 'wait_server_key_exchange';
    }
    return {};
  }

  private derive(): void {
    const d = deriveCiphers(this.suite, this.master, this.hello.random, this.serverRandom, true);
    this.ciphers = d;
    this.keys = d.keys;
  }

  private async onCertificate(raw: Uint8Array, body: Uint8Array): Promise<StepResult> {
    if (this.serverCertType === CertificateType.RawPublicKey) {
      const spki = decodeRawPublicKeyCertificate(body);
      if (spki.length === 0) throw alert('bad_certificate', 'server sent no raw public key');
      this.serverKey = publicKeyOfSpki(spki);
      const verify = this.config.verifyRawPublicKey;
      if (!verify) throw alert('unsupported_certificate', 'no raw public key verifier');
      this.identity = await runVerifier(() => verify(spki));
    } else {
      const chain = decodeCertificate(body);
      if (chain.length === 0) throw alert('bad_certificate', 'server sent no certificate');
      this.serverKey = publicKeyOfCertificate(chain[0]!);
      const verify = this.config.verifyCertificate;
      if (!verify) throw alert('unsupported_certificate', 'no certificate verifier');
      const ctx: { serverName?: string } = {};
      if (this.config.serverName !== undefined) ctx.serverName = this.config.serverName;
      this.identity = await runVerifier(() => verify(chain, ctx));
    }
    this.transcript.add(raw);
    this.state = 'wait_server_key_exchange';
    return {};
  }

  private onServerKeyExchange(raw: Uint8Array, body: Uint8Array): StepResult {
    switch (this.suite.keyExchange) {
      case 'psk':
        decodePskServerKeyExchange(body);
        this.state = 'wait_server_hello_done';
        break;
      case 'ecdhe_psk': {
        const { params } = decodeEcdhePskServerKeyExchange(body);
        if (params.namedCurve !== NamedCurve.secp256r1) throw alert('illegal_parameter', 'curve not offered');
        this.serverEcdh = params;
        this.state = 'wait_server_hello_done';
        break;
      }
      case 'ecdhe_ecdsa': {
        const ske = decodeEcdheServerKeyExchange(body);
        if (ske.params.namedCurve !== NamedCurve.secp256r1) throw alert('illegal_parameter', 'curve not offered');
        if (ske.signatureScheme !== ECDSA_SHA256) throw alert('illegal_parameter', 'signature algorithm not offered');
        verifyEcdsa(this.serverKey!, [this.hello.random, this.serverRandom, ske.paramsBytes], ske.signature);
        this.serverEcdh = ske.params;
        this.state = 'wait_certificate_request';
        break;
      }
    }
    this.transcript.add(raw);
    return {};
  }

  private onCertificateRequest(raw: Uint8Array, body: Uint8Array): StepResult {
    const cr = decodeCertificateRequest(body);
    this.certificateRequested = true;
    this.canSignForServer = cr.certificateTypes.includes(ECDSA_SIGN) && cr.signatureAlgorithms.includes(ECDSA_SHA256);
    this.transcript.add(raw);
    this.state = 'wait_server_hello_done';
    return {};
  }

  private canSignForServer = false;

  private onServerHelloDone(raw: Uint8Array, body: Uint8Array): StepResult {
    decodeServerHelloDone(body);
    if (this.suite.keyExchange !== 'psk' && !this.serverEcdh) throw alert('unexpected_message', 'ServerKeyExchange missing');
    this.transcript.add(raw);
    const flight: OutItem[] = [];
    let signer: KeyObject | undefined;
    if (this.certificateRequested) {
      const c = this.config;
      if (this.canSignForServer && this.clientCertType === CertificateType.RawPublicKey && c.rawPublicKey) {
        flight.push(this.out.message(HandshakeType.certificate, encodeRawPublicKeyCertificate(c.rawPublicKey.spki)));
        signer = c.rawPublicKey.privateKey;
      } else if (this.canSignForServer && this.clientCertType === CertificateType.X509 && c.certificate) {
        flight.push(this.out.message(HandshakeType.certificate, encodeCertificate(c.certificate.chain)));
        signer = c.certificate.privateKey;
      } else {
        // RFC 5246 §7.4.6: no suitable certificate: send an empty list.
        flight.push(this.out.message(HandshakeType.certificate, encodeCertificate([])));
      }
    }
    let preMaster: Uint8Array;
    const psk = this.config.psk;
    const identity = psk ? (typeof psk.identity === 'string' ? new TextEncoder().encode(psk.identity) : psk.identity) : undefined;
    switch (this.suite.keyExchange) {
      case 'psk':
        if (!psk || !identity) throw alert('internal_error', 'no PSK configured');
        flight.push(this.out.message(HandshakeType.client_key_exchange, encodePskClientKeyExchange(identity)));
        preMaster = pskPreMasterSecret(psk.key);
        break;
      case 'ecdhe_psk': {
        if (!psk || !identity) throw alert('internal_error', 'no PSK configured');
        const pair: EcdhKeyPair = generateEcdhKeyPair();
        const z = ecdhSharedSecret(pair, this.serverEcdh!.point);
        flight.push(this.out.message(HandshakeType.client_key_exchange, encodeEcdhePskClientKeyExchange(identity, pair.publicPoint)));
        preMaster = pskPreMasterSecret(psk.key, z);
        break;
      }
      case 'ecdhe_ecdsa': {
        const pair = generateEcdhKeyPair();
        preMaster = ecdhSharedSecret(pair, this.serverEcdh!.point);
        flight.push(this.out.message(HandshakeType.client_key_exchange, encodeEcdhClientKeyExchange(pair.publicPoint)));
        break;
      }
    }
    this.master = this.ems ? extendedMasterSecret(preMaster, this.transcript.hash()) : masterSecret(preMaster, this.hello.random, this.serverRandom);
    this.derive();
    if (signer) {
      const signature = signEcdsa(signer, this.transcript.messages);
      flight.push(this.out.message(HandshakeType.certificate_verify, encodeDigitallySigned({ signatureScheme: ECDSA_SHA256, signature })));
    }
    flight.push({ kind: 'ccs' });
    flight.push(this.out.message(HandshakeType.finished, finishedVerifyData(this.master, 'client finished', this.transcript.hash())));
    this.state = 'wait_change_cipher_spec';
    return { flight, writeCipher: this.ciphers.write };
  }

  private onFinished(raw: Uint8Array, body: Uint8Array): StepResult {
    const got = decodeFinished(body);
    const expected = finishedVerifyData(this.master, 'server finished', this.transcript.hash());
    if (!timingSafeEqual(got, expected)) throw alert('decrypt_error', 'server Finished does not verify');
    this.transcript.add(raw);
    this.state = 'established';
    const session: DtlsSession = { id: this.sessionId, masterSecret: this.master, cipherSuite: this.suite.id, extendedMasterSecret: this.ems };
    if (this.identity) session.identity = this.identity;
    const established = {
      suite: this.suite,
      keys: this.keys,
      session,
      resumed: this.resumed,
      nextReceiveSeq: this.nextReceiveSeq,
      ...(this.identity ? { identity: this.identity } : {}),
      ...(this.ownCid ? { ownCid: this.ownCid } : {}),
      ...(this.peerCid ? { peerCid: this.peerCid } : {}),
    };
    if (!this.resumed) return { established };
    const flight: OutItem[] = [{ kind: 'ccs' }, this.out.message(HandshakeType.finished, finishedVerifyData(this.master, 'client finished', this.transcript.hash()))];
    return { flight, final: true, writeCipher: this.ciphers.write, established };
  }

  /** The ClientHello as last sent (tests). */
  get clientHelloRaw(): Uint8Array {
    return this.helloRaw;
  }
}

/** The extension types an Extensions object will put on the wire (what a ServerHello may answer). */
function encodeOffered(ext: Extensions): number[] {
  const t: number[] = [];
  if (ext.serverName !== undefined) t.push(ExtensionType.server_name);
  if (ext.supportedGroups) t.push(ExtensionType.supported_groups);
  if (ext.ecPointFormats) t.push(ExtensionType.ec_point_formats);
  if (ext.signatureAlgorithms) t.push(ExtensionType.signature_algorithms);
  if (ext.extendedMasterSecret) t.push(ExtensionType.extended_master_secret);
  if (ext.clientCertificateTypes) t.push(ExtensionType.client_certificate_type);
  if (ext.serverCertificateTypes) t.push(ExtensionType.server_certificate_type);
  if (ext.connectionId) t.push(ExtensionType.connection_id);
  if (ext.renegotiationInfo) t.push(ExtensionType.renegotiation_info);
  return t;
}
