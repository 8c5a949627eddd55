/**
 * How a firmware campaign reaches devices through the LwM2M server: Object 5 (Core Appendix E.6) writes, reads and
 * executes, Observe on State (/5/0/3) and Update Result (/5/0/5) with polling as a fallback (observations are lost
 * when a device registers anew), and Device Firmware Version (/3/0/3). Requests to a queue-mode device wait for it to
 * wake up (Core §6.5.2: the server holds them until the device's next message).
 */
import { Lwm2mPath, type LwM2mNode } from '../lwm2m/index.js';
import type { DeviceManagement, DeviceResponse, Notification, Registration } from '../server/types.js';
import { DeviceStepError, type CampaignDriver, type FirmwareReading } from './campaign-model.js';

export interface Lwm2mCampaignDriverOptions {
  /** Ms a request to an awake device may take (default 30 000). */
  requestTimeout?: number;
  /** Ms a request to a queue-mode device may wait for it to wake up (default 600 000). */
  queueTimeout?: number;
  /** Ms between polls of /5/0/3 and /5/0/5 while waiting (default 5 000). */
  pollInterval?: number;
}

const STATE = Lwm2mPath.of(5, 0, 3);
const RESULT = Lwm2mPath.of(5, 0, 5);
const PACKAGE = Lwm2mPath.of(5, 0, 0);
const PACKAGE_URI = Lwm2mPath.of(5, 0, 1);
const UPDATE = Lwm2mPath.of(5, 0, 2);
const FIRMWARE_VERSION = Lwm2mPath.of(3, 0, 3);
const CHANGED = 68;
const CONTENT = 69;

function codeText(code: number): string {
  return `${code >> 5}.${String(code & 31).padStart(2, '0')}`;
}

function valueOf(node: LwM2mNode | undefined): string | number | undefined {
  if (node?.kind !== 'singleResource' && node?.kind !== 'resourceInstance') return undefined;
  const v = node.value;
  if (v.type === 'integer' || v.type === 'unsignedInteger') return Number(v.value);
  if (v.type === 'string') return v.value;
  return undefined;
}

/** The attributes a campaign filter matches, from a registration. */
export function registrationAttributes(reg: Registration): Record<string, string> {
  return {
    lwm2m: reg.lwm2mVersion, b: reg.bindingMode, lt: String(reg.lifetime), queue: String(reg.queueMode), secure: String(reg.secure),
  };
}

/** A device's wait for Object 5 progress: what the server's events mean to it. */
interface Waiter {
  /** A notification of a single integer resource. */
  notified(path: Lwm2mPath, value: number): void;
  /** The device registered, updated its registration or woke up. */
  registered(): void;
}

/**
 * The waits in progress by endpoint, fed by one listener per server event however many devices are in flight (a
 * listener per wait would make every notification cost O(devices in flight)).
 */
class Waiters {
  private readonly byEndpoint = new Map<string, Set<Waiter>>();
  private readonly onNotification = (n: Notification): void => {
    const set = this.byEndpoint.get(n.endpoint);
    if (!set || n.paths.length !== 1) return;
    const v = valueOf(n.content);
    if (typeof v !== 'number') return;
    for (const w of set) w.notified(n.paths[0]!, v);
  };
  private readonly onRegistration = (reg: Registration): void => {
    const set = this.byEndpoint.get(reg.endpoint);
    if (set) for (const w of set) w.registered();
  };

  constructor(private readonly server: DeviceManagement) {}

  add(endpoint: string, w: Waiter): void {
    if (this.byEndpoint.size === 0) this.listen('on');
    let set = this.byEndpoint.get(endpoint);
    if (!set) this.byEndpoint.set(endpoint, (set = new Set()));
    set.add(w);
  }

  remove(endpoint: string, w: Waiter): void {
    const set = this.byEndpoint.get(endpoint);
    if (!set?.delete(w) || set.size > 0) return;
    this.byEndpoint.delete(endpoint);
    if (this.byEndpoint.size === 0) this.listen('off');
  }

  private listen(how: 'on' | 'off'): void {
    this.server[how]('notification', this.onNotification);
    for (const e of ['registered', 'updated', 'awake'] as const) this.server[how](e, this.onRegistration);
  }
}

