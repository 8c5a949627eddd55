/** Session state kept for resumption by session ID (RFC 5246 §7.3 abbreviated handshake). */
import type { PeerIdentity } from './types.js';

/** What a resumable session remembers. */
export interface DtlsSession {
  id: Uint8Array;
  masterSecret: Uint8Array;
  cipherSuite: number;
  extendedMasterSecret: boolean;
  /** Who the peer proved to be in the full handshake. */
  identity?: PeerIdentity;
}

/** A bounded session cache, oldest entries evicted first. */
export class SessionCache {
  private readonly map = new Map<string, DtlsSession>();

  constructor(private readonly capacity = 1024) {}

  get size(): number {
    return this.map.size;
  }

  get(id: Uint8Array): DtlsSession | undefined {
    if (id.length === 0) return undefined;
    return this.map.get(Buffer.from(id).toString('hex'));
  }

  set(session: DtlsSession): void {
    if (this.capacity <= 0 || session.id.length === 0) return;
    const key = Buffer.from(session.id).toString('hex');
    this.map.delete(key);
    this.map.set(key, session);
    while (this.map.size > this.capacity) {
      const oldest = this.map.keys().next().value as string;
      this.map.delete(oldest);
    }
  }

  delete(id: Uint8Array): void {
    this.map.delete(Buffer.from(id).toString('hex'));
  }

  /** Forgets every session `pred` selects (e.g. those of a revoked credential); returns how many. */
  deleteWhere(pred: (s: DtlsSession) => boolean): number {
    let n = 0;
    for (const [key, session] of this.map) {
      if (pred(session)) {
        this.map.delete(key);
        n++;
      }
    }
    return n;
  }
}
