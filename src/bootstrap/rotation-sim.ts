/**
 * A simulated fleet for rotation tests and benchmarks: devices that behave like the Warden client towards a
 * rotation (Bootstrap-Request Trigger, bootstrap with rollback, re-registration with what they hold) without
 * sockets, with datagram loss and offline devices. Devices outlive a server "crash": drivers bind to a store.
 */
import { EventEmitter } from 'node:events';
import { timingSafeEqual } from 'node:crypto';
import type { RotationDriver } from './rotation.js';

/** What the simulation needs of SecurityStore (the DM server's pskLookup). */
export interface SimSecurity {
  findByPskIdentity(identity: string): { endpoint: string; pskKey?: Uint8Array } | undefined;
  getPending(endpoint: string, opts: { withKey?: boolean }): { pskIdentity: string; pskKey?: Uint8Array } | undefined;
}

export interface SimDevice {
  endpoint: string;
  /** The DM account the device holds. */
  identity: string;
  key: Uint8Array;
  online: boolean;
  /** The identity it is registered with, if registered. */
  registeredAs: string | undefined;
}

/** Deterministic PRNG (mulberry32) in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class SimulatedFleet extends EventEmitter {
  readonly devices = new Map<string, SimDevice>();

  /** `loss`: probability that any one exchange (trigger, bootstrap sequence, registration) is lost. */
  constructor(private readonly opts: { loss?: number; random?: () => number; registrationAttempts?: number } = {}) {
    super();
    this.setMaxListeners(0);
  }

  add(endpoint: string, identity: string, key: Uint8Array): SimDevice {
    const d: SimDevice = { endpoint, identity, key: new Uint8Array(key), online: true, registeredAs: undefined };
    this.devices.set(endpoint, d);
    return d;
  }

  private lost(): boolean {
    return (this.opts.loss ?? 0) > 0 && (this.opts.random ?? Math.random)() < this.opts.loss!;
  }

  /** True if the DM server accepts the device's DTLS handshake with what it holds. */
  static works(security: SimSecurity, d: SimDevice): boolean {
    const info = security.findByPskIdentity(d.identity);
    return info !== undefined && info.endpoint === d.endpoint && info.pskKey !== undefined &&
      info.pskKey.length === d.key.length && timingSafeEqual(info.pskKey, d.key);
  }

  /** The device (re-)registers with what it holds, retrying lost attempts like the client does. */
  register(security: SimSecurity, d: SimDevice): boolean {
    d.registeredAs = undefined;
    if (!d.online) return false;
    for (let i = 0; i < (this.opts.registrationAttempts ?? 3); i++) {
      if (this.lost()) continue;
      if (!SimulatedFleet.works(security, d)) return false;
      d.registeredAs = d.identity;
      this.emit('registered', d.endpoint, d.identity);
      return true;
    }
    return false;
  }

  /** A RotationDriver speaking to these devices through `security` (one per server "process"). */
  driver(security: SimSecurity): RotationDriver {
    return {
      deliver: async (endpoint) => {
        const d = this.devices.get(endpoint);
        // A device that lost its registration (e.g. the server was down) has been retrying it meanwhile.
        if (d?.online && d.registeredAs === undefined) this.register(security, d);
        if (!d || !d.online || d.registeredAs === undefined) throw new Error('device is not registered');
        if (this.lost()) throw new Error('Bootstrap-Request Trigger: no answer');
        // The device answers 2.04, then bootstraps; a lost exchange in the sequence makes it roll back.
        setImmediate(() => {
          d.registeredAs = undefined;
          try {
            if (!this.lost()) {
              const p = security.getPending(endpoint, { withKey: true });
              if (p?.pskKey) {
                d.identity = p.pskIdentity;
                d.key = p.pskKey;
              }
            }
            this.register(security, d);
          } catch {
            // The server went away mid-sequence: the device rolled back (or finished) and registers again later.
          }
        });
      },
      proven: (endpoint, identity, timeoutMs, signal) => {
        if (this.devices.get(endpoint)?.registeredAs === identity) return Promise.resolve(true);
        if (timeoutMs <= 0 || signal.aborted) return Promise.resolve(false);
        return new Promise<boolean>((resolve) => {
          const done = (v: boolean) => {
            clearTimeout(timer);
            this.off('registered', on);
            signal.removeEventListener('abort', abort);
            resolve(v);
          };
          const on = (ep: string, id: string) => {
            if (ep === endpoint && id === identity) done(true);
          };
          const abort = () => done(false);
          const timer = setTimeout(() => done(false), timeoutMs);
          this.on('registered', on);
          signal.addEventListener('abort', abort);
        });
      },
    };
  }
}
