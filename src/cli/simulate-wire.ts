/**
 * Worker-process instrumentation of the simulated devices' wire: datagram loss and message counters.
 *
 * A worker process runs nothing but simulated devices, and the client has no hook below its DTLS layer (DtlsClient
 * binds its own socket), so both are installed process-wide, once, in the worker only:
 * - loss: each datagram a device sends or receives on any UDP socket of the process is dropped with probability
 *   `loss` (dgram `send` and `'message'` delivery), below DTLS, so CoAP (RFC 7252 §4.2) and DTLS (RFC 6347 §4.2.4)
 *   retransmissions have to cope;
 * - counters: the CoAP messages the devices send in the clear (UdpTransport) or into DTLS (DtlsLink) are classified
 *   by their header (responses to the server's requests, notifications), and completed DTLS handshakes are counted.
 */
import { Socket } from 'node:dgram';
import { DtlsLink } from '../client/index.js';
import { UdpTransport, type PeerAddress } from '../coap/index.js';
import { DtlsClient, type DtlsClientOptions } from '../dtls/index.js';

/** What the instrumentation counts. */
export interface WireCounters {
  dropped: number;
  /** Responses sent to requests from a server (piggybacked or separate). */
  requests: number;
  /** Observe notifications sent (CON or NON responses carrying Observe, RFC 7641 §4.2). */
  notifications: number;
  handshakes: number;
}

const OBSERVE = 6;

/** True when the CoAP message in `d` (header already checked) carries the Observe option. */
function hasObserve(d: Uint8Array): boolean {
  let i = 4 + (d[0]! & 0x0f);
  let number = 0;
  while (i < d.length) {
    const b = d[i++]!;
    if (b === 0xff) return false;
    let delta = b >> 4;
    let len = b & 0x0f;
    if (delta === 13) delta = 13 + d[i++]!;
    else if (delta === 14) (delta = 269 + ((d[i]! << 8) | d[i + 1]!)), (i += 2);
    else if (delta === 15) return false;
    if (len === 13) len = 13 + d[i++]!;
    else if (len === 14) (len = 269 + ((d[i]! << 8) | d[i + 1]!)), (i += 2);
    number += delta;
    if (number === OBSERVE) return true;
    if (number > OBSERVE) return false;
    i += len;
  }
  return false;
}

/** Installs loss (when `loss` > 0) and the counters in this process. Call once, in a worker. */
export function instrumentWire(loss: number, random: () => number, counters: WireCounters): void {
  // Message ID of the last response counted per transport: a retransmitted CON is the same message (RFC 7252 §4.5).
  const lastMid = new WeakMap<object, number>();
  const count = (transport: object, d: Uint8Array): void => {
    if (d.length < 4 || d[1]! < 0x40) return; // requests (0.xx) and empty messages
    const mid = (d[2]! << 8) | d[3]!;
    if (lastMid.get(transport) === mid) return;
    lastMid.set(transport, mid);
    const type = (d[0]! >> 4) & 3;
    if (type < 2 && hasObserve(d)) counters.notifications++;
    else counters.requests++;
  };

  const udpSend = UdpTransport.prototype.send;
  UdpTransport.prototype.send = function (this: UdpTransport, datagram: Uint8Array, peer: PeerAddress): void {
    count(this, datagram);
    udpSend.call(this, datagram, peer);
  };
  const linkSend = DtlsLink.prototype.send;
  DtlsLink.prototype.send = function (this: DtlsLink, datagram: Uint8Array, peer: PeerAddress): void {
    count(this, datagram);
    linkSend.call(this, datagram, peer);
  };
  const connect = DtlsClient.connect.bind(DtlsClient);
  DtlsClient.connect = async (peer: PeerAddress, opts: DtlsClientOptions): Promise<DtlsClient> => {
    const client = await connect(peer, opts);
    counters.handshakes++;
    return client;
  };

  if (loss <= 0) return;
  const proto = Socket.prototype as unknown as {
    send: (...args: unknown[]) => void;
    emit: (event: string | symbol, ...args: unknown[]) => boolean;
  };
  const send = proto.send;
  proto.send = function (this: Socket): void {
    if (random() < loss) {
      counters.dropped++;
      // The datagram "left": its callback still runs, as for a datagram lost on the way.
      const cb: unknown = arguments[arguments.length - 1];
      if (typeof cb === 'function') process.nextTick(cb as (err: Error | null, bytes: number) => void, null, 0);
      return;
    }
    // eslint-disable-next-line prefer-rest-params
    send.apply(this, arguments as unknown as unknown[]);
  };
  const emit = proto.emit;
  proto.emit = function (this: Socket, event: string | symbol): boolean {
    if (event === 'message' && random() < loss) {
      counters.dropped++;
      return false;
    }
    // eslint-disable-next-line prefer-rest-params
    return emit.apply(this, arguments as unknown as [string | symbol, ...unknown[]]);
  };
}
