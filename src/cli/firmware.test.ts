import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { firmwareSign, publicKeyPath } from './firmware.js';

const MAIN = join(dirname(fileURLToPath(import.meta.url)), 'main.js');

function warden(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MAIN, 'firmware', ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function bytes(n: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed * 17 + (i >> 5)) & 0xff);
}

test('warden firmware keygen, sign, verify and inspect: image and delta packages, refusals with their codes', () => {
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
    assert.throws(() => firmwareSign(p('new.bin'), { key: p('key.pem'), version: '1', vendor: 'v', class: 'c', patch: p('patch.bin'), output: p('x.wfw') }, { out: () => {}, now: () => 1 }), /go together/);
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
