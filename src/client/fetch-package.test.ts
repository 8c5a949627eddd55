import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, X509Certificate } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { existsSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { describe, test, type TestContext } from 'node:test';
import { FaultProxy } from '../../test/fault-proxy.js';
import {
  CoapEndpoint,
  getString,
  Method,
  OptionNumber,
  ResponseCode,
  uriPathOptions,
  UdpTransport,
  type IncomingRequest,
  type PeerAddress,
} from '../coap/index.js';
import { DtlsServer } from '../dtls/index.js';
import { createTestPki } from '../dtls/test-pki.js';
import { createPackageFetcher, type PackageFetcherOptions } from './fetch-package.js';
import { FirmwareFailure, type PackageChunk } from './objects/firmware-updater.js';

const BODY = randomBytes(200 * 1024 + 333);
const PSK = new Uint8Array(randomBytes(16));
/** Fast CoAP timers for loopback; retries without long waits. */
const FAST: PackageFetcherOptions = { localAddress: '127.0.0.1', retryDelay: 5, coap: { ackTimeout: 40 } };

interface Collected {
  chunks: PackageChunk[];
  bytes: Buffer;
}

async function collect(iter: AsyncIterable<PackageChunk>, stopAfter = Infinity, ac?: AbortController): Promise<Collected> {
  const chunks: PackageChunk[] = [];
  for await (const c of iter) {
    chunks.push(c);
    if (chunks.length >= stopAfter) ac?.abort();
  }
  return { chunks, bytes: Buffer.concat(chunks.map((c) => c.data)) };
}

function assertContiguous(chunks: PackageChunk[], from: number): void {
  let at = from;
  for (const c of chunks) {
    assert.equal(c.offset, at, 'chunks follow each other');
    at += c.data.length;
  }
}

async function rejectsWith(p: Promise<unknown>, result: number, message?: RegExp): Promise<FirmwareFailure> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof FirmwareFailure, `expected FirmwareFailure(${result}), got ${String(err)}`);
    assert.equal(err.result, result, err.message);
    if (message) assert.match(err.message, message);
    return err;
  }
  assert.fail(`expected FirmwareFailure(${result})`);
}

function udpHandles(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'UDPWRAP').length;
}

/** A CoAP server on loopback serving `state.body` at /fw with `state.etag`; /broken answers 5.03. */
async function coapServer(t: TestContext, state: { body: Uint8Array; etag: Uint8Array }, blockSize = 1024, transport?: DtlsServer) {
  const seen: IncomingRequest[] = [];
  const tr = transport ?? (await UdpTransport.bind(0, '127.0.0.1'));
  const ep = new CoapEndpoint(tr, { blockSize });
  ep.onRequest((req) => {
    seen.push(req);
    const name = req.path.join('/');
    if (name === 'fw') return { code: ResponseCode.Content, options: [{ number: OptionNumber.ETag, value: state.etag }], payload: state.body };
    if (name === 'broken') return { code: ResponseCode.ServiceUnavailable };
    return { code: ResponseCode.NotFound };
  });
  t.after(() => ep.close());
  const port = transport ? transport.address().port : (tr as UdpTransport).address().port;
  return { ep, port, seen };
}

