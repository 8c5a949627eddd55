import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Command } from 'commander';
import { FactoryKeyDeriver, SoftwareKeyStore } from '../keys/index.js';
import { softHsmToken } from '../keys/softhsm.js';
import { SecretBox, SecurityStore, SqliteStore } from '../store/index.js';
import { FACTORY_MASTER_LABEL, keysFactoryList, keysImport, keysInit, registerKeysCommands, type KeysCliIo } from './keys.js';

function io(env: NodeJS.ProcessEnv = { WARDEN_KEYSTORE_PASS: 'a test passphrase' }): KeysCliIo & { outs: string[]; errs: string[] } {
  const outs: string[] = [];
  const errs: string[] = [];
  return {
    outs,
    errs,
    out: (l) => void outs.push(l),
    err: (l) => void errs.push(l),
    progress: (t, final) => final && void errs.push(t),
    askSecret: async () => assert.fail('must not prompt'),
    env,
  };
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'warden-cli-keys-'));
}

test('keys init creates the master keys once; --force starts a new store and keeps a backup', async () => {
  const dir = tempDir();
  try {
    const t = io();
    await keysInit({ data: dir }, t);
    assert.match(t.outs.join('\n'), /created warden-factory-master \(hmac-sha256\)/);
    assert.equal(statSync(join(dir, 'keystore.json')).mode & 0o777, 0o600);
    await assert.rejects(keysInit({ data: dir }, io()), /already holds warden-factory-master/);
    await keysInit({ data: dir, force: true, prf: 'cmac' }, t);
    assert.ok(readdirSync(dir).some((f) => /^keystore\.json\.\d+\.bak$/.test(f)));
    const s = await SoftwareKeyStore.open(join(dir, 'keystore.json'), 'a test passphrase');
    assert.equal(await s.keyType(FACTORY_MASTER_LABEL), 'aes-256');
    await s.close();
    await assert.rejects(keysInit({ data: tempDir() }, io({})), /must not prompt/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('keys factory-list writes a 0600 CSV whose keys the deriver re-derives, and never prints a key', async () => {
  const dir = tempDir();
  try {
    await keysInit({ data: dir }, io());
    const serials = join(dir, 'serials.txt');
    writeFileSync(serials, Array.from({ length: 1000 }, (_, i) => `SN${i}`).join('\n') + '\n');
    const out = join(dir, 'factory.csv');
    const t = io();
    assert.equal(await keysFactoryList({ data: dir, serials, out, keyVersion: 3 }, t), 1000);
    assert.equal(statSync(out).mode & 0o777, 0o600);
    const rows = readFileSync(out, 'utf8').trimEnd().split('\n').slice(1);
    const s = await SoftwareKeyStore.open(join(dir, 'keystore.json'), 'a test passphrase');
    const d = new FactoryKeyDeriver(s, { masterLabel: FACTORY_MASTER_LABEL, keyVersion: 3 });
    for (const row of [rows[0]!, rows[999]!]) {
      const [, , identity, hex] = row.split(',');
      assert.match(identity!, /^warden:v3:SN\d+$/);
      assert.equal(Buffer.from((await d.keyFor(identity!))!).toString('hex'), hex);
      assert.ok(![...t.outs, ...t.errs].some((l) => l.includes(hex!)));
    }
    await s.close();
    await assert.rejects(keysFactoryList({ data: dir, serials, out }, io()), /exists; use --force/);
    writeFileSync(serials, 'SN1\nSN1\n');
    await assert.rejects(keysFactoryList({ data: dir, serials, out, force: true }, io()), /line 2: serial SN1 repeats/);
    assert.equal(readdirSync(dir).filter((f) => f.endsWith('.tmp')).length, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('keys import stores a good file and rejects a bad one whole, with line numbers', async () => {
  const dir = tempDir();
  try {
    const good = join(dir, 'good.csv');
    const keys = [randomBytes(16), randomBytes(16)];
    writeFileSync(good, `serial,endpoint,psk_identity,psk_hex\nA,ep-a,id-a,${keys[0]!.toString('hex')}\nB,ep-b,id-b,${keys[1]!.toString('hex')}\n`);
    const bad = join(dir, 'bad.csv');
    writeFileSync(bad, `serial,endpoint,psk_identity,psk_hex\nC,ep-c,id-c,${randomBytes(16).toString('hex')}\nD,ep-d,id-d,${'ab'.repeat(16)}\n`);
    const t = io();
    await assert.rejects(keysImport({ data: dir, file: bad }, t), /rejected: 1 problem\(s\); nothing was imported/);
    assert.match(t.errs.join('\n'), /bad\.csv:3: key is one byte repeated/);
    assert.equal(await keysImport({ data: dir, file: good }, io()), 2);
    const db = new SqliteStore(join(dir, 'warden.db'));
    try {
      const security = new SecurityStore(db, SecretBox.openOrCreate(join(dir, 'secret.key')));
      assert.deepEqual(Buffer.from(security.get('ep-b')!.pskKey!), keys[1]);
      assert.equal(security.get('ep-c'), undefined);
    } finally {
      db.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('keys init and factory-list on a PKCS#11 token (SoftHSM2), PIN from WARDEN_PKCS11_PIN, through commander', async () => {
  const hsm = softHsmToken();
  const dir = tempDir();
  try {
    const t = io({ WARDEN_PKCS11_PIN: hsm.pin });
    const program = new Command().exitOverride();
    registerKeysCommands(program, t);
    await program.parseAsync(['keys', 'init', '--data', dir, '--pkcs11-module', hsm.module, '--token-label', hsm.tokenLabel], { from: 'user' });
    assert.match(t.outs.join('\n'), /created warden-factory-master \(hmac-sha256\) in the pkcs11 key store/);
    assert.ok(existsSync(join(dir, 'pkcs11.json')) && !existsSync(join(dir, 'keystore.json')));
    assert.ok(!readFileSync(join(dir, 'pkcs11.json'), 'utf8').includes(hsm.pin));
    await assert.rejects(program.parseAsync(['keys', 'init', '--data', dir, '--pkcs11-module', hsm.module, '--token-label', hsm.tokenLabel], { from: 'user' }), /already holds/);
    writeFileSync(join(dir, 'serials.txt'), 'X1\nX2\n');
    await program.parseAsync(['keys', 'factory-list', '--data', dir, '--serials', join(dir, 'serials.txt'), '--out', join(dir, 'f.csv')], { from: 'user' });
    const lines = readFileSync(join(dir, 'f.csv'), 'utf8').trimEnd().split('\n');
    assert.equal(lines.length, 3);
    assert.match(lines[1]!, /^X1,urn:dev:sn:X1,warden:v1:X1,[0-9a-f]{32}$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    hsm.cleanup();
  }
});
