import assert from 'node:assert/strict';
import { test } from 'node:test';
import { aesCmac, AesCmac } from './cmac.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const M = hex(`6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51
  30c81c46a35ce411e5fbc1191a0a52ef f69f2445df4f9b17ad2b417be66c3710`);

test('AES-128-CMAC matches RFC 4493 §4 examples 1-4', () => {
  const key = hex('2b7e151628aed2a6abf7158809cf4f3c');
  const cmac = new AesCmac(key);
  assert.equal(cmac.mac(M.subarray(0, 0)).toString('hex'), 'bb1d6929e95937287fa37d129b756746');
  assert.equal(cmac.mac(M.subarray(0, 16)).toString('hex'), '070a16b46b4d4144f79bdd9dd04a287c');
  assert.equal(cmac.mac(M.subarray(0, 40)).toString('hex'), 'dfa66747de9ae63030ca32611497c827');
  assert.equal(cmac.mac(M).toString('hex'), '51f0bebf7e3b9d92fc49741779363cfe');
});

test('AES-256-CMAC matches SP 800-38B appendix D.3 examples', () => {
  const key = hex('603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4');
  assert.equal(aesCmac(key, M.subarray(0, 0)).toString('hex'), '028962f61b7bf89efc6b551f4667d983');
  assert.equal(aesCmac(key, M.subarray(0, 16)).toString('hex'), '28a7023f452e8f82bd4bf28d8c37c35c');
});

test('a CMAC instance gives the same tag on reuse and rejects bad key sizes', () => {
  const cmac = new AesCmac(hex('2b7e151628aed2a6abf7158809cf4f3c'));
  assert.deepEqual(cmac.mac(M), cmac.mac(M));
  assert.throws(() => new AesCmac(new Uint8Array(15)), RangeError);
});
