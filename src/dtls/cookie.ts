/**
 * Stateless HelloVerifyRequest cookies (RFC 6347 §4.2.1): Cookie = HMAC-SHA256(Secret, client address |
 * port | ClientHello fields) truncated, so the server keeps no state for a client that has not proved it
 * receives at its address. The secret rotates; a cookie made with the previous secret is still accepted.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../coap/clock.js';
import type { ClientHello } from './messages.js';

/** Cookie length in bytes (HMAC-SHA256 truncated). */
export const COOKIE_LENGTH = 16;

export interface CookieJarOptions {
  /** Rotate the secret this often (ms); 0 = never (call `rotate()` yourself). Default 5 minutes. */
  rotateEvery?: number;
  clock?: Clock;
  /** Source of secrets (tests). */
  random?: (n: number) => Uint8Array;
}

export class CookieJar {
  private secret: Uint8Array;
  private previous: Uint8Array | undefined;
  private timer: unknown;
  private readonly random: (n: number) => Uint8Array;

  constructor(private readonly opts: CookieJarOptions = {}) {
    this.random = opts.random ?? ((n) => randomBytes(n));
    this.secret = this.random(32);
    const every = opts.rotateEvery ?? 5 * 60_000;
    if (every > 0 && opts.clock) this.schedule(every);
  }

  private schedule(every: number): void {
    const clock = this.opts.clock!;
    this.timer = clock.setTimeout(() => {
      this.rotate();
      this.schedule(every);
    }, every);
    (this.timer as { unref?: () => void }).unref?.();
  }

  /** New secret; the current one becomes the previous one. */
  rotate(): void {
    this.previous = this.secret;
    this.secret = this.random(32);
  }

  private mac(secret: Uint8Array, address: string, port: number, hello: ClientHello): Buffer {
    // address | port | client_version | random | session_id (length-prefixed) | cipher_suites | compression_methods
    const n = hello.cipherSuites.length;
    const b = Buffer.allocUnsafe(address.length * 3 + 4 + hello.random.length + 1 + hello.sessionId.length + 2 * n + hello.compressionMethods.length);
    let o = b.write(address, 0, 'utf8');
    o = b.writeUInt16BE(port, o);
    o = b.writeUInt16BE(hello.clientVersion, o);
    b.set(hello.random, o);
    o += hello.random.length;
    b[o++] = hello.sessionId.length;
    b.set(hello.sessionId, o);
    o += hello.sessionId.length;
    for (let i = 0; i < n; i++) o = b.writeUInt16BE(hello.cipherSuites[i]!, o);
    for (const c of hello.compressionMethods) b[o++] = c;
    return createHmac('sha256', secret).update(b.subarray(0, o)).digest().subarray(0, COOKIE_LENGTH);
  }

  /** The cookie for this client and ClientHello. */
  generate(address: string, port: number, hello: ClientHello): Uint8Array {
    return this.mac(this.secret, address, port, hello);
  }

  /** True when `hello.cookie` was made by us (current or previous secret) for this client and hello. */
  verify(address: string, port: number, hello: ClientHello): boolean {
    if (hello.cookie.length !== COOKIE_LENGTH) return false;
    if (timingSafeEqual(this.mac(this.secret, address, port, hello), hello.cookie)) return true;
    return this.previous !== undefined && timingSafeEqual(this.mac(this.previous, address, port, hello), hello.cookie);
  }

  close(): void {
    if (this.timer !== undefined) this.opts.clock?.clearTimeout(this.timer);
    this.timer = undefined;
  }
}
