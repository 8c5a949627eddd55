import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { Decoder, Tag } from 'cbor-x';
import { encodeCbor } from './cbor.js';
import { ALG_EDDSA, ALG_ES256, keyId, parseCose1, signCose1, verifyCose1 } from './cose.js';
import { FirmwareError, type FirmwareErrorCode } from './error.js';
import { bytes, keyPair } from './test-helpers.js';

const loose = new Decoder({ mapsAsObjects: false, useRecords: false });

function refused(fn: () => unknown, code: FirmwareErrorCode): void {
  assert.throws(fn, (e: unknown) => e instanceof FirmwareError && e.code === code);
}

for (const alg of ['es256', 'ed25519'] as const) {
  test(`COSE_Sign1 ${alg}: round trip, the RFC 9052 layout, and a flipped bit anywhere signed is BAD_SIGNATURE`, () => {
    const { privateKey, publicKey } = keyPair(alg);
    const other = keyPair(alg);
    const payload = bytes(300, 7);
    const env = signCose1(payload, privateKey);
    assert.deepEqual(verifyCose1(env, [other.publicKey, publicKey]), payload);

    const tag = loose.decode(env) as Tag;
    assert.equal(tag.tag, 18);
    const [prot, unprot, body, sig] = tag.value as [Uint8Array, Map<number, unknown>, Uint8Array, Uint8Array];
    assert.deepEqual(loose.decode(prot), new Map([[1, alg === 'es256' ? ALG_ES256 : ALG_EDDSA]]));
    const spki = publicKey.export({ format: 'der', type: 'spki' });
    assert.deepEqual(new Uint8Array(unprot.get(4) as Uint8Array), new Uint8Array(createHash('sha256').update(spki).digest().subarray(0, 8)));
    assert.deepEqual(keyId(privateKey), keyId(publicKey));
    assert.deepEqual(new Uint8Array(body), payload);
    assert.equal(sig.byteLength, 64);

    const at = (needle: Uint8Array) => Buffer.from(env).indexOf(Buffer.from(needle));
    const flip = (offset: number, bit = 0x01) => {
      const e = Uint8Array.from(env);
      e[offset]! ^= bit;
      return e;
    };
    refused(() => verifyCose1(flip(env.length - 1), [publicKey]), 'BAD_SIGNATURE'); // last signature byte
    refused(() => verifyCose1(flip(at(payload) + 150, 0x10), [publicKey]), 'BAD_SIGNATURE'); // a payload byte
    // The protected header a1 01 26 (ES256) or a1 01 27 (EdDSA): flipping the low bit swaps the algorithm.
    refused(() => verifyCose1(flip(at(prot) + 2), [publicKey]), 'BAD_SIGNATURE');
    refused(() => verifyCose1(env, [other.publicKey]), 'UNKNOWN_KEY');
    refused(() => verifyCose1(env, []), 'UNKNOWN_KEY');
  });
}

test('a key of the other algorithm under the right kid is BAD_SIGNATURE, and messages carry no key material', () => {
  const ec = keyPair('es256');
  const ed = keyPair('ed25519');
  const env = signCose1(bytes(10, 1), ed.privateKey);
  const tag = loose.decode(env) as Tag;
  const [prot, , body] = tag.value as Uint8Array[];
  // An EdDSA envelope relabelled with the kid of the EC key.
  const forged = encodeCbor(new Tag([prot, new Map([[4, keyId(ec.publicKey)]]), body, new Uint8Array(64)], 18));
  try {
    verifyCose1(forged, [ec.publicKey]);
    assert.fail('accepted');
  } catch (e) {
    assert.ok(e instanceof FirmwareError && e.code === 'BAD_SIGNATURE');
    const hexKid = Buffer.from(keyId(ec.publicKey)).toString('hex');
    assert.ok(!e.message.includes(hexKid));
    assert.equal(e.message, 'BAD_SIGNATURE: signature does not verify');
  }
});

test('parseCose1 refuses other shapes as MALFORMED', () => {
  const { privateKey } = keyPair('ed25519');
  const env = signCose1(bytes(10, 1), privateKey);
  const [prot, unprot, body, sig] = (loose.decode(env) as Tag).value as [Uint8Array, Map<number, unknown>, Uint8Array, Uint8Array];
  const bad: unknown[] = [
    [prot, unprot, body, sig], // untagged
    new Tag([prot, unprot, body, sig], 98), // COSE_Sign, not Sign1
    new Tag([prot, unprot, body], 18),
    new Tag([encodeCbor(new Map([[1, -35]])), unprot, body, sig], 18), // ES384 unsupported
    new Tag([encodeCbor(new Map([[1, -8], [3, 0]])), unprot, body, sig], 18), // extra protected header
    new Tag([prot, new Map([[4, new Uint8Array(7)]]), body, sig], 18),
    new Tag([prot, new Map(), body, sig], 18),
    new Tag([prot, unprot, null, sig], 18), // detached payload
    new Tag([prot, unprot, body, sig.subarray(0, 63)], 18),
  ];
  for (const b of bad) refused(() => parseCose1(encodeCbor(b)), 'MALFORMED');
  refused(() => parseCose1(Uint8Array.from([...env, 0])), 'MALFORMED');
  assert.equal(parseCose1(env).alg, ALG_EDDSA);
  assert.throws(() => signCose1(bytes(1, 1), keyPair('ed25519').publicKey), TypeError);
});
