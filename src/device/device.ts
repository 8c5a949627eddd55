/**
 * A simulated MCUboot-class device: a flash, its bootloader and the firmware updater Object 5 drives. Opening a
 * device is a power-on: the bootloader runs and reports what boots; a reboot is opening the same flash again.
 */
import { Bootloader, type BootResult } from './bootloader.js';
import type { Flash } from './flash.js';
import type { Layout } from './layout.js';
import type { DeviceIdentity } from './slot.js';
import { DeviceFirmwareUpdater, type DeviceUpdaterOptions } from './updater.js';

/** How a device is built. */
export interface DeviceOptions extends DeviceIdentity, DeviceUpdaterOptions {
  readonly layout: Layout;
  /** The health check after a test boot (default: passes); see `Device.checkHealth`. */
  readonly healthCheck?: () => boolean | Promise<boolean>;
}

/** One powered-on device (see the file comment). */
export class Device {
  readonly flash: Flash;
  readonly bootloader: Bootloader;
  readonly updater: DeviceFirmwareUpdater;
  /** What the bootloader booted. */
  readonly boot: BootResult;
  readonly #healthCheck: (() => boolean | Promise<boolean>) | undefined;

  private constructor(flash: Flash, bootloader: Bootloader, boot: BootResult, options: DeviceOptions) {
    this.flash = flash;
    this.bootloader = bootloader;
    this.boot = boot;
    this.updater = new DeviceFirmwareUpdater(bootloader, options);
    this.#healthCheck = options.healthCheck;
  }

  /**
   * Powers the device on: boots (finishing journaled work, such as an in-place install a power cut interrupted;
   * rejects with PowerLoss when a cut is armed) and resolves to the running device.
   */
  static async open(flash: Flash, options: DeviceOptions): Promise<Device> {
    const bootloader = new Bootloader(flash, options.layout, options);
    const boot = await bootloader.boot();
    return new Device(flash, bootloader, boot, options);
  }

  /** The running version, or undefined for a bricked device. */
  get version(): string | undefined {
    return this.boot.status === 'running' ? this.boot.version : undefined;
  }

  get bricked(): boolean {
    return this.boot.status === 'bricked';
  }

  /** Running an image in test mode (not confirmed). */
  get testing(): boolean {
    return this.boot.status === 'running' && this.boot.test && this.bootloader.state.testing !== undefined;
  }

  /** The security counter. */
  get securityCounter(): number {
    return this.bootloader.state.counter;
  }

  /** Makes the running image permanent (the client calls it once it registered and the health check passed). */
  confirm(): void {
    this.bootloader.confirm();
  }

  /**
   * Runs the health check and confirms the running image when it passes; a failed check leaves it unconfirmed, so
   * the next boot reverts. Returns whether it passed.
   */
  async checkHealth(): Promise<boolean> {
    const ok = this.#healthCheck ? await this.#healthCheck() : true;
    if (ok) this.confirm();
    return ok;
  }
}
