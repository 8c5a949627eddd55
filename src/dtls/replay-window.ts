/** The anti-replay sliding window of RFC 6347 §4.1.2.6 (64 records, as RFC 4303 §3.4.3). */

const WINDOW = 64;

/**
 * Tracks which sequence numbers of one epoch were received. `check` before decrypting (cheap rejection),
 * `accept` only after the record authenticated, so forged records cannot move the window.
 */
export class ReplayWindow {
  /** Highest sequence number accepted, -1 before the first. */
  private top = -1;
  /** Bit i set = (top - i) received. Two 32-bit halves keep it in small integers. */
  private lo = 0;
  private hi = 0;

  /** True when `seq` is new and inside (or ahead of) the window. */
  check(seq: number): boolean {
    if (seq > this.top) return true;
    const d = this.top - seq;
    if (d >= WINDOW) return false;
    return d < 32 ? ((this.lo >>> d) & 1) === 0 : ((this.hi >>> (d - 32)) & 1) === 0;
  }

  /** Marks `seq` received (call after authentication). */
  accept(seq: number): void {
    if (seq > this.top) {
      const shift = this.top < 0 ? WINDOW : seq - this.top;
      if (shift >= WINDOW) {
        this.lo = 0;
        this.hi = 0;
      } else if (shift >= 32) {
        this.hi = (this.lo << (shift - 32)) >>> 0;
        this.lo = 0;
      } else {
        this.hi = ((this.hi << shift) | (this.lo >>> (32 - shift))) >>> 0;
        this.lo = (this.lo << shift) >>> 0;
      }
      this.lo = (this.lo | 1) >>> 0;
      this.top = seq;
      return;
    }
    const d = this.top - seq;
    if (d >= WINDOW) return;
    if (d < 32) this.lo = (this.lo | (1 << d)) >>> 0;
    else this.hi = (this.hi | (1 << (d - 32))) >>> 0;
  }

  /** The highest accepted sequence number (-1 if none). */
  get highest(): number {
    return this.top;
  }

  /** State for serialization: [top, lo, hi]. */
  toJSON(): [number, number, number] {
    return [this.top, this.lo, this.hi];
  }

  static fromJSON(s: [number, number, number]): ReplayWindow {
    const w = new ReplayWindow();
    w.top = s[0];
    w.lo = s[1] >>> 0;
    w.hi = s[2] >>> 0;
    return w;
  }
}
