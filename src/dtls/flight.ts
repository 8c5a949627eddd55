/**
 * Flight buffering and the retransmission timer of RFC 6347 §4.2.4: the last flight sent is kept and
 * resent when the timer fires (the timer doubling each time, up to 60 s) or when the peer retransmits its
 * previous flight, until the peer's next flight arrives.
 *
 * Timer values: RFC 6347 §4.2.4.1 recommends an initial 1 s. RFC 7925 §11 (the IoT profile) notes that
 * constrained networks with long round trips see spurious retransmissions with 1 s and recommends an
 * initial timer of 9 s, doubling up to no less than 60 s. Warden's default is 1 s (loopback, LAN and
 * cellular round trips are well below it); deployments over slow radio links should pass
 * `retransmitInitial: 9000`.
 */
import type { Clock } from '../coap/clock.js';

/** One item of a flight: a whole handshake message or a ChangeCipherSpec, in the epoch it was first sent in. */
export interface FlightItem {
  contentType: number;
  epoch: number;
  /** Unfragmented handshake message (header + body), or the CCS byte. */
  data: Uint8Array;
  msgType?: number;
}

export const DEFAULT_RETRANSMIT_INITIAL = 1000;
export const MAX_RETRANSMIT_TIMEOUT = 60_000;
/** Retransmissions before the handshake is given up. */
export const DEFAULT_MAX_RETRANSMISSIONS = 6;

export interface FlightTimerOptions {
  clock: Clock;
  initial?: number;
  maxRetransmissions?: number;
  /** Sends (or resends) the flight. */
  transmit: (items: readonly FlightItem[]) => void;
  /** Called when retransmissions are exhausted. */
  onGiveUp: () => void;
}

/** The flight in the air and its timer. */
export class FlightTimer {
  private items: readonly FlightItem[] = [];
  private handle: unknown;
  private timeout: number;
  private attempts = 0;
  private readonly initial: number;
  private readonly maxRetransmissions: number;

  constructor(private readonly opts: FlightTimerOptions) {
    this.initial = opts.initial ?? DEFAULT_RETRANSMIT_INITIAL;
    this.timeout = this.initial;
    this.maxRetransmissions = opts.maxRetransmissions ?? DEFAULT_MAX_RETRANSMISSIONS;
  }

  /** The buffered flight. */
  get flight(): readonly FlightItem[] {
    return this.items;
  }

  /** Current timer value (ms). */
  get currentTimeout(): number {
    return this.timeout;
  }

  /**
   * Sends a new flight. `expectReply` false for the final flight of a handshake: it is kept for
   * retransmission on the peer's request but no timer runs (RFC 6347 §4.2.4, FINISHED state).
   */
  send(items: readonly FlightItem[], expectReply = true): void {
    this.stop();
    this.items = items;
    this.timeout = this.initial;
    this.attempts = 0;
    this.opts.transmit(items);
    if (expectReply) this.arm();
  }

  /** Resends the buffered flight now (the peer repeated its previous flight). */
  retransmit(): void {
    if (this.items.length > 0) this.opts.transmit(this.items);
  }

  private arm(): void {
    this.handle = this.opts.clock.setTimeout(() => this.fire(), this.timeout);
    (this.handle as { unref?: () => void }).unref?.();
  }

  private fire(): void {
    this.handle = undefined;
    if (this.attempts >= this.maxRetransmissions) {
      this.opts.onGiveUp();
      return;
    }
    this.attempts++;
    this.timeout = Math.min(this.timeout * 2, MAX_RETRANSMIT_TIMEOUT);
    this.opts.transmit(this.items);
    this.arm();
  }

  /** Stops the timer (the peer's next flight arrived); the flight stays buffered. */
  stop(): void {
    if (this.handle !== undefined) this.opts.clock.clearTimeout(this.handle);
    this.handle = undefined;
  }

  /** Stops the timer and forgets the flight. */
  clear(): void {
    this.stop();
    this.items = [];
  }
}
