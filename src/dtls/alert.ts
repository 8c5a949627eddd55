/** DTLS alerts (RFC 5246 §7.2, RFC 6347 §4.1.2.7). */

/** RFC 5246 §7.2: AlertLevel. */
export const AlertLevel = {
  warning: 1,
  fatal: 2,
} as const;

/** RFC 5246 §7.2 AlertDescription (plus RFC 4279 unknown_psk_identity, RFC 7627/5746 users). */
export const AlertDescription = {
  close_notify: 0,
  unexpected_message: 10,
  bad_record_mac: 20,
  record_overflow: 22,
  decompression_failure: 30,
  handshake_failure: 40,
  bad_certificate: 42,
  unsupported_certificate: 43,
  certificate_revoked: 44,
  certificate_expired: 45,
  certificate_unknown: 46,
  illegal_parameter: 47,
  unknown_ca: 48,
  access_denied: 49,
  decode_error: 50,
  decrypt_error: 51,
  protocol_version: 70,
  insufficient_security: 71,
  internal_error: 80,
  user_canceled: 90,
  no_renegotiation: 100,
  unsupported_extension: 110,
  unknown_psk_identity: 115,
} as const;

export type AlertDescriptionName = keyof typeof AlertDescription;

const names = new Map<number, AlertDescriptionName>(
  Object.entries(AlertDescription).map(([k, v]) => [v, k as AlertDescriptionName]),
);

/** The name of an alert description number ("alert_<n>" when unknown). */
export function alertName(description: number): string {
  return names.get(description) ?? `alert_${description}`;
}

/** A DTLS alert, raised locally (to be sent) or received from the peer. `code` is the description's name. */
export class DtlsAlert extends Error {
  readonly level: number;
  readonly description: number;
  readonly code: string;
  /** True when the peer sent it; false when we raise it. */
  readonly remote: boolean;

  constructor(description: number, message?: string, level: number = AlertLevel.fatal, remote = false) {
    super(message ?? `DTLS alert ${alertName(description)}`);
    this.name = 'DtlsAlert';
    this.level = level;
    this.description = description;
    this.code = alertName(description);
    this.remote = remote;
  }

  get fatal(): boolean {
    return this.level === AlertLevel.fatal;
  }
}

/** Shorthand for a local fatal alert. */
export function alert(name: AlertDescriptionName, message?: string): DtlsAlert {
  return new DtlsAlert(AlertDescription[name], message);
}

/** RFC 5246 §7.2: the two-byte Alert body. */
export function encodeAlert(level: number, description: number): Uint8Array {
  return Uint8Array.of(level, description);
}

/** Parses an Alert body; decode_error unless exactly two bytes. */
export function decodeAlert(body: Uint8Array): { level: number; description: number } {
  if (body.length !== 2) throw alert('decode_error', 'alert length');
  return { level: body[0]!, description: body[1]! };
}
