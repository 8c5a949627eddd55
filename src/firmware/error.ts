/** The one error type of firmware package verification: a code a device reports, a message without key material. */

/** Why a firmware package was refused. */
export type FirmwareErrorCode =
  | 'MALFORMED'
  | 'BAD_SIGNATURE'
  | 'UNKNOWN_KEY'
  | 'WRONG_VENDOR'
  | 'WRONG_CLASS'
  | 'ROLLBACK'
  | 'WRONG_BASE'
  | 'DIGEST_MISMATCH'
  | 'SIZE_MISMATCH'
  | 'TRUNCATED';

/** A refused firmware package; `code` says which check refused it. */
export class FirmwareError extends Error {
  constructor(
    readonly code: FirmwareErrorCode,
    message: string,
  ) {
    super(`${code}: ${message}`);
    this.name = 'FirmwareError';
  }
}
