/** DtlsClient: a DTLS 1.2 client transport talking to one server. */
import type { RemoteInfo, Socket } from 'node:dgram';
import { isIP } from 'node:net';
import { systemClock, type Clock } from '../coap/clock.js';
import { bindUdpSocket } from '../coap/udp.js';
import type { PeerAddress, Transport } from '../coap/types.js';
import { silentLogger, type Logger } from '../log.js';
import { Association, DEFAULT_MTU } from './association.js';
import { suiteInfo } from './cipher.js';
import { ClientHandshake, type ClientHandshakeConfig } from './client-handshake.js';
import { spkiOf } from './kex.js';
import { decodeRecords } from './record.js';
import type { DtlsSession } from './session.js';
import { CipherSuite, type CertificateCredential, type CertificateVerifier, type PeerIdentity, type RawPublicKeyCredential, type RawPublicKeyVerifier } from './types.js';

export interface DtlsClientOptions {
  psk?: { identity: string | Uint8Array; key: Uint8Array };
  certificate?: CertificateCredential;
  rawPublicKey?: RawPublicKeyCredential;
  verifyCertificate?: CertificateVerifier;
  verifyRawPublicKey?: RawPublicKeyVerifier;
  /** SNI (RFC 6066), also passed to verifyCertificate. */
  serverName?: string;
  /** Negotiate a Connection ID (RFC 9146) so the association survives an address change. */
  connectionId?: boolean;
  /** Default: CCM_8 and GCM suites for the credentials given; CBC suites only when listed. */
  cipherSuites?: number[];
  /** A session from `session()` of an earlier client, to resume (abbreviated handshake). */
  session?: DtlsSession;
  /** Initial retransmission timer in ms (RFC 6347 §4.2.4.1: 1 s; RFC 7925 §11 recommends 9 s on slow radio links). */
  retransmitInitial?: number;
  /** Retransmissions before the handshake fails (default 6: 1+2+4+8+16+32+60 s with the 1 s default). */
  maxRetransmissions?: number;
  mtu?: number;
  logger?: Logger;
  clock?: Clock;
  /** Local address to bind (default any). */
  localAddress?: string;
  maxFailedDecryptions?: number;
}

type DatagramHandler = (datagram: Uint8Array, peer: PeerAddress, identity?: PeerIdentity) => void;

/** The default client suites for the credentials in `opts`. */
export function defaultClientSuites(opts: DtlsClientOptions): number[] {
  const out: number[] = [];
  if (opts.verifyCertificate || opts.verifyRawPublicKey) out.push(CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8, CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256);
  if (opts.psk) out.push(CipherSuite.TLS_PSK_WITH_AES_128_CCM_8, CipherSuite.TLS_PSK_WITH_AES_128_GCM_SHA256);
  return out;
}

export class DtlsClient implements Transport {
  private handler: DatagramHandler | undefined;
  private closed = false;
  private readonly pendingBeforeHandler: Uint8Array[] = [];
  private inflight = 0;
  private drained: (() => void) | undefined;

  private constructor(
    private socket: Socket,
    private readonly association: Association,
    private readonly server: PeerAddress,
    private readonly opts: DtlsClientOptions,
  ) {}

  /** Binds a local socket and runs the handshake with `peer`; rejects with a DtlsAlert or a timeout error. */
  static async connect(peer: PeerAddress, opts: DtlsClientOptions): Promise<DtlsClient> {
    const suites = opts.cipherSuites ?? defaultClientSuites(opts);
    if (suites.length === 0) throw new Error('DtlsClient: no cipher suite for the credentials given');
    for (const s of suites) if (!suiteInfo(s)) throw new Error(`unsupported cipher suite 0x${s.toString(16)}`);
    const config: ClientHandshakeConfig = {
      cipherSuites: suites,
      ...(opts.psk ? { psk: opts.psk } : {}),
      ...(opts.certificate ? { certificate: opts.certificate } : {}),
      ...(opts.rawPublicKey ? { rawPublicKey: { privateKey: opts.rawPublicKey.privateKey, spki: spkiOf(opts.rawPublicKey.privateKey) } } : {}),
      ...(opts.verifyCertificate ? { verifyCertificate: opts.verifyCertificate } : {}),
      ...(opts.verifyRawPublicKey ? { verifyRawPublicKey: opts.verifyRawPublicKey } : {}),
      ...(opts.serverName !== undefined ? { serverName: opts.serverName } : {}),
      ...(opts.connectionId ? { connectionId: true } : {}),
      ...(opts.session ? { session: opts.session } : {}),
    };
    const socket = await bindUdpSocket(0, opts.localAddress, peer.address);
    const machine = new ClientHandshake(config);
    let client!: DtlsClient;
    const logger = (opts.logger ?? silentLogger).child({ layer: 'dtls-client' });
    return new Promise<DtlsClient>((resolve, reject) => {
      let settled = false;
      const association = new Association(
        {
          isClient: true,
          peer,
          clock: opts.clock ?? systemClock,
          logger,
          mtu: opts.mtu ?? DEFAULT_MTU,
          send: (d, p) => client.transmit(d, p),
          ...(opts.retransmitInitial !== undefined ? { retransmitInitial: opts.retransmitInitial } : {}),
          ...(opts.maxRetransmissions !== undefined ? { maxRetransmissions: opts.maxRetransmissions } : {}),
          ...(opts.maxFailedDecryptions !== undefined ? { maxFailedDecryptions: opts.maxFailedDecryptions } : {}),
          onEstablished: () => {
            settled = true;
            resolve(client);
          },
          onHandshakeFailure: (_a, err) => {
            if (settled) return;
            settled = true;
            void client.closeSocket();
            reject(err);
          },
          onClose: (_a, reason) => {
            logger.debug({ reason: reason?.message }, 'DTLS association closed');
          },
          onApplicationData: (data) => client.deliver(data),
        },
        machine,
      );
      client = new DtlsClient(socket, association, peer, opts);
      client.listen();
      association.begin(() => machine.start());
    });
  }

