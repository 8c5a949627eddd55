/** Object 4, Connectivity Monitoring (Core Appendix E.5), with radio figures wandering plausibly. */
import type { ObjectDefinition, ResourceValue } from '../../lwm2m/index.js';
import { BaseInstance, ObjectEnabler } from '../object.js';
import { int, list, str } from '../value.js';

export interface ConnectivityOptions {
  /** Network Bearer (resource 0); default 6 (LTE-FDD). */
  bearer?: number;
  ipAddresses?: string[];
  routerIpAddresses?: string[];
  apn?: string[];
  /** dBm, default -75. */
  signalStrength?: number;
  cellId?: number;
}

export const ConnectivityResource = {
  NetworkBearer: 0,
  AvailableNetworkBearer: 1,
  RadioSignalStrength: 2,
  LinkQuality: 3,
  IpAddresses: 4,
  RouterIpAddresses: 5,
  LinkUtilization: 6,
  Apn: 7,
  CellId: 8,
  Smnc: 9,
  Smcc: 10,
} as const;

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}

export class ConnectivityInstance extends BaseInstance {
  constructor(definition: ObjectDefinition, options: ConnectivityOptions = {}) {
    const bearer = options.bearer ?? 6;
    const values: [number, ResourceValue | Map<number, ResourceValue>][] = [
      [ConnectivityResource.NetworkBearer, int(bearer)],
      [ConnectivityResource.AvailableNetworkBearer, list([int(bearer)])],
      [ConnectivityResource.RadioSignalStrength, int(options.signalStrength ?? -75)],
      [ConnectivityResource.LinkQuality, int(80)],
      [ConnectivityResource.IpAddresses, list((options.ipAddresses ?? ['127.0.0.1']).map(str))],
      [ConnectivityResource.RouterIpAddresses, list((options.routerIpAddresses ?? ['127.0.0.1']).map(str))],
      [ConnectivityResource.LinkUtilization, int(5)],
      [ConnectivityResource.Apn, list((options.apn ?? ['internet']).map(str))],
      [ConnectivityResource.CellId, int(options.cellId ?? 20815)],
      [ConnectivityResource.Smnc, int(1)],
      [ConnectivityResource.Smcc, int(262)],
    ];
    super(definition, 0, values.filter(([id]) => definition.resources.has(id)));
  }

  /** One step: signal strength does a bounded random walk; link quality and utilization follow. */
  tick(random: () => number): void {
    const rssi = Number(this.get(ConnectivityResource.RadioSignalStrength)?.value ?? -75);
    const next = clamp(rssi + Math.round((random() - 0.5) * 6), -110, -50);
    this.set(ConnectivityResource.RadioSignalStrength, int(next));
    this.set(ConnectivityResource.LinkQuality, int(Math.round(((next + 110) / 60) * 100)));
    this.set(ConnectivityResource.LinkUtilization, int(clamp(Math.round(random() * 20), 0, 100)));
  }
}

export class ConnectivityObject extends ObjectEnabler {
  readonly connectivity: ConnectivityInstance;

  constructor(definition: ObjectDefinition, options: ConnectivityOptions = {}) {
    const inst = new ConnectivityInstance(definition, options);
    super(definition, [inst], { creatable: false });
    this.connectivity = inst;
  }

  override tick(): void {
    if (this.host) this.connectivity.tick(this.host.random);
  }
}
