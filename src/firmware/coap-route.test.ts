import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import {
  CoapEndpoint,
  decodeBlock,
  decodeMessage,
  encodeBlock,
  encodeMessage,
  getOption,
  getUint,
  MemoryTransport,
  MessageType,
  Method,
  OptionNumber,
  ResponseCode,
  uriPathOptions,
  type CoapMessage,
  type IncomingRequest,
} from '../coap/index.js';
import { SqliteStore } from '../store/index.js';
import { firmwareCoapRoute, packageEtag } from './coap-route.js';
import { signPackage } from './package.js';
import { FirmwareRepository } from './repository.js';
import { bytes, imageManifest, keyPair } from './test-helpers.js';

const signer = keyPair('es256');
const image = bytes(40_000, 5);
const pkg = signPackage(imageManifest(image), image, signer.privateKey);
const pkgId = createHash('sha256').update(pkg).digest('hex');

async function setup(t: TestContext, allowPlain = true) {
  const dir = mkdtempSync(join(tmpdir(), 'warden-fwcoap-'));
  const store = new SqliteStore(join(dir, 'warden.db'));
  const repository = new FirmwareRepository({ dataDir: dir, store, trustedKeys: [signer.publicKey] });
  await repository.upload(pkg);
  const route = firmwareCoapRoute({ repository, allowPlain });
  const [clientSide, serverSide] = MemoryTransport.pair();
  const server = new CoapEndpoint(serverSide);
  server.onRequest(async (req) => (await route(req, false)) ?? { code: ResponseCode.NotFound });
  t.after(async () => {
    await server.close();
    await clientSide.close();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { route, server, clientSide, serverSide, repository };
}

test('a block-wise GET of /fw/<id> returns the package, Content-Format 42 and the ETag of its id', async (t) => {
  const { clientSide, serverSide } = await setup(t);
  const client = new CoapEndpoint(clientSide);
  t.after(() => client.close());
  const res = await client.request(serverSide.address, { code: Method.GET, options: uriPathOptions(['fw', pkgId]) }, { blockSize: 256 });
  assert.equal(res.code, ResponseCode.Content);
  assert.deepEqual(new Uint8Array(res.payload), pkg);
  assert.equal(getUint(res, OptionNumber.ContentFormat), 42);
  assert.deepEqual(Buffer.from(getOption(res, OptionNumber.ETag)!.value), packageEtag(pkgId));
  assert.equal(packageEtag(pkgId).byteLength, 8);
  const missing = await client.request(serverSide.address, { code: Method.GET, options: uriPathOptions(['fw', '0'.repeat(64)]) });
  assert.equal(missing.code, ResponseCode.NotFound);
});

/** Sends one raw CON GET with an explicit Block2 option and returns the piggybacked answer. */
function rawGet(clientSide: MemoryTransport, serverSide: MemoryTransport, mid: number, block2: { num: number; szx: number }, path: string[]): Promise<CoapMessage> {
  return new Promise((resolve) => {
    clientSide.onDatagram((d) => resolve(decodeMessage(d)));
    const msg: CoapMessage = {
      type: MessageType.CON, code: Method.GET, messageId: mid, token: Uint8Array.of(mid & 0xff, 7),
      options: [...uriPathOptions(path), { number: OptionNumber.Block2, value: encodeBlock({ num: block2.num, more: false, szx: block2.szx }) }],
      payload: new Uint8Array(0),
    };
    clientSide.send(encodeMessage(msg), serverSide.address);
  });
}

test('a first request for block k (a device resuming, nothing cached) gets block k with the same ETag', async (t) => {
  const { clientSide, serverSide } = await setup(t);
  // szx 4 = 256-byte blocks; block 37 starts at 9472
  const r = await rawGet(clientSide, serverSide, 100, { num: 37, szx: 4 }, ['fw', pkgId]);
  assert.equal(r.code, ResponseCode.Content);
  const b2 = decodeBlock(getOption(r, OptionNumber.Block2)!.value)!;
  assert.equal(b2.num, 37);
  assert.equal(b2.szx, 4);
  assert.equal(b2.more, true);
  assert.deepEqual(new Uint8Array(r.payload), pkg.subarray(37 * 256, 38 * 256));
  assert.deepEqual(Buffer.from(getOption(r, OptionNumber.ETag)!.value), packageEtag(pkgId));
  const last = Math.floor((pkg.byteLength - 1) / 1024);
  const end = await rawGet(clientSide, serverSide, 101, { num: last, szx: 6 }, ['fw', pkgId]);
  assert.equal(decodeBlock(getOption(end, OptionNumber.Block2)!.value)!.more, false);
  assert.deepEqual(new Uint8Array(end.payload), pkg.subarray(last * 1024));
  const beyond = await rawGet(clientSide, serverSide, 102, { num: last + 1, szx: 6 }, ['fw', pkgId]);
  assert.equal(beyond.code, ResponseCode.BadOption, 'a block past the end is 4.02 (RFC 7959 §2.2)');
});

test('the route: other paths pass through, bad ids are 4.04, only GET, plain CoAP only when NoSec devices are accepted', async (t) => {
  const { route } = await setup(t, false);
  const req = (path: string[], code: number = Method.GET) => ({ path, code }) as IncomingRequest;
  assert.equal(route(req(['rd']), true), undefined);
  assert.equal(route(req(['est', 'sen']), false), undefined);
  assert.equal((await route(req(['fw', pkgId]), false))!.code, ResponseCode.Unauthorized);
  assert.equal((await route(req(['fw', pkgId]), true))!.code, ResponseCode.Content);
  assert.equal((await route(req(['fw', pkgId.toUpperCase()]), true))!.code, ResponseCode.NotFound);
  assert.equal((await route(req(['fw', pkgId, 'x']), true))!.code, ResponseCode.NotFound);
  assert.equal((await route(req(['fw']), true))!.code, ResponseCode.NotFound);
  assert.equal((await route(req(['fw', pkgId], Method.PUT), true))!.code, ResponseCode.MethodNotAllowed);
  const first = await route(req(['fw', pkgId]), true);
  const second = await route(req(['fw', pkgId]), true);
  assert.equal(first!.payload, second!.payload, 'every device is served the same buffer');
});
