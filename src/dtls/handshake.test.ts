import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { DtlsAlert } from './alert.js';
import { ClientHandshake, clientTransitions, type ClientHandshakeConfig, type ClientHandshakeState } from './client-handshake.js';
import type { HandshakeMessage } from './fragment.js';
import type { HandshakeInput, HandshakeMachine, OutItem, StepResult } from './handshake.js';
import * as m from './messages.js';
import { ServerHandshake, serverTransitions, type ServerHandshakeConfig, type ServerHandshakeState } from './server-handshake.js';
import { SessionCache } from './session.js';
import { createTestPki, pinnedCertificateVerifier, type TestPki, type TestLeaf } from './test-certs.js';
import { CipherSuite } from './types.js';

const PSK = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');
const isAlert = (code: string) => (e: unknown) => e instanceof DtlsAlert && e.code === code;

function toInput(item: OutItem): HandshakeInput {
  if (item.kind === 'ccs') return { kind: 'ccs' };
  const raw = item.raw;
  const message: HandshakeMessage = { msgType: raw[0]!, messageSeq: (raw[4]! << 8) | raw[5]!, body: raw.subarray(12), raw };
  return { kind: 'message', message };
}

function msg(msgType: number, body: Uint8Array = new Uint8Array(0), seq = 0): HandshakeInput {
  const raw = m.encodeHandshake(msgType, seq, body);
  return { kind: 'message', message: { msgType, messageSeq: seq, body: raw.subarray(12), raw } };
}

/** Delivers a flight to a machine; returns the results of each step. `tamper` may rewrite items. */
async function deliver(items: OutItem[], to: HandshakeMachine, tamper?: (i: HandshakeInput) => HandshakeInput | undefined): Promise<StepResult[]> {
  const out: StepResult[] = [];
  for (const it of items) {
    let input: HandshakeInput | undefined = toInput(it);
    if (tamper) input = tamper(input);
    if (input) out.push(await to.handle(input));
  }
  return out;
}

const lastFlight = (rs: StepResult[]) => [...rs].reverse().find((r) => r.flight)?.flight ?? [];

/** Runs a handshake to completion in memory. */
async function handshake(client: ClientHandshake, server: ServerHandshake) {
  const first = client.start().flight!;
  let toServer = first;
  let sr: StepResult[] = [];
  let cr: StepResult[] = [];
  for (let i = 0; i < 4 && !(client.state === 'established' && server.state === 'established'); i++) {
    sr = await deliver(toServer, server);
    cr = await deliver(lastFlight(sr), client);
    toServer = lastFlight(cr);
    if (server.state !== 'established' && toServer.length === 0) break;
  }
  if (server.state !== 'established') sr = await deliver(toServer, server);
  return { server: sr.find((r) => r.established)?.established ?? undefined, client: [...cr, ...sr].find((r) => r.established) };
}

const pskServer = (extra: Partial<ServerHandshakeConfig> = {}): ServerHandshakeConfig => ({
  cipherSuites: [CipherSuite.TLS_PSK_WITH_AES_128_CCM_8, CipherSuite.TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256],
  pskLookup: (id) => (id === 'dev1' ? PSK : undefined),
  connectionIdLength: 0,
  ...extra,
});
const pskClient = (extra: Partial<ClientHandshakeConfig> = {}): ClientHandshakeConfig => ({
  cipherSuites: [CipherSuite.TLS_PSK_WITH_AES_128_CCM_8],
  psk: { identity: 'dev1', key: PSK },
  ...extra,
});

let pki: TestPki;
let srv: TestLeaf;
let dev: TestLeaf;
const ecdsaServer = (): ServerHandshakeConfig => ({
  cipherSuites: [CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8],
  certificate: srv,
  verifyCertificate: pinnedCertificateVerifier([dev.chain[0]!]),
  connectionIdLength: 0,
});
const ecdsaClient = (extra: Partial<ClientHandshakeConfig> = {}): ClientHandshakeConfig => ({
  cipherSuites: [CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8],
  certificate: dev,
  verifyCertificate: pinnedCertificateVerifier([srv.chain[0]!]),
  ...extra,
});

