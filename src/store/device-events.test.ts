import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { recordRegistrations } from '../server/registration-history.js';
import type { Registration } from '../server/types.js';
import { DeviceEventLog } from './device-events.js';
import { SqliteStore } from './sqlite.js';

const reg = (endpoint: string, registeredAt: number): Registration =>
  ({ endpoint, registrationId: `r-${endpoint}`, address: '192.0.2.1', port: 5683, registeredAt, secure: true }) as unknown as Registration;

test('registration history: written in one batch per turn, newest first per device, last seen, pruned but for the latest', async () => {
  const store = new SqliteStore(':memory:');
  try {
    const log = new DeviceEventLog(store);
    const server = new EventEmitter();
    let now = 5_000;
    const stop = recordRegistrations(server as never, log, () => now);
    server.emit('registered', reg('a', 1_000));
    server.emit('registered', reg('b', 2_000));
    server.emit('deregistered', reg('a', 1_000), 'deregister');
    now = 6_000;
    server.emit('deregistered', reg('b', 2_000), 'expired');
    const count = () => (store.db.prepare('SELECT count(*) AS n FROM device_event').get() as { n: number }).n;
    assert.equal(count(), 0, 'queued until the turn ends');
    await new Promise((r) => setImmediate(r));
    assert.equal(count(), 4);
    assert.deepEqual(log.of('a').map((e) => [e.kind, e.time]), [['deregistered', 5_000], ['registered', 1_000]]);
    assert.match(log.of('a')[1]!.detail, /^from 192\.0\.2\.1:5683 over DTLS, id r-a$/);
    assert.deepEqual([...log.lastSeen()].sort(), [['a', 5_000], ['b', 6_000]]);
    stop();
    server.emit('registered', reg('c', 7_000));
    assert.equal(log.of('c').length, 0, 'stopped');
    // Older than 5,500: both registrations and a's de-registration; that is a's latest, so it stays.
    assert.equal(log.prune(5_500), 2);
    assert.deepEqual(log.of('a').map((e) => e.kind), ['deregistered']);
    assert.deepEqual(log.of('b').map((e) => e.kind), ['expired']);
    log.record({ endpoint: 'd', time: 8_000, kind: 'replaced', detail: 'id r-d' });
    log.close();
    assert.equal(new DeviceEventLog(store).of('d').length, 1, 'close writes what was queued');
  } finally {
    store.close();
  }
});
