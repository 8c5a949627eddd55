/** Handshake message fragmentation and reassembly (RFC 6347 §4.2.3). */
import { alert } from './alert.js';
import { encodeHandshakeFragment, HANDSHAKE_HEADER_LENGTH, type HandshakeFragment } from './messages.js';

/** Default cap on one handshake message (bigger -> illegal_parameter). */
export const DEFAULT_MAX_MESSAGE_SIZE = 16 * 1024;

/**
 * Splits a handshake body into fragments of at most `maxFragmentLength` body bytes each, each with its
 * own DTLS handshake header (RFC 6347 §4.2.3). A message that fits is one fragment.
 */
export function fragmentMessage(msgType: number, messageSeq: number, body: Uint8Array, maxFragmentLength: number): Uint8Array[] {
  if (maxFragmentLength < 1) throw new RangeError('maxFragmentLength');
  if (body.length <= maxFragmentLength) return [encodeHandshakeFragment(msgType, body.length, messageSeq, 0, body)];
  const out: Uint8Array[] = [];
  for (let off = 0; off < body.length; off += maxFragmentLength) {
    out.push(encodeHandshakeFragment(msgType, body.length, messageSeq, off, body.subarray(off, Math.min(body.length, off + maxFragmentLength))));
  }
  return out;
}

/** A complete handshake message. `raw` is the unfragmented form that the transcript hashes. */
export interface HandshakeMessage {
  msgType: number;
  messageSeq: number;
  body: Uint8Array;
  raw: Uint8Array;
}

interface Pending {
  msgType: number;
  length: number;
  raw: Uint8Array;
  /** Received byte ranges [start, end), sorted and merged. */
  ranges: number[];
}

export interface ReassemblerOptions {
  /** message_seq of the first message expected. */
  nextSeq?: number;
  maxMessageSize?: number;
  /** How many messages beyond the next one are buffered (later ones are dropped). */
  window?: number;
}

/**
 * Reassembles handshake fragments into messages, delivered in message_seq order. Fragments may overlap
 * or repeat; a fragment reaching past its declared length, a length over the cap, or a fragment
 * contradicting an earlier one's type or length is DtlsAlert(illegal_parameter).
 */
export class HandshakeReassembler {
  nextSeq: number;
  private readonly maxMessageSize: number;
  private readonly window: number;
  private readonly pending = new Map<number, Pending>();

  constructor(opts: ReassemblerOptions = {}) {
    this.nextSeq = opts.nextSeq ?? 0;
    this.maxMessageSize = opts.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE;
    this.window = opts.window ?? 8;
  }

  /**
   * Takes one fragment. Returns 'old' for a message already delivered (a retransmission by the peer:
   * RFC 6347 §4.2.4 may call for resending our last flight), 'ignored' when beyond the window, and
   * 'accepted' otherwise.
   */
  add(f: HandshakeFragment): 'old' | 'ignored' | 'accepted' {
    if (f.length > this.maxMessageSize) throw alert('illegal_parameter', `handshake message of ${f.length} bytes`);
    if (f.fragmentOffset + f.fragmentLength > f.length) throw alert('illegal_parameter', 'fragment beyond the message length');
    if (f.messageSeq < this.nextSeq) return 'old';
    if (f.messageSeq >= this.nextSeq + this.window) return 'ignored';
    let p = this.pending.get(f.messageSeq);
    if (!p) {
      // The unfragmented header (RFC 6347 §4.2.6): fragment_offset 0, fragment_length = length.
      const raw = new Uint8Array(HANDSHAKE_HEADER_LENGTH + f.length);
      raw[0] = f.msgType;
      raw[1] = f.length >>> 16;
      raw[2] = (f.length >>> 8) & 0xff;
      raw[3] = f.length & 0xff;
      raw[4] = f.messageSeq >>> 8;
      raw[5] = f.messageSeq & 0xff;
      raw[9] = f.length >>> 16;
      raw[10] = (f.length >>> 8) & 0xff;
      raw[11] = f.length & 0xff;
      p = { msgType: f.msgType, length: f.length, raw, ranges: [] };
      this.pending.set(f.messageSeq, p);
    } else if (p.msgType !== f.msgType || p.length !== f.length) {
      throw alert('illegal_parameter', 'fragment disagrees with an earlier one');
    }
    if (f.fragmentLength > 0) {
      p.raw.set(f.fragment, HANDSHAKE_HEADER_LENGTH + f.fragmentOffset);
      if (p.ranges.length === 0) p.ranges.push(f.fragmentOffset, f.fragmentOffset + f.fragmentLength);
      else addRange(p.ranges, f.fragmentOffset, f.fragmentOffset + f.fragmentLength);
    }
    return 'accepted';
  }

  /** The next complete message in order, if any (advances nextSeq). */
  next(): HandshakeMessage | undefined {
    const p = this.pending.get(this.nextSeq);
    if (!p) return undefined;
    const complete = p.length === 0 || (p.ranges.length === 2 && p.ranges[0] === 0 && p.ranges[1] === p.length);
    if (!complete) return undefined;
    this.pending.delete(this.nextSeq);
    const messageSeq = this.nextSeq++;
    return { msgType: p.msgType, messageSeq, body: p.raw.subarray(HANDSHAKE_HEADER_LENGTH), raw: p.raw };
  }

  /** Drops everything buffered. */
  clear(): void {
    this.pending.clear();
  }
}

/** Inserts [s, e) into a sorted list of disjoint ranges, merging overlaps and neighbours. */
function addRange(ranges: number[], s: number, e: number): void {
  const merged: number[] = [];
  let placed = false;
  for (let i = 0; i < ranges.length; i += 2) {
    const a = ranges[i]!;
    const b = ranges[i + 1]!;
    if (b < s) merged.push(a, b);
    else if (a > e) {
      if (!placed) {
        merged.push(s, e);
        placed = true;
      }
      merged.push(a, b);
    } else {
      s = Math.min(s, a);
      e = Math.max(e, b);
    }
  }
  if (!placed) merged.push(s, e);
  merged.sort((x, y) => x - y);
  ranges.length = 0;
  ranges.push(...merged);
}
