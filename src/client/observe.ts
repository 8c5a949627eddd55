/**
 * Server-side observations of a client (LwM2M 1.1 Core §5.5, §5.1.2): when to notify, honouring
 * pmin/pmax/gt/lt/st with object -> instance -> resource inheritance and the Server object's
 * default periods. Evaluation is event-driven (values changing call `changed`), plus one timer
 * per observation on the client's scheduler for pmin (a held-back change) and pmax.
 */
import type { ObserveRelation, OutgoingResponse } from '../coap/index.js';
import {
  isNotifiableChange,
  Lwm2mError,
  nextNotifyDelay,
  ResponseCode,
  shouldNotifyChange,
  type Attributes,
  type Lwm2mPath,
} from '../lwm2m/index.js';
import type { AttributeStore } from './attribute-store.js';
import type { Scheduler } from './scheduler.js';
import type { ObjectTree } from './tree.js';
import { numericValue } from './value.js';

/** What the manager needs from the client. */
export interface ObservationHost {
  readonly tree: ObjectTree;
  readonly attributes: AttributeStore;
  readonly scheduler: Scheduler;
  /** pmin/pmax from the Server object (resources 2 and 3). */
  serverDefaults(): Attributes;
  /** Encodes the current values at the observed paths (throws Lwm2mError 4.04 when gone). */
  encode(paths: readonly Lwm2mPath[], composite: boolean, format: number): OutgoingResponse;
  /** Called before each notification goes out (Queue Mode: wake up). */
  beforeNotify(): void;
}

interface Observation {
  readonly relation: ObserveRelation;
  readonly paths: readonly Lwm2mPath[];
  readonly composite: boolean;
  readonly format: number;
  /** Last notified numeric value per path index (undefined when not a numeric resource). */
  readonly last: (number | undefined)[];
  lastNotify: number;
  pending: boolean;
  cancelTimer: (() => void) | undefined;
}

export class ObservationManager {
  private readonly host: ObservationHost;
  private readonly observations = new Set<Observation>();

  constructor(host: ObservationHost) {
    this.host = host;
  }

  get size(): number {
    return this.observations.size;
  }

  /** Starts an observation whose first response (2.05) has just been sent. */
  add(relation: ObserveRelation, paths: readonly Lwm2mPath[], composite: boolean, format: number): void {
    const obs: Observation = {
      relation,
      paths,
      composite,
      format,
      last: paths.map((p) => this.numericAt(p)),
      lastNotify: this.host.scheduler.now(),
      pending: false,
      cancelTimer: undefined,
    };
    this.observations.add(obs);
    relation.onCancel(() => this.remove(obs));
    this.reschedule(obs);
  }

  /** Values at these paths changed (device side or a server write). */
  changed(paths: readonly Lwm2mPath[]): void {
    for (const obs of this.observations) {
      let notifiable = false;
      for (let i = 0; i < obs.paths.length && !notifiable; i++) {
        const observed = obs.paths[i]!;
        if (!paths.some((p) => observed.contains(p) || p.contains(observed))) continue;
        const previous = obs.last[i];
        if (previous === undefined) {
          notifiable = true;
        } else {
          const current = this.numericAt(observed);
          notifiable = current === undefined || isNotifiableChange(this.host.attributes.effective(observed, this.host.serverDefaults()), previous, current);
        }
      }
      if (!notifiable) continue;
      const elapsed = this.host.scheduler.now() - obs.lastNotify;
      const decision = shouldNotifyChange(this.timing(obs), true, elapsed);
      if (decision === 'now') this.notify(obs);
      else if (decision === 'wait' && !obs.pending) {
        obs.pending = true;
        this.reschedule(obs);
      }
    }
  }

  /** Attributes at or above some observed path changed: re-plan the timers. */
  attributesChanged(path: Lwm2mPath): void {
    for (const obs of this.observations) {
      if (obs.paths.some((p) => path.contains(p) || p.contains(path))) this.reschedule(obs);
    }
  }

  /** Ends every observation (client stop, re-registration: Core §5.5 observations end with the registration). */
  clear(): void {
    for (const obs of [...this.observations]) {
      this.remove(obs);
      obs.relation.cancel();
    }
  }

  private remove(obs: Observation): void {
    obs.cancelTimer?.();
    obs.cancelTimer = undefined;
    this.observations.delete(obs);
  }

  /** pmin/pmax that govern the observation; for a composite one the smallest of its paths'. */
  private timing(obs: Observation): Attributes {
    const defaults = this.host.serverDefaults();
    if (!obs.composite) return this.host.attributes.effective(obs.paths[0]!, defaults);
    let pmin: number | undefined;
    let pmax: number | undefined;
    for (const p of obs.paths) {
      const a = this.host.attributes.effective(p, defaults);
      if (typeof a.pmin === 'number') pmin = pmin === undefined ? a.pmin : Math.min(pmin, a.pmin);
      if (typeof a.pmax === 'number') pmax = pmax === undefined ? a.pmax : Math.min(pmax, a.pmax);
    }
    const out: Attributes = {};
    if (pmin !== undefined) out.pmin = pmin;
    if (pmax !== undefined) out.pmax = pmax;
    return out;
  }

  private reschedule(obs: Observation): void {
    obs.cancelTimer?.();
    obs.cancelTimer = undefined;
    if (!this.observations.has(obs)) return;
    const elapsed = this.host.scheduler.now() - obs.lastNotify;
    const delay = nextNotifyDelay(this.timing(obs), elapsed, obs.pending);
    if (delay === undefined) return;
    obs.cancelTimer = this.host.scheduler.schedule(delay, () => {
      obs.cancelTimer = undefined;
      this.onTimer(obs);
    });
  }

  private onTimer(obs: Observation): void {
    if (!this.observations.has(obs)) return;
    const elapsed = this.host.scheduler.now() - obs.lastNotify;
    if (shouldNotifyChange(this.timing(obs), obs.pending, elapsed) === 'now') this.notify(obs);
    else this.reschedule(obs);
  }

  private notify(obs: Observation): void {
    if (obs.relation.cancelled) {
      this.remove(obs);
      return;
    }
    this.host.beforeNotify();
    let response: OutgoingResponse;
    try {
      response = this.host.encode(obs.paths, obs.composite, obs.format);
    } catch (err) {
      // RFC 7641 §3.2: an error response ends the observation (e.g. the instance was deleted).
      const code = err instanceof Lwm2mError ? err.code : ResponseCode.InternalServerError;
      obs.relation.notify({ code });
      this.remove(obs);
      obs.relation.cancel();
      return;
    }
    obs.relation.notify(response);
    for (let i = 0; i < obs.paths.length; i++) obs.last[i] = this.numericAt(obs.paths[i]!);
    obs.lastNotify = this.host.scheduler.now();
    obs.pending = false;
    this.reschedule(obs);
  }

  /** The numeric value of a single numeric resource (or resource instance) at `path`, else undefined. */
  private numericAt(path: Lwm2mPath): number | undefined {
    if (!path.isResource() && !path.isResourceInstance()) return undefined;
    try {
      const node = this.host.tree.read(path);
      if (node.kind === 'singleResource' || node.kind === 'resourceInstance') return numericValue(node.value);
    } catch {
      // absent: not numeric
    }
    return undefined;
  }
}
