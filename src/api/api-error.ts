/** How the API turns failures into HTTP status codes and `{"message": ...}` bodies. */
import { Lwm2mError } from '../lwm2m/index.js';
import { ServerError } from '../server/index.js';
import { NodeJsonError } from './node-json.js';

/** A failure with the HTTP status to answer it with. */
export class ApiError extends Error {
  readonly statusCode: number;

  constructor(statusCode: number, message: string) {
    super(message);
    this.name = 'ApiError';
    this.statusCode = statusCode;
  }
}

/** What the request was, to word messages. */
export interface RequestContext {
  endpoint: string;
  /** Seconds. */
  timeout: number;
}

/** Maps a thrown error to an HTTP error; returns undefined for errors that are bugs (answered 500 by the caller). */
export function toApiError(err: unknown, ctx: RequestContext | undefined): ApiError | undefined {
  if (err instanceof ApiError) return err;
  if (err instanceof NodeJsonError) return new ApiError(400, err.message);
  if (err instanceof ServerError) {
    const ep = ctx?.endpoint ?? 'unknown';
    switch (err.code) {
      case 'NOT_REGISTERED':
        return new ApiError(404, `device ${ep} is not registered`);
      case 'TIMEOUT':
        return new ApiError(504, ctx ? `device ${ep} did not answer within ${ctx.timeout} s` : err.message);
      case 'INVALID_REQUEST':
      case 'UNSUPPORTED_FORMAT':
        return new ApiError(400, err.message);
      case 'BAD_RESPONSE':
        return new ApiError(502, `device ${ep} sent an invalid response: ${err.message}`);
      case 'CANCELLED':
        return new ApiError(503, `request to device ${ep} was cancelled: ${err.message}`);
    }
  }
  // Lwm2mError from the server's encoders (e.g. 4.00 malformed value, 4.06 format cannot carry the node).
  if (err instanceof Lwm2mError) return new ApiError(err.code >> 5 === 4 ? 400 : 500, err.message);
  return undefined;
}
