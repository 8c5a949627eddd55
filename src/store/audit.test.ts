import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AuditError, AuditLog } from './audit.js';
import { SqliteStore } from './sqlite.js';

function log(): { audit: AuditLog; store: SqliteStore; clock: { t: number } } {
  const store = new SqliteStore(':memory:');
  const clock = { t: 1000 };
  return { audit: new AuditLog(store, { now: () => clock.t }), store, clock };
}

test('records events and filters by endpoint, kind and since, newest first', () => {
  const { audit, clock, store } = log();
  audit.record({ endpoint: 'a', kind: 'created', actor: 'bootstrap', detail: { identity: 'a' } });
  clock.t = 2000;
  audit.record({ endpoint: 'b', kind: 'created', actor: 'bootstrap' });
  clock.t = 3000;
  audit.record({ endpoint: 'a', kind: 'rotated', actor: 'rotation:1', detail: { identity: 'a~2', campaign: 1 } });
  assert.deepEqual(audit.query({ endpoint: 'a' }).map((e) => e.kind), ['rotated', 'created']);
  assert.deepEqual(audit.query({ kind: 'created' }).map((e) => e.endpoint), ['b', 'a']);
  assert.deepEqual(audit.query({ since: 2000 }).map((e) => e.time), [3000, 2000]);
  assert.deepEqual(audit.query({ endpoint: 'a', kind: 'rotated', since: 3000 })[0]!.detail, { identity: 'a~2', campaign: 1 });
  assert.equal(audit.query({ limit: 1 }).length, 1);
  assert.equal(audit.query({ until: 2000 }).length, 1);
  store.close();
});

test('refuses details that could carry key material', () => {
  const { audit, store } = log();
  assert.throws(() => audit.record({ endpoint: 'a', kind: 'created', actor: 'x', detail: { pskKey: 'ab' } }), AuditError);
  assert.throws(() => audit.record({ endpoint: 'a', kind: 'created', actor: 'x', detail: { secret: 'ab' } }), AuditError);
  const bytes = new Uint8Array(16) as unknown as string;
  assert.throws(() => audit.record({ endpoint: 'a', kind: 'created', actor: 'x', detail: { identity: bytes } }), AuditError);
  assert.throws(() => audit.record({ endpoint: 'a', kind: 'stolen' as 'created', actor: 'x' }), AuditError);
  assert.equal(audit.query().length, 0);
  store.close();
});

test('used-first is recorded once per endpoint and identity', () => {
  const { audit, store } = log();
  assert.equal(audit.usedFirst('a', 'a'), true);
  assert.equal(audit.usedFirst('a', 'a'), false);
  assert.equal(audit.usedFirst('a', 'a~2'), true);
  assert.deepEqual(audit.query({ kind: 'used-first' }).map((e) => e.detail!.identity), ['a~2', 'a']);
  store.close();
});
