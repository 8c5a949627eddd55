/** The LwM2M layer's error: `code` is the CoAP response code a device or server answers with. */
export class Lwm2mError extends Error {
  readonly code: number;

  constructor(code: number, message: string) {
    super(message);
    this.name = 'Lwm2mError';
    this.code = code;
  }
}

/** CoAP response codes LwM2M uses (class << 5 | detail). */
export const ResponseCode = {
  Created: 65,
  Deleted: 66,
  Valid: 67,
  Changed: 68,
  Content: 69,
  Continue: 95,
  BadRequest: 128,
  Unauthorized: 129,
  BadOption: 130,
  Forbidden: 131,
  NotFound: 132,
  MethodNotAllowed: 133,
  NotAcceptable: 134,
  RequestEntityIncomplete: 136,
  PreconditionFailed: 140,
  RequestEntityTooLarge: 141,
  UnsupportedContentFormat: 143,
  InternalServerError: 160,
  NotImplemented: 161,
  ServiceUnavailable: 163,
  GatewayTimeout: 164,
} as const;
