/** Object 3, Device (Core Appendix E.4), with battery, memory and clock changing plausibly. */
import type { ObjectDefinition, ResourceNode, ResourceValue } from '../../lwm2m/index.js';
import { BaseInstance, ObjectEnabler, type ExecuteArgs } from '../object.js';
import { int, list, str, time } from '../value.js';

export interface DeviceOptions {
  manufacturer?: string;
  modelNumber?: string;
  serialNumber?: string;
  firmwareVersion?: string;
  hardwareVersion?: string;
  softwareVersion?: string;
  deviceType?: string;
  /** Resource 16, e.g. "UQ" (Core §5.3.1.1: Q marks Queue Mode support). */
  supportedBindings?: string;
  /** Percent, default 100. */
  batteryLevel?: number;
  /** KiB, default 65536. */
  memoryTotal?: number;
}

export const DeviceResource = {
  Manufacturer: 0,
  ModelNumber: 1,
  SerialNumber: 2,
  FirmwareVersion: 3,
  Reboot: 4,
  FactoryReset: 5,
  AvailablePowerSources: 6,
  PowerSourceVoltage: 7,
  PowerSourceCurrent: 8,
  BatteryLevel: 9,
  MemoryFree: 10,
  ErrorCode: 11,
  ResetErrorCode: 12,
  CurrentTime: 13,
  UtcOffset: 14,
  Timezone: 15,
  SupportedBindings: 16,
  DeviceType: 17,
  HardwareVersion: 18,
  SoftwareVersion: 19,
  BatteryStatus: 20,
  MemoryTotal: 21,
} as const;

/** Battery Status (resource 20) values. */
const BatteryStatus = { Normal: 0, Charging: 1, ChargeComplete: 2, Low: 4 } as const;

export class DeviceInstance extends BaseInstance {
  /** Offset written to Current Time, ms. */
  private clockOffset = 0;
  private readonly initial: readonly (readonly [number, ResourceValue | Map<number, ResourceValue>])[];
  private charging = false;

  constructor(definition: ObjectDefinition, options: DeviceOptions = {}) {
    const memoryTotal = options.memoryTotal ?? 65536;
    const values: [number, ResourceValue | Map<number, ResourceValue>][] = [
      [DeviceResource.Manufacturer, str(options.manufacturer ?? 'Warden')],
      [DeviceResource.ModelNumber, str(options.modelNumber ?? 'Warden Simulated Device')],
      [DeviceResource.SerialNumber, str(options.serialNumber ?? 'WARDEN-0001')],
      [DeviceResource.FirmwareVersion, str(options.firmwareVersion ?? '1.0.0')],
      [DeviceResource.AvailablePowerSources, list([int(1), int(5)])],
      [DeviceResource.PowerSourceVoltage, list([int(3800), int(5000)])],
      [DeviceResource.PowerSourceCurrent, list([int(120), int(0)])],
      [DeviceResource.BatteryLevel, int(options.batteryLevel ?? 100)],
      [DeviceResource.MemoryFree, int(Math.round(memoryTotal * 0.6))],
      [DeviceResource.ErrorCode, list([int(0)])],
      [DeviceResource.CurrentTime, time(new Date(0))],
      [DeviceResource.UtcOffset, str('+00:00')],
      [DeviceResource.Timezone, str('Etc/UTC')],
      [DeviceResource.SupportedBindings, str(options.supportedBindings ?? 'UQ')],
      [DeviceResource.DeviceType, str(options.deviceType ?? 'simulator')],
      [DeviceResource.HardwareVersion, str(options.hardwareVersion ?? '1.0')],
      [DeviceResource.SoftwareVersion, str(options.softwareVersion ?? '0.1.0')],
      [DeviceResource.BatteryStatus, int(BatteryStatus.Normal)],
      [DeviceResource.MemoryTotal, int(memoryTotal)],
    ];
    super(
      definition,
      0,
      values.filter(([id]) => definition.resources.has(id)),
      [DeviceResource.Reboot, DeviceResource.FactoryReset, DeviceResource.ResetErrorCode].filter((id) => definition.resources.has(id)),
    );
    this.initial = values;
  }

