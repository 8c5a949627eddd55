/**
 * The client's package fetcher for pull delivery (Object 5 Package URI, Core Appendix E.6): CoAP and CoAPs block by
 * block with explicit Block2 numbers (RFC 7959 §2.4), HTTP and HTTPS with byte ranges (RFC 9110 §14), each able to
 * start at an offset so that an interrupted download resumes, and refusing to splice bytes of another representation
 * (ETag, RFC 7252 §5.10.6 / RFC 9110 §8.8.3).
 */
import { lookup } from 'node:dns/promises';
import * as http from 'node:http';
import * as https from 'node:https';
import { isIP } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CoapEndpoint,
  CoapError,
  codeToString,
  decodeBlock,
  getOption,
  getUint,
  isSuccess,
  Method,
  OptionNumber,
  ResponseCode,
  sizeToSzx,
  szxToSize,
  UdpTransport,
  type CoapEndpointOptions,
  type CoapOption,
  type CoapResponse,
  type PeerAddress,
  type Transport,
} from '../coap/index.js';
import { DtlsAlert, type DtlsClientOptions } from '../dtls/index.js';
import { silentLogger, type Logger } from '../log.js';
import { DtlsLink } from './dtls-link.js';
import { UpdateResult } from './objects/firmware-state.js';
import { FirmwareFailure, FirmwareProtocol, protocolOfUri, type PackageChunk, type PackageFetcher } from './objects/firmware-updater.js';

/** How a PackageFetcher connects, retries and waits. */
export interface PackageFetcherOptions {
  /** Local address the download socket binds to (CoAP, CoAPs and HTTP). */
  localAddress?: string;
  /**
   * DTLS credentials for a coaps:// Package URI: those of the Security object instance whose Server URI matches its
   * host:port (as Anjay does); undefined when none matches, and the fetch fails with Update Result 4.
   */
  security?: (uri: string) => DtlsClientOptions | undefined | Promise<DtlsClientOptions | undefined>;
  /** CA certificates (PEM) trusted for https:// (default: Node's bundled roots). */
  ca?: string | readonly string[];
  /** Retries of one block (CoAP) or of the rest of the body (HTTP) after a timeout or lost connection (5). */
  retries?: number;
  /** Wait before the first retry in ms, doubled for each further one (1000). */
  retryDelay?: number;
  /** Preferred CoAP block size, 16..1024 (1024); a server answering with smaller blocks gets its size. */
  blockSize?: number;
  /** Tunables of the per-fetch CoAP endpoint (ACK_TIMEOUT, MAX_RETRANSMIT, clock, random). */
  coap?: Pick<CoapEndpointOptions, 'ackTimeout' | 'ackRandomFactor' | 'maxRetransmit' | 'clock' | 'random'>;
  /** Ms an HTTP connection may stay silent before it is dropped and retried (30000). */
  httpTimeout?: number;
  /** The wait between retries (the client's timer); it should reject when `signal` aborts. */
  delay?: (ms: number, signal: AbortSignal) => Promise<void>;
  logger?: Logger;
}

interface Settings {
  readonly o: PackageFetcherOptions;
  readonly retries: number;
  readonly retryDelay: number;
  readonly szx: number;
  readonly httpTimeout: number;
  readonly delay: (ms: number, signal: AbortSignal) => Promise<void>;
  readonly logger: Logger;
}

const SUPPORTED = [FirmwareProtocol.CoAP, FirmwareProtocol.CoAPS, FirmwareProtocol.HTTP, FirmwareProtocol.HTTPS];
const MAX_REDIRECTS = 5;
const MAX_BLOCK_NUM = 0xfffff;

/**
 * A PackageFetcher for coap://, coaps://, http:// and https://. Each fetch opens its own socket (and DTLS association)
 * and closes it when the iteration ends, fails, or `signal` aborts. Failures are FirmwareFailure: 4 (connection lost,
 * server error, changed ETag), 7 (not found, range not satisfiable), 9 (unsupported scheme).
 */
