/**
 * The server handshake state machine (RFC 6347 §4.2, RFC 5246 §7.3): full handshakes for PSK,
 * ECDHE_PSK and ECDHE_ECDSA (certificate or raw public key, client authentication required), and
 * the abbreviated handshake resuming a cached session. I/O free: the association feeds it messages
 * and ChangeCipherSpecs and sends what it returns.
 */
import { timingSafeEqual, type KeyObject } from 'node:crypto';
import { alert } from './alert.js';
import { suiteInfo, type KeyMaterial, type RecordCipher, type SuiteInfo } from './cipher.js';
import {
  deriveCiphers,
  MessageWriter,
  pskIdentityString,
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
  decodeClientHello,
  decodeDigitallySigned,
  decodeEcdhClientKeyExchange,
  decodeEcdhePskClientKeyExchange,
  decodeFinished,
  decodePskClientKeyExchange,
  decodeRawPublicKeyCertificate,
  EC_POINT_FORMAT_UNCOMPRESSED,
  ECDSA_SHA256,
  ECDSA_SIGN,
  encodeCertificate,
  encodeCertificateRequest,
  encodeEcdhePskServerKeyExchange,
  encodeEcdheServerKeyExchange,
  encodeEcdhParams,
  encodePskServerKeyExchange,
  encodeRawPublicKeyCertificate,
  encodeServerHello,
  HandshakeType,
  NamedCurve,
  TLS_EMPTY_RENEGOTIATION_INFO_SCSV,
  type ClientHello,
  type Extensions,
} from './messages.js';
import { extendedMasterSecret, finishedVerifyData, masterSecret, pskPreMasterSecret } from './prf.js';
import { pooledRandom } from './random.js';
import { DTLS1_2 } from './record.js';
import type { DtlsSession, SessionCache } from './session.js';
import type { CertificateCredential, CertificateVerifier, PeerIdentity, PskLookup, RawPublicKeyVerifier } from './types.js';

/** The server's states. `wait_change_cipher_spec` / `wait_finished` serve both full and abbreviated handshakes. */
export type ServerHandshakeState =
  | 'wait_client_hello'
  | 'wait_certificate'
  | 'wait_client_key_exchange'
  | 'wait_certificate_verify'
  | 'wait_change_cipher_spec'
  | 'wait_finished'
  | 'established';

/** Which input each state accepts (anything else is unexpected_message). */
export const serverTransitions: Readonly<Record<ServerHandshakeState, number | 'ccs' | undefined>> = {
  wait_client_hello: HandshakeType.client_hello,
  wait_certificate: HandshakeType.certificate,
  wait_client_key_exchange: HandshakeType.client_key_exchange,
  wait_certificate_verify: HandshakeType.certificate_verify,
  wait_change_cipher_spec: 'ccs',
  wait_finished: HandshakeType.finished,
  established: undefined,
};

export interface ServerHandshakeConfig {
  cipherSuites: readonly number[];
  pskLookup?: PskLookup;
  pskIdentityHint?: Uint8Array;
  certificate?: CertificateCredential;
  /** Raw public key credential with its SubjectPublicKeyInfo. */
  rawPublicKey?: { privateKey: KeyObject; spki: Uint8Array };
  verifyCertificate?: CertificateVerifier;
  verifyRawPublicKey?: RawPublicKeyVerifier;
  /** 0 = do not negotiate RFC 9146 CIDs. */
  connectionIdLength: number;
  /** A fresh, unused CID of `connectionIdLength` bytes. */
  newConnectionId?: () => Uint8Array;
  sessionCache?: SessionCache;
  random?: (n: number) => Uint8Array;
}

/** What `connectionIds` reports when none were negotiated (shared, never written to). */
const NO_CIDS: { own?: Uint8Array; peer?: Uint8Array } = Object.freeze({});