  override read(resourceId: number): ResourceNode | undefined {
    if (resourceId === DeviceResource.CurrentTime && this.has(resourceId)) {
      const now = (this.host?.wallNow() ?? Date.now()) + this.clockOffset;
      return { kind: 'singleResource', id: resourceId, value: time(new Date(Math.floor(now / 1000) * 1000)) };
    }
    return super.read(resourceId);
  }

  protected override beforeWrite(resourceId: number, value: ResourceValue): void {
    if (resourceId === DeviceResource.CurrentTime && value.type === 'time') {
      this.clockOffset = value.value.getTime() - (this.host?.wallNow() ?? Date.now());
    }
  }

  protected override afterWrite(resourceId: number): void {
    this.changed(resourceId);
  }

  override execute(resourceId: number, args: ExecuteArgs): void {
    switch (resourceId) {
      case DeviceResource.Reboot:
        this.host?.trigger('reboot');
        return;
      case DeviceResource.FactoryReset:
        this.factoryReset();
        this.host?.trigger('factory-reset');
        return;
      case DeviceResource.ResetErrorCode:
        this.setMultiple(DeviceResource.ErrorCode, list([int(0)]));
        return;
      default:
        super.execute(resourceId, args);
    }
  }

  /** Restores the writable resources to their initial values. */
  factoryReset(): void {
    this.clockOffset = 0;
    for (const [id, v] of this.initial) {
      if (id === DeviceResource.UtcOffset || id === DeviceResource.Timezone) this.set(id, v as ResourceValue);
    }
  }

  /** Records a new firmware version (after an update). */
  setFirmwareVersion(version: string): void {
    this.set(DeviceResource.FirmwareVersion, str(version));
  }

  /** Adds an error code (resource 11; 0 means no error and is replaced). */
  addErrorCode(code: number): void {
    const node = super.read(DeviceResource.ErrorCode);
    const codes = node?.kind === 'multipleResource' ? [...node.instances.values()].filter((v) => Number(v.value) !== 0) : [];
    codes.push(int(code));
    this.setMultiple(DeviceResource.ErrorCode, list(codes));
  }

  /** One step of the simulation: battery drains (and recharges when low), free memory wanders, time moves. */
  tick(random: () => number): void {
    const battery = Number(this.get(DeviceResource.BatteryLevel)?.value ?? 100);
    let next = battery;
    if (this.charging) {
      next = Math.min(100, battery + 5);
      if (next === 100) this.charging = false;
    } else if (random() < 0.3) {
      next = Math.max(0, battery - 1);
      if (next <= 10) this.charging = true;
    }
    if (next !== battery) this.set(DeviceResource.BatteryLevel, int(next));
    this.set(DeviceResource.BatteryStatus, int(this.charging ? BatteryStatus.Charging : next <= 20 ? BatteryStatus.Low : BatteryStatus.Normal));
    const total = Number(this.get(DeviceResource.MemoryTotal)?.value ?? 65536);
    const free = Number(this.get(DeviceResource.MemoryFree)?.value ?? total / 2);
    const drift = Math.round((random() - 0.5) * total * 0.02);
    this.set(DeviceResource.MemoryFree, int(Math.min(total, Math.max(0, free + drift))));
    if (this.has(DeviceResource.CurrentTime)) this.changed(DeviceResource.CurrentTime);
  }
}

/** The Device object (single instance, cannot be created or deleted). */
export class DeviceObject extends ObjectEnabler {
  readonly device: DeviceInstance;

  constructor(definition: ObjectDefinition, options: DeviceOptions = {}) {
    const device = new DeviceInstance(definition, options);
    super(definition, [device], { creatable: false });
    this.device = device;
  }

  override tick(): void {
    if (this.host) this.device.tick(this.host.random);
  }
}