export function createPackageFetcher(options: PackageFetcherOptions = {}): PackageFetcher {
  const s: Settings = {
    o: options,
    retries: options.retries ?? 5,
    retryDelay: options.retryDelay ?? 1000,
    szx: sizeToSzx(options.blockSize ?? 1024),
    httpTimeout: options.httpTimeout ?? 30_000,
    delay: options.delay ?? ((ms, signal) => sleep(ms, undefined, { signal })),
    logger: (options.logger ?? silentLogger).child({ component: 'package-fetcher' }),
  };
  return (uri, from, signal) => fetchPackage(s, uri, from, signal);
}

async function* fetchPackage(
  s: Settings,
  uri: string,
  from: { readonly offset: number; readonly etag?: Uint8Array },
  signal: AbortSignal,
): AsyncGenerator<PackageChunk> {
  if (!Number.isSafeInteger(from.offset) || from.offset < 0) throw new RangeError(`bad package offset ${from.offset}`);
  const { url, protocol } = protocolOfUri(uri, SUPPORTED);
  if (protocol === FirmwareProtocol.CoAP || protocol === FirmwareProtocol.CoAPS) {
    yield* fetchCoap(s, uri, url, protocol === FirmwareProtocol.CoAPS, from, signal);
  } else {
    yield* fetchHttp(s, url, from, signal);
  }
}

// ------------------------------------------------------------------------------------------------------------ common

function connectionLost(message: string): FirmwareFailure {
  return new FirmwareFailure(UpdateResult.ConnectionLost, message);
}

function invalidUri(message: string): FirmwareFailure {
  return new FirmwareFailure(UpdateResult.InvalidUri, message);
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('The operation was aborted', 'AbortError');
}

/** `p`, or a rejection as soon as `signal` aborts (the work behind `p` is left to finish on its own). */
function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    p.catch(() => {});
    return Promise.reject(abortReason(signal));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortReason(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => (signal.removeEventListener('abort', onAbort), resolve(v)),
      (e: unknown) => (signal.removeEventListener('abort', onAbort), reject(e)),
    );
  });
}

async function backoff(s: Settings, attempt: number, signal: AbortSignal): Promise<void> {
  await abortable(s.delay(s.retryDelay * 2 ** attempt, signal), signal);
}

/** The URI host without IPv6 brackets. */
function hostOf(url: URL): string {
  return url.hostname.replace(/^\[|\]$/g, '');
}

/** Where the URI should be printed: scheme, host, port and path, without userinfo or query. */
function printable(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}

