import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'node:test';
import { aesCmac } from './cmac.js';
import { fixedInput, kdfCounter, kdfCounterFixed, type Prf } from './kdf.js';

const hex = (s: string) => Buffer.from(s, 'hex');
const hmacPrf = (key: Uint8Array): Prf => async (data) => createHmac('sha256', key).update(data).digest();
const cmacPrf = (key: Uint8Array): Prf => async (data) => aesCmac(key, data);

// NIST CAVP KDFCTR_gen.rsp (SP 800-108 counter mode), [CTRLOCATION=BEFORE_FIXED] [RLEN=32_BITS].
const vectors: { prf: 'hmac' | 'cmac'; count: number; ki: string; fixed: string; ko: string }[] = [
  { prf: 'hmac', count: 0, ki: 'dd1d91b7d90b2bd3138533ce92b272fbf8a369316aefe242e659cc0ae238afe0',
    fixed: '01322b96b30acd197979444e468e1c5c6859bf1b1cf951b7e725303e237e46b864a145fab25e517b08f8683d0315bb2911d80a0e8aba17f3b413faac',
    ko: '10621342bfb0fd40046c0e29f2cfdbf0' },
  { prf: 'hmac', count: 10, ki: 'e204d6d466aad507ffaf6d6dab0a5b26152c9e21e764370464e360c8fbc765c6',
    fixed: '7b03b98d9f94b899e591f3ef264b71b193fba7043c7e953cde23bc5384bc1a6293580115fae3495fd845dadbd02bd6455cf48d0f62b33e62364a3a80',
    ko: '770dfab6a6a4a4bee0257ff335213f78d8287b4fd537d5c1fffa956910e7c779' },
  { prf: 'hmac', count: 30, ki: 'c4bedbddb66493e7c7259a3bbbc25f8c7e0ca7fe284d92d431d9cd99a0d214ac',
    fixed: '1c69c54766791e315c2cc5c47ecd3ffab87d0d273dd920e70955814c220eacace6a5946542da3dfe24ff626b4897898cafb7db83bdff3c14fa46fd4b',
    ko: '1da47638d6c9c4d04d74d4640bbd42ab814d9e8cc22f4326695239f96b0693f12d0dd1152cf44430' },
  { prf: 'cmac', count: 0, ki: 'c10b152e8c97b77e18704e0f0bd38305',
    fixed: '98cd4cbbbebe15d17dc86e6dbad800a2dcbd64f7c7ad0e78e9cf94ffdba89d03e97eadf6c4f7b806caf52aa38f09d0eb71d71f497bcc6906b48d36c4',
    ko: '26faf61908ad9ee881b8305c221db53f' },
  { prf: 'cmac', count: 10, ki: '695f1b1a16c949cea51cdf2554ec9d42',
    fixed: '4fce5942832a390aa1cbe8a0bf9d202cb799e986c9d6b51f45e4d597a6b57f06a4ebfec6467335d116b7f5f9c5b954062f661820f5db2a5bbb3e0625',
    ko: 'd34b601ec18c34dfa0f9e0b7523e218bdddb9befe8d08b6c0202d75ace0dba89' },
  { prf: 'cmac', count: 0, ki: 'd0b1b3b70b2393c48ca05159e7e28cbeadea93f28a7cdae964e5136070c45d5c',
    fixed: 'dd2f151a3f173492a6fbbb602189d51ddf8ef79fc8e96b8fcbe6dabe73a35b48104f9dff2d63d48786d2b3af177091d646a9efae005bdfacb61a1214',
    ko: '8c449fb474d1c1d4d2a33827103b656a' },
];

for (const v of vectors) {
  const name = v.prf === 'hmac' ? 'HMAC_SHA256' : `CMAC_AES${v.ki.length * 4}`;
  test(`SP 800-108 counter mode, CAVP [PRF=${name}] COUNT=${v.count}, L=${v.ko.length * 4}`, async () => {
    const prf = v.prf === 'hmac' ? hmacPrf(hex(v.ki)) : cmacPrf(hex(v.ki));
    const out = await kdfCounterFixed(prf, hex(v.fixed), v.ko.length / 2);
    assert.equal(Buffer.from(out).toString('hex'), v.ko);
  });
}

test('fixed input is Label || 0x00 || Context || [L]_32', () => {
  const f = fixedInput(Buffer.from('ab'), Buffer.from('c'), 128);
  assert.equal(Buffer.from(f).toString('hex'), '616200' + '63' + '00000080');
});

test('kdfCounter binds the length: a 16-byte key is not a prefix of the 32-byte one', async () => {
  const prf = hmacPrf(Buffer.alloc(32, 7));
  const short = await kdfCounter(prf, Buffer.from('L'), Buffer.from('C'), 16);
  const long = await kdfCounter(prf, Buffer.from('L'), Buffer.from('C'), 32);
  assert.notDeepEqual(Buffer.from(long.subarray(0, 16)), Buffer.from(short));
  assert.deepEqual(await kdfCounter(prf, Buffer.from('L'), Buffer.from('C'), 16), short);
  assert.notDeepEqual(await kdfCounter(prf, Buffer.from('L'), Buffer.from('D'), 16), short);
});

test('kdfCounterFixed rejects a zero length', async () => {
  await assert.rejects(kdfCounterFixed(hmacPrf(Buffer.alloc(32)), new Uint8Array(1), 0), RangeError);
});
