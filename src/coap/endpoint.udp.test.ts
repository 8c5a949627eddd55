import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { CoapEndpoint } from './endpoint.js';
import { getString, getUint, Method, ResponseCode, stringOption, uriPathOptions } from './option.js';
import { OptionNumber, type CoapResponse, type ObserveRelation, type PeerAddress } from './types.js';
import { UdpTransport } from './udp.js';

async function pair() {
  const st = await UdpTransport.bind(0, '127.0.0.1');
  const ct = await UdpTransport.bind(0, '127.0.0.1');
  const server = new CoapEndpoint(st, { separateResponseAfter: 20 });
  const client = new CoapEndpoint(ct);
  const peer: PeerAddress = { address: '127.0.0.1', port: st.address().port };
  return { server, client, peer, close: () => Promise.all([server.close(), client.close()]) };
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

test('GET, POST, NON and separate responses over UDP', async () => {
  const { server, client, peer, close } = await pair();
  try {
    server.onRequest(async (req) => {
      if (req.path[0] === 'slow') {
        await new Promise((r) => setTimeout(r, 80));
        return { code: ResponseCode.Content, payload: Buffer.from('late') };
      }
      return {
        code: req.code === Method.POST ? ResponseCode.Changed : ResponseCode.Content,
        options: [stringOption(OptionNumber.LocationPath, req.path.join('-'))],
        payload: Buffer.concat([Buffer.from(`${req.code}:${req.path.join('/')}?${req.query.join('&')}:`), req.payload]),
      };
    });
    const r1 = await client.request(peer, { code: Method.GET, options: [...uriPathOptions('/a/b'), stringOption(OptionNumber.UriQuery, 'x=1')] });
    assert.equal(r1.code, ResponseCode.Content);
    assert.equal(Buffer.from(r1.payload).toString(), '1:a/b?x=1:');
    assert.equal(getString(r1, OptionNumber.LocationPath), 'a-b');
    const r2 = await client.request(peer, { code: Method.POST, options: uriPathOptions('/p'), payload: Buffer.from('hi') });
    assert.equal(r2.code, ResponseCode.Changed);
    assert.equal(Buffer.from(r2.payload).toString(), '2:p?:hi');
    const r3 = await client.request(peer, { code: Method.GET, options: uriPathOptions('/n'), confirmable: false });
    assert.equal(Buffer.from(r3.payload).toString(), '1:n?:');
    const r4 = await client.request(peer, { code: Method.GET, options: uriPathOptions('/slow') });
    assert.equal(Buffer.from(r4.payload).toString(), 'late');
    assert.equal(client.stats().exchanges, 0);
  } finally {
    await close();
  }
});

test('several-MiB block-wise transfers both ways over UDP', async () => {
  const { server, client, peer, close } = await pair();
  try {
    const big = randomBytes(3 * 1024 * 1024 + 123);
    let uploaded: Uint8Array | undefined;
    let calls = 0;
    server.onRequest((req) => {
      calls++;
      if (req.code === Method.PUT) {
        uploaded = req.payload;
        return { code: ResponseCode.Changed };
      }
      return { code: ResponseCode.Content, payload: big };
    });
    const put = await client.request(peer, { code: Method.PUT, options: uriPathOptions('/up'), payload: big });
    assert.equal(put.code, ResponseCode.Changed);
    assert.ok(uploaded);
    assert.equal(sha(uploaded), sha(big));
    assert.equal(calls, 1, 'handler called once for the whole Block1 upload');
    const get = await client.request(peer, { code: Method.GET, options: uriPathOptions('/down') });
    assert.equal(get.code, ResponseCode.Content);
    assert.equal(get.payload.length, big.length);
    assert.equal(sha(get.payload), sha(big));
    assert.equal(calls, 2, 'later Block2 blocks come from the cache');
    assert.equal(getUint(get, OptionNumber.Block2), undefined);
  } finally {
    await close();
  }
});

test('observe over UDP with block-wise notifications and proactive cancel', async () => {
  const { server, client, peer, close } = await pair();
  try {
    let relation: ObserveRelation | undefined;
    let cancelled = 0;
    server.onRequest(() => ({
      code: ResponseCode.Content,
      payload: Buffer.from('v0'),
      observe: (rel) => {
        relation = rel;
        rel.onCancel(() => cancelled++);
      },
    }));
    const got: CoapResponse[] = [];
    let wake: (() => void) | undefined;
    const obs = await client.observe(peer, { code: Method.GET, options: uriPathOptions('/obs') }, (n) => {
      got.push(n);
      wake?.();
    });
    assert.equal(Buffer.from(obs.response.payload).toString(), 'v0');
    assert.notEqual(getUint(obs.response, OptionNumber.Observe), undefined);
    assert.ok(relation);
    const next = (count: number) =>
      new Promise<void>((resolve) => {
        wake = () => got.length >= count && resolve();
      });
    let p = next(1);
    relation.notify({ code: ResponseCode.Content, payload: Buffer.from('v1') });
    await p;
    p = next(2);
    const big = randomBytes(100_000);
    relation.notify({ code: ResponseCode.Content, payload: big }, true);
    await p;
    assert.equal(Buffer.from(got[0]!.payload).toString(), 'v1');
    assert.equal(sha(got[1]!.payload), sha(big));
    await obs.cancel(true);
    assert.equal(cancelled, 1);
    assert.equal(relation.cancelled, true);
    assert.equal(server.stats().relations, 0);
  } finally {
    await close();
  }
});

test('UDP over IPv6 loopback', async () => {
  const st = await UdpTransport.bind(0, '::1');
  const ct = await UdpTransport.bind(0, '::1');
  const server = new CoapEndpoint(st);
  const client = new CoapEndpoint(ct);
  try {
    let from: PeerAddress | undefined;
    server.onRequest((req) => {
      from = req.peer;
      return { code: ResponseCode.Content, payload: Buffer.from('six') };
    });
    const r = await client.request({ address: '::1', port: st.address().port, family: 'IPv6' }, { code: Method.GET });
    assert.equal(Buffer.from(r.payload).toString(), 'six');
    assert.equal(from?.family, 'IPv6');
    assert.equal(from?.port, ct.address().port);
  } finally {
    await Promise.all([server.close(), client.close()]);
  }
});
