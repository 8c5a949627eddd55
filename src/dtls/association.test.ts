import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../coap/clock.js';
import { silentLogger } from '../log.js';
import { alertName, DtlsAlert } from './alert.js';
import { Association } from './association.js';
import { ClientHandshake } from './client-handshake.js';
import { decodeHandshakeFragments, encodeClientHello, encodeHandshake, HandshakeType } from './messages.js';
import { ContentType, decodeRecords, encodeRecord, type DtlsRecord } from './record.js';
import { ServerHandshake } from './server-handshake.js';
import { CipherSuite } from './types.js';

const KEY = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');
const peer = { address: '127.0.0.1', port: 1 };
const tick = () => new Promise((r) => setImmediate(r));

/** A client and a server association wired in memory; `pump` moves datagrams until quiet. */
function pair(rewriteUp?: (d: Uint8Array, i: number) => Uint8Array[]) {
  const clock = new ManualClock();
  const up: Uint8Array[] = [];
  const down: Uint8Array[] = [];
  const events: string[] = [];
  const appData: string[] = [];
  const client = new Association(
    {
      isClient: true,
      peer,
      clock,
      logger: silentLogger,
      send: (d) => void up.push(d),
      onEstablished: () => events.push('client established'),
      onHandshakeFailure: (_a, e) => events.push(`client failed ${(e as DtlsAlert).code ?? e.message}`),
      onClose: (_a, e) => events.push(`client closed ${(e as DtlsAlert | undefined)?.code}`),
      onApplicationData: (d) => appData.push(`client got ${Buffer.from(d)}`),
    },
    new ClientHandshake({ cipherSuites: [CipherSuite.TLS_PSK_WITH_AES_128_CCM_8], psk: { identity: 'dev1', key: KEY } }),
  );
  let server: Association | undefined;
  const serverOpts = {
    isClient: false,
    peer,
    clock,
    logger: silentLogger,
    send: (d: Uint8Array) => down.push(d),
    onEstablished: () => events.push('server established'),
    onHandshakeFailure: (_a: Association, e: Error) => events.push(`server failed ${(e as DtlsAlert).code ?? e.message}`),
    onClose: (_a: Association, e: Error | undefined) => events.push(`server closed ${(e as DtlsAlert | undefined)?.code}`),
    onApplicationData: (d: Uint8Array) => appData.push(`server got ${Buffer.from(d)}`),
  };
  let upCount = 0;
  const toServer = (d: Uint8Array) => {
    const recs = decodeRecords(d);
    if (!server) {
      const f = decodeHandshakeFragments(recs[0]!.fragment)[0]!;
      server = new Association(serverOpts, new ServerHandshake({ cipherSuites: [CipherSuite.TLS_PSK_WITH_AES_128_CCM_8], pskLookup: () => KEY, connectionIdLength: 0 }, f.messageSeq));
      const raw = recs[0]!.fragment.slice(0, 12 + f.length);
      server.beginWithMessage({ msgType: f.msgType, messageSeq: f.messageSeq, body: raw.subarray(12), raw });
      return;
    }
    server.receive(recs, peer);
  };
  const pump = async () => {
    for (let i = 0; i < 20; i++) {
      await tick();
      if (up.length === 0 && down.length === 0) {
        await tick();
        if (up.length === 0 && down.length === 0) return;
      }
      for (const d of up.splice(0)) for (const x of rewriteUp ? rewriteUp(d, upCount++) : [d]) toServer(x);
      for (const d of down.splice(0)) client.receive(decodeRecords(d), peer);
    }
  };
  client.begin(() => (client.machine as ClientHandshake).start());
  return { client, server: () => server!, pump, events, appData, up, down, clock };
}

