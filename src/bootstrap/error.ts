/** The bootstrap layer's error: a `code` callers act on; messages never carry key material. */
export type BootstrapErrorCode = 'INVALID_CONFIG' | 'NO_CONFIG' | 'UNKNOWN_DEVICE' | 'ILLEGAL_TRANSITION' | 'BUSY';

export class BootstrapError extends Error {
  constructor(
    readonly code: BootstrapErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'BootstrapError';
  }
}
