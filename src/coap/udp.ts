import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import type { PeerAddress, PeerIdentity, Transport } from './types.js';

type DatagramHandler = (datagram: Uint8Array, peer: PeerAddress, identity?: PeerIdentity) => void;

/**
 * Receive and send buffer of a server's socket. Linux's default (about 208 KiB) overflows when a thousand devices
 * send at once, and every datagram dropped there costs its device a retransmission timeout (2 s and more). The
 * kernel caps the value at net.core.rmem_max / wmem_max.
 */
export const SERVER_SOCKET_BUFFER = 4 * 1024 * 1024;

/**
 * A UDP socket bound on `host:port` (port 0 = ephemeral; host undefined = any address), udp6 when `family` (an
 * address of the family wanted) contains ':', with `bufferBytes` socket buffers when given. Rejects with the bind
 * error (e.g. EADDRINUSE).
 */
export function bindUdpSocket(port: number, host: string | undefined, family: string, bufferBytes?: number): Promise<Socket> {
  const socket = createSocket({ type: family.includes(':') ? 'udp6' : 'udp4' });
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    socket.once('error', onError);
    socket.bind(port, host, () => {
      socket.off('error', onError);
      if (bufferBytes !== undefined) {
        try {
          socket.setRecvBufferSize(bufferBytes);
          socket.setSendBufferSize(bufferBytes);
        } catch {
          // A smaller buffer only costs retransmissions under load.
        }
      }
      resolve(socket);
    });
  });
}

/** Plain UDP transport for a CoapEndpoint (udp4, or udp6 when the host contains ':'). */
export class UdpTransport implements Transport {
  private handler: DatagramHandler | undefined;
  private closed = false;

  private constructor(private readonly socket: Socket) {
    socket.on('message', (msg: Buffer, rinfo: RemoteInfo) => {
      const h = this.handler;
      if (h) h(msg, { address: rinfo.address, port: rinfo.port, family: rinfo.family as 'IPv4' | 'IPv6' });
    });
    // ICMP errors and the like must never crash the process
    socket.on('error', () => {});
  }

  /** Bind a socket on `host:port` (port 0 = ephemeral); a server's socket gets SERVER_SOCKET_BUFFER buffers. */
  static async bind(port: number, host = '0.0.0.0', role: 'server' | 'client' = 'client'): Promise<UdpTransport> {
    return new UdpTransport(await bindUdpSocket(port, host, host, role === 'server' ? SERVER_SOCKET_BUFFER : undefined));
  }

  /** The bound local address. */
  address(): { address: string; port: number } {
    const a = this.socket.address();
    return { address: a.address, port: a.port };
  }

  send(datagram: Uint8Array, peer: PeerAddress): void {
    if (this.closed) return;
    this.socket.send(datagram, peer.port, peer.address);
  }

  onDatagram(handler: DatagramHandler): void {
    this.handler = handler;
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}
