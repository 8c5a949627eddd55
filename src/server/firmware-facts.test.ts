import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FakeServer, fakeRegistration } from '../api/fake-server.js';
import type { LwM2mNode } from '../lwm2m/node.js';
import { Lwm2mPath } from '../lwm2m/path.js';
import { DeviceFactsStore, SqliteStore } from '../store/index.js';
import { collectFirmwareFacts, firmwareFactsOf } from './firmware-facts.js';
import type { DeviceResponse } from './types.js';

const p = (s: string) => Lwm2mPath.parse(s);
const str = (id: number, value: string): LwM2mNode => ({ kind: 'singleResource', id, value: { type: 'string', value } });
const int = (id: number, value: number): LwM2mNode => ({ kind: 'singleResource', id, value: { type: 'integer', value } });

describe('firmwareFactsOf', () => {
  it('finds /3/0/3 and /5/0/3, /5/0/5 in resources, instances and objects', () => {
    assert.deepEqual(firmwareFactsOf(p('/3/0/3'), str(3, '1.2.3')), { version: '1.2.3' });
    assert.deepEqual(firmwareFactsOf(p('/3/0'), { kind: 'instance', id: 0, resources: [str(0, 'Acme') as never, str(3, '2.0') as never] }), { version: '2.0' });
    assert.deepEqual(
      firmwareFactsOf(p('/5'), { kind: 'object', id: 5, instances: [{ kind: 'instance', id: 0, resources: [int(3, 2) as never, int(5, 1) as never] }] }),
      { fwState: 2, fwResult: 1 },
    );
    assert.equal(firmwareFactsOf(p('/3/0/0'), str(0, 'Acme')), undefined);
    assert.equal(firmwareFactsOf(p('/3/1/3'), str(3, 'other instance')), undefined);
    assert.equal(firmwareFactsOf(p('/4/0/3'), str(3, 'not the device object')), undefined);
  });
});

describe('collectFirmwareFacts', () => {
  it('records facts from reads, notifications and Send, and only writes on change', () => {
    const store = new SqliteStore(':memory:');
    let t = 1000;
    const facts = new DeviceFactsStore(store, { now: () => t });
    const server = new FakeServer();
    const stop = collectFirmwareFacts(server, facts, { inventoryRead: false });
    server.emit('read', { endpoint: 'a', path: p('/3/0/3'), content: str(3, '1.0') });
    assert.deepEqual(facts.get('a'), { endpoint: 'a', version: '1.0', updatedAt: 1000 });
    server.emit('notification', { endpoint: 'a', observationId: 'x', paths: [p('/5/0/3')], code: 69, content: int(3, 1) });
    assert.equal(facts.get('a')?.fwState, 1);
    assert.equal(facts.get('a')?.version, '1.0', 'a notification of /5/0/3 keeps the version');
    server.emit('send', { endpoint: 'a', contents: [{ path: p('/3/0/3'), node: str(3, '1.1') }, { path: p('/5/0/5'), node: int(5, 1) }] });
    assert.deepEqual(facts.get('a'), { endpoint: 'a', version: '1.1', fwState: 1, fwResult: 1, updatedAt: 1000 });
    server.emit('read', { endpoint: 'a', contents: [{ path: p('/3/0/3'), node: str(3, '1.2') }] });
    assert.equal(facts.get('a')?.version, '1.2', 'composite read');
    t = 2000;
    server.emit('read', { endpoint: 'a', path: p('/3/0/3'), content: str(3, '1.2') });
    assert.equal(facts.get('a')?.updatedAt, 1000, 'no write when nothing changed');
    stop();
    server.emit('read', { endpoint: 'a', path: p('/3/0/3'), content: str(3, '9.9') });
    assert.equal(facts.get('a')?.version, '1.2', 'stopped');
    store.close();
  });

  it('reads /3/0/3 after new registrations only, at most `concurrency` at a time, ignoring failures', async () => {
    const store = new SqliteStore(':memory:');
    const facts = new DeviceFactsStore(store);
    const server = new FakeServer();
    let inFlight = 0;
    let peak = 0;
    const reads: string[] = [];
    server.read = async (endpoint: string, path: Lwm2mPath): Promise<DeviceResponse> => {
      reads.push(`${endpoint} ${path}`);
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setTimeout(r, 5));
      inFlight--;
      if (endpoint === 'd3') throw new Error('timeout');
      return { code: 69, content: str(3, `v-${endpoint}`) };
    };
    const stop = collectFirmwareFacts(server, facts, { concurrency: 2 });
    for (let i = 0; i < 6; i++) {
      const reg = fakeRegistration(`d${i}`);
      server.add(reg);
      server.emit('registered', reg);
    }
    server.emit('updated', fakeRegistration('d0'), fakeRegistration('d0'));
    while (reads.length < 6 || inFlight > 0) await new Promise((r) => setTimeout(r, 5));
    assert.equal(peak, 2);
    assert.deepEqual(reads.sort(), ['d0', 'd1', 'd2', 'd3', 'd4', 'd5'].map((e) => `${e} /3/0/3`));
    stop();
    store.close();
  });
});
