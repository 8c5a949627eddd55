/**
 * Firmware packages as a device reads them (issue 5): the package header, the COSE_Sign1 envelope (RFC 9052 §4.2)
 * and the manifest, each fed the same input; then a full verification with a fixed trusted Ed25519 key, so seeds
 * signed by it get past the signature into the manifest checks. FirmwareError is the layer's one rejection.
 * Oracles: the manifest and the envelope are deterministic CBOR, so re-encoding what was accepted gives back the
 * exact bytes; a package header that is complete points inside the input.
 */
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { encodeCbor, Tag } from '../../../src/firmware/cbor.js';
import {
  classIdFor,
  decodeManifest,
  encodeManifest,
  FirmwareError,
  imageRef,
  parseCose1,
  parsePackageHeader,
  signCose1,
  signPackage,
  vendorIdFor,
  verifyPackage,
  type Manifest,
} from '../../../src/firmware/index.js';
import { afterDecode, check, checkSame, errorsOf, hex, stepsOf, type FuzzTarget } from '../target.js';

// A fixed Ed25519 key (PKCS#8 DER): Ed25519 signatures are deterministic, so the seeds are the same in every run.
const KEY = createPrivateKey({ key: Buffer.from(hex('302e020100300506032b6570042204204e4a2c2524767145922bc77e525e8d1226203febfd49f93b748ffc2d17d23377')), format: 'der', type: 'pkcs8' });
const TRUSTED = [createPublicKey(KEY)];
const VENDOR = vendorIdFor('example.com');
const CLASS = classIdFor(VENDOR, 'sensor');
const IMAGE = Uint8Array.from({ length: 64 }, (_, i) => i);
const BASE = Uint8Array.from({ length: 48 }, (_, i) => 255 - i);
const PATCH = Uint8Array.of(1, 2, 3, 4);

const image: Manifest = { version: '1.0.0', vendorId: VENDOR, classId: CLASS, sequence: 7, payload: { kind: 'image', ...imageRef(IMAGE) } };
const delta: Manifest = {
  version: '1.1.0-rc.1',
  vendorId: VENDOR,
  classId: CLASS,
  sequence: 2 ** 40,
  payload: { kind: 'delta', ...imageRef(PATCH), image: imageRef(IMAGE), base: imageRef(BASE) },
};

function seeds(): Uint8Array[] {
  return [
    encodeManifest(image),
    encodeManifest(delta),
    signCose1(encodeManifest(image), KEY),
    signCose1(encodeManifest(delta), KEY),
    signPackage(image, IMAGE, KEY),
    signPackage(delta, PATCH, KEY),
  ];
}

const rejected = errorsOf(FirmwareError);

const step = stepsOf(rejected);

export default {
  name: 'firmware-manifest',
  seeds,
  maxLen: 1024,
  dictionary: [hex('57465750'), hex('d2'), hex('84'), hex('43a10126'), hex('43a10127'), hex('a10448'), hex('5820'), hex('5840'), hex('50'), hex('1b'), hex('a6'), hex('a3'), hex('a5'), hex('a2')],
  expected: rejected,
  run(data) {
    step(() => {
      const m = decodeManifest(data);
      checkSame(afterDecode('encodeManifest', () => encodeManifest(m)), data, 'encodeManifest(decodeManifest(x))');
    });
    step(() => {
      const c = parseCose1(data);
      const again = afterDecode('encode COSE_Sign1', () => encodeCbor(new Tag([c.protectedHeader, new Map([[4, c.kid]]), c.payload, c.signature], 18)));
      checkSame(again, data, 'COSE_Sign1 re-encoded');
    });
    step(() => {
      const h = parsePackageHeader(data);
      if (h.complete) check(h.payloadOffset <= data.length && h.envelope.length === h.payloadOffset - 9, 'header points outside the input');
      else check(h.needed > data.length, 'asks for no more bytes than it has');
    });
    step(() => {
      const r = verifyPackage(data, { trustedKeys: TRUSTED, vendorId: VENDOR, classId: CLASS, securityCounter: 0, currentImage: imageRef(BASE) });
      check(r.payload.length === r.manifest.payload.size, 'verified payload of the wrong size');
    });
  },
} satisfies FuzzTarget;