describe('CoAP', () => {
  test('fetches 200 KiB block by block from our endpoint: bytes, Size2, ETag, Uri-Host', async (t) => {
    const state = { body: BODY, etag: Uint8Array.of(1, 2, 3, 4) };
    const { port, seen } = await coapServer(t, state);
    const fetch = createPackageFetcher(FAST);
    const { chunks, bytes } = await collect(fetch(`coap://127.0.0.1:${port}/fw`, { offset: 0 }, new AbortController().signal));
    assert.ok(bytes.equals(BODY));
    assert.equal(chunks.length, Math.ceil(BODY.length / 1024));
    assertContiguous(chunks, 0);
    for (const c of chunks) {
      assert.equal(c.total, BODY.length);
      assert.ok(c.etag && Buffer.from(c.etag).equals(state.etag));
    }
    // every block was asked for by number, with Size2 (RFC 7959 §4)
    assert.ok(seen.every((r) => r.message.options.some((o) => o.number === OptionNumber.Size2)));

    // a reg-name host goes in Uri-Host (RFC 7252 §6.4)
    const small = await collect(fetch(`coap://localhost:${port}/fw`, { offset: BODY.length - 100 }, new AbortController().signal));
    assert.ok(small.bytes.equals(BODY.subarray(BODY.length - 100)));
    assert.equal(getString(seen.at(-1)!.message, OptionNumber.UriHost), 'localhost');
  });

  test('resume: abort after N blocks, continue from the offset with the ETag; a changed ETag fails with 4', async (t) => {
    const state = { body: BODY, etag: Uint8Array.of(9, 9) };
    const { port } = await coapServer(t, state);
    const fetch = createPackageFetcher(FAST);
    const uri = `coap://127.0.0.1:${port}/fw`;
    const ac = new AbortController();
    const before = udpHandles();
    const part: PackageChunk[] = [];
    await assert.rejects(
      (async () => {
        for await (const c of fetch(uri, { offset: 0 }, ac.signal)) {
          part.push(c);
          if (part.length === 40) ac.abort();
        }
      })(),
      { name: 'AbortError' },
    );
    assert.equal(part.length, 40);
    assert.equal(udpHandles(), before, 'the socket of the broken-off fetch is closed');
    const offset = part.reduce((n, c) => n + c.data.length, 0);
    const etag = part.at(-1)!.etag!;
    const rest = await collect(fetch(uri, { offset, etag }, new AbortController().signal));
    assertContiguous(rest.chunks, offset);
    assert.ok(Buffer.concat([...part.map((c) => c.data), rest.bytes]).equals(BODY));

    state.etag = Uint8Array.of(7, 7);
    const yielded: PackageChunk[] = [];
    await rejectsWith(
      (async () => {
        for await (const c of fetch(uri, { offset, etag }, new AbortController().signal)) yielded.push(c);
      })(),
      4,
      /ETag/,
    );
    assert.equal(yielded.length, 0, 'nothing spliced from the changed package');
  });

  test('a server with smaller blocks: the fetcher takes its size, also when resuming', async (t) => {
    const state = { body: BODY.subarray(0, 50_000), etag: Uint8Array.of(5) };
    const { port } = await coapServer(t, state, 256);
    const fetch = createPackageFetcher(FAST);
    const all = await collect(fetch(`coap://127.0.0.1:${port}/fw`, { offset: 0 }, new AbortController().signal));
    assert.ok(all.bytes.equals(state.body));
    assert.ok(all.chunks.every((c, i) => c.data.length === 256 || i === all.chunks.length - 1));
    const rest = await collect(fetch(`coap://127.0.0.1:${port}/fw`, { offset: 3 * 1024, etag: state.etag }, new AbortController().signal));
    assertContiguous(rest.chunks, 3 * 1024);
    assert.ok(rest.bytes.equals(state.body.subarray(3 * 1024)));
  });

  test('4.04 -> 7, 5.03 -> 4 with the code, unknown scheme -> 9, no credentials for coaps -> 4', async (t) => {
    const { port } = await coapServer(t, { body: BODY, etag: Uint8Array.of(1) });
    const fetch = createPackageFetcher(FAST);
    const signal = new AbortController().signal;
    await rejectsWith(collect(fetch(`coap://127.0.0.1:${port}/nothing`, { offset: 0 }, signal)), 7);
    await rejectsWith(collect(fetch(`coap://127.0.0.1:${port}/broken`, { offset: 0 }, signal)), 4, /5\.03/);
    await rejectsWith(collect(fetch(`ftp://127.0.0.1/fw`, { offset: 0 }, signal)), 9);
    await rejectsWith(collect(fetch(`coap+tcp://127.0.0.1/fw`, { offset: 0 }, signal)), 9);
    await rejectsWith(collect(fetch(`coaps://127.0.0.1:${port}/fw`, { offset: 0 }, signal)), 4, /Security object/);
  });

  test('no answer: each block is retried, then 4; abort during a request closes the socket', async () => {
    const hole = createSocket('udp4');
    await new Promise<void>((r) => hole.bind(0, '127.0.0.1', r));
    const port = (hole.address() as AddressInfo).port;
    let requests = 0;
    hole.on('message', () => requests++);
    try {
      const fetch = createPackageFetcher({ ...FAST, retries: 2, coap: { ackTimeout: 10, maxRetransmit: 1 } });
      const before = udpHandles();
      await rejectsWith(collect(fetch(`coap://127.0.0.1:${port}/fw`, { offset: 0 }, new AbortController().signal)), 4, /3 attempts/);
      assert.equal(requests, 6, '3 attempts of 2 transmissions each');
      assert.equal(udpHandles(), before);

      const ac = new AbortController();
      const slow = createPackageFetcher({ ...FAST, coap: { ackTimeout: 60_000 } });
      const pending = collect(slow(`coap://127.0.0.1:${port}/fw`, { offset: 0 }, ac.signal));
      while (requests < 7) await new Promise((r) => setTimeout(r, 5));
      ac.abort();
      await assert.rejects(pending, { name: 'AbortError' });
      assert.equal(udpHandles(), before, 'the aborted fetch closed its socket');
    } finally {
      hole.close();
    }
  });

  test('15% loss both ways through the fault proxy: identical bytes', async (t) => {
    const state = { body: BODY, etag: Uint8Array.of(3, 1, 4) };
    const { port } = await coapServer(t, state);
    const proxy = await FaultProxy.start({ target: { address: '127.0.0.1', port }, loss: 0.15, seed: 7 });
    t.after(() => proxy.close());
    const fetch = createPackageFetcher({ ...FAST, coap: { ackTimeout: 20 } });
    const { chunks, bytes } = await collect(fetch(`coap://127.0.0.1:${proxy.address.port}/fw`, { offset: 0 }, new AbortController().signal));
    assertContiguous(chunks, 0);
    assert.ok(bytes.equals(BODY));
    const counters = proxy.counters;
    assert.ok(counters.up.dropped + counters.down.dropped > 20, 'datagrams were lost');
  });
});

