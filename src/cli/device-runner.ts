/**
 * A simulated device running the LwM2M client: the flash and bootloader of src/device under a Lwm2mClient whose
 * Object 5 drives the device's updater. Power-on boots the flash and starts a client; an install that needs a reboot,
 * a power cut (PowerLoss from any flash write) or a failed health check powers the device off and on again, with a
 * new client, as the hardware would. After a test-mode boot the runner confirms the image once the client registered
 * and the health check passed (MCUboot's "confirm after a successful boot"); otherwise the next boot reverts.
 */
import { EventEmitter } from 'node:events';
import {
  createPackageFetcher,
  FirmwareObject,
  Lwm2mClient,
  type FirmwareContext,
  type FirmwareRestored,
  type FirmwareUpdater,
  type InstallOutcome,
  type Lwm2mClientOptions,
  type PackageFetcherOptions,
  type PackageInfo,
} from '../client/index.js';
import { Device, PowerLoss, type DeviceOptions, type Flash, type PowerCut } from '../device/index.js';

export interface DeviceRunnerOptions {
  flash: Flash;
  /** The cut the flash goes through; after a cut, the runner restores power at the next power-on. */
  power?: PowerCut;
  device: Omit<DeviceOptions, 'fetcher' | 'healthCheck'>;
  /** Options of every client run; the runner fills `standard.firmwareUpdater`, the firmware version and reboots. */
  client: Lwm2mClientOptions;
  /** Options of the package fetcher for pulls (coaps credentials come from the client's Security object). */
  fetcher?: Omit<PackageFetcherOptions, 'security'>;
  /** After a test-mode boot, once registered: does the new image work? Default: it does. */
  healthCheck?: (client: Lwm2mClient) => boolean | Promise<boolean>;
  /** Ms the device stays off after a power loss or a reboot (default 0). */
  offMs?: number;
  /** Called as an install begins (fault tests arm a power cut here). */
  onInstall?: () => void;
}

/** Events: 'boot' (Device), 'power-loss', 'confirmed' (version), 'health-failed' (version), 'bricked'. */
export class DeviceRunner extends EventEmitter {
  device: Device | undefined;
  client: Lwm2mClient | undefined;
  /** Power-ons so far. */
  boots = 0;
  powerLosses = 0;
  private readonly o: DeviceRunnerOptions;
  private running = false;
  /** Incremented at each power-off: work of an earlier power cycle sees it changed and stops. */
  private cycle = 0;
  private cycling: Promise<void> | undefined;
  /** The boot in progress (it may finish an in-place install): `stop` waits for it. */
  private booting: Promise<unknown> | undefined;

  constructor(options: DeviceRunnerOptions) {
    super();
    this.o = options;
  }

  /** The client's endpoint name. */
  get endpoint(): string {
    return this.o.client.endpoint;
  }

  /** The version the device runs, undefined while it is off or bricked. */
  get version(): string | undefined {
    return this.device?.version;
  }

  /** Powers the device on and starts its client (resolves once the client started, registered or not). */
  async start(): Promise<void> {
    this.running = true;
    await this.powerOn();
  }

  /** Powers the device off for good (the client stops without deregistering, as on a power cut). */
  async stop(): Promise<void> {
    this.running = false;
    this.cycle++;
    await this.booting;
    await this.cycling;
    const client = this.client;
    this.client = undefined;
    await client?.stop({ deregister: false });
  }

