/**
 * Test support: a UDP relay between one client and a server on loopback that can drop, duplicate,
 * delay (reorder) and record datagrams, and inject datagrams toward the server from the relay's address.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';

export type Direction = 'up' | 'down';
/** pass, drop, dup (send twice), hold (send after the next datagram in the same direction). */
export type Verdict = 'pass' | 'drop' | 'dup' | 'hold';
export type Policy = (dir: Direction, datagram: Buffer, index: number) => Verdict;

function bind(): Promise<Socket> {
  const s = createSocket('udp4');
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.bind(0, '127.0.0.1', () => {
      s.off('error', reject);
      resolve(s);
    });
  });
}

export class UdpProxy {
  readonly up: Buffer[] = [];
  readonly down: Buffer[] = [];
  policy: Policy = () => 'pass';
  private client: RemoteInfo | undefined;
  private readonly held: Record<Direction, Buffer | undefined> = { up: undefined, down: undefined };

  private constructor(
    private readonly front: Socket,
    private readonly back: Socket,
    private readonly target: { address: string; port: number },
  ) {
    front.on('message', (msg, rinfo) => {
      this.client = rinfo;
      this.forward('up', msg);
    });
    back.on('message', (msg, rinfo) => {
      if (rinfo.port === target.port) this.forward('down', msg);
    });
  }

  /** A relay in front of `target`; clients connect to `port`. */
  static async start(target: { address: string; port: number }): Promise<UdpProxy> {
    return new UdpProxy(await bind(), await bind(), target);
  }

  /** Where clients send. */
  get port(): number {
    return this.front.address().port;
  }

  /** The address the server sees the client at. */
  get backPort(): number {
    return this.back.address().port;
  }

  private emit(dir: Direction, msg: Buffer): void {
    if (dir === 'up') this.back.send(msg, this.target.port, this.target.address);
    else if (this.client) this.front.send(msg, this.client.port, this.client.address);
  }

  private forward(dir: Direction, msg: Buffer): void {
    const list = dir === 'up' ? this.up : this.down;
    const v = this.policy(dir, msg, list.length);
    list.push(msg);
    if (v === 'drop') return;
    if (v === 'hold' && !this.held[dir]) {
      this.held[dir] = msg;
      return;
    }
    this.emit(dir, msg);
    if (v === 'dup') this.emit(dir, msg);
    const h = this.held[dir];
    if (h) {
      this.held[dir] = undefined;
      this.emit(dir, h);
    }
  }

  /** Sends a datagram to the server from the relay's (the client's) address. */
  inject(datagram: Uint8Array): void {
    this.back.send(datagram, this.target.port, this.target.address);
  }

  async close(): Promise<void> {
    await Promise.all([new Promise<void>((r) => this.front.close(() => r())), new Promise<void>((r) => this.back.close(() => r()))]);
  }
}