describe('Association (record dispatch around the state machines)', () => {
  it('runs a handshake and carries application data', async () => {
    const p = pair();
    await p.pump();
    assert.deepEqual(p.events, ['server established', 'client established']);
    p.client.sendApplicationData(Buffer.from('hi'));
    p.server().sendApplicationData(Buffer.from('ho'));
    await p.pump();
    assert.deepEqual(p.appData, ['server got hi', 'client got ho']);
  });

  it('ignores a duplicated ChangeCipherSpec and duplicated flights', async () => {
    const p = pair((d) => [d, d]);
    await p.pump();
    assert.deepEqual(p.events, ['server established', 'client established']);
    p.client.sendApplicationData(Buffer.from('once'));
    await p.pump();
    assert.deepEqual(p.appData, ['server got once']);
  });

  it('a Finished before the ChangeCipherSpec ends the handshake with unexpected_message', async () => {
    const p = pair((d) => {
      const recs = decodeRecords(d);
      if (!recs.some((r) => r.type === ContentType.change_cipher_spec)) return [d];
      // Keep the epoch-0 part of the client's flight, drop CCS and the encrypted Finished, add a plaintext Finished.
      const keep = recs.filter((r) => r.epoch === 0 && r.type === ContentType.handshake);
      const seq = Math.max(...keep.flatMap((r) => decodeHandshakeFragments(r.fragment).map((f) => f.messageSeq))) + 1;
      return [Buffer.concat([...keep.map((r) => reencode(r)), encodeRecord(ContentType.handshake, 0, 50, encodeHandshake(HandshakeType.finished, seq, new Uint8Array(12)))])];
    });
    await p.pump();
    assert.ok(p.events.includes('server failed unexpected_message'), p.events.join());
    assert.ok(p.events.includes('client failed unexpected_message'), 'the client got the fatal alert');
  });

  it('refuses renegotiation: an encrypted ClientHello gets a no_renegotiation warning, the association stays', async () => {
    const p = pair();
    await p.pump();
    const hello = encodeClientHello({ clientVersion: 0xfefd, random: new Uint8Array(32), sessionId: new Uint8Array(0), cookie: new Uint8Array(0), cipherSuites: [0xc0a8], compressionMethods: [0], extensions: {} });
    const rec = p.client.conn.seal(ContentType.handshake, 1, encodeHandshake(HandshakeType.client_hello, 5, hello));
    p.server().receive(decodeRecords(rec), peer);
    await tick();
    const answer = p.down.splice(0);
    assert.equal(answer.length, 1);
    const opened = p.client.conn.open(decodeRecords(answer[0]!)[0]!);
    assert.ok(opened.ok);
    assert.equal(opened.type, ContentType.alert);
    assert.deepEqual(Array.from(opened.content), [1, 100]);
    assert.equal(alertName(100), 'no_renegotiation');
    assert.equal(p.server().established, true);
  });

  it('the client refuses a HelloRequest with no_renegotiation', async () => {
    const p = pair();
    await p.pump();
    const rec = p.server().conn.seal(ContentType.handshake, 1, encodeHandshake(HandshakeType.hello_request, 7, new Uint8Array(0)));
    p.client.receive(decodeRecords(rec), peer);
    await tick();
    const opened = p.server().conn.open(decodeRecords(p.up.splice(0)[0]!)[0]!);
    assert.ok(opened.ok && opened.type === ContentType.alert && opened.content[1] === 100);
    assert.equal(p.client.established, true);
  });

  it('retransmits the final flight when the peer repeats its Finished', async () => {
    const p = pair();
    await p.pump();
    // The client's Finished again (as if the server's final flight were lost): encrypted, epoch 1, old message_seq.
    const fin = p.client.conn.seal(ContentType.handshake, 1, encodeHandshake(HandshakeType.finished, 2, new Uint8Array(12)));
    p.server().receive(decodeRecords(fin), peer);
    await tick();
    const resent = p.down.splice(0).flatMap((d) => decodeRecords(d));
    assert.deepEqual(resent.map((r) => [r.type, r.epoch]), [
      [ContentType.change_cipher_spec, 0],
      [ContentType.handshake, 1],
    ]);
  });
});

function reencode(r: DtlsRecord): Uint8Array {
  return encodeRecord(r.type, r.epoch, r.sequenceNumber, r.fragment);
}
