/**
 * Queue mode (LwM2M 1.1 Transport §6.5 / Core §6.5): a queue-mode device listens only for a while
 * after it sent something. Requests for a sleeping device wait here until it wakes or they time out.
 */

interface Waiter {
  resolve: () => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export class SleepTracker {
  private readonly lastUplink = new Map<string, number>();
  private readonly sleeping = new Set<string>();
  private readonly waiters = new Map<string, Waiter[]>();

  /** `awakeTime`: how long a device listens after its last message (default CoAP MAX_TRANSMIT_WAIT, 93 s). */
  constructor(private readonly awakeTime = 93_000) {}

  /** The device sent something: it is awake now. Returns true if it was asleep. */
  heard(endpoint: string, now: number): boolean {
    this.lastUplink.set(endpoint, now);
    const wasAsleep = this.sleeping.delete(endpoint);
    const waiting = this.waiters.get(endpoint);
    if (waiting) {
      this.waiters.delete(endpoint);
      for (const w of waiting) {
        clearTimeout(w.timer);
        w.resolve();
      }
    }
    return wasAsleep;
  }

  isAwake(endpoint: string, now: number): boolean {
    const t = this.lastUplink.get(endpoint);
    return t !== undefined && now - t < this.awakeTime && !this.sleeping.has(endpoint);
  }

  /** Resolves when the device next wakes, or rejects with `onTimeout()` after `timeoutMs`. */
  waitAwake(endpoint: string, timeoutMs: number, onTimeout: () => Error): Promise<void> {
    return new Promise((resolve, reject) => {
      const list = this.waiters.get(endpoint) ?? [];
      const waiter: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          const l = this.waiters.get(endpoint);
          if (l) {
            const i = l.indexOf(waiter);
            if (i >= 0) l.splice(i, 1);
            if (l.length === 0) this.waiters.delete(endpoint);
          }
          reject(onTimeout());
        }, timeoutMs),
      };
      list.push(waiter);
      this.waiters.set(endpoint, list);
    });
  }

  /** Marks devices whose awake time ran out as sleeping; returns their endpoints. */
  sweep(now: number): string[] {
    const fellAsleep: string[] = [];
    for (const [ep, t] of this.lastUplink) {
      if (now - t >= this.awakeTime && !this.sleeping.has(ep)) {
        this.sleeping.add(ep);
        fellAsleep.push(ep);
      }
    }
    return fellAsleep;
  }

  /** The device is gone: fail its waiting requests. */
  forget(endpoint: string, reason: () => Error): void {
    this.lastUplink.delete(endpoint);
    this.sleeping.delete(endpoint);
    const waiting = this.waiters.get(endpoint);
    this.waiters.delete(endpoint);
    for (const w of waiting ?? []) {
      clearTimeout(w.timer);
      w.reject(reason());
    }
  }

  isSleeping(endpoint: string): boolean {
    return this.sleeping.has(endpoint);
  }

  close(): void {
    for (const ep of [...this.waiters.keys()]) this.forget(ep, () => new Error('server closed'));
  }
}
