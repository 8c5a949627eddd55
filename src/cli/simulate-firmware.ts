/** Object 5 on simulated devices: the client's simulated package pipeline, counted per worker. */
import {
  SimulatedFirmwareUpdater,
  type FirmwareContext,
  type FirmwareUpdater,
  type InstallOutcome,
  type PackageInfo,
} from '../client/index.js';

/** Counts what the fleet's Firmware Update objects accept and install. */
export interface FirmwareCounters {
  firmwareAccepted: number;
  firmwareApplied: number;
}

/**
 * One device's updater: push (/5/0/0, Block1) and pull (/5/0/1) deliveries and Execute /5/0/2, as
 * `SimulatedFirmwareUpdater` handles them. A package is accepted once checked, applied once installed.
 */
export class CountingFirmwareUpdater implements FirmwareUpdater {
  readonly protocols: readonly number[];

  constructor(
    private readonly counters: FirmwareCounters,
    private readonly inner: FirmwareUpdater = new SimulatedFirmwareUpdater(),
  ) {
    this.protocols = inner.protocols;
  }

  download(uri: string, ctx: FirmwareContext): Promise<void> {
    return this.inner.download(uri, ctx);
  }

  receive(pkg: Uint8Array, ctx: FirmwareContext): Promise<void> {
    return this.inner.receive(pkg, ctx);
  }

  async verify(ctx: FirmwareContext): Promise<PackageInfo> {
    const info = await this.inner.verify(ctx);
    this.counters.firmwareAccepted++;
    return info;
  }

  async install(info: PackageInfo, ctx: FirmwareContext): Promise<InstallOutcome> {
    const outcome = await this.inner.install(info, ctx);
    this.counters.firmwareApplied++;
    return outcome;
  }

  discard(): Promise<void> {
    return this.inner.discard();
  }
}