export class ServerHandshake implements HandshakeMachine {
  readonly isClient = false;
  state: ServerHandshakeState = 'wait_client_hello';
  private readonly transcript = new Transcript();
  private readonly out: MessageWriter;
  private readonly random: (n: number) => Uint8Array;
  private hello!: ClientHello;
  /** The first ClientHello as the server already decoded it for the cookie check (decoded once, not twice). */
  preparsedHello: ClientHello | undefined;
  private suite!: SuiteInfo;
  private serverRandom!: Uint8Array;
  private sessionId: Uint8Array = new Uint8Array(0);
  private ems = false;
  private resumed = false;
  private ecdh: EcdhKeyPair | undefined;
  private serverCertType: number = CertificateType.X509;
  private clientCertType: number = CertificateType.X509;
  private peerKey: KeyObject | undefined;
  private identity: PeerIdentity | undefined;
  private master!: Uint8Array;
  private keys!: KeyMaterial;
  private ciphers!: { read: RecordCipher; write: RecordCipher };
  private ownCid: Uint8Array | undefined;
  private peerCid: Uint8Array | undefined;
  private nextReceiveSeq: number;

  /** `firstSeq` is the message_seq of the ClientHello that passed the cookie check (RFC 6347 §4.2.2). */
  constructor(
    private readonly config: ServerHandshakeConfig,
    firstSeq = 0,
  ) {
    this.random = config.random ?? pooledRandom;
    this.out = new MessageWriter(firstSeq, this.transcript);
    this.nextReceiveSeq = firstSeq;
  }

  get connectionIds(): { own?: Uint8Array; peer?: Uint8Array } {
    if (!this.ownCid && !this.peerCid) return NO_CIDS;
    return { ...(this.ownCid ? { own: this.ownCid } : {}), ...(this.peerCid ? { peer: this.peerCid } : {}) };
  }

  get awaitingFinished(): boolean {
    return this.state === 'wait_finished';
  }

  /** The negotiated suite (after the ClientHello). */
  get cipherSuite(): SuiteInfo | undefined {
    return this.suite;
  }

  /** The ClientHello's random (to tell a retransmitted ClientHello from a new one). */
  get clientRandom(): Uint8Array | undefined {
    return this.hello?.random;
  }

  handle(input: HandshakeInput): StepResult | Promise<StepResult> {
    const expected = serverTransitions[this.state];
    if (input.kind === 'ccs') {
      if (expected !== 'ccs') unexpected(this.state, input);
      this.state = 'wait_finished';
      return { readCipher: this.ciphers.read };
    }
    const m = input.message;
    if (expected !== m.msgType) unexpected(this.state, input);
    this.nextReceiveSeq = m.messageSeq + 1;
    switch (this.state) {
      case 'wait_client_hello':
        return this.onClientHello(m.raw, m.body);
      case 'wait_certificate':
        return this.onCertificate(m.raw, m.body);
      case 'wait_client_key_exchange':
        return this.onClientKeyExchange(m.raw, m.body);
      case 'wait_certificate_verify':
        return this.onCertificateVerify(m.raw, m.body);
      case 'wait_finished':
        return this.onFinished(m.raw, m.body);
      default:
        return unexpected(this.state, input);
    }
  }

  // ------------------------------------------------------------------ ClientHello

  private usable(s: SuiteInfo, h: ClientHello): boolean {
    const c = this.config;
    const groupsOk = !h.extensions.supportedGroups || h.extensions.supportedGroups.includes(NamedCurve.secp256r1);
    const formatsOk = !h.extensions.ecPointFormats || h.extensions.ecPointFormats.includes(EC_POINT_FORMAT_UNCOMPRESSED);
    switch (s.keyExchange) {
      case 'psk':
        return c.pskLookup !== undefined;
      case 'ecdhe_psk':
        return c.pskLookup !== undefined && groupsOk && formatsOk;
      case 'ecdhe_ecdsa': {
        const sigOk = !h.extensions.signatureAlgorithms || h.extensions.signatureAlgorithms.includes(ECDSA_SHA256);
        return groupsOk && formatsOk && sigOk && this.pickServerCertType(h) !== undefined && this.pickClientCertType(h) !== undefined;
      }
    }
  }

  /** RFC 7250 §4.2: the first type in the client's list that we hold a credential for. */
  private pickServerCertType(h: ClientHello): number | undefined {
    const offered = h.extensions.serverCertificateTypes ?? [CertificateType.X509];
    for (const t of offered) {
      if (t === CertificateType.RawPublicKey && this.config.rawPublicKey) return t;
      if (t === CertificateType.X509 && this.config.certificate) return t;
    }
    return undefined;
  }

