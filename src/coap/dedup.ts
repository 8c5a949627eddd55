/** What the endpoint remembers about a received CON/NON message (RFC 7252 §4.5). */
export interface DedupEntry {
  /** The cache key (peer + message ID). */
  readonly key: string;
  /** Token of the remembered message: a "duplicate" with another token is a new message that reused the ID too early. */
  token: Uint8Array;
  /** The reply sent for it (ACK, piggybacked response or RST), re-sent verbatim for a duplicate CON. */
  reply?: Uint8Array;
}

/**
 * Message-ID deduplication cache keyed by peer + message ID. Two generations rotated every `lifetime` ms,
 * so an entry lives between one and two EXCHANGE_LIFETIMEs and pruning costs nothing per packet.
 */
export class DedupCache {
  private current = new Map<string, DedupEntry>();
  private previous = new Map<string, DedupEntry>();
  private rotatedAt: number;

  constructor(
    private readonly lifetime: number,
    now: number,
  ) {
    this.rotatedAt = now;
  }

  /** The entry recorded for this key within the lifetime, if any (rotates generations as time passes). */
  lookup(key: string, now: number): DedupEntry | undefined {
    if (now - this.rotatedAt >= this.lifetime) {
      // a gap of two lifetimes without traffic drops both generations
      this.previous = now - this.rotatedAt >= 2 * this.lifetime ? new Map() : this.current;
      this.current = new Map();
      this.rotatedAt = now;
    }
    return this.current.get(key) ?? this.previous.get(key);
  }

  /** Record a fresh message and return its entry. */
  add(key: string, token: Uint8Array): DedupEntry {
    const entry: DedupEntry = { key, token };
    this.current.set(key, entry);
    return entry;
  }

  /** Forgets a message: a duplicate of it is then taken as a new message. */
  forget(entry: DedupEntry): void {
    if (this.current.get(entry.key) === entry) this.current.delete(entry.key);
    else if (this.previous.get(entry.key) === entry) this.previous.delete(entry.key);
  }

  /** Number of remembered messages (both generations). */
  get size(): number {
    return this.current.size + this.previous.size;
  }

  clear(): void {
    this.current.clear();
    this.previous.clear();
  }
}
