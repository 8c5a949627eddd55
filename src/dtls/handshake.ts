/** What the client and server handshake state machines share: inputs, outputs, the transcript. */
import { alert } from './alert.js';
import { createCiphers, keyBlockLength, splitKeyBlock, type KeyMaterial, type RecordCipher, type SuiteInfo } from './cipher.js';
import type { HandshakeMessage } from './fragment.js';
import { encodeHandshake } from './messages.js';
import { keyBlock } from './prf.js';
import { createHash } from 'node:crypto';
import type { DtlsSession } from './session.js';
import type { PeerIdentity } from './types.js';

/** An event a state machine consumes: a complete handshake message, or a ChangeCipherSpec. */
export type HandshakeInput = { kind: 'message'; message: HandshakeMessage } | { kind: 'ccs' };

/** What a state machine wants sent: a handshake message (unfragmented) or a ChangeCipherSpec. */
export type OutItem = { kind: 'message'; msgType: number; raw: Uint8Array } | { kind: 'ccs' };

/** What the handshake established. */
export interface HandshakeResult {
  suite: SuiteInfo;
  keys: KeyMaterial;
  session: DtlsSession;
  identity?: PeerIdentity;
  resumed: boolean;
  /** CID the peer puts in records to us (empty/undefined = none). */
  ownCid?: Uint8Array;
  /** CID we put in records to the peer. */
  peerCid?: Uint8Array;
  /** message_seq the next handshake message from the peer would carry (to spot its retransmissions). */
  nextReceiveSeq: number;
}

/** The outcome of one transition. */
export interface StepResult {
  /** A new flight to send; replaces the buffered one. */
  flight?: OutItem[];
  /** The flight ends the handshake on our side: keep it for retransmission, no timer. */
  final?: boolean;
  /** Cipher for the next write epoch (set when the flight carries a ChangeCipherSpec). */
  writeCipher?: RecordCipher;
  /** Cipher for the next read epoch (set on the peer's ChangeCipherSpec). */
  readCipher?: RecordCipher;
  /** The handshake is complete. */
  established?: HandshakeResult;
  /** A HelloVerifyRequest restarted the client's transcript: forget earlier flights. */
  restart?: boolean;
}

/** A handshake state machine as the association drives it. */
export interface HandshakeMachine {
  readonly isClient: boolean;
  readonly state: string;
  /** True in the state that takes the peer's encrypted Finished (a record failing to decrypt then is fatal). */
  readonly awaitingFinished: boolean;
  /** RFC 9146 CIDs once negotiated: `own` is what the peer puts in records to us, `peer` what we put in ours. */
  readonly connectionIds: { own?: Uint8Array; peer?: Uint8Array };
  handle(input: HandshakeInput): StepResult | Promise<StepResult>;
}

/** The running handshake transcript: the raw unfragmented messages (RFC 6347 §4.2.6). */
export class Transcript {
  readonly messages: Uint8Array[] = [];
  /** SHA-256 over the messages so far, hashed once as they are added. */
  private running = createHash('sha256');

  add(raw: Uint8Array): void {
    this.messages.push(raw);
    this.running.update(raw);
  }

  hash(): Buffer {
    return this.running.copy().digest();
  }

  reset(): void {
    this.messages.length = 0;
    this.running = createHash('sha256');
  }
}

/** Assigns message_seq to outgoing messages and records them in the transcript. */
export class MessageWriter {
  constructor(
    public sendSeq: number,
    private readonly transcript: Transcript,
  ) {}

  message(msgType: number, body: Uint8Array, record = true): OutItem {
    const raw = encodeHandshake(msgType, this.sendSeq++, body);
    if (record) this.transcript.add(raw);
    return { kind: 'message', msgType, raw };
  }
}

/** Key block, key material and the two ciphers for a side. */
export function deriveCiphers(
  suite: SuiteInfo,
  master: Uint8Array,
  clientRandom: Uint8Array,
  serverRandom: Uint8Array,
  isClient: boolean,
): { keys: KeyMaterial; read: RecordCipher; write: RecordCipher } {
  const keys = splitKeyBlock(suite, keyBlock(master, serverRandom, clientRandom, keyBlockLength(suite)));
  return { keys, ...createCiphers(suite, keys, isClient) };
}

/** RFC 6347 §4.2.2 / RFC 5246 §7.4: the illegal-transition error. */
export function unexpected(state: string, input: HandshakeInput): never {
  const what = input.kind === 'ccs' ? 'ChangeCipherSpec' : `handshake message ${input.message.msgType}`;
  throw alert('unexpected_message', `${what} in state ${state}`);
}

/** The PSK identity bytes as the string used for lookup and as PeerIdentity.name (RFC 4279 §5.1: UTF-8). */
export function pskIdentityString(identity: Uint8Array): string {
  return new TextDecoder().decode(identity);
}
