/** The standard objects 0-6 a client runs by default. */
import type { Model, ObjectDefinition } from '../../lwm2m/index.js';
import type { ObjectEnabler } from '../object.js';
import { AccessControlObject } from './access-control.js';
import { ConnectivityObject, type ConnectivityOptions } from './connectivity.js';
import { DeviceObject, type DeviceOptions } from './device.js';
import { FirmwareObject } from './firmware.js';
import type { FirmwareUpdater } from './firmware-updater.js';
import { LocationObject, type LocationOptions } from './location.js';
import { securityObject, type SecurityOptions } from './security.js';
import { serverObject } from './server.js';

export interface StandardObjectsOptions {
  serverUri: string;
  shortServerId: number;
  lifetime: number;
  binding: string;
  /** Security Mode and credentials of the Security object (default NoSec). */
  security?: Omit<SecurityOptions, 'serverUri' | 'shortServerId' | 'bootstrapServer'>;
  defaultPmin?: number;
  defaultPmax?: number;
  device?: DeviceOptions;
  connectivity?: ConnectivityOptions;
  location?: LocationOptions;
  firmwareUpdater?: FirmwareUpdater;
  /** Called when a firmware install needs the device to restart. */
  onFirmwareReboot?: () => void;
}

function definition(model: Model, id: number): ObjectDefinition {
  const def = model.object(id);
  if (!def) throw new Error(`the model has no definition of object ${id}`);
  return def;
}

/**
 * Security (0), Server (1), Access Control (2), Device (3), Connectivity Monitoring (4),
 * Firmware Update (5) and Location (6), wired together (a firmware install updates /3/0/3).
 */
export function standardObjects(model: Model, options: StandardObjectsOptions): ObjectEnabler[] {
  const device = new DeviceObject(definition(model, 3), options.device);
  return [
    securityObject(definition(model, 0), { ...options.security, serverUri: options.serverUri, shortServerId: options.shortServerId }),
    serverObject(definition(model, 1), {
      shortServerId: options.shortServerId,
      lifetime: options.lifetime,
      binding: options.binding,
      ...(options.defaultPmin !== undefined ? { defaultPmin: options.defaultPmin } : {}),
      ...(options.defaultPmax !== undefined ? { defaultPmax: options.defaultPmax } : {}),
    }),
    new AccessControlObject(definition(model, 2)),
    device,
    new ConnectivityObject(definition(model, 4), options.connectivity),
    new FirmwareObject(definition(model, 5), {
      ...(options.firmwareUpdater ? { updater: options.firmwareUpdater } : {}),
      onInstalled: (version) => device.device.setFirmwareVersion(version),
      ...(options.onFirmwareReboot ? { onReboot: options.onFirmwareReboot } : {}),
    }),
    new LocationObject(definition(model, 6), options.location),
  ];
}

export * from './access-control.js';
export * from './connectivity.js';
export * from './device.js';
export * from './firmware.js';
export * from './firmware-state.js';
export * from './firmware-updater.js';
export * from './simulated-firmware.js';
export * from './location.js';
export * from './security.js';
export * from './server.js';
