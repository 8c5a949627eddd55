/** Update Result codes (LwM2M Core Appendix E.6, resource 5) for the device's refusals. */
import { FirmwareError } from '../firmware/index.js';

/** The Update Result values the device reports. */
export const DeviceResult = {
  Success: 1,
  NotEnoughFlash: 2,
  IntegrityFailure: 5,
  UnsupportedPackage: 6,
  UpdateFailed: 8,
} as const;

/**
 * The Update Result for a refused package. ROLLBACK maps to 5 (integrity check failure): E.6 has no anti-rollback
 * code, the package is authentic but its sequence fails the device's security check, and 6 (unsupported package
 * type) would tell the server to stop offering this format. WRONG_BASE maps to 6: the delta is well-formed and
 * signed but not a package this device (running another image) can take.
 */
export function updateResultFor(err: unknown): number {
  if (!(err instanceof FirmwareError)) return DeviceResult.UpdateFailed;
  switch (err.code) {
    case 'WRONG_VENDOR':
    case 'WRONG_CLASS':
    case 'WRONG_BASE':
      return DeviceResult.UnsupportedPackage;
    case 'MALFORMED':
    case 'TRUNCATED':
    case 'SIZE_MISMATCH':
    case 'DIGEST_MISMATCH':
    case 'BAD_SIGNATURE':
    case 'UNKNOWN_KEY':
    case 'ROLLBACK':
      return DeviceResult.IntegrityFailure;
  }
}
