import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bootstrapConfig, inBatches, readFactoryList } from './simulate-provision.js';
import { inQueueMode, percentile } from './simulate.js';

test('readFactoryList takes the first N rows by column name and refuses a short or foreign file', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-simprov-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'f.csv');
  writeFileSync(file, 'serial,endpoint,psk_identity,psk_hex\nA,urn:dev:sn:A,id-a,00112233445566778899aabbccddeeff\n\nB,urn:dev:sn:B,id-b,ffeeddccbbaa99887766554433221100\n');
  const rows = readFactoryList(file, 2);
  assert.deepEqual(rows.map((r) => [r.serial, r.endpoint, r.pskIdentity, Buffer.from(r.pskKey).toString('hex')]), [
    ['A', 'urn:dev:sn:A', 'id-a', '00112233445566778899aabbccddeeff'],
    ['B', 'urn:dev:sn:B', 'id-b', 'ffeeddccbbaa99887766554433221100'],
  ]);
  assert.equal(readFactoryList(file, 1).length, 1);
  assert.throws(() => readFactoryList(file, 3), /lists 2 devices; --devices asks for 3/);
  writeFileSync(file, 'serial,endpoint\nA,B\n');
  assert.throws(() => readFactoryList(file, 1), /no "psk_identity" column/);
});

test('bootstrapConfig: the DM credential follows --security; nosec writes a NoSec account', () => {
  assert.deepEqual(bootstrapConfig('x509', 60, 'coap://h'), { servers: { '0': { shortId: 1, lifetime: 60 } }, dmCredential: 'certificate' });
  assert.deepEqual(bootstrapConfig('rpk', 60, 'coap://h'), { servers: { '0': { shortId: 1, lifetime: 60 } }, dmCredential: 'rpk' });
  assert.deepEqual(bootstrapConfig('nosec', 60, 'coap://h'), {
    servers: { '0': { shortId: 1, lifetime: 60 } },
    security: { '1': { uri: 'coap://h', securityMode: 'NO_SEC', serverId: 1 } },
  });
});

test('inBatches stops at the first failure and rethrows it', async () => {
  const done: number[] = [];
  await assert.rejects(
    inBatches([1, 2, 3, 4, 5, 6], 2, async (n) => {
      if (n === 3) throw new Error('refused');
      done.push(n);
    }),
    /refused/,
  );
  assert.ok(!done.includes(6), 'the rest is not sent');
});

test('percentile (nearest rank) and the queue-mode share', () => {
  const v = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(percentile(v, 50), 50);
  assert.equal(percentile(v, 99), 99);
  assert.equal(percentile([], 50), null);
  const queued = Array.from({ length: 60 }, (_, i) => inQueueMode(i, 0.25)).filter(Boolean).length;
  assert.equal(queued, 15);
  assert.equal(Array.from({ length: 10 }, (_, i) => inQueueMode(i, 0)).filter(Boolean).length, 0);
  assert.equal(Array.from({ length: 10 }, (_, i) => inQueueMode(i, 1)).filter(Boolean).length, 10);
});