  /** RFC 7250 §4.2: the first type in the client's list that we can verify. */
  private pickClientCertType(h: ClientHello): number | undefined {
    const offered = h.extensions.clientCertificateTypes ?? [CertificateType.X509];
    for (const t of offered) {
      if (t === CertificateType.RawPublicKey && this.config.verifyRawPublicKey) return t;
      if (t === CertificateType.X509 && this.config.verifyCertificate) return t;
    }
    return undefined;
  }

  private onClientHello(raw: Uint8Array, body: Uint8Array): StepResult {
    const h = this.preparsedHello ?? decodeClientHello(body);
    this.preparsedHello = undefined;
    this.hello = h;
    // RFC 6347 §4.1: versions are 1's complement, so an older version is numerically larger.
    if (h.clientVersion > DTLS1_2) throw alert('protocol_version', 'client does not offer DTLS 1.2');
    if (!h.compressionMethods.includes(0)) throw alert('illegal_parameter', 'null compression not offered');
    // RFC 5746 §3.6: an initial ClientHello carries an empty renegotiated_connection.
    const ri = h.extensions.renegotiationInfo;
    if (ri && ri.length > 0) throw alert('handshake_failure', 'renegotiation_info not empty');
    const secureRenegotiation = ri !== undefined || h.cipherSuites.includes(TLS_EMPTY_RENEGOTIATION_INFO_SCSV);
    this.ems = h.extensions.extendedMasterSecret === true;
    this.transcript.add(raw);
    this.serverRandom = this.random(32);

    const cached = this.config.sessionCache?.get(h.sessionId);
    if (
      cached &&
      h.cipherSuites.includes(cached.cipherSuite) &&
      this.config.cipherSuites.includes(cached.cipherSuite) &&
      // RFC 7627 §5.3: resume only with the same extended_master_secret choice.
      cached.extendedMasterSecret === this.ems
    ) {
      return this.resume(h, cached, secureRenegotiation);
    }

    let chosen: SuiteInfo | undefined;
    for (const id of h.cipherSuites) {
      const s = suiteInfo(id);
      if (s && this.config.cipherSuites.includes(id) && this.usable(s, h)) {
        chosen = s;
        break;
      }
    }
    if (!chosen) throw alert('handshake_failure', 'no cipher suite in common');
    this.suite = chosen;
    if (this.config.sessionCache) this.sessionId = this.random(32);

    const ext = this.serverExtensions(h, secureRenegotiation);
    if (chosen.keyExchange === 'ecdhe_ecdsa') {
      this.serverCertType = this.pickServerCertType(h)!;
      this.clientCertType = this.pickClientCertType(h)!;
      if (h.extensions.serverCertificateTypes) ext.serverCertificateType = this.serverCertType;
      if (h.extensions.clientCertificateTypes) ext.clientCertificateType = this.clientCertType;
    }
    const flight: OutItem[] = [this.serverHello(ext)];
    const clientRandom = h.random;
    if (chosen.keyExchange === 'ecdhe_ecdsa') {
      const cert =
        this.serverCertType === CertificateType.RawPublicKey
          ? encodeRawPublicKeyCertificate(this.config.rawPublicKey!.spki)
          : encodeCertificate(this.config.certificate!.chain);
      flight.push(this.out.message(HandshakeType.certificate, cert));
      this.ecdh = generateEcdhKeyPair();
      const params = { namedCurve: NamedCurve.secp256r1, point: this.ecdh.publicPoint };
      const key = this.serverCertType === CertificateType.RawPublicKey ? this.config.rawPublicKey!.privateKey : this.config.certificate!.privateKey;
      // RFC 8422 §5.4: signed_params = client_random | server_random | ServerECDHParams.
      const signature = signEcdsa(key, [clientRandom, this.serverRandom, encodeEcdhParams(params)]);
      flight.push(this.out.message(HandshakeType.server_key_exchange, encodeEcdheServerKeyExchange(params, ECDSA_SHA256, signature)));
      // Client authentication is required in this mode (RFC 5246 §7.4.4).
      flight.push(
        this.out.message(
          HandshakeType.certificate_request,
          encodeCertificateRequest({ certificateTypes: [ECDSA_SIGN], signatureAlgorithms: [ECDSA_SHA256], certificateAuthorities: [] }),
        ),
      );
      this.state = 'wait_certificate';
    } else if (chosen.keyExchange === 'ecdhe_psk') {
      this.ecdh = generateEcdhKeyPair();
      const params = { namedCurve: NamedCurve.secp256r1, point: this.ecdh.publicPoint };
      flight.push(this.out.message(HandshakeType.server_key_exchange, encodeEcdhePskServerKeyExchange(this.config.pskIdentityHint ?? new Uint8Array(0), params)));
      this.state = 'wait_client_key_exchange';
    } else {
      // RFC 4279 §2: the ServerKeyExchange is omitted when there is no hint.
      if (this.config.pskIdentityHint && this.config.pskIdentityHint.length > 0) {
        flight.push(this.out.message(HandshakeType.server_key_exchange, encodePskServerKeyExchange(this.config.pskIdentityHint)));
      }
      this.state = 'wait_client_key_exchange';
    }
    flight.push(this.out.message(HandshakeType.server_hello_done, new Uint8Array(0)));
    return { flight };
  }

