/**
 * The few DER (X.690 §10) primitives that PKCS#10 and PKCS#7 certs-only need: read one TLV, write one TLV.
 * Definite lengths only; single-byte tags only.
 */

/** One TLV: its tag, the whole encoding, and the contents. */
export interface Tlv {
  tag: number;
  whole: Uint8Array;
  content: Uint8Array;
  /** Offset just past this TLV. */
  end: number;
}

/** Reads the TLV at `at`; throws on truncated or non-DER input. */
export function readTlv(buf: Uint8Array, at = 0): Tlv {
  if (at + 2 > buf.length) throw new Error('truncated DER');
  const tag = buf[at]!;
  if ((tag & 0x1f) === 0x1f) throw new Error('multi-byte DER tags are not supported');
  let len = buf[at + 1]!;
  let hdr = 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 3) throw new Error('unsupported DER length');
    if (at + 2 + n > buf.length) throw new Error('truncated DER');
    len = 0;
    for (let i = 0; i < n; i++) len = (len << 8) | buf[at + 2 + i]!;
    // X.690 §10.1: the shortest length form.
    if (len < 0x80 || (n > 1 && buf[at + 2] === 0)) throw new Error('non-minimal DER length');
    hdr += n;
  }
  const end = at + hdr + len;
  if (end > buf.length) throw new Error('truncated DER');
  return { tag, whole: buf.subarray(at, end), content: buf.subarray(at + hdr, end), end };
}

/** The TLVs inside a constructed value's contents, in order. */
export function readChildren(content: Uint8Array): Tlv[] {
  const out: Tlv[] = [];
  for (let at = 0; at < content.length; ) {
    const t = readTlv(content, at);
    out.push(t);
    at = t.end;
  }
  return out;
}

/** Encodes one TLV. */
export function tlv(tag: number, ...parts: Uint8Array[]): Uint8Array {
  let len = 0;
  for (const p of parts) len += p.length;
  const hdr: number[] = [tag];
  if (len < 0x80) hdr.push(len);
  else if (len < 0x100) hdr.push(0x81, len);
  else if (len < 0x10000) hdr.push(0x82, len >> 8, len & 0xff);
  else hdr.push(0x83, len >> 16, (len >> 8) & 0xff, len & 0xff);
  const out = new Uint8Array(hdr.length + len);
  out.set(hdr, 0);
  let at = hdr.length;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export const TAG = { INTEGER: 0x02, BIT_STRING: 0x03, OID: 0x06, SEQUENCE: 0x30, SET: 0x31 } as const;

/** Encodes a dotted OID (X.690 §8.19). Arcs are arbitrary-precision (2.25.<UUID> arcs run to 128 bits). */
export function oid(dotted: string): Uint8Array {
  const arcs = dotted.split('.').map((a) => BigInt(a));
  // §8.19.4: the first subidentifier is X*40+Y, base-128 like the others (above 127 for arc 2.48 and up).
  const subids = [arcs[0]! * 40n + arcs[1]!, ...arcs.slice(2)];
  const bytes: number[] = [];
  for (const arc of subids) {
    const chunk: number[] = [Number(arc & 0x7fn)];
    for (let v = arc >> 7n; v > 0n; v >>= 7n) chunk.unshift(Number(v & 0x7fn) | 0x80);
    bytes.push(...chunk);
  }
  return tlv(TAG.OID, Uint8Array.from(bytes));
}

/**
 * Decodes the contents of an OID TLV to dotted form, exactly (arcs beyond 2^53 too); throws on a
 * truncated or non-minimal subidentifier.
 */
export function oidString(content: Uint8Array): string {
  if (content.length === 0) throw new Error('empty OID');
  const arcs: bigint[] = [];
  let v = 0n;
  let octets = 0;
  let start = true;
  for (const b of content) {
    // X.690 §8.19.2: the leading octet of a subidentifier shall not be 0x80.
    if (start && b === 0x80) throw new Error('non-minimal OID subidentifier');
    // 19 octets hold 133 bits: room for the 128-bit UUID arcs of 2.25 (X.667), and no quadratic bigint growth.
    if (++octets > 19) throw new Error('OID subidentifier longer than 19 octets');
    v = (v << 7n) | BigInt(b & 0x7f);
    start = (b & 0x80) === 0;
    if (start) {
      arcs.push(v);
      v = 0n;
      octets = 0;
    }
  }
  // §8.19.2: bit 8 of a subidentifier's last octet is zero, so a set bit at the end means it is cut short.
  if (!start) throw new Error('truncated OID subidentifier');
  const first = arcs.shift()!;
  const a = first < 80n ? first / 40n : 2n;
  return [a, first - a * 40n, ...arcs].join('.');
}

/** An unsigned big-endian integer as a minimal DER INTEGER. */
export function derUnsigned(bytes: Uint8Array): Uint8Array {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  const body = bytes.subarray(i);
  return body[0]! & 0x80 ? tlv(TAG.INTEGER, Uint8Array.of(0), body) : tlv(TAG.INTEGER, body);
}

/** PKCS#11 CKM_ECDSA's raw r || s (PKCS#11 v2.40 §2.3.1) as the DER Ecdsa-Sig-Value X.509 uses (RFC 3279 §2.2.3). */
export function ecdsaRawToDer(raw: Uint8Array): Uint8Array {
  if (raw.length === 0 || raw.length % 2 !== 0) throw new Error('raw ECDSA signature has odd length');
  const half = raw.length / 2;
  return tlv(TAG.SEQUENCE, derUnsigned(raw.subarray(0, half)), derUnsigned(raw.subarray(half)));
}
