/**
 * The firmware download listener for HTTP(S) Package URIs: `GET|HEAD /fw/<id>` on its own node:http(s) server, not
 * the REST API (devices hold no API token; the id is the package's SHA-256 and the package is signed, which is what
 * protects devices). Resumable: `Range` (RFC 9110 §14.2) with 206 and Content-Range, 416 when unsatisfiable,
 * `If-Range` (§13.1.5) against the package's strong ETag, `If-None-Match` (§13.1.2) with 304. Logs method, path and
 * status only.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { silentLogger, type Logger } from '../log.js';
import { FIRMWARE_PATH, packageEtag } from './coap-route.js';
import { isPackageId, type FirmwareRepository } from './repository.js';

/** Where the download listener listens and what it serves. */
export interface FirmwareHttpOptions {
  repository: Pick<FirmwareRepository, 'open' | 'cached'>;
  /** Port to listen on (0: ephemeral). */
  port: number;
  host: string;
  /** HTTPS when given: certificate chain and private key (PEM). */
  tls?: { cert: string | Buffer; key: string | Buffer };
  logger?: Logger;
}

/** The package's ETag as an HTTP strong entity-tag. */
export function httpEtag(id: string): string {
  return `"${packageEtag(id).toString('hex')}"`;
}

/** A byte range [start, end] (inclusive), 'unsatisfiable', or undefined when the Range header is to be ignored. */
export type ByteRange = { start: number; end: number } | 'unsatisfiable' | undefined;

/**
 * Parses a Range header for a representation of `size` bytes (RFC 9110 §14.1.2): one `bytes=first-[last]` or
 * `bytes=-suffix` range. Several ranges or a syntax error: undefined (the server may ignore Range, §14.2).
 */
export function parseRange(header: string | undefined, size: number): ByteRange {
  if (header === undefined) return undefined;
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (!Number.isSafeInteger(suffix)) return undefined;
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const first = Number(m[1]);
  const last = m[2] === '' ? Infinity : Number(m[2]);
  if (!Number.isSafeInteger(first) || !(last === Infinity || Number.isSafeInteger(last)) || last < first) return undefined;
  if (first >= size) return 'unsatisfiable';
  return { start: first, end: Math.min(last, size - 1) };
}

/** True when an If-None-Match list holds `etag` (weak comparison, §8.8.3.2) or is `*`. */
function noneMatch(header: string, etag: string): boolean {
  if (header.trim() === '*') return true;
  return header.split(',').some((t) => t.trim().replace(/^W\//, '') === etag);
}

async function handle(repo: FirmwareHttpOptions['repository'], req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? '/').split('?')[0]!;
  const parts = path.split('/');
  const id = parts[2];
  if (parts.length !== 3 || parts[0] !== '' || parts[1] !== FIRMWARE_PATH || id === undefined || !isPackageId(id)) {
    res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain' }).end('method not allowed\n');
    return;
  }
  const data = repo.cached(id) ?? (await repo.open(id));
  if (!data) {
    res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
    return;
  }
  const etag = httpEtag(id);
  const headers: Record<string, string | number> = {
    'Content-Type': 'application/octet-stream',
    'Accept-Ranges': 'bytes',
    ETag: etag,
    // The URI names the content (its SHA-256): it can never change.
    'Cache-Control': 'public, max-age=31536000, immutable',
  };
  const inm = req.headers['if-none-match'];
  if (inm !== undefined && noneMatch(inm, etag)) {
    res.writeHead(304, headers).end();
    return;
  }
  // §14.2: Range applies to GET only; §13.1.5: If-Range with anything but our strong ETag (a date, a weak or an
  // old tag) means "send the whole representation".
  const ifRange = req.headers['if-range'] as string | undefined;
  const range = req.method === 'GET' && (ifRange === undefined || ifRange.trim() === etag) ? parseRange(req.headers.range, data.byteLength) : undefined;
  if (range === 'unsatisfiable') {
    res.writeHead(416, { ...headers, 'Content-Range': `bytes */${data.byteLength}`, 'Content-Length': 0 }).end();
    return;
  }
  if (range) {
    headers['Content-Range'] = `bytes ${range.start}-${range.end}/${data.byteLength}`;
    headers['Content-Length'] = range.end - range.start + 1;
    res.writeHead(206, headers);
    if (req.method === 'HEAD') res.end();
    else res.end(data.subarray(range.start, range.end + 1));
    return;
  }
  headers['Content-Length'] = data.byteLength;
  res.writeHead(200, headers);
  if (req.method === 'HEAD') res.end();
  else res.end(data);
}

/** The download listener. */
export class FirmwareHttpServer {
  private constructor(
    private readonly server: Server,
    /** True when it speaks HTTPS. */
    readonly secure: boolean,
  ) {}

  /** Starts listening; resolves once bound. */
  static async listen(opts: FirmwareHttpOptions): Promise<FirmwareHttpServer> {
    const log = opts.logger ?? silentLogger;
    const onRequest = (req: IncomingMessage, res: ServerResponse) => {
      const path = (req.url ?? '').split('?')[0]!.slice(0, 200);
      res.on('finish', () => log.debug({ method: req.method, path, status: res.statusCode }, 'firmware download'));
      handle(opts.repository, req, res).catch((err: unknown) => {
        log.error({ method: req.method, path, err: (err as Error).message }, 'firmware download failed');
        if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain' }).end('internal error\n');
        else res.destroy();
      });
    };
    const server: Server = opts.tls ? createHttpsServer({ cert: opts.tls.cert, key: opts.tls.key }, onRequest) : createHttpServer(onRequest);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port, opts.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return new FirmwareHttpServer(server, opts.tls !== undefined);
  }

  /** The bound port. */
  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** Stops listening and ends open connections. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}
