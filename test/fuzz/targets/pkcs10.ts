/**
 * PKCS#10 certification requests (RFC 2986) as the EST server reads them from devices: parseCsr must
 * answer CsrError for everything it cannot use. The seeds are real CSRs signed by fixed P-256 keys.
 */
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { createCsr, CsrError, parseCsr } from '../../../src/keys/pkcs10.js';
import { check, errorsOf, hex, type FuzzTarget } from '../target.js';

// A fixed P-256 key (PKCS#8 DER) so the seeds are the same in every run.
const KEY = hex(
  '308187020100301306072a8648ce3d020106082a8648ce3d030107046d306b0201010420f3efe90c9886c149b6d066b0764cdfe76fa05c7e69d3d803562846f67335eab2' +
    'a144034200049ce510f2a7b728f265dd932e3f28ed7114aaf29bedac84faef859016fe881793875e463a1f4edea65d18226e4d50c3e55559db1c4e5832090d37dc4406a0c632',
);

function seeds(): Uint8Array[] {
  const privateKey = createPrivateKey({ key: Buffer.from(KEY), format: 'der', type: 'pkcs8' });
  const publicKey = createPublicKey(privateKey);
  return ['dev-1', 'urn:imei:490154203237518', ''].map((commonName) => createCsr({ commonName, privateKey, publicKey }));
}

export default {
  name: 'pkcs10',
  seeds,
  maxLen: 1024,
  dictionary: [hex('30'), hex('31'), hex('06'), hex('0c'), hex('13'), hex('a0'), hex('0603550403'), hex('2a8648ce3d040302'), hex('2a864886f70d01010b'), hex('81'), hex('82')],
  expected: errorsOf(CsrError),
  run(data) {
    const req = parseCsr(data);
    check(req.spki.length > 0 && req.publicKey.type === 'public', 'CSR without a public key');
  },
} satisfies FuzzTarget;