  private serverExtensions(h: ClientHello, secureRenegotiation: boolean): Extensions {
    const ext: Extensions = {};
    if (this.ems) ext.extendedMasterSecret = true;
    if (secureRenegotiation) ext.renegotiationInfo = new Uint8Array(0);
    if (h.extensions.connectionId !== undefined && this.config.connectionIdLength > 0) {
      this.ownCid = this.config.newConnectionId ? this.config.newConnectionId() : this.random(this.config.connectionIdLength);
      this.peerCid = h.extensions.connectionId;
      ext.connectionId = this.ownCid;
    }
    return ext;
  }

  private serverHello(ext: Extensions): OutItem {
    if (this.suite.keyExchange !== 'psk' && this.hello.extensions.ecPointFormats) ext.ecPointFormats = [EC_POINT_FORMAT_UNCOMPRESSED];
    return this.out.message(
      HandshakeType.server_hello,
      encodeServerHello({ serverVersion: DTLS1_2, random: this.serverRandom, sessionId: this.sessionId, cipherSuite: this.suite.id, compressionMethod: 0, extensions: ext }),
    );
  }

  /** RFC 5246 §7.3 abbreviated handshake: ServerHello, ChangeCipherSpec, Finished. */
  private resume(h: ClientHello, s: DtlsSession, secureRenegotiation: boolean): StepResult {
    this.resumed = true;
    this.suite = suiteInfo(s.cipherSuite)!;
    this.sessionId = s.id;
    this.master = s.masterSecret;
    this.identity = s.identity;
    const ext = this.serverExtensions(h, secureRenegotiation);
    const flight: OutItem[] = [this.serverHello(ext)];
    const d = deriveCiphers(this.suite, this.master, h.random, this.serverRandom, false);
    this.ciphers = d;
    this.keys = d.keys;
    flight.push({ kind: 'ccs' });
    const verify = finishedVerifyData(this.master, 'server finished', this.transcript.hash());
    flight.push(this.out.message(HandshakeType.finished, verify));
    this.state = 'wait_change_cipher_spec';
    return { flight, writeCipher: this.ciphers.write };
  }

  // ------------------------------------------------------------------ client flight

  private async onCertificate(raw: Uint8Array, body: Uint8Array): Promise<StepResult> {
    if (this.clientCertType === CertificateType.RawPublicKey) {
      const spki = decodeRawPublicKeyCertificate(body);
      if (spki.length === 0) throw alert('handshake_failure', 'client sent no raw public key');
      this.peerKey = publicKeyOfSpki(spki);
      const verify = this.config.verifyRawPublicKey!;
      this.identity = await runVerifier(() => verify(spki));
    } else {
      const chain = decodeCertificate(body);
      // RFC 5246 §7.4.6: an empty Certificate when authentication is required is a handshake_failure.
      if (chain.length === 0) throw alert('handshake_failure', 'client sent no certificate');
      this.peerKey = publicKeyOfCertificate(chain[0]!);
      const verify = this.config.verifyCertificate!;
      const ctx: { serverName?: string } = {};
      if (this.hello.extensions.serverName !== undefined) ctx.serverName = this.hello.extensions.serverName;
      this.identity = await runVerifier(() => verify(chain, ctx));
    }
    this.transcript.add(raw);
    this.state = 'wait_client_key_exchange';
    return {};
  }

