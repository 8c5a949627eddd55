/**
 * Handshake fragment reassembly (RFC 6347 §4.2.3): the input is a stream of handshake fragments fed to a
 * HandshakeReassembler (2 KiB message cap, window 4). A plain model — one byte array and one
 * coverage mask per message_seq — says what must come out: a message is delivered in message_seq
 * order exactly when all its bytes arrived, with the bytes the fragments carried (later ones win).
 */
import { DtlsAlert } from '../../../src/dtls/alert.js';
import { fragmentMessage, HandshakeReassembler } from '../../../src/dtls/fragment.js';
import { decodeHandshakeFragments, encodeHandshake, HANDSHAKE_HEADER_LENGTH, type HandshakeFragment } from '../../../src/dtls/messages.js';
import { check, checkSame, errorsOf, type FuzzTarget } from '../target.js';
import { handshakeBodies } from './dtls-seeds.js';

const MAX = 2048;
const WINDOW = 4;

interface ModelMessage {
  msgType: number;
  body: Uint8Array;
  have: Uint8Array;
}

function seeds(): Uint8Array[] {
  const bodies = handshakeBodies();
  const out: Uint8Array[] = [];
  // a flight split into small fragments, in order, reversed, and with repeats
  const frags = bodies.slice(2, 6).flatMap(([t, b], i) => fragmentMessage(t, i, b, 24));
  out.push(Buffer.concat(frags), Buffer.concat([...frags].reverse()), Buffer.concat([...frags, ...frags.slice(0, 3)]));
  out.push(Buffer.concat(bodies.slice(0, 3).map(([t, b], i) => encodeHandshake(t, i, b))));
  return out;
}

export default {
  name: 'dtls-reassembly',
  seeds,
  maxLen: 4096,
  expected: errorsOf(DtlsAlert),
  run(data) {
    const frags: HandshakeFragment[] = decodeHandshakeFragments(data);
    const r = new HandshakeReassembler({ maxMessageSize: MAX, window: WINDOW });
    const model = new Map<number, ModelMessage>();
    let next = 0;
    for (const f of frags) {
      let verdict: string;
      try {
        verdict = r.add(f);
      } catch (err) {
        if (!(err instanceof DtlsAlert)) throw err;
        const known = model.get(f.messageSeq);
        const legit =
          f.length > MAX ||
          f.fragmentOffset + f.fragmentLength > f.length ||
          (known !== undefined && f.messageSeq >= next && (known.msgType !== f.msgType || known.body.length !== f.length));
        check(legit, () => `reassembler rejected a consistent fragment: ${err.message}`);
        return;
      }
      if (f.messageSeq < next) check(verdict === 'old', `fragment ${f.messageSeq} below ${next} not 'old' (${verdict})`);
      else if (f.messageSeq >= next + WINDOW) check(verdict === 'ignored', `fragment beyond the window not 'ignored' (${verdict})`);
      else {
        check(verdict === 'accepted', `fragment in the window not 'accepted' (${verdict})`);
        let mm = model.get(f.messageSeq);
        if (!mm) model.set(f.messageSeq, (mm = { msgType: f.msgType, body: new Uint8Array(f.length), have: new Uint8Array(f.length) }));
        check(mm.msgType === f.msgType && mm.body.length === f.length, 'reassembler accepted a contradicting fragment');
        mm.body.set(f.fragment, f.fragmentOffset);
        mm.have.fill(1, f.fragmentOffset, f.fragmentOffset + f.fragmentLength);
      }
      for (;;) {
        const msg = r.next();
        const mm = model.get(next);
        const complete = mm !== undefined && mm.have.every((b) => b === 1);
        if (!msg) {
          check(!complete, `message ${next} complete but not delivered`);
          break;
        }
        check(complete, `message ${msg.messageSeq} delivered before all its bytes arrived`);
        check(msg.messageSeq === next && msg.msgType === mm!.msgType, 'delivered out of order or with the wrong type');
        checkSame(msg.body, mm!.body, `message ${next} body`);
        checkSame(msg.raw, encodeHandshake(msg.msgType, msg.messageSeq, msg.body), 'raw is not the unfragmented form');
        check(msg.raw.length === HANDSHAKE_HEADER_LENGTH + msg.body.length, 'raw length');
        model.delete(next);
        next++;
      }
    }
  },
} satisfies FuzzTarget;