/** A CampaignDriver over a DeviceManagement (the LwM2M server). */
export function lwm2mCampaignDriver(server: DeviceManagement, opts: Lwm2mCampaignDriverOptions = {}): CampaignDriver {
  const timeoutOf = (endpoint: string) => (server.getRegistration(endpoint)?.queueMode ? opts.queueTimeout ?? 600_000 : opts.requestTimeout ?? 30_000);
  const pollInterval = opts.pollInterval ?? 5000;

  const waiters = new Waiters(server);

  /** One request; a timeout or a missing registration is transient, a refusal is not. */
  async function call(endpoint: string, what: string, signal: AbortSignal, fn: (timeout: number) => Promise<DeviceResponse>, ok: number): Promise<DeviceResponse> {
    if (signal.aborted) throw new DeviceStepError('stopped', true);
    let res: DeviceResponse;
    try {
      res = await fn(timeoutOf(endpoint));
    } catch (err) {
      throw new DeviceStepError(`${what}: ${(err as Error).message}`, true);
    }
    if (res.code !== ok) {
      // 5.xx answers and 4.04 on a device that just re-registered are worth another try; other refusals are final.
      const transient = res.code >= 160 || res.code === 132;
      throw new DeviceStepError(`${what} answered ${codeText(res.code)}${res.errorMessage ? ` (${res.errorMessage})` : ''}`, transient);
    }
    return res;
  }

  async function readInt(endpoint: string, path: Lwm2mPath, signal: AbortSignal): Promise<number> {
    const res = await call(endpoint, `read ${path}`, signal, (timeout) => server.read(endpoint, path, { timeout }), CONTENT);
    const v = valueOf(res.content);
    if (typeof v !== 'number') throw new DeviceStepError(`read ${path}: not an integer`, false);
    return v;
  }

  async function status(endpoint: string, signal: AbortSignal): Promise<FirmwareReading> {
    const state = await readInt(endpoint, STATE, signal);
    const result = await readInt(endpoint, RESULT, signal);
    return { state, result };
  }

  return {
    registered() {
      return server.listRegistrations({ limit: Number.MAX_SAFE_INTEGER }).map((r) => ({ endpoint: r.endpoint, attributes: registrationAttributes(r) }));
    },
    async firmwareVersion(endpoint, signal) {
      const res = await call(endpoint, `read ${FIRMWARE_VERSION}`, signal, (timeout) => server.read(endpoint, FIRMWARE_VERSION, { timeout }), CONTENT);
      const v = valueOf(res.content);
      if (typeof v !== 'string') throw new DeviceStepError(`read ${FIRMWARE_VERSION}: not a string`, false);
      return v;
    },
    status,
    async deliver(endpoint, delivery, signal) {
      if ('uri' in delivery) {
        const node: LwM2mNode = { kind: 'singleResource', id: 1, value: { type: 'string', value: delivery.uri } };
        await call(endpoint, `write ${PACKAGE_URI}`, signal, (timeout) => server.write(endpoint, PACKAGE_URI, node, { timeout }), CHANGED);
      } else {
        const node: LwM2mNode = { kind: 'singleResource', id: 0, value: { type: 'opaque', value: delivery.data } };
        await call(endpoint, `write ${PACKAGE}`, signal, (timeout) => server.write(endpoint, PACKAGE, node, { timeout }), CHANGED);
      }
    },
    async reset(endpoint, signal) {
      const node: LwM2mNode = { kind: 'singleResource', id: 1, value: { type: 'string', value: '' } };
      await call(endpoint, `write ${PACKAGE_URI}`, signal, (timeout) => server.write(endpoint, PACKAGE_URI, node, { timeout }), CHANGED);
    },
    async update(endpoint, signal) {
      await call(endpoint, `execute ${UPDATE}`, signal, (timeout) => server.execute(endpoint, UPDATE, undefined, { timeout }), CHANGED);
    },
    waitFor(endpoint, done, o, signal) {
      const since = o.since;
      const reregistered = () => since !== undefined && since > 0 && (server.getRegistration(endpoint)?.registeredAt ?? 0) > since;
      return new Promise((resolve, reject) => {
        let current: Partial<FirmwareReading> = {};
        let polling = false;
        let finished = false;
        const finish = (err: Error | undefined, value?: FirmwareReading & { reregistered: boolean }) => {
          if (finished) return;
          finished = true;
          clearTimeout(timer);
          clearInterval(poller);
          waiters.remove(endpoint, waiter);
          signal.removeEventListener('abort', onAbort);
          if (err) reject(err);
          else resolve(value!);
        };
        const check = () => {
          if (current.state !== undefined && current.result !== undefined && done(current as FirmwareReading)) {
            finish(undefined, { state: current.state, result: current.result, reregistered: false });
          }
        };
        const poll = (afterRegistration: boolean) => {
          if (polling || finished) return;
          polling = true;
          status(endpoint, signal).then(
            (r) => {
              polling = false;
              current = r;
              if (afterRegistration || reregistered()) finish(undefined, { ...r, reregistered: true });
              else check();
            },
            () => {
              polling = false;
            },
          );
        };
        const observe = () => {
          const observed = server.observations(endpoint).map((x) => (x.paths.length === 1 ? String(x.paths[0]) : ''));
          const timeout = timeoutOf(endpoint);
          for (const p of [STATE, RESULT]) if (!observed.includes(String(p))) server.observe(endpoint, p, { timeout }).catch(() => {});
        };
        const waiter: Waiter = {
          notified(path, v) {
            if (path.equals(STATE)) current = { ...current, state: v };
            else if (path.equals(RESULT)) current = { ...current, result: v };
            else return;
            check();
          },
          registered() {
            poll(reregistered());
            observe();
          },
        };
        const onAbort = () => finish(new DeviceStepError('stopped', true));
        const timer = setTimeout(() => finish(new DeviceStepError(`no firmware progress within ${Math.round(o.timeoutMs / 1000)} s`, true)), o.timeoutMs);
        const poller = setInterval(() => poll(false), pollInterval);
        waiters.add(endpoint, waiter);
        signal.addEventListener('abort', onAbort);
        observe();
        poll(false);
      });
    },
  };
}
