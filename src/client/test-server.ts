/**
 * For tests of the client only: a tiny LwM2M server role on a real CoapEndpoint over UDP loopback
 * that accepts registrations (/rd), Send (/dp), and sends raw requests to the registered client.
 */
import {
  CoapEndpoint,
  getStrings,
  getUint,
  Method,
  OptionNumber,
  stringOption,
  uintOption,
  UdpTransport,
  uriPathOptions,
  uriQueryOptions,
  type CoapOption,
  type CoapResponse,
  type IncomingRequest,
  type Observation,
  type PeerAddress,
} from '../coap/index.js';

/** One request the server received (registration interface or Send). */
export interface Received {
  code: number;
  path: string;
  query: string[];
  contentFormat: number | undefined;
  payload: Buffer;
}

export interface RequestSpec {
  accept?: number;
  contentFormat?: number;
  payload?: Uint8Array | string;
  query?: string[];
}

/** A reply the test server gives instead of the default one. */
export type Override = (req: IncomingRequest) => { code: number; options?: CoapOption[] } | undefined;

export class TestServer {
  readonly received: Received[] = [];
  client: PeerAddress | undefined;
  override: Override | undefined;
  private waiters: { match: (r: Received) => boolean; resolve: (r: Received) => void }[] = [];
  private nextId = 1;

  private constructor(
    readonly endpoint: CoapEndpoint,
    readonly port: number,
  ) {
    endpoint.onRequest((req) => this.handle(req));
  }

  static async start(): Promise<TestServer> {
    const transport = await UdpTransport.bind(0, '127.0.0.1');
    return new TestServer(new CoapEndpoint(transport), transport.address().port);
  }

  get uri(): string {
    return `coap://127.0.0.1:${this.port}`;
  }

  /** Resolves with the next received request (or an already received one) that `match` accepts. */
  next(match: (r: Received) => boolean, fromIndex = 0): Promise<Received> {
    const found = this.received.slice(fromIndex).find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolve) => this.waiters.push({ match, resolve }));
  }

  /** Sends a request to the registered client. */
  request(code: number, path: string, spec: RequestSpec = {}): Promise<CoapResponse> {
    return this.endpoint.request(this.peer(), { code, options: this.options(path, spec), payload: this.payload(spec) }, { timeout: 5000 });
  }

  /** GET/FETCH with Observe=0 to the client; notifications go to `listener`. */
  observe(code: number, path: string, spec: RequestSpec, listener: (n: CoapResponse) => void): Promise<Observation> {
    return this.endpoint.observe(this.peer(), { code, options: this.options(path, spec), payload: this.payload(spec) }, listener, { timeout: 5000 });
  }

  close(): Promise<void> {
    return this.endpoint.close();
  }

  private peer(): PeerAddress {
    if (!this.client) throw new Error('no client registered');
    return this.client;
  }

  private options(path: string, spec: RequestSpec): CoapOption[] {
    const options = [...uriPathOptions(path), ...uriQueryOptions(spec.query ?? [])];
    if (spec.contentFormat !== undefined) options.push(uintOption(OptionNumber.ContentFormat, spec.contentFormat));
    if (spec.accept !== undefined) options.push(uintOption(OptionNumber.Accept, spec.accept));
    return options;
  }

  private payload(spec: RequestSpec): Uint8Array {
    return typeof spec.payload === 'string' ? Buffer.from(spec.payload, 'utf8') : (spec.payload ?? new Uint8Array(0));
  }

  private handle(req: IncomingRequest): { code: number; options?: CoapOption[] } {
    const r: Received = {
      code: req.code,
      path: '/' + req.path.join('/'),
      query: [...req.query],
      contentFormat: req.contentFormat,
      payload: Buffer.from(req.payload),
    };
    this.received.push(r);
    for (const w of this.waiters.splice(0)) {
      if (w.match(r)) w.resolve(r);
      else this.waiters.push(w);
    }
    const custom = this.override?.(req);
    if (custom) return custom;
    if (req.code === Method.POST && r.path === '/rd') {
      this.client = req.peer;
      return { code: 65, options: [stringOption(OptionNumber.LocationPath, 'rd'), stringOption(OptionNumber.LocationPath, `r${this.nextId++}`)] };
    }
    if (req.code === Method.POST && r.path.startsWith('/rd/')) return { code: 68 };
    if (req.code === Method.DELETE && r.path.startsWith('/rd/')) return { code: 66 };
    if (req.code === Method.POST && r.path === '/dp') return { code: 68 };
    return { code: 132 };
  }
}

/** The Content-Format of a response, if any. */
export function contentFormatOf(res: CoapResponse): number | undefined {
  return getUint(res, OptionNumber.ContentFormat);
}

/** Location-Path of a response as "/a/b". */
export function locationOf(res: CoapResponse): string {
  return '/' + getStrings(res, OptionNumber.LocationPath).join('/');
}

export { Method };
