import type { PeerAddress, PeerIdentity, Transport } from './types.js';

type DatagramHandler = (datagram: Uint8Array, peer: PeerAddress, identity?: PeerIdentity) => void;

/**
 * An in-memory datagram transport for tests: pairs deliver to each other on a microtask.
 * `filter` can drop (return false) or watch datagrams; `sent` records every datagram sent.
 */
export class MemoryTransport implements Transport {
  /** Everything this side sent, in order. */
  readonly sent: Uint8Array[] = [];
  /** Return false to drop an outgoing datagram (loss simulation). */
  filter: ((datagram: Uint8Array, to: PeerAddress) => boolean) | undefined;
  peer: MemoryTransport | undefined;
  private handler: DatagramHandler | undefined;
  closed = false;

  constructor(readonly address: PeerAddress) {}

  /** Two transports wired to each other, addressed 127.0.0.1:1 and 127.0.0.1:2. */
  static pair(): [MemoryTransport, MemoryTransport] {
    const a = new MemoryTransport({ address: '127.0.0.1', port: 1, family: 'IPv4' });
    const b = new MemoryTransport({ address: '127.0.0.1', port: 2, family: 'IPv4' });
    a.peer = b;
    b.peer = a;
    return [a, b];
  }

  send(datagram: Uint8Array, to: PeerAddress): void {
    if (this.closed) return;
    this.sent.push(datagram);
    if (this.filter && !this.filter(datagram, to)) return;
    const target = this.peer;
    const from = this.address;
    if (!target) return;
    queueMicrotask(() => target.deliver(datagram, from));
  }

  /** Hand a datagram to this side's endpoint as if it came from `from`. */
  deliver(datagram: Uint8Array, from: PeerAddress): void {
    if (!this.closed && this.handler) this.handler(datagram, from);
  }

  onDatagram(handler: DatagramHandler): void {
    this.handler = handler;
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}
