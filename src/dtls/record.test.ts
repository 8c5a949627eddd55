import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DtlsAlert } from './alert.js';
import { ContentType, decodeInnerPlaintext, decodeRecords, encodeInnerPlaintext, encodeRecord, MAX_RECORD_LENGTH, readUint48, writeUint48 } from './record.js';

describe('record', () => {
  it('encodes the RFC 6347 §4.1 header: type, 254.253, epoch, 48-bit sequence number, length', () => {
    const r = encodeRecord(ContentType.handshake, 1, 0x0102_0304_0506, Uint8Array.of(9, 8, 7));
    assert.deepEqual(Array.from(r), [22, 0xfe, 0xfd, 0, 1, 1, 2, 3, 4, 5, 6, 0, 3, 9, 8, 7]);
    const [d] = decodeRecords(r);
    assert.equal(d!.type, 22);
    assert.equal(d!.version, 0xfefd);
    assert.equal(d!.epoch, 1);
    assert.equal(d!.sequenceNumber, 0x0102_0304_0506);
    assert.deepEqual(Array.from(d!.fragment), [9, 8, 7]);
  });

  it('reads and writes 48-bit numbers up to 2^48 - 1', () => {
    const b = new Uint8Array(6);
    for (const v of [0, 1, 0xffffff, 0x1000000, 2 ** 48 - 1]) {
      writeUint48(b, 0, v);
      assert.equal(readUint48(b, 0), v);
    }
  });

  it('splits several records in one datagram', () => {
    const a = encodeRecord(ContentType.handshake, 0, 0, Uint8Array.of(1));
    const b = encodeRecord(ContentType.change_cipher_spec, 0, 1, Uint8Array.of(1));
    const c = encodeRecord(ContentType.handshake, 1, 0, new Uint8Array(40));
    const recs = decodeRecords(Buffer.concat([a, b, c]));
    assert.deepEqual(recs.map((r) => [r.type, r.epoch, r.sequenceNumber, r.fragment.length]), [
      [22, 0, 0, 1],
      [20, 0, 1, 1],
      [22, 1, 0, 40],
    ]);
  });

  it('reads tls12_cid records with the receiver-known CID length (RFC 9146 §4)', () => {
    const cid = Uint8Array.of(0xaa, 0xbb, 0xcc);
    const r = encodeRecord(ContentType.tls12_cid, 1, 5, Uint8Array.of(1, 2), cid);
    assert.equal(r.length, 13 + 3 + 2);
    const [d] = decodeRecords(r, 3);
    assert.deepEqual(Array.from(d!.cid!), [0xaa, 0xbb, 0xcc]);
    assert.deepEqual(Array.from(d!.fragment), [1, 2]);
    assert.equal(d!.header.length, 13 + 3);
  });

  it('rejects every truncation with decode_error', () => {
    const r = Buffer.concat([encodeRecord(22, 0, 0, new Uint8Array(10)), encodeRecord(22, 0, 1, new Uint8Array(5))]);
    for (let n = 1; n < r.length; n++) {
      if (n === 23) continue; // a whole first record
      assert.throws(() => decodeRecords(r.subarray(0, n)), (e: unknown) => e instanceof DtlsAlert && e.code === 'decode_error', `length ${n}`);
    }
    const cidRec = encodeRecord(ContentType.tls12_cid, 1, 0, new Uint8Array(4), new Uint8Array(6));
    assert.throws(() => decodeRecords(cidRec.subarray(0, 18), 6), DtlsAlert);
  });

  it('rejects a record longer than 2^14 + 2048 with record_overflow', () => {
    const big = encodeRecord(23, 1, 0, new Uint8Array(MAX_RECORD_LENGTH + 1));
    assert.throws(() => decodeRecords(big), (e: unknown) => e instanceof DtlsAlert && e.code === 'record_overflow');
    assert.equal(decodeRecords(encodeRecord(23, 1, 0, new Uint8Array(MAX_RECORD_LENGTH)))[0]!.fragment.length, MAX_RECORD_LENGTH);
  });

  it('rejects a non-DTLS version', () => {
    const r = encodeRecord(22, 0, 0, Uint8Array.of(1));
    r[1] = 3;
    r[2] = 3;
    assert.throws(() => decodeRecords(r), DtlsAlert);
  });

  it('DTLSInnerPlaintext: content, real type, zero padding', () => {
    const inner = encodeInnerPlaintext(Uint8Array.of(5, 0, 6), 23, 4);
    assert.deepEqual(Array.from(inner), [5, 0, 6, 23, 0, 0, 0, 0]);
    const d = decodeInnerPlaintext(inner)!;
    assert.equal(d.type, 23);
    assert.deepEqual(Array.from(d.content), [5, 0, 6]);
    assert.equal(decodeInnerPlaintext(new Uint8Array(5)), undefined);
  });
});
