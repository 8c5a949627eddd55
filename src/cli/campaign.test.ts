import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { FakeServer, testModel } from '../api/fake-server.js';
import { createApi } from '../api/index.js';
import { FirmwareCampaignManager, type CampaignDriver, type FirmwareCampaignSummary, type FirmwareReading } from '../firmware/index.js';
import { SqliteStore } from '../store/index.js';
import { campaignAction, campaignCreate, campaignList, campaignStatus, parseTarget, renderProgress } from './campaign.js';
import { tokenFile } from './test-token.js';

const TOKEN = 'test-token-campaign-cli-0123';

/** Devices whose Object 5 moves at once: a download completes on delivery, an install on Update. */
function instantDriver(endpoints: string[], failing: Set<string>): CampaignDriver {
  const dev = new Map(endpoints.map((ep) => [ep, { state: 0, result: 0, version: '1.0.0' }]));
  return {
    registered: () => endpoints.map((endpoint) => ({ endpoint, attributes: { lwm2m: '1.1', queue: 'false' } })),
    firmwareVersion: async (ep) => dev.get(ep)!.version,
    status: async (ep) => ({ state: dev.get(ep)!.state, result: dev.get(ep)!.result }),
    deliver: async (ep) => void Object.assign(dev.get(ep)!, { state: 2, result: 0 }),
    reset: async (ep) => void Object.assign(dev.get(ep)!, { state: 0, result: 0 }),
    update: async (ep) => {
      const d = dev.get(ep)!;
      Object.assign(d, failing.has(ep) ? { state: 2, result: 8 } : { state: 0, result: 1, version: '2.0.0' });
    },
    waitFor: async (ep, done: (r: FirmwareReading) => boolean) => {
      const d = dev.get(ep)!;
      assert.ok(done(d), `instant driver: ${ep} is in state ${d.state}`);
      return { state: d.state, result: d.result, reregistered: false };
    },
  };
}

async function setup(endpoints: string[], failing = new Set<string>()) {
  const store = new SqliteStore(':memory:');
  const campaigns = new FirmwareCampaignManager({
    store,
    packages: { get: (id) => (id === 'p2' ? { id, vendor: 'v', class: 'c', version: '2.0.0', sequence: 2, kind: 'image', imageDigest: 'aa', packageSize: 10 } : undefined), uri: (id, s) => `${s}://h/${id}` },
    driver: instantDriver(endpoints, failing),
    resolveGroup: (g) => (g === 'lab' ? endpoints.slice(0, 2) : undefined),
  });
  const app = await createApi({ server: new FakeServer(), model: testModel(), apiToken: TOKEN, campaigns });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const lines: string[] = [];
  const io = { out: (l: string) => void lines.push(l), err: (l: string) => void lines.push(`ERR ${l}`), sleep: () => new Promise<void>((r) => setTimeout(r, 20)) };
  const flags = { api: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, tokenFile: tokenFile(TOKEN), data: '/nonexistent' };
  return {
    app, campaigns, lines, io, flags,
    async close() {
      await app.close();
      await campaigns.close();
      store.close();
    },
  };
}

