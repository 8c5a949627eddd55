import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BootstrapError, BootstrapSession, parseDiscover, planBootstrap, transition, type BootstrapEvent, type BootstrapState } from './index.js';

const STATES: BootstrapState[] = ['requested', 'discovering', 'deleting', 'writing', 'finishing', 'finished', 'failed'];
const EVENTS: BootstrapEvent[] = ['discover', 'delete', 'write', 'finish', 'finished', 'fail'];
const LEGAL = new Set([
  'requested:discover', 'requested:delete', 'requested:fail', 'discovering:delete', 'discovering:fail', 'deleting:write', 'deleting:fail',
  'writing:finish', 'writing:fail', 'finishing:finished', 'finishing:fail',
]);

test('every illegal transition throws ILLEGAL_TRANSITION; terminal states take nothing', () => {
  for (const s of STATES) {
    for (const e of EVENTS) {
      if (LEGAL.has(`${s}:${e}`)) assert.doesNotThrow(() => transition(s, e));
      else assert.throws(() => transition(s, e), (err: unknown) => err instanceof BootstrapError && err.code === 'ILLEGAL_TRANSITION', `${s}:${e}`);
    }
  }
});

test('a failed session aborts its requests once; a finished one cannot fail', () => {
  const s = new BootstrapSession('ep', 1);
  s.step('discover');
  assert.equal(s.fail('timeout'), true);
  assert.equal(s.abort.signal.aborted, true);
  assert.equal(s.fail('again'), false);
  assert.equal(s.failure, 'timeout');
  const ok = new BootstrapSession('ep', 2);
  for (const e of ['delete', 'write', 'finish', 'finished'] as const) ok.step(e);
  assert.equal(ok.fail('late'), false);
  assert.equal(ok.state, 'finished');
});

test('Bootstrap-Discover answers: bootstrap accounts are the /0 instances without ssid', () => {
  assert.deepEqual(parseDiscover('</>;lwm2m=1.1,</0/0>;uri="coap://bs",</0/1>;ssid=1;uri="coaps://dm",</1/0>;ssid=1'), { version: '1.1', bootstrapSecurityIds: [0] });
  assert.deepEqual(parseDiscover('lwm2m="1.0",</0/3>,</1>'), { version: '1.0', bootstrapSecurityIds: [3] });
});

test('the plan writes a generated PSK account beside the bootstrap account, never over it', () => {
  const key = new Uint8Array(32).fill(9);
  const plan = planBootstrap({
    config: { servers: { '0': { shortId: 5 } } },
    bootstrapInstanceIds: [0],
    dmServerUri: 'coaps://dm:5684',
    generate: () => ({ kind: 'psk', identity: 'ep', key }),
  });
  assert.deepEqual(plan.toDelete, ['/0', '/1']);
  assert.deepEqual(plan.writes.map((w) => `/${w.objectId}/${w.instance.id}`), ['/0/1', '/1/0']);
  assert.equal(plan.generated?.kind === 'psk' && plan.generated.key, key);
  assert.throws(() => planBootstrap({ config: { servers: { '0': { shortId: 1 }, '1': { shortId: 2 } } }, bootstrapInstanceIds: [], dmServerUri: 'coaps://x', generate: () => ({ kind: 'psk', identity: 'e', key }) }), /only one server/);
});
