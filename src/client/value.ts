/** Short constructors for typed resource values (LwM2M 1.1 Core Appendix C). */
import type { ObjectLink, ResourceValue } from '../lwm2m/index.js';

export const str = (value: string): ResourceValue => ({ type: 'string', value });
export const int = (value: number | bigint): ResourceValue => ({ type: 'integer', value });
export const uint = (value: number | bigint): ResourceValue => ({ type: 'unsignedInteger', value });
export const float = (value: number): ResourceValue => ({ type: 'float', value });
export const bool = (value: boolean): ResourceValue => ({ type: 'boolean', value });
export const opaque = (value: Uint8Array): ResourceValue => ({ type: 'opaque', value });
export const time = (value: Date): ResourceValue => ({ type: 'time', value });
export const objlnk = (value: ObjectLink): ResourceValue => ({ type: 'objlnk', value });

/** A multiple resource's instances from a list (instance ids 0..n-1). */
export function list(values: readonly ResourceValue[]): Map<number, ResourceValue> {
  const m = new Map<number, ResourceValue>();
  values.forEach((v, i) => m.set(i, v));
  return m;
}

/** A numeric value as a JS number (for notification thresholds); undefined if not numeric. */
export function numericValue(v: ResourceValue): number | undefined {
  switch (v.type) {
    case 'integer':
    case 'unsignedInteger':
    case 'float':
      return Number(v.value);
    default:
      return undefined;
  }
}
