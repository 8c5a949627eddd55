/**
 * Child process for the DTLS benchmark: opens `count` DTLS associations to the server in argv with
 * `window` handshakes in flight, reports the rate, keeps them open until told to stop.
 * Credentials come in as JSON on argv (PSK key hex, or client chain + PKCS#8 key + trust anchor, DER base64).
 */
import { createPrivateKey } from 'node:crypto';
import { DtlsClient } from '../src/dtls/index.js';
import { createServerCertificateVerifier } from '../src/dtls/x509.js';

interface Creds {
  mode: 'psk' | 'rpk' | 'ecdsa';
  pskKey?: string;
  serverKey?: string;
  chain?: string[];
  key?: string;
  serverCert?: string;
}

const [port, count, window, credsJson] = [Number(process.argv[2]), Number(process.argv[3]), Number(process.argv[4]), process.argv[5]!];
const creds = JSON.parse(credsJson) as Creds;
const peer = { address: '127.0.0.1', port };
const clients: DtlsClient[] = [];
let next = 0;
let failed = 0;
const b64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));
const key = () => createPrivateKey({ key: Buffer.from(creds.key!, 'base64'), format: 'der', type: 'pkcs8' });
const serverKey = creds.serverKey ? Buffer.from(creds.serverKey, 'base64') : undefined;
const options = (i: number) =>
  creds.mode === 'psk'
    ? { psk: { identity: `bench-${i}`, key: Buffer.from(creds.pskKey!, 'hex') }, connectionId: false }
    : creds.mode === 'rpk'
    ? {
        rawPublicKey: { privateKey: key() },
        verifyRawPublicKey: (spki: Uint8Array) => {
          if (!serverKey!.equals(spki)) throw new Error('not the server key');
          return { mode: 'rpk' as const, name: 'server' };
        },
        connectionId: false,
      }
    : {
        certificate: { chain: creds.chain!.map(b64), privateKey: key() },
        verifyCertificate: createServerCertificateVerifier({ certificateUsage: 3, serverPublicKey: b64(creds.serverCert!) }),
        connectionId: false,
      };
const start = performance.now();
await Promise.all(
  Array.from({ length: window }, async () => {
    for (let i = next++; i < count; i = next++) {
      try {
        clients.push(await DtlsClient.connect(peer, { ...options(i), retransmitInitial: 5000 }));
      } catch {
        failed++;
      }
    }
  }),
);
const seconds = (performance.now() - start) / 1000;
process.send!({ rate: clients.length / seconds, failed, open: clients.length });
process.on('message', async (m: { stop?: boolean }) => {
  if (!m.stop) return;
  await Promise.all(clients.map((c) => c.close().catch(() => {})));
  process.disconnect();
  process.exit(0);
});