describe('handshake state machines', () => {
  before(() => {
    pki = createTestPki();
    srv = pki.leaf('server');
    dev = pki.leaf('dev1');
  });
  after(() => pki.cleanup());

  it('complete a PSK handshake with a HelloVerifyRequest first', async () => {
    const client = new ClientHandshake(pskClient());
    const ch1 = client.start().flight!;
    const hvr = m.encodeHandshake(m.HandshakeType.hello_verify_request, 0, m.encodeHelloVerifyRequest({ serverVersion: 0xfeff, cookie: Uint8Array.of(1, 2, 3) }));
    const r = await client.handle(toInput({ kind: 'message', msgType: 3, raw: hvr }));
    assert.equal(r.restart, true);
    const ch2 = r.flight![0]! as { raw: Uint8Array };
    assert.equal((ch2.raw[4]! << 8) | ch2.raw[5]!, 1, 'second ClientHello has message_seq 1');
    assert.deepEqual(Array.from(m.decodeClientHello(ch2.raw.subarray(12)).cookie), [1, 2, 3]);
    assert.equal(ch1.length, 1);
    const server = new ServerHandshake(pskServer(), 1);
    const sr = await deliver(r.flight!, server);
    const shRaw = (sr[0]!.flight![0] as { raw: Uint8Array }).raw;
    assert.equal((shRaw[4]! << 8) | shRaw[5]!, 1, 'ServerHello takes the ClientHello message_seq');
    const cr = await deliver(sr[0]!.flight!, client);
    const fin = await deliver(lastFlight(cr), server);
    const done = fin.find((x) => x.established)!;
    assert.deepEqual(done.established!.identity, { mode: 'psk', name: 'dev1' });
    assert.equal(done.final, true);
    const end = await deliver(done.flight!, client);
    assert.equal(client.state, 'established');
    assert.deepEqual(end.find((x) => x.established)!.established!.keys, done.established!.keys);
  });

  for (const [name, suite] of [
    ['ECDHE_PSK CBC', CipherSuite.TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256],
    ['PSK CCM_8', CipherSuite.TLS_PSK_WITH_AES_128_CCM_8],
  ] as const) {
    it(`agree on keys: ${name}`, async () => {
      const { server, client } = await handshake(new ClientHandshake(pskClient({ cipherSuites: [suite] })), new ServerHandshake(pskServer()));
      assert.equal(server?.suite.id, suite);
      assert.deepEqual(client?.established?.keys, server?.keys);
    });
  }

  it('agree on keys: ECDHE_ECDSA with mutual certificates', async () => {
    const { server, client } = await handshake(new ClientHandshake(ecdsaClient()), new ServerHandshake(ecdsaServer()));
    assert.deepEqual(server?.identity, { mode: 'x509', name: 'dev1' });
    assert.deepEqual(client?.established?.identity, { mode: 'x509', name: 'server' });
  });

  it('resume a cached session with the abbreviated handshake', async () => {
    const cache = new SessionCache(4);
    const first = await handshake(new ClientHandshake(pskClient()), new ServerHandshake(pskServer({ sessionCache: cache })));
    const session = first.client!.established!.session;
    assert.equal(session.id.length, 32);
    const client = new ClientHandshake(pskClient({ session }));
    const server = new ServerHandshake(pskServer({ sessionCache: cache }));
    const sr = await deliver(client.start().flight!, server);
    assert.deepEqual(sr[0]!.flight!.map((i) => (i.kind === 'ccs' ? 'ccs' : i.msgType)), [2, 'ccs', 20]);
    const cr = await deliver(sr[0]!.flight!, client);
    const done = cr.find((x) => x.established)!;
    assert.equal(done.established!.resumed, true);
    assert.equal(done.final, true);
    const fin = await deliver(done.flight!, server);
    assert.equal(fin.find((x) => x.established)!.established!.resumed, true);
    assert.deepEqual(fin.find((x) => x.established)!.established!.identity, { mode: 'psk', name: 'dev1' });
  });

  it('an unknown identity fails at the Finished exactly like a wrong key (decrypt_error, no oracle)', async () => {
    const results: string[] = [];
    for (const cfg of [pskClient({ psk: { identity: 'nobody', key: PSK } }), pskClient({ psk: { identity: 'dev1', key: Buffer.alloc(16, 9) } })]) {
      const client = new ClientHandshake(cfg);
      const server = new ServerHandshake(pskServer());
      const sr = await deliver(client.start().flight!, server);
      const cr = await deliver(sr[0]!.flight!, client);
      await assert.rejects(async () => deliver(lastFlight(cr), server), (e: unknown) => {
        results.push((e as DtlsAlert).code);
        return true;
      });
    }
    assert.deepEqual(results, ['decrypt_error', 'decrypt_error']);
  });

  /** Brings a server machine to `state` in ECDHE_ECDSA mode. */
  async function serverAt(state: ServerHandshakeState): Promise<{ server: ServerHandshake; client: ClientHandshake; pending: OutItem[] }> {
    const client = new ClientHandshake(ecdsaClient());
    const server = new ServerHandshake(ecdsaServer());
    if (state === 'wait_client_hello') return { server, client, pending: [] };
    const sr = await deliver(client.start().flight!, server);
    const cr = await deliver(sr[0]!.flight!, client);
    const flight = [...lastFlight(cr)];
    const order: ServerHandshakeState[] = ['wait_certificate', 'wait_client_key_exchange', 'wait_certificate_verify', 'wait_change_cipher_spec', 'wait_finished', 'established'];
    while (server.state !== state) {
      assert.ok(order.includes(server.state));
      await server.handle(toInput(flight.shift()!));
    }
    return { server, client, pending: flight };
  }

  it('server: every input other than the expected one is unexpected_message, in every state', async () => {
    const inputs: HandshakeInput[] = [{ kind: 'ccs' }, ...Object.values(m.HandshakeType).map((t) => msg(t))];
    for (const state of Object.keys(serverTransitions) as ServerHandshakeState[]) {
      const { server } = await serverAt(state);
      for (const input of inputs) {
        const expected = serverTransitions[state];
        if ((input.kind === 'ccs' && expected === 'ccs') || (input.kind === 'message' && input.message.msgType === expected)) continue;
        await assert.rejects(async () => server.handle(input), isAlert('unexpected_message'), `${state} / ${input.kind === 'ccs' ? 'ccs' : input.message.msgType}`);
        assert.equal(server.state, state);
      }
    }
  });

  it('client: every input other than the expected ones is unexpected_message, in every state', async () => {
    const inputs: HandshakeInput[] = [{ kind: 'ccs' }, ...Object.values(m.HandshakeType).map((t) => msg(t))];
    const client = new ClientHandshake(ecdsaClient());
    const server = new ServerHandshake(ecdsaServer());
    const probe = async (c: ClientHandshake) => {
      const state = c.state;
      for (const input of inputs) {
        const ok = clientTransitions[state].includes(input.kind === 'ccs' ? 'ccs' : input.message.msgType);
        if (ok) continue;
        await assert.rejects(async () => c.handle(input), isAlert('unexpected_message'), `${state} / ${input.kind === 'ccs' ? 'ccs' : input.message.msgType}`);
        assert.equal(c.state, state);
      }
      return state;
    };
    const seen: ClientHandshakeState[] = [await probe(client)];
    const sr = await deliver(client.start().flight!, server);
    seen.push(await probe(client));
    const serverFlight = [...sr[0]!.flight!];
    let cr: StepResult | undefined;
    for (const it of serverFlight) {
      cr = await client.handle(toInput(it));
      seen.push(await probe(client));
    }
    const fin = await deliver(cr!.flight!, server);
    for (const it of fin.find((x) => x.flight)!.flight!) {
      await client.handle(toInput(it));
      seen.push(await probe(client));
    }
    assert.deepEqual([...new Set(seen)], [
      'start',
      'wait_server_hello',
      'wait_certificate',
      'wait_server_key_exchange',
      'wait_certificate_request',
      'wait_server_hello_done',
      'wait_change_cipher_spec',
      'wait_finished',
      'established',
    ]);
  });

  it('Finished before ChangeCipherSpec is unexpected_message', async () => {
    const { server, pending } = await serverAt('wait_change_cipher_spec');
    const finished = pending.find((i) => i.kind === 'message' && i.msgType === m.HandshakeType.finished)!;
    await assert.rejects(async () => server.handle(toInput(finished)), isAlert('unexpected_message'));
  });

  it('a missing CertificateVerify is unexpected_message', async () => {
    const { server } = await serverAt('wait_certificate_verify');
    await assert.rejects(async () => server.handle({ kind: 'ccs' }), isAlert('unexpected_message'));
  });

  it('an empty Certificate when client authentication is required is handshake_failure', async () => {
    const { server } = await serverAt('wait_certificate');
    await assert.rejects(async () => server.handle(msg(m.HandshakeType.certificate, m.encodeCertificate([]))), isAlert('handshake_failure'));
  });

  it('a certificate the verifier refuses ends with its alert (e.g. certificate_revoked)', async () => {
    const client = new ClientHandshake(ecdsaClient());
    const server = new ServerHandshake({
      ...ecdsaServer(),
      verifyCertificate: () => {
        throw new DtlsAlert(44, 'revoked');
      },
    });
    const sr = await deliver(client.start().flight!, server);
    const cr = await deliver(sr[0]!.flight!, client);
    await assert.rejects(async () => deliver(lastFlight(cr), server), isAlert('certificate_revoked'));
  });

  it('a ClientKeyExchange point not on the curve is illegal_parameter', async () => {
    const { server } = await serverAt('wait_client_key_exchange');
    const point = new Uint8Array(65);
    point[0] = 4;
    point[64] = 1;
    await assert.rejects(async () => server.handle(msg(m.HandshakeType.client_key_exchange, m.encodeEcdhClientKeyExchange(point))), isAlert('illegal_parameter'));
  });

  it('a ServerKeyExchange signed with r = s = 0 is decrypt_error', async () => {
    const client = new ClientHandshake(ecdsaClient());
    const server = new ServerHandshake(ecdsaServer());
    const sr = await deliver(client.start().flight!, server);
    await assert.rejects(
      async () =>
        deliver(sr[0]!.flight!, client, (input) => {
          if (input.kind !== 'message' || input.message.msgType !== m.HandshakeType.server_key_exchange) return input;
          const ske = m.decodeEcdheServerKeyExchange(input.message.body);
          return msg(12, m.encodeEcdheServerKeyExchange(ske.params, m.ECDSA_SHA256, Uint8Array.of(0x30, 6, 2, 1, 0, 2, 1, 0)), input.message.messageSeq);
        }),
      isAlert('decrypt_error'),
    );
  });

  it('a signature by another key is decrypt_error', async () => {
    const other = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
    const client = new ClientHandshake(ecdsaClient());
    const server = new ServerHandshake({ ...ecdsaServer(), certificate: { chain: srv.chain, privateKey: other } });
    const sr = await deliver(client.start().flight!, server);
    await assert.rejects(async () => deliver(sr[0]!.flight!, client), isAlert('decrypt_error'));
  });

  it('refuses renegotiation_info with data, versions below DTLS 1.2, no common suite', async () => {
    const base: m.ClientHello = { clientVersion: 0xfefd, random: new Uint8Array(32), sessionId: new Uint8Array(0), cookie: new Uint8Array(0), cipherSuites: [0xc0a8], compressionMethods: [0], extensions: {} };
    const cases: [m.ClientHello, string][] = [
      [{ ...base, extensions: { renegotiationInfo: Uint8Array.of(1) } }, 'handshake_failure'],
      [{ ...base, clientVersion: 0xfeff }, 'protocol_version'],
      [{ ...base, cipherSuites: [0x002f] }, 'handshake_failure'],
      [{ ...base, compressionMethods: [1] }, 'illegal_parameter'],
    ];
    for (const [hello, code] of cases) {
      await assert.rejects(async () => new ServerHandshake(pskServer()).handle(msg(1, m.encodeClientHello(hello))), isAlert(code), code);
    }
  });

  it('client refuses a suite or an extension it did not offer', async () => {
    const sh = (suite: number, extensions: m.Extensions) =>
      msg(2, m.encodeServerHello({ serverVersion: 0xfefd, random: new Uint8Array(32), sessionId: new Uint8Array(0), cipherSuite: suite, compressionMethod: 0, extensions }), 0);
    const c1 = new ClientHandshake(pskClient());
    c1.start();
    await assert.rejects(async () => c1.handle(sh(0xc0ae, {})), isAlert('illegal_parameter'));
    const c2 = new ClientHandshake(pskClient());
    c2.start();
    await assert.rejects(async () => c2.handle(sh(0xc0a8, { connectionId: Uint8Array.of(1) })), isAlert('unsupported_extension'));
  });

  it('negotiates Connection IDs (RFC 9146): the server hands out its CID, the client asks for none', async () => {
    const client = new ClientHandshake(pskClient({ connectionId: true }));
    const server = new ServerHandshake(pskServer({ connectionIdLength: 6, newConnectionId: () => Uint8Array.of(1, 2, 3, 4, 5, 6) }));
    const { server: s } = await handshake(client, server);
    assert.deepEqual(Array.from(s!.ownCid!), [1, 2, 3, 4, 5, 6]);
    assert.equal(s!.peerCid!.length, 0);
    assert.deepEqual(Array.from(client.connectionIds.peer!), [1, 2, 3, 4, 5, 6]);
  });
});
