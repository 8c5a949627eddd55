/** Object 5 on simulated devices: the client's simulated package pipeline, counted per worker. */
import { SimulatedFirmwareUpdater, type FirmwareContext, type FirmwareUpdater, type PackageInfo } from '../client/index.js';

/** Counts what the fleet's Firmware Update objects accept and install. */
export interface FirmwareCounters {
  firmwareAccepted: number;
  firmwareApplied: number;
}

/**
 * One stateless updater shared by every device of a worker: push (/5/0/0, Block1) and pull (/5/0/1) deliveries,
 * Execute /5/0/2, as `SimulatedFirmwareUpdater` handles them. A package is accepted once checked, applied once
 * installed.
 */
export class CountingFirmwareUpdater implements FirmwareUpdater {
  readonly protocols: readonly number[];

  constructor(
    private readonly counters: FirmwareCounters,
    private readonly inner: FirmwareUpdater = new SimulatedFirmwareUpdater(),
  ) {
    this.protocols = inner.protocols;
  }

  download(uri: string, ctx: FirmwareContext): Promise<Uint8Array> {
    return this.inner.download(uri, ctx);
  }

  async verify(pkg: Uint8Array, ctx: FirmwareContext): Promise<PackageInfo> {
    const info = await this.inner.verify(pkg, ctx);
    this.counters.firmwareAccepted++;
    return info;
  }

  async install(pkg: Uint8Array, info: PackageInfo, ctx: FirmwareContext): Promise<string> {
    const version = await this.inner.install(pkg, info, ctx);
    this.counters.firmwareApplied++;
    return version;
  }
}