  private transmit(d: Uint8Array, p: PeerAddress): void {
    if (this.closed) return;
    this.inflight++;
    this.socket.send(d, p.port, p.address, () => {
      if (--this.inflight === 0) this.drained?.();
    });
  }

  private listen(): void {
    const s = this.socket;
    s.on('message', (msg: Buffer, rinfo: RemoteInfo) => {
      if (s !== this.socket || this.closed) return;
      if (rinfo.port !== this.server.port || (isIP(this.server.address) && rinfo.address !== this.server.address)) return;
      let records;
      try {
        records = decodeRecords(msg, this.association.conn.ownCid.length);
      } catch {
        return;
      }
      this.association.receive(records, this.server);
    });
    s.on('error', () => {});
  }

  private deliver(data: Uint8Array): void {
    if (this.handler) this.handler(data, this.server, this.association.conn.identity);
    else if (this.pendingBeforeHandler.length < 16) this.pendingBeforeHandler.push(data);
  }

  onDatagram(handler: DatagramHandler): void {
    this.handler = handler;
    for (const d of this.pendingBeforeHandler.splice(0)) handler(d, this.server, this.association.conn.identity);
  }

  /** Encrypts and sends `datagram` to the server (`peer` is ignored: one server per client). */
  send(datagram: Uint8Array, _peer?: PeerAddress): void {
    if (this.closed) return;
    this.association.sendApplicationData(datagram);
  }

  /** True while the association is up. */
  get established(): boolean {
    return this.association.established;
  }

  /** The session to pass as `session` to a later connect, for an abbreviated handshake. */
  session(): DtlsSession | undefined {
    const s = this.association.result?.session;
    return s && s.id.length > 0 ? s : undefined;
  }

  /** Who the server proved to be (certificate / raw key modes). */
  get peerIdentity(): PeerIdentity | undefined {
    return this.association.conn.identity;
  }

  /** IANA name of the negotiated suite. */
  get cipherSuite(): string | undefined {
    return this.association.result?.suite.name;
  }

  get resumed(): boolean {
    return this.association.result?.resumed ?? false;
  }

  /** The CID we put in records to the server (RFC 9146), if negotiated. */
  get connectionId(): Uint8Array | undefined {
    const c = this.association.conn.peerCid;
    return c.length > 0 ? c : undefined;
  }

  /** The local address of the current socket. */
  localAddress(): { address: string; port: number } {
    const a = this.socket.address();
    return { address: a.address, port: a.port };
  }

  /** Moves to a new local UDP socket (a new source port), keeping the association (NAT rebinding, CID). */
  async rebind(): Promise<void> {
    if (this.closed) return;
    const old = this.socket;
    this.socket = await bindUdpSocket(0, this.opts.localAddress, this.server.address);
    this.listen();
    await new Promise<void>((resolve) => old.close(() => resolve()));
  }

  /** Sends close_notify and closes the socket. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.association.close();
    await this.closeSocket();
  }

  private async closeSocket(): Promise<void> {
    if (this.closed) return;
    if (this.inflight > 0) await new Promise<void>((resolve) => (this.drained = resolve));
    this.closed = true;
    this.association.fail(new Error('closed'), false);
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
  }
}
