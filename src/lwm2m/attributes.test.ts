import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  applyAttributes,
  attributesToLinkParams,
  checkWritableAttributes,
  formatAttributes,
  mergeAttributes,
  nextNotifyDelay,
  parseAttributes,
  shouldNotify,
  shouldNotifyChange,
} from './attributes.js';
import { Lwm2mError } from './error.js';
import { Lwm2mPath } from './path.js';

const is400 = (err: unknown): boolean => err instanceof Lwm2mError && err.code === 128;

test('parses Uri-Query items, keeping "clear" (null) apart from absent', () => {
  const a = parseAttributes(['pmin=10', 'pmax=60', 'gt=20.5', 'lt=-3', 'st', 'epmin=1', 'epmax=5', 'con=1', 'hqmax=4', 'edge=0']);
  assert.deepEqual(a, { pmin: 10, pmax: 60, gt: 20.5, lt: -3, st: null, epmin: 1, epmax: 5, con: 1, hqmax: 4, edge: 0 });
  assert.equal('dim' in a, false);
  assert.deepEqual(parseAttributes([]), {});
  assert.deepEqual(parseAttributes(['ver=1.1', 'dim=3']), { ver: '1.1', dim: 3 });
});

test('rejects unknown names, bad numbers, repeats and rule violations with 4.00', () => {
  const bad = [
    ['foo=1'],
    ['pmin=-1'],
    ['pmin=1.5'],
    ['pmin=abc'],
    ['pmin='],
    ['gt=1e3'],
    ['gt=x'],
    ['con=2'],
    ['ver=1'],
    ['pmin=1', 'pmin=2'],
    ['pmin=10', 'pmax=5'],
    ['epmin=5', 'epmax=5'],
    ['gt=10', 'lt=10'],
    ['gt=10', 'lt=5', 'st=3'],
  ];
  for (const q of bad) assert.throws(() => parseAttributes(q), is400, q.join('&'));
  // lt + 2*st < gt holds: accepted.
  assert.deepEqual(parseAttributes(['gt=10', 'lt=5', 'st=2']), { gt: 10, lt: 5, st: 2 });
  assert.deepEqual(parseAttributes(['pmin=5', 'pmax=5']), { pmin: 5, pmax: 5 });
});

test('formats attributes as Uri-Query items, null as a bare name, and Discover params', () => {
  assert.deepEqual(formatAttributes({ gt: 20.5, pmin: 10, pmax: null }), ['pmin=10', 'pmax', 'gt=20.5']);
  const q = formatAttributes({ pmin: 1, lt: -2.25, st: null, ver: '1.1' });
  assert.deepEqual(parseAttributes(q), { pmin: 1, lt: -2.25, st: null, ver: '1.1' });
  assert.deepEqual(attributesToLinkParams({ pmin: 10, pmax: null, dim: 2 }), { pmin: '10', dim: '2' });
});

test('checks what a Write-Attributes may set where', () => {
  checkWritableAttributes({ gt: 1 }, Lwm2mPath.parse('/3/0/7'));
  checkWritableAttributes({ st: 1 }, Lwm2mPath.parse('/3/0/7/1'));
  checkWritableAttributes({ pmin: 1 }, Lwm2mPath.parse('/3'));
  assert.throws(() => checkWritableAttributes({ gt: 1 }, Lwm2mPath.parse('/3/0')), is400);
  assert.throws(() => checkWritableAttributes({ dim: 1 }, Lwm2mPath.parse('/3/0/7')), is400);
  assert.throws(() => checkWritableAttributes({ ver: '1.0' }, Lwm2mPath.parse('/3')), is400);
  assert.throws(() => checkWritableAttributes({ pmin: 1 }, Lwm2mPath.root()), is400);
});

test('applyAttributes replaces, clears with null and keeps the rest', () => {
  assert.deepEqual(applyAttributes({ pmin: 1, pmax: 60, gt: 5 }, { pmin: 2, pmax: null }), { pmin: 2, gt: 5 });
});

test('mergeAttributes: the most specific level wins, null does not override', () => {
  const server = { pmin: 1, pmax: 300 };
  const object = { pmin: 5 };
  const instance = { pmax: 100, pmin: null };
  const resource = { gt: 20 };
  assert.deepEqual(mergeAttributes(server, object, undefined, instance, resource), { pmin: 5, pmax: 100, gt: 20 });
  assert.deepEqual(mergeAttributes(), {});
});

test('shouldNotify without thresholds: any change, subject to pmin; pmax forces a notification', () => {
  const a = { pmin: 10, pmax: 60 };
  assert.equal(shouldNotify(a, 1, 2, 11_000), 'now');
  assert.equal(shouldNotify(a, 1, 2, 5_000), 'wait');
  assert.equal(shouldNotify(a, 1, 1, 30_000), 'never');
  assert.equal(shouldNotify(a, 1, 1, 60_000), 'now');
  assert.equal(shouldNotify({}, 1, 2, 0), 'now');
  assert.equal(shouldNotify({}, 1, 1, 1e9), 'never');
  assert.equal(shouldNotify({}, undefined, 1, 0), 'now');
  // pmax not greater than pmin is ignored.
  assert.equal(shouldNotify({ pmin: 10, pmax: 10 }, 1, 1, 20_000), 'never');
});

test('shouldNotify with gt/lt: notifies on crossing only, in either direction', () => {
  const a = { gt: 20, lt: 10 };
  assert.equal(shouldNotify(a, 19, 21, 0), 'now');
  assert.equal(shouldNotify(a, 21, 19, 0), 'now');
  assert.equal(shouldNotify(a, 21, 25, 0), 'never');
  assert.equal(shouldNotify(a, 15, 16, 0), 'never');
  assert.equal(shouldNotify(a, 11, 9, 0), 'now');
  assert.equal(shouldNotify(a, 9, 11, 0), 'now');
  assert.equal(shouldNotify(a, 5, 8, 0), 'never');
  assert.equal(shouldNotify(a, 20, 20.1, 0), 'now');
  assert.equal(shouldNotify({ ...a, pmin: 5 }, 19, 21, 1_000), 'wait');
});

test('shouldNotify with st: notifies when the value moved by at least st since the last notification', () => {
  const a = { st: 2 };
  assert.equal(shouldNotify(a, 10, 11.5, 0), 'never');
  assert.equal(shouldNotify(a, 10, 12, 0), 'now');
  assert.equal(shouldNotify(a, 10, 7.9, 0), 'now');
  assert.equal(shouldNotify({ st: 2, gt: 50 }, 49, 50.5, 0), 'now');
  assert.equal(shouldNotify({ st: 2, pmax: 30 }, 10, 10.5, 30_000), 'now');
});

test('shouldNotifyChange and nextNotifyDelay for scheduling', () => {
  assert.equal(shouldNotifyChange({ pmin: 2 }, true, 1_000), 'wait');
  assert.equal(shouldNotifyChange({ pmin: 2 }, false, 1_000), 'never');
  assert.equal(nextNotifyDelay({ pmin: 2, pmax: 10 }, 1_000, true), 1_000);
  assert.equal(nextNotifyDelay({ pmin: 2, pmax: 10 }, 1_000, false), 9_000);
  assert.equal(nextNotifyDelay({ pmin: 2 }, 1_000, false), undefined);
  assert.equal(nextNotifyDelay({}, 1_000, true), 0);
  assert.equal(nextNotifyDelay({ pmax: 10 }, 12_000, false), 0);
});