describe('warden campaign (CLI over the REST API)', () => {
  it('creates, starts, watches with a progress bar, shows a device history and lists', async () => {
    const c = await setup(['d1', 'd2', 'd3', 'd4', 'd5'], new Set(['d3']));
    try {
      const id = await campaignCreate({ ...c.flags, package: 'p2', target: 'endpoint=d*,lwm2m=1.1', canary: '20%', waves: '100%', successThreshold: '0%', errorThreshold: '50%', maxConcurrent: '2' }, c.io);
      assert.match(c.lines[0]!, /^campaign 1 created \(package p2 2\.0\.0, target endpoint=d\*,lwm2m=1\.1\); start it with: warden campaign start 1$/);
      const started = await campaignAction('start', { ...c.flags, id: String(id) }, c.io);
      assert.deepEqual(started.waveSizes, [1, 4]);
      assert.equal(c.lines[1], 'campaign 1 running with 5 devices in 2 waves (1, 4)');
      c.lines.length = 0;
      const s = (await campaignStatus({ ...c.flags, id: String(id), watch: true, interval: '20' }, c.io))!;
      assert.equal(s.state, 'finished');
      const frame = c.lines.slice(-4);
      assert.match(frame[0]!, /^campaign 1 finished {2}package p2 \(2\.0\.0\) {2}target endpoint=d\*,lwm2m=1\.1 {2}wave 2\/2$/);
      assert.equal(frame[1], `[${'#'.repeat(32)}${'x'.repeat(8)}] 100% done (5/5)  succeeded 4  failed 1`);
      assert.equal(frame[2], 'queued 0  delivering 0  downloading 0  downloaded 0  updating 0  verifying 0  succeeded 4  failed 1  cancelled 0');
      assert.match(frame[3]!, /^failed: d3\twave \d\tfailed\tattempts=1\tresult=8\tUpdate Result 8 \(Update failed\); running 1\.0\.0$/);
      c.lines.length = 0;
      await campaignStatus({ ...c.flags, id: String(id), device: 'd1' }, c.io);
      assert.match(c.lines[0]!, /^d1\twave \d\tsucceeded\tattempts=1\tresult=1$/);
      assert.deepEqual(c.lines.slice(1).map((l) => l.replace(/^ {2}\S+ {2}/, '').split('  ')[0]), [
        'queued -> delivering', 'delivering -> downloading', 'downloading -> downloaded', 'downloaded -> updating', 'updating -> verifying', 'verifying -> succeeded',
      ]);
      c.lines.length = 0;
      await campaignList(c.flags, c.io);
      assert.deepEqual(c.lines, ['1\tfinished\tp2 (2.0.0)\tendpoint=d*,lwm2m=1.1\t5/5 done\tfailed 1']);
    } finally {
      await c.close();
    }
  });

  it('reports API refusals: bad token, unknown package, group, wrong state', async () => {
    const c = await setup(['d1', 'd2']);
    try {
      await assert.rejects(campaignList({ ...c.flags, tokenFile: tokenFile('wrong') }, c.io), /401/);
      await assert.rejects(campaignCreate({ ...c.flags, package: 'nope', target: 'lab' }, c.io), /404 no package nope/);
      await assert.rejects(campaignCreate({ ...c.flags, package: 'p2', target: 'group:attic' }, c.io), /404 no group attic/);
      await assert.rejects(campaignCreate({ ...c.flags, package: 'p2', target: 'lab', canary: '120%' }, c.io), /400 canary must be a percentage/);
      const id = await campaignCreate({ ...c.flags, package: 'p2', target: 'lab' }, c.io);
      await assert.rejects(campaignAction('pause', { ...c.flags, id: String(id) }, c.io), /409 campaign 1 is created: only a running campaign pauses/);
      await assert.rejects(campaignStatus({ ...c.flags, id: '9' }, c.io), /404 no campaign 9/);
      const res = await fetch(`${c.flags.api}/api/campaigns/1/explode`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(res.status, 404);
      const s = await campaignAction('start', { ...c.flags, id: String(id) }, c.io);
      assert.equal(s.total, 2, 'the group has two devices');
    } finally {
      await c.close();
    }
  });

  it('parses targets and renders a bar mid-campaign', () => {
    assert.deepEqual(parseTarget('group:lab'), { group: 'lab' });
    assert.deepEqual(parseTarget('lab'), { group: 'lab' });
    assert.deepEqual(parseTarget('endpoint=s-*,version=1.0.0,queue=true'), { filter: { endpoint: 's-*', version: '1.0.0', attributes: { queue: 'true' } } });
    assert.throws(() => parseTarget('endpoint=a,=b'), /bad target filter/);
    const s: FirmwareCampaignSummary = {
      id: 4, packageId: 'p', packageVersion: '2', target: { group: 'g' }, settings: {} as FirmwareCampaignSummary['settings'], state: 'paused',
      currentWave: 1, waveSizes: [1, 9], pauseReason: 'error rate 50%', actor: 'api', createdAt: 0, startedAt: 0, updatedAt: 0, total: 10,
      counts: { queued: 5, delivering: 0, downloading: 1, downloaded: 0, updating: 1, verifying: 0, succeeded: 2, failed: 1, cancelled: 0 },
    };
    const lines = renderProgress(s, 20);
    assert.equal(lines[1], '[####xx====..........] 30% done (3/10)  succeeded 2  failed 1');
    assert.equal(lines[3], 'paused: error rate 50%');
  });
});
