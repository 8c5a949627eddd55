import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Method, type IncomingRequest } from '../coap/index.js';
import { ContentFormat, Lwm2mPath, ResponseCode, tlvCodec } from '../lwm2m/index.js';
import { BootstrapRequestHandler, bootstrapInstanceIds, checkConsistency, restoreSnapshot, takeSnapshot } from './bootstrap.js';
import { Lwm2mClient } from './client.js';

function req(code: number, path: string, extra: Partial<IncomingRequest> = {}): IncomingRequest {
  const segs = path === '/' ? [] : path.slice(1).split('/');
  return { peer: { address: '127.0.0.1', port: 1 }, message: { type: 0, code, messageId: 1, token: new Uint8Array(), options: [], payload: new Uint8Array() }, code, path: segs, query: [], payload: new Uint8Array(), ...extra } as IncomingRequest;
}

function setup() {
  const client = new Lwm2mClient({
    endpoint: 'e',
    serverUri: 'coap://127.0.0.1:5683',
    bootstrap: { serverUri: 'coap://127.0.0.1:5783', security: { mode: 'nosec' } },
    valueUpdateInterval: 0,
  });
  const tree = client.tree;
  let finishes = 0;
  const h = new BootstrapRequestHandler(tree, '1.1', ContentFormat.TLV, () => (finishes++, checkConsistency(tree)));
  return { tree, h, finishes: () => finishes };
}

test('Bootstrap-Delete / keeps the Bootstrap-Server account; Finish on an empty configuration is 4.06; rollback restores', () => {
  const { tree, h } = setup();
  const bsIds = bootstrapInstanceIds(tree);
  assert.equal(bsIds.length, 1);
  const snap = takeSnapshot(tree);
  assert.equal(checkConsistency(tree), undefined);
  assert.equal(h.handle(req(Method.DELETE, '/')).code, ResponseCode.Deleted);
  assert.deepEqual(tree.enabler(0)!.instanceIds(), bsIds);
  assert.deepEqual(tree.enabler(1)!.instanceIds(), []);
  assert.equal(h.handle(req(Method.DELETE, `/0/${bsIds[0]}`)).code, ResponseCode.BadRequest);
  assert.equal(h.handle(req(Method.POST, '/bs')).code, ResponseCode.NotAcceptable);
  restoreSnapshot(tree, snap);
  assert.equal(checkConsistency(tree), undefined);
  assert.equal(tree.enabler(0)!.instanceIds().length, 2);
});

test('Bootstrap-Write creates instances (Server with its Short Server ID), Discover lists ssid and uri, Read of /0 is refused', () => {
  const { tree, h } = setup();
  h.handle(req(Method.DELETE, '/1'));
  const inst = { kind: 'instance' as const, id: 3, resources: [
    { kind: 'singleResource' as const, id: 0, value: { type: 'integer' as const, value: 1 } },
    { kind: 'singleResource' as const, id: 1, value: { type: 'integer' as const, value: 77 } },
    { kind: 'singleResource' as const, id: 7, value: { type: 'string' as const, value: 'U' } },
  ] };
  const payload = tlvCodec.encode(inst, Lwm2mPath.of(1, 3), tree.model);
  const w = h.handle(req(Method.PUT, '/1/3', { contentFormat: ContentFormat.TLV, payload }));
  assert.equal(w.code, ResponseCode.Changed);
  const d = h.handle(req(Method.GET, '/', { accept: ContentFormat.CORE_LINK }));
  const text = Buffer.from(d.payload!).toString();
  assert.match(text, /^<\/>;lwm2m=1\.1/);
  assert.match(text, /<\/1\/3>;ssid=1/);
  assert.match(text, /<\/0\/0>;ssid=1;uri="?coap:\/\/127\.0\.0\.1:5683/);
  assert.doesNotMatch(text, /<\/0\/1>;ssid/);
  assert.equal(h.handle(req(Method.GET, '/0')).code, ResponseCode.BadRequest);
  assert.equal(h.handle(req(Method.GET, '/1/3', { accept: ContentFormat.TLV })).code, ResponseCode.Content);
  assert.equal(h.handle(req(Method.POST, '/bs')).code, ResponseCode.Changed);
});
