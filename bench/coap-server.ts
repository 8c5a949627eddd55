/**
 * Child process: one CoAP server of the throughput comparison, serving GET /time with 2.05, Max-Age 1 and a
 * 15-byte text payload (the size of libcoap's coap-server /time answer). argv: kind ("warden" | "warden-dtls" |
 * "npm-coap"), port, and for warden-dtls the PSK key in hex. Reports { port } over IPC when listening, exits on
 * { stop }.
 */
import coap from 'coap';
import { CoapEndpoint, OptionNumber, ResponseCode, UdpTransport, uintOption, type IncomingRequest, type OutgoingResponse } from '../src/coap/index.js';
import { CipherSuite, DtlsServer } from '../src/dtls/index.js';

const [kind, portArg, keyHex] = process.argv.slice(2) as [string, string, string | undefined];
const port = Number(portArg);
/** "Nov 25 23:03:28": what libcoap's /time answers. */
const PAYLOAD = Buffer.from('Nov 25 23:03:28');
const MAX_AGE = [uintOption(OptionNumber.MaxAge, 1)];
const NOT_FOUND: OutgoingResponse = { code: ResponseCode.NotFound };

function handler(req: IncomingRequest): OutgoingResponse {
  if (req.path.length !== 1 || req.path[0] !== 'time') return NOT_FOUND;
  return { code: ResponseCode.Content, options: MAX_AGE, payload: PAYLOAD };
}

let close: () => Promise<void>;
let bound = port;
if (kind === 'warden') {
  const transport = await UdpTransport.bind(port, '127.0.0.1');
  bound = transport.address().port;
  const endpoint = new CoapEndpoint(transport);
  endpoint.onRequest(handler);
  close = () => endpoint.close();
} else if (kind === 'warden-dtls') {
  const key = Buffer.from(keyHex!, 'hex');
  const dtls = await DtlsServer.bind(port, '127.0.0.1', {
    pskLookup: () => key,
    cipherSuites: [CipherSuite.TLS_PSK_WITH_AES_128_CCM_8],
    connectionIdLength: 0,
  });
  bound = dtls.address().port;
  const endpoint = new CoapEndpoint(dtls);
  endpoint.onRequest(handler);
  close = () => endpoint.close();
} else if (kind === 'npm-coap') {
  const server = coap.createServer((req, res) => {
    if (req.url !== '/time') {
      res.code = '4.04';
      res.end();
      return;
    }
    res.setOption('Max-Age', 1);
    res.end(PAYLOAD);
  });
  if (port === 0) throw new Error('npm-coap needs a port');
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
  close = () => new Promise<void>((resolve) => server.close(() => resolve()));
} else {
  throw new Error(`unknown server kind ${kind}`);
}

process.send!({ port: bound });
process.on('message', async (m: { stop?: boolean }) => {
  if (!m.stop) return;
  await close();
  process.disconnect();
  process.exit(0);
});
