import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { importFactoryKeys, validateFactoryImport, weakKeyReason } from './factory-import.js';

const HEADER = 'serial,endpoint,psk_identity,psk_hex';
const row = (i: number, hex = randomBytes(16).toString('hex')) => `SN${i},urn:dev:sn:SN${i},id-SN${i},${hex}`;
const file = (...rows: string[]) => [HEADER, ...rows].join('\n') + '\n';

async function rejected(text: string, pattern: RegExp, line?: number): Promise<void> {
  const r = await validateFactoryImport(text);
  assert.ok(r.errors.some((e) => pattern.test(e.message) && (line === undefined || e.line === line)), JSON.stringify(r.errors));
  for (const e of r.errors) assert.ok(!/[0-9a-f]{32}/.test(e.message), 'no key in a message');
}

test('a good file validates, streams the same, and imports every row', async () => {
  const text = file(row(1), row(2), row(3));
  const r = await validateFactoryImport(text);
  assert.deepEqual(r.errors, []);
  assert.equal(r.rows.length, 3);
  assert.deepEqual(r.rows[0]!.line, 2);
  const streamed = await validateFactoryImport(Readable.from([Buffer.from(text.slice(0, 50)), Buffer.from(text.slice(50))]));
  assert.deepEqual(streamed, r);
  const added: { endpoint: string; pskIdentity: string; pskKey: Uint8Array }[] = [];
  assert.equal(await importFactoryKeys(r, { add: (info) => added.push(info) }), 3);
  assert.deepEqual(added.map((a) => a.endpoint), ['urn:dev:sn:SN1', 'urn:dev:sn:SN2', 'urn:dev:sn:SN3']);
  assert.deepEqual(added[1]!.pskKey, r.rows[1]!.pskKey);
});

test('repeated keys are rejected, naming both lines', async () => {
  const k = randomBytes(16).toString('hex');
  await rejected(file(row(1, k), row(2), row(3, k)), /repeats the key of line 2/, 4);
});

test('keys shorter than 128 bits are rejected', async () => {
  await rejected(file(row(1, randomBytes(15).toString('hex'))), /120 bits; at least 128/, 2);
});

test('a key of one repeated byte is rejected', async () => {
  await rejected(file(row(1, '00'.repeat(16))), /one byte repeated/);
});

test('a byte-sequence key is rejected', async () => {
  await rejected(file(row(1, '000102030405060708090a0b0c0d0e0f')), /sequence/);
});

test('a printable-text key is rejected', async () => {
  await rejected(file(row(1, Buffer.from('SuperSecret2024!').toString('hex'))), /printable text/);
  await rejected(file(row(1, Buffer.from('{"k":"a~b^c|d]e\'fg"}').toString('hex'))), /printable text/);
  // The hex text of an MD5 is text too.
  await rejected(file(row(1, Buffer.from(createHash('md5').update('SN1').digest('hex')).toString('hex'))), /printable text/);
});

test('digests of the identity, serial or endpoint are rejected', async () => {
  await rejected(file(row(1, createHash('md5').update('id-SN1').digest('hex'))), /MD5 of a public identifier/);
  await rejected(file(row(1, createHash('sha1').update('SN1').digest('hex'))), /SHA1 of a public identifier/);
  await rejected(file(row(1, createHash('sha256').update('urn:dev:sn:SN1').digest('hex').slice(0, 32))), /SHA256 of a public identifier/);
});

test('keys of very low byte diversity are rejected', async () => {
  await rejected(file(row(1, 'a1b2a1b2a1b2a1b2c3d4c3d4c3d4c3d4')), /distinct byte values/);
});

test('malformed files and rows are reported, and importFactoryKeys refuses a file with problems', async () => {
  await rejected('endpoint,psk_identity\nx,y\n', /header must name/, 1);
  await rejected(file('SN1,urn:dev:sn:SN1,id,zz'), /not an even-length hex/);
  await rejected(file('SN1,urn:dev:sn:SN1'), /expected 4 fields/);
  await rejected(file(row(1), row(1)), /psk_identity repeats line 2/);
  await rejected('', /empty/);
  const bad = await validateFactoryImport(file(row(1), row(2, '00'.repeat(16))));
  assert.equal(bad.rows.length, 2);
  await assert.rejects(importFactoryKeys(bad, { add: () => assert.fail('must not add') }), /nothing was imported/);
});

test('random keys pass the weakness checks', () => {
  for (let i = 0; i < 2000; i++) assert.equal(weakKeyReason(randomBytes(16), ['a', 'b']), undefined);
  for (let i = 0; i < 200; i++) assert.equal(weakKeyReason(randomBytes(64), ['a']), undefined);
});