describe('CoAPs', () => {
  test('PSK: fetch and resume against our DTLS endpoint; a wrong key fails with 4', async (t) => {
    const dtls = await DtlsServer.bind(0, '127.0.0.1', { pskLookup: (id) => (id === 'dev-fw' ? PSK : undefined), retransmitInitial: 200 });
    const state = { body: BODY.subarray(0, 64 * 1024), etag: Uint8Array.of(0xaa) };
    const { port } = await coapServer(t, state, 1024, dtls);
    const uri = `coaps://127.0.0.1:${port}/fw`;
    const asked: string[] = [];
    const fetch = createPackageFetcher({
      ...FAST,
      security: (u) => (asked.push(u), { psk: { identity: 'dev-fw', key: PSK }, retransmitInitial: 200 }),
    });
    const before = udpHandles();
    const part: PackageChunk[] = [];
    for await (const c of fetch(uri, { offset: 0 }, new AbortController().signal)) {
      part.push(c);
      if (part.length === 10) break;
    }
    assert.deepEqual(asked, [uri]);
    const rest = await collect(fetch(uri, { offset: 10 * 1024, etag: part[0]!.etag! }, new AbortController().signal));
    assert.ok(Buffer.concat([...part.map((c) => c.data), rest.bytes]).equals(state.body));
    assert.equal(rest.chunks.at(-1)!.total, state.body.length);

    const wrong = createPackageFetcher({ ...FAST, security: () => ({ psk: { identity: 'dev-fw', key: new Uint8Array(16) }, retransmitInitial: 200 }) });
    await rejectsWith(collect(wrong(uri, { offset: 0 }, new AbortController().signal)), 4, /DTLS/);
    assert.equal(udpHandles(), before, 'DTLS sockets are closed');
  });
});

describe('CoAPs server restart', () => {
  test('the server lost the association mid-fetch: the fetcher times out, re-handshakes and goes on', async (t) => {
    const state = { body: BODY.subarray(0, 32 * 1024), etag: Uint8Array.of(0xbb) };
    const options = { pskLookup: (id: string) => (id === 'dev-fw' ? PSK : undefined), retransmitInitial: 200 };
    const first = await coapServer(t, state, 1024, await DtlsServer.bind(0, '127.0.0.1', options));
    const fetch = createPackageFetcher({
      ...FAST,
      coap: { ackTimeout: 40, maxRetransmit: 2 },
      security: () => ({ psk: { identity: 'dev-fw', key: PSK }, retransmitInitial: 200 }),
    });
    const chunks: PackageChunk[] = [];
    let second: Awaited<ReturnType<typeof coapServer>> | undefined;
    for await (const c of fetch(`coaps://127.0.0.1:${first.port}/fw`, { offset: 0 }, new AbortController().signal)) {
      chunks.push(c);
      if (chunks.length === 5) {
        // a restart without close_notify: the client's association is unknown to the new server
        await (first.ep.transport as DtlsServer).close({ notify: false });
        second = await coapServer(t, state, 1024, await DtlsServer.bind(first.port, '127.0.0.1', options));
      }
    }
    assertContiguous(chunks, 0);
    assert.ok(Buffer.concat(chunks.map((c) => c.data)).equals(state.body));
    assert.ok(second && second.seen.length > 0, 'the rest came from the restarted server');
  });
});

