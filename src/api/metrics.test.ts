import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DtlsAlert } from '../dtls/alert.js';
import { Lwm2mPath } from '../lwm2m/index.js';
import { ServerError } from '../server/index.js';
import { FakeServer, fakeRegistration, testModel } from './fake-server.js';
import { createApi } from './index.js';
import { countDeviceRequests, escapeLabel, Metrics, METRICS_CONTENT_TYPE } from './metrics.js';

const TOKEN = 'metrics-test-token-0123';
const AUTH = { authorization: `Bearer ${TOKEN}` };

/** Parses exposition text 0.0.4 strictly: HELP/TYPE before a family's samples, every sample line well formed. */
function parse(text: string): { types: Map<string, string>; samples: Map<string, number> } {
  assert.ok(text.endsWith('\n'), 'ends with a line feed');
  const types = new Map<string, string>();
  const samples = new Map<string, number>();
  for (const line of text.slice(0, -1).split('\n')) {
    let m = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$/.exec(line);
    if (m) {
      if (m[1] === 'TYPE') {
        assert.match(m[3]!, /^(counter|gauge|histogram|summary|untyped)$/);
        assert.ok(!types.has(m[2]!), `one TYPE line for ${m[2]}`);
        types.set(m[2]!, m[3]!);
      }
      continue;
    }
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\["\\n])*",?)*\})? (-?[0-9.e+-]+|\+Inf|NaN)$/.exec(line);
    assert.ok(m, `sample line: ${line}`);
    const family = m[1]!.replace(/_(bucket|sum|count)$/, '');
    assert.ok(types.has(m[1]!) || types.get(family) === 'histogram', `TYPE before ${m[1]}`);
    assert.ok(!samples.has(`${m[1]}${m[2] ?? ''}`), `duplicate sample ${line}`);
    samples.set(`${m[1]}${m[2] ?? ''}`, Number(m[3] === '+Inf' ? Infinity : m[3]));
  }
  return { types, samples };
}

test('render: counters, cumulative histogram buckets with +Inf equal to the count, escaped labels', () => {
  const m = new Metrics({ buckets: [0.01, 0.1, 1] });
  m.apiRequest('GET', '/api/clients', 200, 0.005);
  m.apiRequest('GET', '/api/clients', 200, 0.05);
  m.apiRequest('GET', '/api/clients', 503, 5);
  m.apiRequest('GET', 'a"b\\c\nd', 404, 0.01);
  const { types, samples } = parse(m.render());
  assert.equal(types.get('warden_api_requests_total'), 'counter');
  assert.equal(types.get('warden_api_request_duration_seconds'), 'histogram');
  assert.equal(samples.get('warden_api_requests_total{method="GET",route="/api/clients",status="2xx"}'), 2);
  assert.equal(samples.get('warden_api_requests_total{method="GET",route="/api/clients",status="5xx"}'), 1);
  const b = (le: string) => samples.get(`warden_api_request_duration_seconds_bucket{method="GET",route="/api/clients",le="${le}"}`);
  assert.deepEqual([b('0.01'), b('0.1'), b('1'), b('+Inf')], [1, 2, 2, 3]);
  assert.equal(samples.get('warden_api_request_duration_seconds_count{method="GET",route="/api/clients"}'), 3);
  assert.equal(samples.get('warden_api_request_duration_seconds_sum{method="GET",route="/api/clients"}'), 0.005 + 0.05 + 5);
  // An observation equal to a bound falls in that bucket (le: less than or equal).
  assert.equal(samples.get('warden_api_request_duration_seconds_bucket{method="GET",route="a\\"b\\\\c\\nd",le="0.01"}'), 1);
  assert.equal(escapeLabel('x"\\\n'), 'x\\"\\\\\\n');
});

test('registrations by mode follow the server events; registration events counted by kind', () => {
  const fake = new FakeServer();
  fake.add(fakeRegistration('old', { secure: true }));
  const m = new Metrics();
  const stop = m.trackServer(fake);
  const plain = fakeRegistration('a');
  const queued = fakeRegistration('a', { queueMode: true });
  fake.emit('registered', plain);
  fake.emit('updated', queued, plain);
  fake.emit('registered', fakeRegistration('b', { secure: true, queueMode: true }));
  fake.emit('deregistered', fakeRegistration('b', { secure: true, queueMode: true }), 'expired');
  const { samples } = parse(m.render());
  const reg = (secure: boolean, queue: boolean) => samples.get(`warden_registrations{secure="${secure}",queue_mode="${queue}"}`);
  assert.deepEqual([reg(false, false), reg(false, true), reg(true, false), reg(true, true)], [0, 1, 1, 0]);
  assert.equal(samples.get('warden_registration_events_total{kind="registered"}'), 2);
  assert.equal(samples.get('warden_registration_events_total{kind="updated"}'), 1);
  assert.equal(samples.get('warden_registration_events_total{kind="expired"}'), 1);
  stop();
  fake.emit('registered', fakeRegistration('c'));
  assert.equal(parse(m.render()).samples.get('warden_registrations{secure="false",queue_mode="false"}'), 0, 'stopped following');
});

