/**
 * The contracts of the CoAP layer (RFC 7252, RFC 7641, RFC 7959), shared by the codec,
 * the endpoint and the layers above. Transport-agnostic: UDP now, DTLS later.
 */

/** RFC 7252 §3: message types. */
export const enum MessageType {
  CON = 0,
  NON = 1,
  ACK = 2,
  RST = 3,
}

/** RFC 7252 §12.2 and RFC 7641, RFC 7959 option numbers. */
export const OptionNumber = {
  IfMatch: 1,
  UriHost: 3,
  ETag: 4,
  IfNoneMatch: 5,
  Observe: 6,
  UriPort: 7,
  LocationPath: 8,
  UriPath: 11,
  ContentFormat: 12,
  MaxAge: 14,
  UriQuery: 15,
  Accept: 17,
  LocationQuery: 20,
  Block2: 23,
  Block1: 27,
  Size2: 28,
  ProxyUri: 35,
  ProxyScheme: 39,
  Size1: 60,
} as const;

/** One option as it sits in a message: its number and raw value bytes. */
export interface CoapOption {
  readonly number: number;
  readonly value: Uint8Array;
}

/**
 * A decoded CoAP message. `code` is the 8-bit code (class << 5 | detail): 0.01 GET is 1,
 * 2.05 Content is 69. Options are kept sorted by number (stable for repeats).
 */
export interface CoapMessage {
  type: MessageType;
  code: number;
  messageId: number;
  token: Uint8Array;
  options: CoapOption[];
  payload: Uint8Array;
}

/** Where a message comes from or goes to. `key` is a stable string for maps ("host:port"). */
export interface PeerAddress {
  readonly address: string;
  readonly port: number;
  readonly family?: 'IPv4' | 'IPv6';
}

/**
 * A datagram transport under the endpoint: UDP now, DTLS later. `identity` is what the
 * secure layer authenticated (PSK identity, key, certificate); absent over plain UDP.
 */
export interface Transport {
  send(datagram: Uint8Array, peer: PeerAddress): void;
  onDatagram(handler: (datagram: Uint8Array, peer: PeerAddress, identity?: PeerIdentity) => void): void;
  close(): Promise<void>;
}

/** What a secure transport tells the endpoint about the peer it authenticated. */
export interface PeerIdentity {
  readonly mode: 'psk' | 'rpk' | 'x509';
  readonly name: string;
}

/** A request as the layer above hands it to the endpoint. */
export interface CoapRequest {
  /** 0.01 GET, 0.02 POST, 0.03 PUT, 0.04 DELETE, 0.05 FETCH, 0.06 PATCH, 0.07 iPATCH. */
  code: number;
  /** Every option but Block1/Block2/Size1, which the endpoint adds itself. */
  options?: CoapOption[];
  payload?: Uint8Array;
  /** CON (default) or NON. */
  confirmable?: boolean;
}

/** A complete response: block-wise responses are already reassembled. */
export interface CoapResponse {
  code: number;
  options: CoapOption[];
  payload: Uint8Array;
}

export interface RequestOptions {
  /** Give up on the whole exchange (all blocks) after this many ms. Default: EXCHANGE_LIFETIME. */
  timeout?: number;
  /** Preferred block size for Block1/Block2 (16..1024). Default 1024. */
  blockSize?: number;
  /** Token to use (observe relations that must be re-attached after a restart). Random 8 bytes otherwise. */
  token?: Uint8Array;
  signal?: AbortSignal;
  /**
   * Ask for this one Block2 block (RFC 7959 §2.4, random access) of a GET/FETCH and resolve with its response as it
   * came, Block2, Size2 and ETag options included, without fetching the other blocks. The request carries Size2 = 0
   * (§4) so that the server tells the total size.
   */
  block2?: { num: number; szx: number };
}

/** A request the endpoint received, with Block1 already reassembled. */
export interface IncomingRequest {
  readonly peer: PeerAddress;
  readonly identity?: PeerIdentity;
  readonly message: CoapMessage;
  readonly code: number;
  /** Uri-Path segments, decoded. */
  readonly path: string[];
  /** Uri-Query items, decoded, e.g. ["ep=dev1", "lt=300"]. */
  readonly query: string[];
  readonly contentFormat?: number;
  readonly accept?: number;
  /** Observe option value (0 register, 1 deregister) if present. */
  readonly observe?: number;
  readonly payload: Uint8Array;
}

/** What a request handler answers. Large payloads are sent with Block2 by the endpoint. */
export interface OutgoingResponse {
  code: number;
  options?: CoapOption[];
  payload?: Uint8Array;
  /**
   * For a GET/FETCH carrying Observe=0: set to accept the observation. Called once the
   * 2.xx response is on its way, with the relation to send notifications through.
   */
  observe?: (relation: ObserveRelation) => void;
}

/** Server side of an RFC 7641 observation. */
export interface ObserveRelation {
  readonly peer: PeerAddress;
  readonly token: Uint8Array;
  readonly cancelled: boolean;
  /** Send a notification; the endpoint sets the Observe sequence number and Block2 if large. */
  notify(response: OutgoingResponse, confirmable?: boolean): void;
  /** Called once when the observer cancels (RST, GET Observe=1) or a CON notification times out. */
  onCancel(listener: () => void): void;
  /** Ends the relation from our side (no message sent). */
  cancel(): void;
}

export type RequestHandler = (request: IncomingRequest) => OutgoingResponse | Promise<OutgoingResponse>;

/** Client side of an RFC 7641 observation. */
export interface Observation {
  readonly token: Uint8Array;
  /** The first response (2.xx with Observe, or an error code without one). */
  readonly response: CoapResponse;
  /** Stop listening; `proactive` sends a GET with Observe=1 (RFC 7641 §3.6). */
  cancel(proactive?: boolean): Promise<void>;
}

/** Called for each notification in order (stale ones, by RFC 7641 §3.4, are dropped). */
export type NotificationListener = (notification: CoapResponse, peer: PeerAddress) => void;
