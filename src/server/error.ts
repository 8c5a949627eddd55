import type { ServerErrorCode } from './types.js';

/** A request the server could not carry out; `code` says why in a way a caller (the API) can map. */
export class ServerError extends Error {
  readonly code: ServerErrorCode;

  constructor(code: ServerErrorCode, message: string) {
    super(message);
    this.name = 'ServerError';
    this.code = code;
  }
}
