/**
 * Login throttling, in memory: each client address gets `perAddress` attempts per `windowMs`; a user name is locked
 * for `lockoutMs` after `maxFailures` failed attempts in a row (a correct password is refused too while locked, so
 * the lock is no oracle); and at most `maxConcurrent` password checks (scrypt) run at once. Tables are bounded: the
 * oldest entry makes room, so a flood from many addresses costs memory no larger than `maxEntries`.
 */

export interface LoginLimits {
  perAddress: number;
  windowMs: number;
  maxFailures: number;
  lockoutMs: number;
  maxConcurrent: number;
  maxEntries: number;
}

export const DEFAULT_LOGIN_LIMITS: LoginLimits = {
  perAddress: 10, windowMs: 60_000, maxFailures: 5, lockoutMs: 15 * 60_000, maxConcurrent: 4, maxEntries: 10_000,
};

/** Why an attempt was refused before the password was checked. */
export type LoginRefusal = { reason: 'address' | 'locked' | 'busy'; retryAfterMs: number };

interface Window { start: number; count: number }
interface Failures { count: number; last: number; lockedUntil: number }

export class LoginLimiter {
  readonly limits: LoginLimits;
  private readonly now: () => number;
  private readonly addresses = new Map<string, Window>();
  private readonly users = new Map<string, Failures>();
  private inFlight = 0;

  constructor(limits: Partial<LoginLimits> = {}, now: () => number = Date.now) {
    this.limits = { ...DEFAULT_LOGIN_LIMITS, ...limits };
    this.now = now;
  }

  /** Admits one attempt (and counts it against the address) or says why not. Call `done` after an admitted one. */
  admit(address: string, username: string): LoginRefusal | undefined {
    const now = this.now();
    const L = this.limits;
    let w = this.addresses.get(address);
    if (w === undefined || now - w.start >= L.windowMs) {
      w = { start: now, count: 0 };
      this.addresses.delete(address);
      bounded(this.addresses, L.maxEntries).set(address, w);
    }
    if (w.count >= L.perAddress) return { reason: 'address', retryAfterMs: w.start + L.windowMs - now };
    w.count++;
    const f = this.users.get(username);
    if (f !== undefined && f.lockedUntil > now) return { reason: 'locked', retryAfterMs: f.lockedUntil - now };
    if (this.inFlight >= L.maxConcurrent) return { reason: 'busy', retryAfterMs: 1000 };
    this.inFlight++;
    return undefined;
  }

  /** Ends an admitted attempt: a failure counts toward the user's lockout, a success clears it. */
  done(username: string, ok: boolean): void {
    this.inFlight = Math.max(0, this.inFlight - 1);
    if (ok) {
      this.users.delete(username);
      return;
    }
    const now = this.now();
    const L = this.limits;
    let f = this.users.get(username);
    // Failures spaced more than a lockout period apart start the count again.
    if (f === undefined || now - f.last >= L.lockoutMs) {
      f = { count: 0, last: now, lockedUntil: 0 };
      this.users.delete(username);
      bounded(this.users, L.maxEntries).set(username, f);
    }
    f.count++;
    f.last = now;
    if (f.count >= L.maxFailures) {
      f.lockedUntil = now + L.lockoutMs;
      f.count = 0;
    }
  }

  /** True while `username` is locked out. */
  isLocked(username: string): boolean {
    const f = this.users.get(username);
    return f !== undefined && f.lockedUntil > this.now();
  }
}

/** Makes room for one more entry by dropping the oldest (Maps iterate in insertion order). */
function bounded<K, V>(m: Map<K, V>, max: number): Map<K, V> {
  while (m.size >= max) m.delete(m.keys().next().value as K);
  return m;
}
