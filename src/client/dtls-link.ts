/**
 * The client's CoAPs transport: one DtlsClient at a time under a stable Transport, so the CoAP endpoint stays the
 * same while the association is re-established (after the server lost it, or with new credentials).
 */
import type { PeerAddress, PeerIdentity, Transport } from '../coap/index.js';
import { DtlsClient, type DtlsClientOptions } from '../dtls/index.js';

type DatagramHandler = (datagram: Uint8Array, peer: PeerAddress, identity?: PeerIdentity) => void;

export class DtlsLink implements Transport {
  private client: DtlsClient | undefined;
  private handler: DatagramHandler | undefined;
  private stale = false;
  private lostReported = false;
  private closed = false;
  private gen = 0;

  /**
   * `options` is called at each connect (the Security object may have changed); `onLost` is called once per
   * association when it is found dead: a send after the server ended it (alert, close_notify) or a timeout.
   */
  constructor(
    private readonly peer: PeerAddress,
    private readonly options: () => DtlsClientOptions,
    private readonly onLost: () => void,
  ) {}

  /** True while an association is up and not suspected lost. */
  get usable(): boolean {
    return this.client !== undefined && this.client.established && !this.stale;
  }

  /** Counts associations: a request remembers the one it went out on (see `suspect`). */
  get generation(): number {
    return this.gen;
  }

  /** The current DtlsClient (suite, CID, peer identity), if connected. */
  get current(): DtlsClient | undefined {
    return this.client;
  }

  /** Closes the current association (close_notify) and runs a new handshake; rejects with a DtlsAlert or timeout. */
  async connect(): Promise<void> {
    if (this.closed) throw new Error('DTLS link closed');
    const options = this.options();
    const old = this.client;
    this.client = undefined;
    if (old) await old.close();
    const client = await DtlsClient.connect(this.peer, options);
    if (this.closed) {
      await client.close();
      throw new Error('DTLS link closed');
    }
    this.client = client;
    this.stale = false;
    this.lostReported = false;
    this.gen++;
    if (this.handler) client.onDatagram(this.handler);
  }

  /** No answer over association `generation` (the server may have lost it): reconnect before the next Register. */
  suspect(generation: number): void {
    if (generation !== this.gen || this.client === undefined) return;
    this.lost();
  }

  private lost(): void {
    this.stale = true;
    if (this.lostReported) return;
    this.lostReported = true;
    this.onLost();
  }

  /** Moves the association to a new local port (NAT rebinding; the server follows thanks to the CID). */
  async rebind(): Promise<void> {
    if (!this.client) throw new Error('no DTLS association to rebind');
    await this.client.rebind();
  }

  localAddress(): { address: string; port: number } | undefined {
    return this.client?.localAddress();
  }

  send(datagram: Uint8Array, _peer: PeerAddress): void {
    const client = this.client;
    if (!client || this.closed) return;
    if (client.established) client.send(datagram);
    else this.lost();
  }

  onDatagram(handler: DatagramHandler): void {
    this.handler = handler;
    this.client?.onDatagram(handler);
  }

  /** Sends close_notify and closes the socket. */
  async close(): Promise<void> {
    this.closed = true;
    const client = this.client;
    this.client = undefined;
    await client?.close();
  }
}