/** The host's address, of the family of `localAddress` when one is given. */
async function resolveHost(host: string, localAddress: string | undefined, signal: AbortSignal): Promise<{ address: string; family: 'IPv4' | 'IPv6' }> {
  const v = isIP(host);
  if (v !== 0) return { address: host, family: v === 6 ? 'IPv6' : 'IPv4' };
  try {
    const family = localAddress !== undefined ? isIP(localAddress) : 0;
    const r = await abortable(lookup(host, family === 4 || family === 6 ? { family } : {}), signal);
    return { address: r.address, family: r.family === 6 ? 'IPv6' : 'IPv4' };
  } catch (err) {
    if (signal.aborted) throw abortReason(signal);
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTFOUND') throw invalidUri(`package host ${host} does not resolve`);
    throw connectionLost(`cannot resolve package host ${host}: ${(err as Error).message}`);
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// -------------------------------------------------------------------------------------------------------------- CoAP

/** RFC 7252 §6.4: the request options a coap(s) URI stands for (Uri-Host for a reg-name, Uri-Path, Uri-Query). */
function coapRequestOptions(url: URL): CoapOption[] {
  const out: CoapOption[] = [];
  const enc = (s: string) => new Uint8Array(Buffer.from(s, 'utf8'));
  const decode = (s: string) => {
    try {
      return decodeURIComponent(s);
    } catch {
      throw invalidUri('bad percent-encoding in the package URI');
    }
  };
  const host = hostOf(url);
  if (isIP(host) === 0) out.push({ number: OptionNumber.UriHost, value: enc(decode(host).toLowerCase()) });
  const path = url.pathname;
  if (path !== '' && path !== '/') {
    for (const seg of path.slice(1).split('/')) out.push({ number: OptionNumber.UriPath, value: enc(decode(seg)) });
  }
  if (url.search.length > 1) {
    for (const q of url.search.slice(1).split('&')) out.push({ number: OptionNumber.UriQuery, value: enc(decode(q)) });
  }
  return out;
}

async function* fetchCoap(
  s: Settings,
  uri: string,
  url: URL,
  secure: boolean,
  from: { readonly offset: number; readonly etag?: Uint8Array },
  signal: AbortSignal,
): AsyncGenerator<PackageChunk> {
  const host = hostOf(url);
  if (host === '') throw invalidUri('the package URI has no host');
  const port = url.port !== '' ? Number(url.port) : secure ? 5684 : 5683;
  const where = `${host}:${port}`;
  const options = coapRequestOptions(url);
  let dtls: DtlsClientOptions | undefined;
  if (secure) {
    try {
      dtls = await s.o.security?.(uri);
    } catch (err) {
      throw connectionLost(`no usable DTLS credentials for coaps://${url.host}: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (!dtls) throw connectionLost(`no Security object instance has the server URI coaps://${url.host}: no DTLS credentials to fetch the package`);
  }
  signal.throwIfAborted();
  const { address, family } = await resolveHost(host, s.o.localAddress, signal);
  const peer: PeerAddress = { address, port, family };

  let link: DtlsLink | undefined;
  let transport: Transport;
  if (dtls) {
    const config: DtlsClientOptions = s.o.localAddress !== undefined ? { ...dtls, localAddress: s.o.localAddress } : dtls;
    link = new DtlsLink(peer, () => config, () => {});
    transport = link;
  } else {
    try {
      transport = await UdpTransport.bind(0, s.o.localAddress ?? (family === 'IPv6' ? '::' : '0.0.0.0'));
    } catch (err) {
      throw connectionLost(`cannot open a UDP socket to fetch the package: ${(err as Error).message}`);
    }
  }
  const ep = new CoapEndpoint(transport, { ...s.o.coap, logger: s.logger });
  const request = { code: Method.GET, options };

  /** One block, retried after timeouts (re-handshaking a DTLS association the server may have lost). */
  const requestBlock = async (num: number, szx: number): Promise<CoapResponse> => {
    for (let attempt = 0; ; attempt++) {
      signal.throwIfAborted();
      try {
        if (link && !link.usable) await abortable(link.connect(), signal);
        return await ep.request(peer, request, { block2: { num, szx }, signal });
      } catch (err) {
        if (signal.aborted) throw abortReason(signal);
        if (err instanceof DtlsAlert) throw connectionLost(`DTLS handshake with ${where} failed: ${err.message}`);
        const transient = !(err instanceof CoapError) || err.code === 'TIMEOUT';
        const what = err instanceof Error ? err.message : String(err);
        if (!transient) throw connectionLost(`fetching block ${num} from ${where}: ${what}`);
        if (attempt >= s.retries) throw connectionLost(`no answer from ${where} for block ${num} after ${attempt + 1} attempts: ${what}`);
        s.logger.debug({ server: where, block: num, attempt: attempt + 1, reason: what }, 'package fetch: retrying block');
        if (link) link.suspect(link.generation);
        await backoff(s, attempt, signal);
      }
    }
  };

  try {
    let offset = from.offset;
    let etag = from.etag;
    let szx = s.szx;
    let total: number | undefined;
    let first = true;
    let num = Math.floor(offset / szxToSize(szx));
    for (;;) {
      // RFC 7959 §2.2: NUM has 20 bits
      if (num > MAX_BLOCK_NUM) throw connectionLost(`byte ${offset} of the package is beyond what Block2 can address`);
      const res = await requestBlock(num, szx);
      if (res.code === ResponseCode.NotFound) throw invalidUri(`${printable(url)}: 4.04 Not Found`);
      if (!isSuccess(res.code)) throw connectionLost(`${printable(url)} answered ${codeToString(res.code)} for block ${num}`);
      const resEtag = getOption(res, OptionNumber.ETag)?.value;
      // A response without an ETag cannot be checked (libcoap sends none for a later block asked for first); as in
      // Anjay's downloader only a different one fails. The package's signed digest still guards what is spliced.
      if (etag !== undefined && resEtag !== undefined && !sameBytes(resEtag, etag)) {
        throw connectionLost(
          first && from.etag !== undefined
            ? `the package at ${printable(url)} changed since the download started (ETag differs): not resuming`
            : `the package at ${printable(url)} changed during the download (ETag differs)`,
        );
      }
      etag = resEtag ?? etag;
      first = false;
      const b2opt = getOption(res, OptionNumber.Block2);
      const b2 = b2opt ? decodeBlock(b2opt.value) : undefined;
      if (b2opt && !b2) throw connectionLost(`${where} sent a malformed Block2 option`);
      if (!b2) {
        // RFC 7959 §2.2: a server that does not do blocks sends the whole representation
        total = res.payload.length;
        if (offset > total) throw connectionLost(`the package at ${printable(url)} has ${total} bytes, fewer than the ${offset} already stored`);
        if (offset < total) yield chunk(offset, res.payload.subarray(offset), total, etag);
        return;
      }
      const size = szxToSize(b2.szx);
      const start = b2.num * size;
      // §2.4: the server may answer with a smaller block, covering the start of the one asked for
      if (b2.szx > szx || start > offset || start + res.payload.length <= offset) {
        throw connectionLost(`${where} answered block ${b2.num}/${size} B for byte ${offset}`);
      }
      if (b2.more && res.payload.length !== size) throw connectionLost(`${where} sent a block of ${res.payload.length} bytes, not ${size}`);
      szx = b2.szx;
      const size2 = getUint(res, OptionNumber.Size2);
      if (size2 !== undefined && size2 > 0) total = size2;
      const end = start + res.payload.length;
      if (!b2.more) total = end;
      yield chunk(offset, res.payload.subarray(offset - start), total, etag);
      offset = end;
      if (!b2.more) return;
      num = end / size;
    }
  } finally {
    await ep.close();
  }
}

function chunk(offset: number, data: Uint8Array, total: number | undefined, etag: Uint8Array | undefined): PackageChunk {
  const c: { offset: number; data: Uint8Array; total?: number; etag?: Uint8Array } = { offset, data };
  if (total !== undefined) c.total = total;
  if (etag !== undefined) c.etag = etag;
  return c;
}

// -------------------------------------------------------------------------------------------------------------- HTTP

class HttpTimeout extends Error {}

function httpGet(s: Settings, url: URL, headers: Record<string, string>, signal: AbortSignal): Promise<{ req: http.ClientRequest; res: http.IncomingMessage }> {
  return new Promise((resolve, reject) => {
    const opts: https.RequestOptions = { agent: false, headers, signal };
    if (s.o.localAddress !== undefined) {
      opts.localAddress = s.o.localAddress;
      const family = isIP(s.o.localAddress);
      if (family !== 0) opts.family = family;
    }
    let req: http.ClientRequest;
    if (url.protocol === 'https:') {
      if (s.o.ca !== undefined) opts.ca = typeof s.o.ca === 'string' ? s.o.ca : [...s.o.ca];
      req = https.get(url, opts, (res) => resolve({ req, res }));
    } else {
      req = http.get(url, opts, (res) => resolve({ req, res }));
    }
    req.on('error', reject);
    req.setTimeout(s.httpTimeout, () => req.destroy(new HttpTimeout(`no data from ${url.host} for ${s.httpTimeout} ms`)));
  });
}

/** `bytes first-last/complete` (RFC 9110 §14.4); undefined when malformed. */
function parseContentRange(v: string | undefined): { first: number; complete?: number } | undefined {
  const m = v === undefined ? null : /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(v.trim());
  if (!m) return undefined;
  return m[3] === '*' ? { first: Number(m[1]) } : { first: Number(m[1]), complete: Number(m[3]) };
}

const TRANSIENT_HTTP = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);

async function* fetchHttp(
  s: Settings,
  startUrl: URL,
  from: { readonly offset: number; readonly etag?: Uint8Array },
  signal: AbortSignal,
): AsyncGenerator<PackageChunk> {
  let url = startUrl;
  let offset = from.offset;
  let etag = from.etag ? Buffer.from(from.etag).toString('utf8') : undefined;
  let total: number | undefined;
  let redirects = 0;
  let attempt = 0;
  for (;;) {
    signal.throwIfAborted();
    const headers: Record<string, string> = { 'accept-encoding': 'identity' };
    if (offset > 0) {
      headers.range = `bytes=${offset}-`;
      // RFC 9110 §13.1.5: If-Range takes a strong validator only
      if (etag !== undefined && !etag.startsWith('W/')) headers['if-range'] = etag;
    }
    let req: http.ClientRequest | undefined;
    try {
      const got = await httpGet(s, url, headers, signal);
      req = got.req;
      const res = got.res;
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && status !== 304 && res.headers.location) {
        res.resume();
        if (++redirects > MAX_REDIRECTS) throw connectionLost(`more than ${MAX_REDIRECTS} redirects from ${printable(startUrl)}`);
        let next: URL;
        try {
          next = new URL(res.headers.location, url);
        } catch {
          throw invalidUri(`${printable(url)} redirects to an invalid URI`);
        }
        if (next.protocol !== 'http:' && next.protocol !== 'https:') {
          throw new FirmwareFailure(UpdateResult.UnsupportedProtocol, `${printable(url)} redirects to unsupported protocol ${next.protocol}`);
        }
        url = next;
        continue;
      }
      if (status === 404 || status === 416) {
        res.resume();
        throw invalidUri(`${printable(url)}: HTTP ${status}`);
      }
      const resEtag = typeof res.headers.etag === 'string' ? res.headers.etag : undefined;
      let skip = 0;
      if (status === 206) {
        const range = parseContentRange(res.headers['content-range']);
        if (!range || range.first !== offset) {
          res.resume();
          throw connectionLost(`${printable(url)} sent range ${res.headers['content-range'] ?? '(none)'} for byte ${offset}`);
        }
        if (range.complete !== undefined) total = range.complete;
      } else if (status === 200) {
        // the server ignored Range (or If-Range found another representation): skip what is stored, if it is the same
        skip = offset;
        const length = Number(res.headers['content-length']);
        if (Number.isSafeInteger(length)) total = length;
      } else {
        res.resume();
        throw connectionLost(`${printable(url)} answered HTTP ${status}`);
      }
      if (etag !== undefined && resEtag !== undefined && resEtag !== etag) {
        res.resume();
        throw connectionLost(`the package at ${printable(url)} changed since the download started (ETag differs): not resuming`);
      }
      etag = resEtag ?? etag;
      const etagBytes = etag !== undefined ? new Uint8Array(Buffer.from(etag, 'utf8')) : undefined;
      for await (const piece of res as AsyncIterable<Buffer>) {
        let data: Uint8Array = piece;
        if (skip > 0) {
          if (data.length <= skip) {
            skip -= data.length;
            continue;
          }
          data = data.subarray(skip);
          skip = 0;
        }
        attempt = 0;
        yield chunk(offset, data, total, etagBytes);
        offset += data.length;
      }
      if (skip > 0) throw connectionLost(`the package at ${printable(url)} is shorter than the ${offset} bytes already stored`);
      if (total === undefined || offset >= total) return;
      throw Object.assign(new Error(`connection closed at byte ${offset} of ${total}`), { code: 'ECONNRESET' });
    } catch (err) {
      if (signal.aborted) throw abortReason(signal);
      if (err instanceof FirmwareFailure) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOTFOUND') throw invalidUri(`package host ${url.hostname} does not resolve`);
      const what = err instanceof Error ? err.message : String(err);
      const transient = err instanceof HttpTimeout || (code !== undefined && TRANSIENT_HTTP.has(code)) || what === 'aborted';
      if (!transient) throw connectionLost(`fetching ${printable(url)}: ${what}`);
      if (attempt >= s.retries) throw connectionLost(`fetching ${printable(url)} failed after ${attempt + 1} attempts: ${what}`);
      s.logger.debug({ url: printable(url), offset, attempt: attempt + 1, reason: what }, 'package fetch: retrying');
      await backoff(s, attempt, signal);
      attempt++;
    } finally {
      req?.destroy();
    }
  }
}
