import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DtlsAlert } from './alert.js';
import { fragmentMessage, HandshakeReassembler } from './fragment.js';
import { decodeHandshakeFragments, encodeHandshake, encodeHandshakeFragment, type HandshakeFragment } from './messages.js';

const body = Uint8Array.from({ length: 1000 }, (_, i) => i & 0xff);
const frags = (mt: number, seq: number, b: Uint8Array, max: number): HandshakeFragment[] => fragmentMessage(mt, seq, b, max).flatMap((f) => decodeHandshakeFragments(f));
const isAlert = (code: string) => (e: unknown) => e instanceof DtlsAlert && e.code === code;

describe('fragmentation (RFC 6347 §4.2.3)', () => {
  it('cuts a message into fragments of at most the given size', () => {
    const f = frags(11, 3, body, 300);
    assert.deepEqual(f.map((x) => [x.fragmentOffset, x.fragmentLength, x.length, x.messageSeq]), [
      [0, 300, 1000, 3],
      [300, 300, 1000, 3],
      [600, 300, 1000, 3],
      [900, 100, 1000, 3],
    ]);
    assert.equal(fragmentMessage(14, 0, new Uint8Array(0), 100).length, 1);
  });

  it('reassembles out of order and with overlaps into the transcript form', () => {
    const r = new HandshakeReassembler({ nextSeq: 3 });
    const f = frags(11, 3, body, 300);
    const overlapping = decodeHandshakeFragments(encodeHandshakeFragment(11, 1000, 3, 250, body.subarray(250, 700)))[0]!;
    for (const x of [f[3]!, overlapping, f[0]!, f[3]!]) {
      assert.equal(r.add(x), 'accepted');
      assert.equal(r.next(), undefined);
    }
    r.add(f[2]!);
    const msg = r.next()!;
    assert.deepEqual(msg.body, body);
    assert.deepEqual(msg.raw, encodeHandshake(11, 3, body));
    assert.equal(r.nextSeq, 4);
    assert.equal(r.add(f[1]!), 'old');
  });

  it('delivers messages in message_seq order and drops those beyond the window', () => {
    const r = new HandshakeReassembler({ window: 4 });
    assert.equal(r.add(frags(2, 1, Uint8Array.of(1), 10)[0]!), 'accepted');
    assert.equal(r.next(), undefined);
    assert.equal(r.add(frags(14, 9, new Uint8Array(0), 10)[0]!), 'ignored');
    r.add(frags(1, 0, Uint8Array.of(0), 10)[0]!);
    assert.equal(r.next()!.messageSeq, 0);
    assert.equal(r.next()!.messageSeq, 1);
    assert.equal(r.next(), undefined);
  });

  it('refuses a fragment overflowing the declared length', () => {
    const r = new HandshakeReassembler();
    const f = decodeHandshakeFragments(encodeHandshakeFragment(11, 100, 0, 90, new Uint8Array(20)))[0]!;
    assert.throws(() => r.add(f), isAlert('illegal_parameter'));
  });

  it('refuses a message over the size cap', () => {
    const r = new HandshakeReassembler({ maxMessageSize: 16384 });
    const f = decodeHandshakeFragments(encodeHandshakeFragment(11, 16385, 0, 0, new Uint8Array(10)))[0]!;
    assert.throws(() => r.add(f), isAlert('illegal_parameter'));
  });

  it('refuses fragments that contradict an earlier one', () => {
    const r = new HandshakeReassembler();
    r.add(decodeHandshakeFragments(encodeHandshakeFragment(11, 100, 0, 0, new Uint8Array(10)))[0]!);
    assert.throws(() => r.add(decodeHandshakeFragments(encodeHandshakeFragment(12, 100, 0, 10, new Uint8Array(10)))[0]!), isAlert('illegal_parameter'));
    assert.throws(() => r.add(decodeHandshakeFragments(encodeHandshakeFragment(11, 200, 0, 10, new Uint8Array(10)))[0]!), isAlert('illegal_parameter'));
  });
});
