/**
 * Interop: our COSE_Sign1 signatures checked by a peer we did not write, the openssl command line (Debian package
 * `openssl`). The Sig_structure (RFC 9052 §4.4) is rebuilt here from the envelope's parts and given to openssl.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseCose1, sigStructure, signCose1, verifyCose1 } from './cose.js';
import { encodeManifest } from './manifest.js';
import { imageManifest, keyPair, bytes } from './test-helpers.js';
import { encodeCbor, Tag } from './cbor.js';

function openssl(args: string[]): { status: number | null; out: string } {
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  if (r.error) assert.fail(`openssl is missing: install the Debian package "openssl" (${r.error.message})`);
  return { status: r.status, out: r.stdout + r.stderr };
}

/** An unsigned big-endian integer as a DER INTEGER (X.690 §8.3): minimal, with a 0 byte if the top bit is set. */
function derInteger(v: Uint8Array): Uint8Array {
  let i = 0;
  while (i < v.length - 1 && v[i] === 0) i++;
  const body = v[i]! & 0x80 ? Uint8Array.from([0, ...v.subarray(i)]) : v.subarray(i);
  return Uint8Array.from([0x02, body.length, ...body]);
}

/** ECDSA r||s (IEEE P1363, RFC 9053 §2.1) as the DER Ecdsa-Sig-Value openssl reads (RFC 3279 §2.2.3). */
function p1363ToDer(sig: Uint8Array): Uint8Array {
  const body = [...derInteger(sig.subarray(0, 32)), ...derInteger(sig.subarray(32))];
  return Uint8Array.from([0x30, body.length, ...body]);
}

function withDir(fn: (p: (f: string) => string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'warden-cose-interop-'));
  try {
    fn((f) => join(dir, f));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('openssl dgst verifies our ES256 COSE_Sign1 signature over the Sig_structure, and refuses a changed one', () => {
  withDir((p) => {
    const { privateKey, publicKey } = keyPair('es256');
    writeFileSync(p('pub.pem'), publicKey.export({ format: 'pem', type: 'spki' }));
    for (let i = 0; i < 4; i++) {
      // Several signatures, so an r or s with the top bit set (a DER leading zero) is likely among them.
      const c = parseCose1(signCose1(encodeManifest(imageManifest(bytes(100, i + 1), i)), privateKey));
      writeFileSync(p('tbs.bin'), sigStructure(c.protectedHeader, c.payload));
      writeFileSync(p('sig.der'), p1363ToDer(c.signature));
      const ok = openssl(['dgst', '-sha256', '-verify', p('pub.pem'), '-signature', p('sig.der'), p('tbs.bin')]);
      assert.equal(ok.status, 0, ok.out);
      assert.match(ok.out, /Verified OK/);
      const tbs = readFileSync(p('tbs.bin'));
      tbs[tbs.length - 1]! ^= 1;
      writeFileSync(p('tbs.bin'), tbs);
      assert.notEqual(openssl(['dgst', '-sha256', '-verify', p('pub.pem'), '-signature', p('sig.der'), p('tbs.bin')]).status, 0);
    }
  });
});

test('openssl pkeyutl verifies our Ed25519 COSE_Sign1 signature, and its own signature is byte-identical and verifies with ours', () => {
  withDir((p) => {
    const { privateKey, publicKey } = keyPair('ed25519');
    writeFileSync(p('pub.pem'), publicKey.export({ format: 'pem', type: 'spki' }));
    writeFileSync(p('key.pem'), privateKey.export({ format: 'pem', type: 'pkcs8' }));
    const env = signCose1(encodeManifest(imageManifest(bytes(100, 9), 1)), privateKey);
    const c = parseCose1(env);
    writeFileSync(p('tbs.bin'), sigStructure(c.protectedHeader, c.payload));
    writeFileSync(p('sig.bin'), c.signature);
    const ok = openssl(['pkeyutl', '-verify', '-pubin', '-inkey', p('pub.pem'), '-rawin', '-in', p('tbs.bin'), '-sigfile', p('sig.bin')]);
    assert.equal(ok.status, 0, ok.out);
    assert.match(ok.out, /Signature Verified Successfully/);

    // The other way round: openssl signs the Sig_structure; Ed25519 is deterministic (RFC 8032 §5.1.6).
    const signed = openssl(['pkeyutl', '-sign', '-inkey', p('key.pem'), '-rawin', '-in', p('tbs.bin'), '-out', p('theirs.bin')]);
    assert.equal(signed.status, 0, signed.out);
    const theirs = new Uint8Array(readFileSync(p('theirs.bin')));
    assert.deepEqual(theirs, c.signature);
    const rebuilt = encodeCbor(new Tag([c.protectedHeader, new Map([[4, c.kid]]), c.payload, theirs], 18));
    assert.deepEqual(verifyCose1(rebuilt, [publicKey]), c.payload);
  });
});
