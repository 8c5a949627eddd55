/** Object 6, Location (Core Appendix E.7): a position drifting like a slow vehicle. */
import type { ObjectDefinition, ResourceValue } from '../../lwm2m/index.js';
import { BaseInstance, ObjectEnabler } from '../object.js';
import { float, opaque, time } from '../value.js';

export interface LocationOptions {
  latitude?: number;
  longitude?: number;
  altitude?: number;
}

export const LocationResource = { Latitude: 0, Longitude: 1, Altitude: 2, Radius: 3, Velocity: 4, Timestamp: 5, Speed: 6 } as const;

/** 3GPP TS 23.032 §8.12 "horizontal velocity": type 0, bearing (9 bits), speed km/h (16 bits). */
function horizontalVelocity(bearingDeg: number, speedKmh: number): Uint8Array {
  const bearing = Math.round(bearingDeg) % 360;
  const speed = Math.min(0xffff, Math.round(speedKmh));
  return Uint8Array.of(((bearing >> 8) & 0x01), bearing & 0xff, speed >> 8, speed & 0xff);
}

function round6(v: number): number {
  return Math.round(v * 1e6) / 1e6;
}

export class LocationInstance extends BaseInstance {
  private bearing = 90;

  constructor(definition: ObjectDefinition, options: LocationOptions = {}) {
    const values: [number, ResourceValue][] = [
      [LocationResource.Latitude, float(options.latitude ?? 48.1374)],
      [LocationResource.Longitude, float(options.longitude ?? 11.5755)],
      [LocationResource.Altitude, float(options.altitude ?? 519)],
      [LocationResource.Radius, float(10)],
      [LocationResource.Velocity, opaque(horizontalVelocity(90, 0))],
      [LocationResource.Timestamp, time(new Date(0))],
      [LocationResource.Speed, float(0)],
    ];
    super(definition, 0, values.filter(([id]) => definition.resources.has(id)));
  }

  /** One step of `seconds`: bearing wanders, speed 0..15 m/s, position moves accordingly. */
  tick(random: () => number, wallNow: number, seconds: number): void {
    this.bearing = (this.bearing + (random() - 0.5) * 40 + 360) % 360;
    const speed = Math.round(random() * 15 * 10) / 10;
    const distance = speed * seconds;
    const lat = Number(this.get(LocationResource.Latitude)?.value ?? 0);
    const lon = Number(this.get(LocationResource.Longitude)?.value ?? 0);
    const rad = (this.bearing * Math.PI) / 180;
    const dLat = (distance * Math.cos(rad)) / 111_320;
    const dLon = (distance * Math.sin(rad)) / (111_320 * Math.max(0.01, Math.cos((lat * Math.PI) / 180)));
    this.set(LocationResource.Latitude, float(round6(Math.max(-90, Math.min(90, lat + dLat)))));
    this.set(LocationResource.Longitude, float(round6(((lon + dLon + 540) % 360) - 180)));
    this.set(LocationResource.Speed, float(speed));
    this.set(LocationResource.Velocity, opaque(horizontalVelocity(this.bearing, speed * 3.6)));
    this.set(LocationResource.Timestamp, time(new Date(Math.floor(wallNow / 1000) * 1000)));
  }
}

export class LocationObject extends ObjectEnabler {
  readonly location: LocationInstance;
  private lastTick: number | undefined;

  constructor(definition: ObjectDefinition, options: LocationOptions = {}) {
    const inst = new LocationInstance(definition, options);
    super(definition, [inst], { creatable: false });
    this.location = inst;
  }

  override tick(wallNow: number): void {
    if (!this.host) return;
    const seconds = this.lastTick === undefined ? 0 : Math.max(0, (wallNow - this.lastTick) / 1000);
    this.lastTick = wallNow;
    this.location.tick(this.host.random, wallNow, seconds);
  }
}
