/** The LwM2M layer's error: `code` is the CoAP response code a device or server answers with. */
export class Lwm2mError extends Error {
  readonly code: number;

  constructor(code: number, message: string) {
    super(message);
    this.name = 'Lwm2mError';
    this.code = code;
  }
}

/** CoAP response codes (class << 5 | detail): LwM2M answers in CoAP's own codes. */
export { ResponseCode } from '../coap/option.js';
