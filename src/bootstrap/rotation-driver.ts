/**
 * The LwM2M way a rotation campaign reaches a device: the DM server executes Bootstrap-Request Trigger
 * (/1/x/9, Core Appendix E.2) on the device's Server instance, and the proof is a Register or Update that DTLS
 * authenticated with the new PSK identity.
 */
import { EventEmitter } from 'node:events';
import type { PeerIdentity } from '../coap/index.js';
import { Lwm2mPath, ResponseCode } from '../lwm2m/index.js';
import { fingerprint } from '../dtls/rpk.js';
import { CERTIFICATE_ISSUED_FROM, RAW_PUBLIC_KEY_REPLACING, type RotationDriver } from './rotation.js';

/** What the driver needs of Lwm2mServer. */
export interface RotationDmServer extends EventEmitter {
  getRegistration(endpoint: string): { identity: PeerIdentity | undefined; objects: ReadonlyMap<number, { instances: readonly number[] }> } | undefined;
  execute(endpoint: string, path: Lwm2mPath, args?: string, opts?: { timeout?: number }): Promise<{ code: number }>;
}

/** Bootstrap-Request Trigger resource of the Server object. */
const BOOTSTRAP_REQUEST_TRIGGER = 9;

export interface Lwm2mRotationDriverOptions {
  requestTimeout?: number;
  /** When (ms) Warden's CA issued the unrevoked certificate a DTLS identity authenticated with; undefined otherwise. */
  certificateIssuedAt?: (identity: PeerIdentity) => number | undefined;
  /** The SubjectPublicKeyInfo a raw-public-key DTLS identity presented. */
  rawPublicKeyOf?: (identity: PeerIdentity) => Uint8Array | undefined;
}

export function lwm2mRotationDriver(server: RotationDmServer, opts: Lwm2mRotationDriverOptions = {}): RotationDriver {
  return {
    async deliver(endpoint) {
      const reg = server.getRegistration(endpoint);
      if (!reg) throw new Error('device is not registered');
      const iid = reg.objects.get(1)?.instances[0] ?? 0;
      const res = await server.execute(endpoint, Lwm2mPath.of(1, iid, BOOTSTRAP_REQUEST_TRIGGER), undefined,
        opts.requestTimeout !== undefined ? { timeout: opts.requestTimeout } : {});
      if (res.code !== ResponseCode.Changed) throw new Error(`Bootstrap-Request Trigger answered ${res.code >> 5}.${String(res.code & 31).padStart(2, '0')}`);
    },
    proven(endpoint, identity, timeoutMs, signal) {
      const holds = (reg: { endpoint?: string; identity: PeerIdentity | undefined } | undefined): boolean => {
        const id = reg?.identity;
        if (!id) return false;
        if (identity.startsWith(CERTIFICATE_ISSUED_FROM)) {
          const at = id.mode === 'x509' ? opts.certificateIssuedAt?.(id) : undefined;
          return at !== undefined && at >= Number(identity.slice(CERTIFICATE_ISSUED_FROM.length));
        }
        if (identity.startsWith(RAW_PUBLIC_KEY_REPLACING)) {
          const spki = id.mode === 'rpk' ? opts.rawPublicKeyOf?.(id) : undefined;
          return spki !== undefined && fingerprint(spki) !== identity.slice(RAW_PUBLIC_KEY_REPLACING.length);
        }
        return id.mode === 'psk' && id.name === identity;
      };
      if (holds(server.getRegistration(endpoint))) return Promise.resolve(true);
      if (timeoutMs <= 0 || signal.aborted) return Promise.resolve(false);
      return new Promise<boolean>((resolve) => {
        const done = (v: boolean) => {
          clearTimeout(timer);
          server.off('registered', onReg);
          server.off('updated', onReg);
          signal.removeEventListener('abort', onAbort);
          resolve(v);
        };
        const onReg = (reg: { endpoint: string; identity: PeerIdentity | undefined }) => {
          if (reg.endpoint === endpoint && holds(reg)) done(true);
        };
        const onAbort = () => done(false);
        const timer = setTimeout(() => done(false), timeoutMs);
        server.on('registered', onReg);
        server.on('updated', onReg);
        signal.addEventListener('abort', onAbort);
      });
    },
  };
}
