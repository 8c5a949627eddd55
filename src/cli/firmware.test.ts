import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createPublicKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { keyId } from '../firmware/index.js';
import { softHsmToken } from '../keys/softhsm.js';
import { firmwareSign, publicKeyPath } from './firmware.js';

const MAIN = join(dirname(fileURLToPath(import.meta.url)), 'main.js');

function warden(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  return wardenEnv({}, ...args);
}

/** The CLI with `env` added to this process's environment (stdin is not a terminal: it never prompts). */
function wardenEnv(env: NodeJS.ProcessEnv, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MAIN, 'firmware', ...args], { encoding: 'utf8', env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function bytes(n: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed * 17 + (i >> 5)) & 0xff);
}

test('warden firmware keygen, sign, verify and inspect: image and delta packages, refusals with their codes', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-cli-fw-'));
  try {
    const p = (f: string) => join(dir, f);
    writeFileSync(p('old.bin'), bytes(3000, 1));
    writeFileSync(p('new.bin'), bytes(3100, 2));
    writeFileSync(p('patch.bin'), bytes(200, 3));

    let r = warden('keygen', '--alg', 'ed25519', '--out', p('key.pem'));
    assert.equal(r.status, 0, r.stderr);
    assert.equal(statSync(p('key.pem')).mode & 0o777, 0o600);
    assert.equal(publicKeyPath(p('key.pem')), p('key.pub.pem'));
    assert.equal(warden('keygen', '--out', p('key.pem')).status, 1, 'keygen must not overwrite a key');
    assert.equal(warden('keygen', '--alg', 'es256', '--out', p('other.pem')).status, 0);

    const ids = ['--vendor', 'example.com', '--class', 'sensor-v2'];
    r = warden('sign', '--key', p('key.pem'), '--version', '2.0.0', ...ids, '--sequence', '500', p('new.bin'), '-o', p('new.wfw'));
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /sequence 500/);

    r = warden('verify', '--pub', p('other.pub.pem'), '--pub', p('key.pub.pem'), ...ids, '--counter', '500', p('new.wfw'));
    assert.equal(r.status, 0, r.stderr);
    const m = JSON.parse(r.stdout) as { version: string; sequence: number; vendorId: string; payload: { kind: string; size: number } };
    assert.equal(m.version, '2.0.0');
    assert.equal(m.sequence, 500);
    assert.match(m.vendorId, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.deepEqual(m.payload.kind, 'image');
    assert.equal(m.payload.size, 3100);

    const refusal = (args: string[], code: string) => {
      const x = warden('verify', ...args);
      assert.equal(x.status, 1, x.stdout);
      assert.match(x.stderr, new RegExp(code));
    };
    refusal(['--pub', p('key.pub.pem'), ...ids, '--counter', '501', p('new.wfw')], 'ROLLBACK');
    refusal(['--pub', p('other.pub.pem'), ...ids, p('new.wfw')], 'UNKNOWN_KEY');
    refusal(['--pub', p('key.pub.pem'), '--vendor', 'example.org', '--class', 'sensor-v2', p('new.wfw')], 'WRONG_VENDOR');
    refusal(['--pub', p('key.pub.pem'), '--vendor', 'example.com', '--class', 'sensor-v1', p('new.wfw')], 'WRONG_CLASS');

    r = warden('sign', '--key', p('other.pem'), '--version', '2.0.1', ...ids, '--delta-base', p('old.bin'), '--patch', p('patch.bin'), p('new.bin'), '-o', p('delta.wfw'));
    assert.equal(r.status, 0, r.stderr);
    const seq = Number(/sequence (\d+)/.exec(r.stdout)?.[1]);
    assert.ok(seq > 1_700_000_000, 'the default sequence is the time in seconds');
    r = warden('verify', '--pub', p('other.pub.pem'), ...ids, '--base', p('old.bin'), p('delta.wfw'));
    assert.equal(r.status, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { payload: { kind: string; size: number } }).payload.size, 200);
    refusal(['--pub', p('other.pub.pem'), ...ids, '--base', p('new.bin'), p('delta.wfw')], 'WRONG_BASE');

    r = warden('inspect', p('delta.wfw'));
    assert.equal(r.status, 0, r.stderr);
    const i = JSON.parse(r.stdout) as { verified: boolean; alg: string; manifest: { version: string; payload: { kind: string } } };
    assert.deepEqual([i.verified, i.alg, i.manifest.version, i.manifest.payload.kind], [false, 'ES256', '2.0.1', 'delta']);
    await assert.rejects(firmwareSign(p('new.bin'), { key: p('key.pem'), version: '1', vendor: 'v', class: 'c', patch: p('patch.bin'), output: p('x.wfw') }, { out: () => {}, now: () => 1 }), /go together/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('firmware delta and apply: the patch rebuilds the new image as a stream; another base is refused with WRONG_BASE', () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-cli-delta-'));
  try {
    const old = Buffer.alloc(200_000);
    for (let i = 0; i < old.length; i++) old[i] = (i * 2654435761) >>> 24;
    const neu = Buffer.concat([old.subarray(0, 80_000), Buffer.from('a new function in the middle'), old.subarray(90_000)]);
    writeFileSync(join(dir, 'old.bin'), old);
    writeFileSync(join(dir, 'new.bin'), neu);
    const made = spawnSync(process.execPath, [MAIN, 'firmware', 'delta', join(dir, 'old.bin'), join(dir, 'new.bin'), '-o', join(dir, 'p.bin')], { encoding: 'utf8' });
    assert.equal(made.status, 0, made.stderr);
    assert.ok(statSync(join(dir, 'p.bin')).size < neu.length / 20, 'a small patch');
    const applied = spawnSync(process.execPath, [MAIN, 'firmware', 'apply', join(dir, 'old.bin'), join(dir, 'p.bin'), '-o', join(dir, 'out.bin')], { encoding: 'utf8' });
    assert.equal(applied.status, 0, applied.stderr);
    assert.deepEqual(readFileSync(join(dir, 'out.bin')), neu);
    const wrong = spawnSync(process.execPath, [MAIN, 'firmware', 'apply', join(dir, 'new.bin'), join(dir, 'p.bin'), '-o', join(dir, 'bad.bin')], { encoding: 'utf8' });
    assert.equal(wrong.status, 1);
    assert.match(wrong.stderr, /WRONG_BASE/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('firmware keygen and sign with --key-label: the key lives in the software key store of --data; packages verify with its public key', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-cli-fw-store-'));
  try {
    const p = (f: string) => join(dir, f);
    const data = p('data');
    const env = { WARDEN_KEYSTORE_PASS: 'a test passphrase' };
    writeFileSync(p('new.bin'), bytes(5000, 4));
    const ids = ['--vendor', 'example.com', '--class', 'sensor-v2'];

    let r = wardenEnv(env, 'keygen', '--key-label', 'fw-es', '--data', data, '--pub', p('es.pub.pem'));
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /created es256 signing key fw-es in the software key store/);
    const kid = /key id ([0-9a-f]{16})/.exec(r.stdout)?.[1];
    assert.equal(kid, Buffer.from(keyId(createPublicKey(readFileSync(p('es.pub.pem'))))).toString('hex'));
    assert.equal(statSync(join(data, 'keystore.json')).mode & 0o777, 0o600);
    assert.ok(!readFileSync(join(data, 'keystore.json'), 'utf8').includes('PRIVATE KEY'));

    r = wardenEnv(env, 'keygen', '--alg', 'ed25519', '--key-label', 'fw-ed', '--data', data);
    assert.equal(r.status, 0, r.stderr);
    const edPem = /-----BEGIN PUBLIC KEY-----[\s\S]*-----END PUBLIC KEY-----/.exec(r.stdout)?.[0];
    assert.ok(edPem, 'without --pub the public key is printed');
    assert.equal(createPublicKey(edPem).asymmetricKeyType, 'ed25519');
    r = wardenEnv(env, 'pubkey', '--key-label', 'fw-ed', '--data', data, '--out', p('ed.pub.pem'));
    assert.equal(r.status, 0, r.stderr);
    assert.equal(readFileSync(p('ed.pub.pem'), 'utf8').trim(), edPem.trim());

    r = wardenEnv(env, 'keygen', '--key-label', 'fw-es', '--data', data);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /exists/);
    assert.equal(wardenEnv(env, 'keygen', '--key-label', 'x', '--out', p('x.pem'), '--data', data).status, 1, '--out and --key-label exclude each other');
    assert.equal(wardenEnv({ WARDEN_KEYSTORE_PASS: 'wrong passphrase' }, 'keygen', '--key-label', 'y', '--data', data).status, 1);

    for (const [label, pub] of [['fw-es', 'es.pub.pem'], ['fw-ed', 'ed.pub.pem']] as const) {
      r = wardenEnv(env, 'sign', '--key-label', label, '--data', data, '--version', '3.0.0', ...ids, '--sequence', '900', p('new.bin'), '-o', p(`${label}.wfw`));
      assert.equal(r.status, 0, r.stderr);
      r = warden('verify', '--pub', p(pub), ...ids, '--counter', '900', p(`${label}.wfw`));
      assert.equal(r.status, 0, r.stderr);
      assert.equal((JSON.parse(r.stdout) as { sequence: number }).sequence, 900);
      r = warden('inspect', p(`${label}.wfw`));
      assert.equal((JSON.parse(r.stdout) as { alg: string }).alg, label === 'fw-es' ? 'ES256' : 'EdDSA');
    }
    const other = warden('verify', '--pub', p('ed.pub.pem'), ...ids, p('fw-es.wfw'));
    assert.equal(other.status, 1);
    assert.match(other.stderr, /UNKNOWN_KEY/);

    r = wardenEnv(env, 'sign', '--key-label', 'nope', '--data', data, '--version', '1', ...ids, p('new.bin'), '-o', p('n.wfw'));
    assert.equal(r.status, 1);
    assert.match(r.stderr, /no key labelled nope/);
    const io = { out: () => {}, now: () => 1 };
    const base = { version: '1', vendor: 'v', class: 'c', output: p('z.wfw') };
    await assert.rejects(firmwareSign(p('new.bin'), { ...base, key: p('k.pem'), keyLabel: 'fw-es' }, io), /exactly one of --key/);
    await assert.rejects(firmwareSign(p('new.bin'), base, io), /exactly one of --key/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('firmware keygen and sign with --key-label reach a PKCS#11 token (SoftHSM2) as `warden keys` does', () => {
  const t = softHsmToken();
  const dir = mkdtempSync(join(tmpdir(), 'warden-cli-fw-hsm-'));
  try {
    const p = (f: string) => join(dir, f);
    const env = { WARDEN_PKCS11_PIN: t.pin, SOFTHSM2_CONF: process.env.SOFTHSM2_CONF };
    const token = ['--data', p('data'), '--pkcs11-module', t.module, '--token-label', t.tokenLabel];
    writeFileSync(p('img.bin'), bytes(2000, 9));
    let r = wardenEnv(env, 'keygen', '--key-label', 'fw', ...token, '--pub', p('fw.pub.pem'));
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /in the pkcs11 key store/);
    const ids = ['--vendor', 'example.com', '--class', 'sensor-v2'];
    r = wardenEnv(env, 'sign', '--key-label', 'fw', ...token, '--version', '1.0.0', ...ids, '--sequence', '5', p('img.bin'), '-o', p('img.wfw'));
    assert.equal(r.status, 0, r.stderr);
    r = warden('verify', '--pub', p('fw.pub.pem'), ...ids, p('img.wfw'));
    assert.equal(r.status, 0, r.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    t.cleanup();
  }
});