  private async powerOn(): Promise<void> {
    const cycle = this.cycle;
    // Power comes back after a cut; a cut armed but not reached yet stays armed across a reboot (it may hit the swap).
    if (this.o.power?.off) this.o.power.restore();
    let device: Device;
    try {
      this.boots++;
      const opening = Device.open(this.o.flash, { ...this.o.device, fetcher: this.fetcher() });
      this.booting = opening.catch(() => undefined);
      device = await opening;
    } catch (err) {
      if (err instanceof PowerLoss) {
        // Power failed again while the bootloader was swapping: the next boot resumes the swap.
        if (cycle === this.cycle) this.powerLost();
        return;
      }
      throw err;
    } finally {
      this.booting = undefined;
    }
    // Stopped while the bootloader ran.
    if (cycle !== this.cycle) return;
    this.device = device;
    this.emit('boot', device);
    if (device.bricked || device.version === undefined) {
      this.emit('bricked');
      return;
    }
    const updater = new GuardedUpdater(device, () => this.powerLost(), this.o.onInstall);
    const client = new Lwm2mClient({
      ...this.o.client,
      standard: {
        ...this.o.client.standard,
        device: { ...this.o.client.standard?.device, firmwareVersion: device.version },
        firmwareUpdater: updater,
        onFirmwareReboot: () => this.powerCycle(),
      },
    });
    this.client = client;
    if (device.testing) {
      client.once('registered', () => void this.checkHealth(client, device, cycle));
    }
    await client.start().catch(() => undefined);
  }

  private async checkHealth(client: Lwm2mClient, device: Device, cycle: number): Promise<void> {
    const ok = await Promise.resolve(this.o.healthCheck ? this.o.healthCheck(client) : true).catch(() => false);
    if (cycle !== this.cycle) return;
    if (!ok) {
      this.emit('health-failed', device.version);
      // A watchdog resets a device whose new image does not work; the bootloader reverts it.
      this.powerCycle();
      return;
    }
    try {
      device.confirm();
    } catch (err) {
      if (err instanceof PowerLoss) return this.powerLost();
      throw err;
    }
    firmwareObject(client)?.firmware.confirmed();
    this.emit('confirmed', device.version);
  }

  private fetcher(): DeviceOptions['fetcher'] {
    const o = this.o.client;
    return createPackageFetcher({
      ...(o.localAddress !== undefined ? { localAddress: o.localAddress } : {}),
      ...this.o.fetcher,
      security: (uri) => this.client?.dtlsOptionsFor(uri),
    });
  }

  private powerLost(): void {
    this.powerLosses++;
    this.emit('power-loss');
    this.powerCycle();
  }

  /** Off (the client stops without a word to the server), then on again unless stopped. */
  private powerCycle(): void {
    if (this.cycling) return;
    this.cycle++;
    const client = this.client;
    this.client = undefined;
    this.device = undefined;
    this.cycling = (async () => {
      await client?.stop({ deregister: false }).catch(() => undefined);
      if (this.o.offMs) await new Promise((r) => setTimeout(r, this.o.offMs));
      this.cycling = undefined;
      if (this.running) await this.powerOn();
    })();
  }
}

function firmwareObject(client: Lwm2mClient): FirmwareObject | undefined {
  const enabler = client.tree.enabler(5);
  return enabler instanceof FirmwareObject ? enabler : undefined;
}

/**
 * The device's updater as Object 5 sees it: a PowerLoss from the flash powers the device off instead of reaching
 * Object 5 as a failure (the device is off: nothing answers).
 */
class GuardedUpdater implements FirmwareUpdater {
  readonly protocols: readonly number[];

  constructor(
    private readonly device: Device,
    private readonly onPowerLoss: () => void,
    private readonly onInstall: (() => void) | undefined,
  ) {
    this.protocols = device.updater.protocols;
  }

  restore(): FirmwareRestored | undefined {
    return this.device.updater.restore();
  }

  download(uri: string, ctx: FirmwareContext): Promise<void> {
    return this.guard(this.device.updater.download(uri, ctx));
  }

  receive(pkg: Uint8Array, ctx: FirmwareContext): Promise<void> {
    return this.guard(this.device.updater.receive(pkg, ctx));
  }

  verify(ctx: FirmwareContext): Promise<PackageInfo> {
    return this.guard(this.device.updater.verify(ctx));
  }

  install(info: PackageInfo, ctx: FirmwareContext): Promise<InstallOutcome> {
    this.onInstall?.();
    return this.guard(this.device.updater.install(info, ctx));
  }

  discard(): Promise<void> {
    return this.guard(this.device.updater.discard());
  }

  private guard<T>(work: Promise<T>): Promise<T> {
    return work.catch((err: unknown) => {
      if (!(err instanceof PowerLoss)) throw err;
      this.onPowerLoss();
      return new Promise<T>(() => undefined);
    });
  }
}
