import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SecretBox, SecretBoxError } from './secret-box.js';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'warden-secretbox-'));
}

describe('SecretBox', () => {
  const secret = Uint8Array.from(Buffer.from('00112233445566778899aabbccddeeff', 'hex'));

  it('creates a 32-byte key file with mode 0600 and reopens it with the same key', (t) => {
    const dir = tempDir();
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'nested', 'secret.key');
    const box = SecretBox.openOrCreate(file);
    assert.equal(readFileSync(file).length, 32);
    if (process.platform !== 'win32') assert.equal(statSync(file).mode & 0o777, 0o600);
    const sealed = box.seal(secret, 'psk:dev1');
    assert.deepEqual(SecretBox.openOrCreate(file).open(sealed, 'psk:dev1'), secret);
  });

  it('never stores the plaintext and seals the same secret differently each time', () => {
    const box = SecretBox.fromKey(new Uint8Array(32).fill(7));
    const a = box.seal(secret, 'psk:dev1');
    const b = box.seal(secret, 'psk:dev1');
    assert.notDeepEqual(a, b);
    assert.equal(Buffer.from(a).includes(Buffer.from(secret)), false);
  });

  it('throws SecretBoxError on a flipped bit, another context, another key or a truncated value', () => {
    const box = SecretBox.fromKey(new Uint8Array(32).fill(7));
    const sealed = box.seal(secret, 'psk:dev1');
    for (let i = 0; i < sealed.length; i += 5) {
      const bad = new Uint8Array(sealed);
      bad[i]! ^= 0x10;
      assert.throws(() => box.open(bad, 'psk:dev1'), SecretBoxError);
    }
    assert.throws(() => box.open(sealed, 'psk:dev2'), SecretBoxError);
    assert.throws(() => SecretBox.fromKey(new Uint8Array(32).fill(8)).open(sealed, 'psk:dev1'), SecretBoxError);
    assert.throws(() => box.open(sealed.subarray(0, 20), 'psk:dev1'), SecretBoxError);
    assert.throws(() => box.open(new Uint8Array(0), 'psk:dev1'), /malformed/);
  });

  it('narrows a key file readable by others to 0600, with a warning', (t) => {
    const dir = tempDir();
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'secret.key');
    writeFileSync(file, new Uint8Array(32).fill(1));
    chmodSync(file, 0o644);
    const warnings: unknown[] = [];
    const logger = { debug() {}, info() {}, error() {}, warn: (o: unknown) => void warnings.push(o), child: () => logger };
    SecretBox.openOrCreate(file, logger);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(warnings.length, 1);
  });

  it('refuses a key file of the wrong length', (t) => {
    const dir = tempDir();
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'secret.key');
    writeFileSync(file, new Uint8Array(16), { mode: 0o600 });
    assert.throws(() => SecretBox.openOrCreate(file), /exactly 32 bytes/);
  });
});
