import type { MessageType } from './types.js';

/**
 * What went wrong in the CoAP layer, as a code a caller can act on:
 * 'TRUNCATED' | 'BAD_VERSION' | 'BAD_TOKEN_LENGTH' | 'BAD_OPTION' | 'PAYLOAD_MARKER' | 'BAD_CODE' (decoding),
 * 'TIMEOUT' | 'RESET' | 'ABORTED' | 'CLOSED' | 'TOO_LARGE' | 'BLOCK_MISMATCH' | 'BAD_RESPONSE' (exchanges).
 */
export type CoapErrorCode =
  | 'TRUNCATED'
  | 'BAD_VERSION'
  | 'BAD_TOKEN_LENGTH'
  | 'BAD_OPTION'
  | 'PAYLOAD_MARKER'
  | 'BAD_CODE'
  | 'TIMEOUT'
  | 'RESET'
  | 'ABORTED'
  | 'CLOSED'
  | 'TOO_LARGE'
  | 'BLOCK_MISMATCH'
  | 'BAD_RESPONSE';

/** The CoAP layer's error. Decoding errors carry the header fields when they were readable. */
export class CoapError extends Error {
  /** Machine-readable reason. */
  readonly code: CoapErrorCode;
  /** Message ID of the offending datagram, when its 4-byte header was readable. */
  readonly messageId?: number;
  /** Message type of the offending datagram, when its header was readable. */
  readonly type?: MessageType;

  constructor(code: CoapErrorCode, message: string, header?: { messageId: number; type: MessageType }) {
    super(message);
    this.name = 'CoapError';
    this.code = code;
    if (header) {
      this.messageId = header.messageId;
      this.type = header.type;
    }
  }
}