  /** The PSK for `name`, or (no oracle on which of identity or key is wrong) a random key for an unknown identity. */
  private pskFor(name: string, key: Uint8Array | undefined): Uint8Array {
    this.identity = { mode: 'psk', name };
    // An unknown identity gets a random key, and the handshake then fails at the Finished exactly as with a wrong key.
    return key && key.length > 0 ? key : this.random(16);
  }

  /** Synchronous when the PSK lookup is (no promise per handshake on the common path). */
  private onClientKeyExchange(raw: Uint8Array, body: Uint8Array): StepResult | Promise<StepResult> {
    switch (this.suite.keyExchange) {
      case 'psk': {
        const name = pskIdentityString(decodePskClientKeyExchange(body));
        const key = this.config.pskLookup!(name);
        if (isThenable(key)) return Promise.resolve(key).then((k) => this.keyExchanged(raw, pskPreMasterSecret(this.pskFor(name, k))));
        return this.keyExchanged(raw, pskPreMasterSecret(this.pskFor(name, key)));
      }
      case 'ecdhe_psk': {
        const { identity, point } = decodeEcdhePskClientKeyExchange(body);
        const z = ecdhSharedSecret(this.ecdh!, point);
        const name = pskIdentityString(identity);
        const key = this.config.pskLookup!(name);
        if (isThenable(key)) return Promise.resolve(key).then((k) => this.keyExchanged(raw, pskPreMasterSecret(this.pskFor(name, k), z)));
        return this.keyExchanged(raw, pskPreMasterSecret(this.pskFor(name, key), z));
      }
      case 'ecdhe_ecdsa':
        return this.keyExchanged(raw, ecdhSharedSecret(this.ecdh!, decodeEcdhClientKeyExchange(body)));
    }
  }

  private keyExchanged(raw: Uint8Array, preMaster: Uint8Array): StepResult {
    this.ecdh = undefined;
    this.transcript.add(raw);
    this.master = this.ems ? extendedMasterSecret(preMaster, this.transcript.hash()) : masterSecret(preMaster, this.hello.random, this.serverRandom);
    const d = deriveCiphers(this.suite, this.master, this.hello.random, this.serverRandom, false);
    this.ciphers = d;
    this.keys = d.keys;
    this.state = this.suite.keyExchange === 'ecdhe_ecdsa' ? 'wait_certificate_verify' : 'wait_change_cipher_spec';
    return {};
  }

  private onCertificateVerify(raw: Uint8Array, body: Uint8Array): StepResult {
    const cv = decodeDigitallySigned(body);
    if (cv.signatureScheme !== ECDSA_SHA256) throw alert('illegal_parameter', 'CertificateVerify algorithm not offered');
    // RFC 5246 §7.4.8: the signature covers every handshake message before this one.
    verifyEcdsa(this.peerKey!, this.transcript.messages, cv.signature);
    this.transcript.add(raw);
    this.state = 'wait_change_cipher_spec';
    return {};
  }

  private onFinished(raw: Uint8Array, body: Uint8Array): StepResult {
    const got = decodeFinished(body);
    const expected = finishedVerifyData(this.master, 'client finished', this.transcript.hash());
    if (!timingSafeEqual(got, expected)) throw alert('decrypt_error', 'client Finished does not verify');
    this.transcript.add(raw);
    this.state = 'established';
    // Own small copies: the session outlives the handshake (cache, association, export).
    const session: DtlsSession = { id: this.resumed ? this.sessionId : own(this.sessionId), masterSecret: this.resumed ? this.master : own(this.master), cipherSuite: this.suite.id, extendedMasterSecret: this.ems };
    if (this.identity) session.identity = this.identity;
    if (!this.resumed) this.config.sessionCache?.set(session);
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
    if (this.resumed) return { established };
    const verify = finishedVerifyData(this.master, 'server finished', this.transcript.hash());
    const flight: OutItem[] = [{ kind: 'ccs' }, this.out.message(HandshakeType.finished, verify)];
    return { flight, final: true, writeCipher: this.ciphers.write, established };
  }
}


function isThenable<T>(v: T | Promise<T>): v is Promise<T> {
  return typeof (v as { then?: unknown } | undefined)?.then === 'function';
}

function own(b: Uint8Array): Uint8Array {
  const c = new Uint8Array(b.length);
  c.set(b);
  return c;
}