test('DTLS handshakes by listener and result: the mode of a success, the alert of a failure', () => {
  const m = new Metrics();
  m.dtlsHandshake('dm', { identity: { mode: 'psk' }, resumed: false });
  m.dtlsHandshake('dm', { identity: { mode: 'psk' }, resumed: false });
  m.dtlsHandshake('dm', { identity: { mode: 'x509' }, resumed: true });
  m.dtlsHandshakeFailed('dm', { alert: new DtlsAlert(40) });
  m.dtlsHandshakeFailed('bootstrap', { alert: new Error('timed out') });
  const { samples } = parse(m.render());
  assert.equal(samples.get('warden_dtls_handshakes_total{listener="dm",result="success",reason="psk"}'), 2);
  assert.equal(samples.get('warden_dtls_handshakes_total{listener="dm",result="resumed",reason="x509"}'), 1);
  assert.equal(samples.get('warden_dtls_handshakes_total{listener="dm",result="failure",reason="handshake_failure"}'), 1);
  assert.equal(samples.get('warden_dtls_handshakes_total{listener="bootstrap",result="failure",reason="error"}'), 1);
});

test('device requests counted by operation and result; other members of the server pass through', async () => {
  const fake = new FakeServer();
  fake.add(fakeRegistration('dev1'));
  const m = new Metrics();
  const counted = countDeviceRequests(fake, m, 'api');
  const p = Lwm2mPath.parse('/3/0/0');
  fake.next = { code: 69 };
  await counted.read('dev1', p);
  fake.next = { code: 132 };
  await counted.read('dev1', p);
  await assert.rejects(counted.read('ghost', p), ServerError);
  fake.nextError = new ServerError('TIMEOUT', 'no answer');
  await assert.rejects(counted.write('dev1', p, { kind: 'singleResource', id: 0, value: { type: 'string', value: 'x' } }));
  assert.equal(counted.registrationCount(), 1);
  assert.equal(counted.getRegistration('dev1')?.endpoint, 'dev1');
  let heard = 0;
  counted.on('x', () => heard++);
  fake.emit('x');
  assert.equal(heard, 1, 'listeners land on the server itself');
  const { samples } = parse(m.render());
  assert.equal(samples.get('warden_device_requests_total{source="api",operation="read",result="CONTENT"}'), 1);
  assert.equal(samples.get('warden_device_requests_total{source="api",operation="read",result="NOT_FOUND"}'), 1);
  assert.equal(samples.get('warden_device_requests_total{source="api",operation="read",result="NOT_REGISTERED"}'), 1);
  assert.equal(samples.get('warden_device_requests_total{source="api",operation="write",result="TIMEOUT"}'), 1);
});

test('GET /metrics: authenticated, exposition 0.0.4, counting API requests by route pattern, device requests and campaigns', async () => {
  const fake = new FakeServer();
  fake.add(fakeRegistration('dev1', { queueMode: true }));
  const campaigns = {
    on() {}, off() {},
    list: () => [{ id: 7, state: 'running', counts: { queued: 3, downloading: 1, succeeded: 2 } }],
  } as never;
  const app = await createApi({ server: fake, model: testModel(), apiToken: TOKEN, campaigns });
  try {
    assert.equal((await app.inject({ method: 'GET', url: '/metrics' })).statusCode, 401);
    await app.inject({ method: 'GET', url: '/api/clients/dev1/3/0/0', headers: AUTH });
    await app.inject({ method: 'GET', url: '/api/clients/dev1/3/0/1', headers: AUTH });
    await app.inject({ method: 'GET', url: '/api/clients/ghost', headers: AUTH });
    await app.inject({ method: 'GET', url: '/api/unknown/thing', headers: AUTH });
    await app.inject({ method: 'GET', url: '/api/clients?limit=x', headers: AUTH });
    const res = await app.inject({ method: 'GET', url: '/metrics', headers: AUTH });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-type'], METRICS_CONTENT_TYPE);
    const { types, samples } = parse(res.body);
    assert.equal(samples.get('warden_api_requests_total{method="GET",route="/api/clients/:ep/*",status="2xx"}'), 2);
    assert.equal(samples.get('warden_api_requests_total{method="GET",route="/api/clients/:ep",status="4xx"}'), 1);
    assert.equal(samples.get('warden_api_requests_total{method="GET",route="unmatched",status="4xx"}'), 1);
    assert.equal(samples.get('warden_api_requests_total{method="GET",route="/api/clients",status="4xx"}'), 1);
    assert.equal(samples.get('warden_device_requests_total{source="api",operation="read",result="CONTENT"}'), 2);
    assert.equal(samples.get('warden_registrations{secure="false",queue_mode="true"}'), 1);
    assert.equal(types.get('warden_firmware_campaign_devices'), 'gauge');
    assert.equal(samples.get('warden_firmware_campaign_devices{campaign="7",state="queued"}'), 3);
    assert.equal(samples.get('warden_firmware_campaign_devices{campaign="7",state="succeeded"}'), 2);
    assert.equal(samples.get('warden_firmware_campaign_state{campaign="7",state="running"}'), 1);
    // No raw URL (endpoint names, paths) becomes a label value.
    assert.doesNotMatch(res.body, /dev1|ghost|3\/0\/0/);
  } finally {
    await app.close();
  }
});