describe('libcoap coap-server (interop)', () => {
  const SERVER = '/usr/bin/coap-server-notls';

  test('fetch and resume a package PUT into coap-server-notls', async (t) => {
    assert.ok(existsSync(SERVER), `${SERVER} not found: install the Debian package libcoap3-bin`);
    const probe = createSocket('udp4');
    await new Promise<void>((r) => probe.bind(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const proc: ChildProcess = spawn(SERVER, ['-A', '127.0.0.1', '-p', String(port), '-d', '4', '-v', '0'], { stdio: 'ignore' });
    t.after(() => proc.kill());
    const ep = new CoapEndpoint(await UdpTransport.bind(0, '127.0.0.1'), { ackTimeout: 100 });
    t.after(() => ep.close());
    const peer: PeerAddress = { address: '127.0.0.1', port };
    for (let i = 0; ; i++) {
      try {
        await ep.request(peer, { code: Method.GET, options: uriPathOptions('/.well-known/core') }, { timeout: 300 });
        break;
      } catch (err) {
        if (i === 30) throw err;
      }
    }
    // coap-server -d creates a dynamic resource on PUT (it has no option to serve a file)
    const put = await ep.request(peer, { code: Method.PUT, options: uriPathOptions('/fw'), payload: BODY });
    assert.equal(put.code, ResponseCode.Created);

    const fetch = createPackageFetcher(FAST);
    const uri = `coap://127.0.0.1:${port}/fw`;
    const all = await collect(fetch(uri, { offset: 0 }, new AbortController().signal));
    assert.ok(all.bytes.equals(BODY));
    assertContiguous(all.chunks, 0);
    assert.equal(all.chunks[0]!.total, BODY.length);
    const resumeAt = 150 * 1024;
    const etag = all.chunks[0]!.etag;
    const rest = await collect(fetch(uri, { offset: resumeAt, ...(etag ? { etag } : {}) }, new AbortController().signal));
    assertContiguous(rest.chunks, resumeAt);
    assert.ok(rest.bytes.equals(BODY.subarray(resumeAt)));
    await rejectsWith(collect(fetch(`coap://127.0.0.1:${port}/missing`, { offset: 0 }, new AbortController().signal)), 7);
  });
});

interface HttpState {
  body: Uint8Array;
  etag: string;
  ignoreRange?: boolean;
  /** Drop the connection after sending this many bytes of the body (once). */
  dropAfter?: number;
  ranges: (string | undefined)[];
}

function rangeHandler(state: HttpState): http.RequestListener {
  return (req, res) => {
    state.ranges.push(req.headers.range);
    if (req.url !== '/fw') {
      res.writeHead(404).end();
      return;
    }
    const len = state.body.length;
    let start = 0;
    let partial = false;
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const ifRange = req.headers['if-range'];
    if (m && !state.ignoreRange && (ifRange === undefined || ifRange === state.etag)) {
      start = Number(m[1]);
      if (start >= len) {
        res.writeHead(416, { 'content-range': `bytes */${len}` }).end();
        return;
      }
      partial = true;
    }
    const headers: http.OutgoingHttpHeaders = { etag: state.etag, 'content-length': len - start, 'accept-ranges': 'bytes' };
    if (partial) headers['content-range'] = `bytes ${start}-${len - 1}/${len}`;
    res.writeHead(partial ? 206 : 200, headers);
    const drop = state.dropAfter;
    if (drop !== undefined) {
      state.dropAfter = undefined;
      res.write(state.body.subarray(start, start + drop), () => res.destroy());
      return;
    }
    res.end(state.body.subarray(start));
  };
}

async function listen(t: TestContext, server: http.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  return (server.address() as AddressInfo).port;
}

describe('HTTP(S)', () => {
  const BIG = randomBytes(1024 * 1024 + 5);

  test('streams chunks, resumes with Range and If-Range, survives a dropped connection', async (t) => {
    const state: HttpState = { body: BIG, etag: '"v1"', ranges: [] };
    const port = await listen(t, http.createServer(rangeHandler(state)));
    const fetch = createPackageFetcher(FAST);
    const uri = `http://127.0.0.1:${port}/fw`;
    const part: PackageChunk[] = [];
    for await (const c of fetch(uri, { offset: 0 }, new AbortController().signal)) {
      part.push(c);
      if (part.length === 3) break;
    }
    assert.ok(part.every((c) => c.data.length < BIG.length), 'the body is yielded as it arrives');
    assert.equal(part[0]!.total, BIG.length);
    assert.equal(Buffer.from(part[0]!.etag!).toString(), '"v1"');
    const offset = part.reduce((n, c) => n + c.data.length, 0);
    state.dropAfter = 100_000;
    const rest = await collect(fetch(uri, { offset, etag: part[0]!.etag! }, new AbortController().signal));
    assertContiguous(rest.chunks, offset);
    assert.ok(Buffer.concat([...part.map((c) => c.data), rest.bytes]).equals(BIG));
    assert.deepEqual(state.ranges.slice(1), [`bytes=${offset}-`, `bytes=${offset + 100_000}-`], 'resumed twice with Range');
  });

  test('a server ignoring Range: the stored bytes are skipped; a changed ETag fails with 4', async (t) => {
    const state: HttpState = { body: BIG, etag: '"v1"', ignoreRange: true, ranges: [] };
    const port = await listen(t, http.createServer(rangeHandler(state)));
    const fetch = createPackageFetcher(FAST);
    const uri = `http://127.0.0.1:${port}/fw`;
    const etag = new Uint8Array(Buffer.from('"v1"'));
    const rest = await collect(fetch(uri, { offset: 300_001, etag }, new AbortController().signal));
    assertContiguous(rest.chunks, 300_001);
    assert.ok(rest.bytes.equals(BIG.subarray(300_001)));
    state.etag = '"v2"';
    state.ignoreRange = false;
    await rejectsWith(collect(fetch(uri, { offset: 300_001, etag }, new AbortController().signal)), 4, /ETag/);
  });

  test('404 and 416 -> 7, 500 -> 4, refused connection -> 4 after retries', async (t) => {
    const state: HttpState = { body: BIG.subarray(0, 1000), etag: '"x"', ranges: [] };
    const port = await listen(
      t,
      http.createServer((req, res) => (req.url === '/err' ? res.writeHead(500).end() : rangeHandler(state)(req, res))),
    );
    const fetch = createPackageFetcher({ ...FAST, retries: 1 });
    const signal = new AbortController().signal;
    await rejectsWith(collect(fetch(`http://127.0.0.1:${port}/nothing`, { offset: 0 }, signal)), 7, /404/);
    await rejectsWith(collect(fetch(`http://127.0.0.1:${port}/fw`, { offset: 1000 }, signal)), 7, /416/);
    await rejectsWith(collect(fetch(`http://127.0.0.1:${port}/err`, { offset: 0 }, signal)), 4, /500/);
    const closed = http.createServer();
    const deadPort = await listen(t, closed);
    await new Promise<void>((r) => closed.close(() => r()));
    await rejectsWith(collect(fetch(`http://127.0.0.1:${deadPort}/fw`, { offset: 0 }, signal)), 4, /2 attempts/);
  });

  test('abort while the body streams closes the connection', async (t) => {
    let stalled: http.ServerResponse | undefined;
    const port = await listen(
      t,
      http.createServer((_req, res) => {
        res.writeHead(200, { 'content-length': BIG.length, etag: '"a"' });
        res.write(BIG.subarray(0, 10_000));
        stalled = res;
      }),
    );
    t.after(() => stalled?.destroy());
    const tcp = () => process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;
    const before = tcp();
    const ac = new AbortController();
    const got: PackageChunk[] = [];
    await assert.rejects(
      (async () => {
        for await (const c of createPackageFetcher(FAST)(`http://127.0.0.1:${port}/fw`, { offset: 0 }, ac.signal)) {
          got.push(c);
          setImmediate(() => ac.abort());
        }
      })(),
      { name: 'AbortError' },
    );
    assert.ok(got.length > 0);
    // the server's end of the connection closes once the client's has
    for (let i = 0; tcp() !== before; i++) {
      assert.ok(i < 200, 'the client socket was left open');
      await new Promise((r) => setTimeout(r, 10));
    }
  });

  test('https trusts the given CA', async (t) => {
    const pki = createTestPki();
    const pem = (der: Uint8Array) => new X509Certificate(der).toString();
    const state: HttpState = { body: BIG.subarray(0, 70_000), etag: '"s"', ranges: [] };
    const server = https.createServer(
      { cert: pki.server.chain.map(pem).join(''), key: pki.server.key.export({ type: 'pkcs8', format: 'pem' }) },
      rangeHandler(state),
    );
    const port = await listen(t, server);
    const uri = `https://localhost:${port}/fw`;
    const trusting = createPackageFetcher({ ...FAST, ca: pem(pki.root.cert) });
    const got = await collect(trusting(uri, { offset: 5000, etag: new Uint8Array(Buffer.from('"s"')) }, new AbortController().signal));
    assert.ok(got.bytes.equals(state.body.subarray(5000)));
    const untrusting = createPackageFetcher({ ...FAST, retries: 0 });
    await rejectsWith(collect(untrusting(uri, { offset: 0 }, new AbortController().signal)), 4);
  });
});
