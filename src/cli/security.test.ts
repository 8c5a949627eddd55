import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { fingerprint, spkiOf } from '../dtls/rpk.js';
import { AuditLog, SecretBox, SecurityStore, SqliteStore } from '../store/index.js';
import { readRawPublicKey, registerSecurityCommands, securityAdd, securityList, securityRemove, type SecurityCliIo } from './security.js';

const PSK_HEX = '5ec2e7a1b2c3d4e5f60718293a4b5c6d';
const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const SPKI = spkiOf(pair.publicKey);

function io(stdin = ''): SecurityCliIo & { lines: string[]; errors: string[] } {
  const lines: string[] = [];
  const errors: string[] = [];
  return { lines, errors, readStdin: async () => stdin, out: (l) => void lines.push(l), err: (l) => void errors.push(l) };
}

function tempData(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'warden-cli-security-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function stored(data: string, endpoint: string) {
  const store = new SqliteStore(join(data, 'warden.db'));
  try {
    return new SecurityStore(store, SecretBox.openOrCreate(join(data, 'secret.key'))).get(endpoint);
  } finally {
    store.close();
  }
}

describe('warden security commands', () => {
  it('adds a PSK device from flags and from stdin, sealing the key in the data directory', async (t) => {
    const data = tempData(t);
    const a = io();
    await securityAdd({ endpoint: 'dev1', pskIdentity: 'id1', pskKey: PSK_HEX, data }, a);
    assert.deepEqual(stored(data, 'dev1')?.pskKey, Uint8Array.from(Buffer.from(PSK_HEX, 'hex')));
    const b = io(`${PSK_HEX.replace('5e', '6e')}\n`);
    await securityAdd({ endpoint: 'dev2', pskIdentity: 'id2', pskKey: '-', data }, b);
    assert.equal(Buffer.from(stored(data, 'dev2')!.pskKey!).toString('hex'), PSK_HEX.replace('5e', '6e'));
    for (const line of [...a.lines, ...b.lines]) assert.equal(line.includes(PSK_HEX), false, line);
    assert.equal(readFileSync(join(data, 'warden.db')).includes(Buffer.from(PSK_HEX, 'hex')), false);
    // Each addition is in the credential audit, with who made it.
    const db = new SqliteStore(join(data, 'warden.db'));
    try {
      assert.deepEqual(new AuditLog(db).query({ kind: 'created' }).map((e) => [e.endpoint, e.actor, e.detail?.mode]), [['dev2', 'cli', 'psk'], ['dev1', 'cli', 'psk']]);
    } finally {
      db.close();
    }
  });

  it('adds an RPK device from hex, a PEM public key file, a PEM private key file and a DER file', async (t) => {
    const data = tempData(t);
    const pub = join(data, 'pub.pem');
    const priv = join(data, 'priv.pem');
    const der = join(data, 'pub.der');
    writeFileSync(pub, pair.publicKey.export({ type: 'spki', format: 'pem' }));
    writeFileSync(priv, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    writeFileSync(der, SPKI);
    for (const v of [Buffer.from(SPKI).toString('hex'), pub, priv, der]) assert.deepEqual(readRawPublicKey(v), SPKI);
    assert.throws(() => readRawPublicKey(join(data, 'missing.pem')), /readable/);
    const out = io();
    await securityAdd({ endpoint: 'dev3', rpkKey: pub, data }, out);
    assert.deepEqual(stored(data, 'dev3')?.rpkPublicKey, SPKI);
    assert.match(out.lines[0]!, new RegExp(fingerprint(SPKI)));
  });

  it('lists without keys and removes', async (t) => {
    const data = tempData(t);
    await securityAdd({ endpoint: 'dev1', pskIdentity: 'id1', pskKey: PSK_HEX, data }, io());
    await securityAdd({ endpoint: 'dev4', x509: true, data }, io());
    const out = io();
    securityList({ data }, out);
    assert.equal(out.lines.length, 2);
    assert.deepEqual(out.lines.map((l) => l.split('\t').slice(0, 2)), [['dev1', 'psk'], ['dev4', 'x509']]);
    assert.equal(out.lines.join('\n').includes(PSK_HEX), false);
    securityRemove({ endpoint: 'dev1', data }, io());
    assert.equal(stored(data, 'dev1'), undefined);
    assert.throws(() => securityRemove({ endpoint: 'dev1', data }, io()), /no security info for endpoint dev1/);
  });

  it('refuses ambiguous or incomplete flags and bad keys, without echoing the key', async (t) => {
    const data = tempData(t);
    await assert.rejects(securityAdd({ endpoint: 'd', data }, io()), /exactly one/);
    await assert.rejects(securityAdd({ endpoint: 'd', x509: true, pskIdentity: 'i', pskKey: PSK_HEX, data }, io()), /exactly one/);
    await assert.rejects(securityAdd({ endpoint: 'd', pskIdentity: 'i', data }, io()), /both/);
    await assert.rejects(securityAdd({ endpoint: 'd', pskIdentity: 'i', pskKey: 'abcd', data }, io()), (e: Error) => /16 to 64 bytes/.test(e.message) && !e.message.includes('abcd'));
    await assert.rejects(securityAdd({ endpoint: 'd', pskIdentity: 'i', pskKey: 'xyz-secret', data }, io()), (e: Error) => !e.message.includes('xyz-secret'));
  });

  it('wires the subcommands and their options into a commander program', async (t) => {
    const data = tempData(t);
    const out = io(PSK_HEX);
    const program = new Command().exitOverride();
    registerSecurityCommands(program, out);
    await program.parseAsync(['security', 'add', '--endpoint', 'dev9', '--psk-identity', 'id9', '--psk-key', '-', '--data', data], { from: 'user' });
    await program.parseAsync(['security', 'list', '--data', data], { from: 'user' });
    assert.equal(out.lines.at(-1)!.split('\t')[0], 'dev9');
    await program.parseAsync(['security', 'remove', '--endpoint', 'dev9', '--data', data], { from: 'user' });
    assert.equal(stored(data, 'dev9'), undefined);
  });
});
