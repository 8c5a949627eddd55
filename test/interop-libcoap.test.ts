/**
 * Interop with libcoap (Debian package libcoap3-bin): coap-client-notls against our endpoint as a server,
 * and our endpoint as a client of coap-server-notls. Covers CON/NON, methods, block-wise both ways and observe.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  CoapEndpoint,
  getUint,
  MessageType,
  Method,
  OptionNumber,
  ResponseCode,
  UdpTransport,
  uriPathOptions,
  uriQueryOptions,
  type CoapResponse,
  type IncomingRequest,
  type ObserveRelation,
  type PeerAddress,
} from '../src/coap/index.js';

const CLIENT = '/usr/bin/coap-client-notls';
const SERVER = '/usr/bin/coap-server-notls';

function requireTools(): void {
  for (const tool of [CLIENT, SERVER]) {
    if (!existsSync(tool)) assert.fail(`${tool} not found: install Debian package libcoap3-bin`);
  }
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const text = (b: Uint8Array) => Buffer.from(b).toString('utf8');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run coap-client-notls with a hard timeout (the child is killed if it hangs). */
function coapClient(args: string[], timeoutMs = 30_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(CLIENT, args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/** A UDP port that was free a moment ago. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    s.once('error', reject);
    s.bind(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const tmp = mkdtempSync(join(tmpdir(), 'warden-coap-interop-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

describe('our endpoint as server, coap-client-notls as client', () => {
  let server: CoapEndpoint;
  let base = '';
  const seen: IncomingRequest[] = [];
  const big = randomBytes(2 * 1024 * 1024 + 321);
  const cancelled: number[] = [];

  before(async () => {
    requireTools();
    const transport = await UdpTransport.bind(0, '127.0.0.1');
    server = new CoapEndpoint(transport);
    base = `coap://127.0.0.1:${transport.address().port}`;
    server.onRequest((req) => {
      seen.push(req);
      const name = req.path.join('/');
      if (name === 'big') return { code: ResponseCode.Content, payload: big };
      if (name === 'obs') {
        return {
          code: ResponseCode.Content,
          payload: Buffer.from('n0'),
          observe: (rel: ObserveRelation) => {
            let i = 0;
            const timer = setInterval(() => {
              i++;
              // alternate NON and CON notifications
              rel.notify({ code: ResponseCode.Content, payload: Buffer.from(`n${i}`) }, i % 2 === 0);
              if (i === 3) clearInterval(timer);
            }, 200);
            rel.onCancel(() => {
              cancelled.push(i);
              clearInterval(timer);
            });
          },
        };
      }
      const code =
        req.code === Method.GET ? ResponseCode.Content : req.code === Method.DELETE ? ResponseCode.Deleted : req.code === Method.POST ? ResponseCode.Created : ResponseCode.Changed;
      return { code, payload: Buffer.from(`${req.code} ${name} ${req.query.join('&')} ${req.payload.length} ${sha(req.payload).slice(0, 16)}`) };
    });
  });
  after(() => server.close());

  const last = () => seen.at(-1)!;

  test('CON GET with query', async () => {
    const r = await coapClient(['-B', '5', `${base}/hello/world?a=1&b=2`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^1 hello\/world a=1&b=2 0 /);
    assert.equal(last().message.type, MessageType.CON);
  });

  test('NON GET', async () => {
    const r = await coapClient(['-N', '-B', '5', `${base}/non`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^1 non {2}0 /);
    assert.equal(last().message.type, MessageType.NON);
  });

  test('PUT, POST with payload and DELETE', async () => {
    let r = await coapClient(['-m', 'put', '-e', 'hello', '-B', '5', `${base}/res`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^3 res  5 ${sha(Buffer.from('hello')).slice(0, 16)}`));
    assert.equal(text(last().payload), 'hello');
    r = await coapClient(['-m', 'post', '-e', 'data', '-t', '0', '-B', '5', `${base}/res`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^2 res  4 /);
    assert.equal(last().contentFormat, 0);
    r = await coapClient(['-m', 'delete', '-B', '5', `${base}/res`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^4 res  0 /);
  });

  test('Block1 upload of 2 MiB (1024- and 256-byte blocks) reaches the handler whole', async () => {
    const file = join(tmp, 'upload.bin');
    writeFileSync(file, big);
    for (const size of ['1024', '256']) {
      const before = seen.length;
      const r = await coapClient(['-m', 'put', '-f', file, '-b', size, '-B', '60', `${base}/upload`], 90_000);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(seen.length, before + 1, 'handler called once per upload');
      assert.equal(last().payload.length, big.length);
      assert.equal(sha(last().payload), sha(big));
      assert.match(r.stdout, new RegExp(`^3 upload  ${big.length} ${sha(big).slice(0, 16)}`));
    }
  });

  test('Block2 download of 2 MiB is byte-exact (default and 64-byte blocks)', async () => {
    for (const args of [[], ['-b', '64']]) {
      const out = join(tmp, 'download.bin');
      rmSync(out, { force: true });
      const before = seen.length;
      const r = await coapClient([...args, '-B', '60', '-o', out, `${base}/big`], 90_000);
      assert.equal(r.code, 0, r.stderr);
      const got = readFileSync(out);
      assert.equal(got.length, big.length);
      assert.equal(sha(got), sha(big));
      assert.equal(seen.length, before + 1, 'later blocks served from the cache');
    }
  });

  test('observe: coap-client -s receives the notifications', async () => {
    const r = await coapClient(['-s', '2', '-w', '-B', '10', `${base}/obs`]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n').filter((l) => l.length > 0);
    assert.deepEqual(lines, ['n0', 'n1', 'n2', 'n3']);
    assert.equal(seen.filter((q) => q.path[0] === 'obs' && q.observe === 0).length, 1);
    // coap-client deregisters (GET Observe=1) when its subscription time is over
    assert.deepEqual(cancelled, [3]);
  });
});

describe('our endpoint as client, coap-server-notls as server', () => {
  let client: CoapEndpoint;
  let proc: ChildProcess | undefined;
  let peer: PeerAddress;
  const big = randomBytes(2 * 1024 * 1024 + 77);

  before(async () => {
    requireTools();
    const port = await freePort();
    proc = spawn(SERVER, ['-A', '127.0.0.1', '-p', String(port), '-d', '10', '-v', '0'], { stdio: 'ignore' });
    client = new CoapEndpoint(await UdpTransport.bind(0, '127.0.0.1'));
    peer = { address: '127.0.0.1', port };
    // wait until the server answers
    for (let i = 0; ; i++) {
      try {
        await client.request(peer, { code: Method.GET, options: uriPathOptions('/.well-known/core') }, { timeout: 300 });
        break;
      } catch (err) {
        if (i === 30) throw err;
      }
    }
  });
  after(async () => {
    await client.close();
    proc?.kill();
  });

  test('CON and NON GET', async () => {
    let r = await client.request(peer, { code: Method.GET, options: uriPathOptions('/.well-known/core') });
    assert.equal(r.code, ResponseCode.Content);
    assert.match(text(r.payload), /<\/time>;.*obs/);
    r = await client.request(peer, { code: Method.GET, options: [], confirmable: false });
    assert.equal(r.code, ResponseCode.Content);
    assert.match(text(r.payload), /libcoap/);
  });

  test('separate response (coap-server /async answers later)', async () => {
    const r = await client.request(peer, { code: Method.GET, options: [...uriPathOptions('/async'), ...uriQueryOptions(['1'])] });
    assert.equal(r.code, ResponseCode.Content);
  });

  test('PUT creates, POST updates, GET reads back, DELETE removes', async () => {
    const path = uriPathOptions('/warden-dyn');
    let r = await client.request(peer, { code: Method.PUT, options: path, payload: Buffer.from('first') });
    assert.equal(r.code, ResponseCode.Created);
    r = await client.request(peer, { code: Method.GET, options: path });
    assert.equal(text(r.payload), 'first');
    r = await client.request(peer, { code: Method.POST, options: path, payload: Buffer.from('second') });
    assert.equal(r.code, ResponseCode.Changed);
    r = await client.request(peer, { code: Method.DELETE, options: path });
    assert.equal(r.code, ResponseCode.Deleted);
    r = await client.request(peer, { code: Method.GET, options: path });
    assert.equal(r.code, ResponseCode.NotFound);
  });

  test('Block1 upload then Block2 download of 2 MiB is byte-exact', async () => {
    const path = uriPathOptions('/example_data');
    let r = await client.request(peer, { code: Method.PUT, options: path, payload: big });
    assert.ok(r.code === ResponseCode.Created || r.code === ResponseCode.Changed, `PUT answered ${r.code}`);
    r = await client.request(peer, { code: Method.GET, options: path });
    assert.equal(r.code, ResponseCode.Content);
    assert.equal(r.payload.length, big.length);
    assert.equal(sha(r.payload), sha(big));
    assert.equal(getUint(r, OptionNumber.Block2), undefined);
    // small blocks both ways
    const small = big.subarray(0, 100_000);
    r = await client.request(peer, { code: Method.PUT, options: path, payload: small }, { blockSize: 256 });
    assert.equal(r.code, ResponseCode.Changed);
    r = await client.request(peer, { code: Method.GET, options: path }, { blockSize: 128 });
    assert.equal(sha(r.payload), sha(small));
  });

  test('observe /time: notifications arrive, proactive cancel', async () => {
    const got: CoapResponse[] = [];
    let wake: (() => void) | undefined;
    const obs = await client.observe(peer, { code: Method.GET, options: uriPathOptions('/time') }, (n) => {
      got.push(n);
      if (got.length >= 2) wake?.();
    });
    assert.equal(obs.response.code, ResponseCode.Content);
    assert.notEqual(getUint(obs.response, OptionNumber.Observe), undefined);
    await new Promise<void>((resolve, reject) => {
      wake = resolve;
      setTimeout(() => reject(new Error('no notifications from coap-server /time within 10 s')), 10_000).unref();
    });
    const seqs = got.map((n) => getUint(n, OptionNumber.Observe)!);
    assert.ok(seqs[1]! > seqs[0]!, `increasing Observe numbers: ${seqs}`);
    assert.ok(got.every((n) => n.code === ResponseCode.Content && n.payload.length > 0));
    await obs.cancel(true);
    const count = got.length;
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(got.length, count, 'no notifications after cancel');
  });
});
