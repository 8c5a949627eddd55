import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../coap/clock.js';
import { FlightTimer, type FlightItem } from './flight.js';

const item: FlightItem = { contentType: 22, epoch: 0, data: Uint8Array.of(1) };

describe('flight retransmission timer (RFC 6347 §4.2.4)', () => {
  it('retransmits with a doubling timer capped at 60 s, then gives up', () => {
    const clock = new ManualClock();
    const sent: number[] = [];
    let gaveUp = false;
    const t = new FlightTimer({ clock, initial: 1000, maxRetransmissions: 8, transmit: () => sent.push(clock.now()), onGiveUp: () => (gaveUp = true) });
    t.send([item]);
    clock.advance(500_000);
    assert.deepEqual(sent, [0, 1000, 3000, 7000, 15000, 31000, 63000, 123000, 183000]);
    assert.equal(gaveUp, true);
  });

  it('takes the configured initial value (RFC 7925 §11: 9 s on slow links)', () => {
    const clock = new ManualClock();
    const sent: number[] = [];
    const t = new FlightTimer({ clock, initial: 9000, transmit: () => sent.push(clock.now()), onGiveUp: () => {} });
    t.send([item]);
    clock.advance(30_000);
    assert.deepEqual(sent, [0, 9000, 27000]);
    t.clear();
  });

  it('stops when the peer answers; keeps the flight to resend on request; a final flight runs no timer', () => {
    const clock = new ManualClock();
    let n = 0;
    const t = new FlightTimer({ clock, transmit: () => n++, onGiveUp: () => assert.fail('gave up') });
    t.send([item]);
    t.stop();
    clock.advance(10_000);
    assert.equal(n, 1);
    t.retransmit();
    assert.equal(n, 2);
    t.send([item], false);
    assert.equal(clock.pending, 0);
    t.retransmit();
    assert.equal(n, 4);
    t.clear();
    t.retransmit();
    assert.equal(n, 4);
  });
});
