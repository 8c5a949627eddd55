import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { FactoryKeyDeriver } from './factory.js';
import { FACTORY_CSV_HEADER, FactoryListError, generateFactoryList, serialLines } from './factory-list.js';
import { tempSoftwareStore } from './test-helpers.js';

async function collect(stream: PassThrough, run: Promise<number>): Promise<{ text: string; count: number }> {
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  const count = await run;
  stream.end();
  await new Promise((r) => stream.on('end', r));
  return { text: Buffer.concat(chunks).toString('utf8'), count };
}

test('identity and endpoint encode serial and version; foreign identities get no key', async () => {
  const t = await tempSoftwareStore();
  try {
    const d = new FactoryKeyDeriver(t.store, { masterLabel: 'master', keyVersion: 2 });
    assert.equal(d.identityFor('SN-001'), 'warden:v2:SN-001');
    assert.equal(d.endpointFor('SN-001'), 'urn:dev:sn:SN-001');
    assert.deepEqual(d.parseIdentity('warden:v1:SN-001'), { serial: 'SN-001', endpoint: 'urn:dev:sn:SN-001', keyVersion: 1 });
    for (const foreign of ['warden:v3:SN-001', 'warden:v0:SN-001', 'other:v1:SN-001', 'warden:v1:', 'warden:v1:SN 1', 'warden:v1:SN-001\n']) {
      assert.equal(await d.keyFor(foreign), undefined, foreign);
    }
    assert.throws(() => d.identityFor('bad,serial'), /invalid serial/);
    const v1 = await d.keyFor('warden:v1:SN-001');
    const v2 = await d.keyFor('warden:v2:SN-001');
    assert.equal(v1?.length, 16);
    assert.notDeepEqual(v1, v2);
    const only2 = new FactoryKeyDeriver(t.store, { masterLabel: 'master', keyVersion: 2, acceptedVersions: [2] });
    assert.equal(await only2.keyFor('warden:v1:SN-001'), undefined);
  } finally {
    await t.cleanup();
  }
});

test('the factory key is the SP 800-108 counter-mode KDF over HMAC-SHA256 of the master key', async () => {
  const master = Buffer.alloc(32, 0x11);
  const t = await tempSoftwareStore('hmac-sha256', master);
  try {
    const d = new FactoryKeyDeriver(t.store, { masterLabel: 'master', keyVersion: 1 });
    const endpoint = Buffer.from('urn:dev:sn:A1');
    const fixed = Buffer.concat([Buffer.from('warden factory psk'), Buffer.from([0]), endpoint, Buffer.from([0, 0, 0, 0, 1]), Buffer.from([0, 0, 0, 128])]);
    const expected = createHmac('sha256', master).update(Buffer.concat([Buffer.from([0, 0, 0, 1]), fixed])).digest().subarray(0, 16);
    assert.deepEqual(Buffer.from((await d.keyFor('warden:v1:A1'))!), expected);
    const prefixed = new FactoryKeyDeriver(t.store, { masterLabel: 'master', keyVersion: 1, endpointPrefix: 'acme-' });
    assert.notDeepEqual(await prefixed.keyFor('warden:v1:A1'), expected);
  } finally {
    await t.cleanup();
  }
});

for (const type of ['hmac-sha256', 'aes-128'] as const) {
  test(`a factory list of 10,000 serials round-trips through keyFor (${type})`, async () => {
    const t = await tempSoftwareStore(type);
    try {
      const d = new FactoryKeyDeriver(t.store, { masterLabel: 'master', keyVersion: 1 });
      const serials = Array.from({ length: 10_000 }, (_, i) => `SN${String(i).padStart(6, '0')}`);
      const progress: number[] = [];
      const out = new PassThrough();
      const { text, count } = await collect(out, generateFactoryList(d, serials, out, { onProgress: (n) => progress.push(n), progressEvery: 2500 }));
      assert.equal(count, 10_000);
      assert.deepEqual(progress, [2500, 5000, 7500, 10_000, 10_000]);
      const lines = text.trimEnd().split('\n');
      assert.equal(lines[0], FACTORY_CSV_HEADER);
      assert.equal(lines.length, 10_001);
      const keys = new Set<string>();
      for (const line of lines.slice(1)) {
        const [serial, endpoint, identity, hex] = line.split(',');
        assert.equal(endpoint, `urn:dev:sn:${serial}`);
        assert.equal(identity, `warden:v1:${serial}`);
        assert.equal(Buffer.from((await d.keyFor(identity!))!).toString('hex'), hex);
        keys.add(hex!);
      }
      assert.equal(keys.size, 10_000);
    } finally {
      await t.cleanup();
    }
  });
}

test('a bad or repeated serial stops the list with its line number', async () => {
  const t = await tempSoftwareStore();
  try {
    const d = new FactoryKeyDeriver(t.store, { masterLabel: 'master', keyVersion: 1 });
    const input = [...serialLines('# serials\nA1\n\nA2\nA1\n')];
    assert.deepEqual(input, [[2, 'A1'], [4, 'A2'], [5, 'A1']]);
    await assert.rejects(generateFactoryList(d, input, new PassThrough()), (e: FactoryListError) => e.line === 5 && /repeats/.test(e.message));
    await assert.rejects(generateFactoryList(d, ['ok', 'x,y'], new PassThrough()), (e: FactoryListError) => e.line === 2 && /invalid serial/.test(e.message));
  } finally {
    await t.cleanup();
  }
});
