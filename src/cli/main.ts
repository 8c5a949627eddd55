#!/usr/bin/env node
/** `warden`: the command line. Only this layer wires the others together. */
import { Command, InvalidArgumentError } from 'commander';
import { randomBytes } from 'node:crypto';
import { Lwm2mClient, type ClientSecurity } from '../client/index.js';
import { createLogger } from '../log.js';
import { clientSecurityFromFlags, type ClientSecurityFlags } from './client-security.js';
import { registerCampaignCommands } from './campaign.js';
import { registerCredentialsCommands } from './credentials.js';
import { registerFirmwareCommands } from './firmware.js';
import { registerKeysCommands } from './keys.js';
import { registerSecurityCommands } from './security.js';
import { registerSimulateCommand } from './simulate.js';
import { registerUsersCommands } from './users.js';
import { startWarden } from './warden.js';

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('a port is an integer from 0 to 65535');
  return n;
}

function positive(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

interface ServerFlags {
  data: string;
  coapPort: number;
  coap: boolean;
  coapsPort: number;
  coaps: boolean;
  bootstrapPort: number;
  bootstrapsPort: number;
  bootstrap: boolean;
  dmUri?: string;
  dtlsCert?: string;
  dtlsKey?: string;
  dtlsCa?: string;
  dtlsCrl?: string;
  dtlsCbc: boolean;
  coapHost: string;
  apiPort: number;
  apiHost: string;
  apiToken?: string;
  apiSecureCookies: boolean;
  apiCert?: string;
  apiKey?: string;
  models?: string;
  logLevel: string;
  firmwareKey?: string[];
  firmwareHttpPort: number;
  firmwareHttp: boolean;
  firmwareHttpCert?: string;
  firmwareHttpKey?: string;
  publicHost?: string;
  inventoryRead: boolean;
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

function serverOptions(cmd: Command): Command {
  return cmd
    .option('--data <dir>', 'data directory (SQLite database, API token)', './data')
    .option('--coap-port <port>', 'LwM2M CoAP (UDP) port', port, 5683)
    .option('--no-coap', 'no plain CoAP listener (DTLS only)')
    .option('--coaps-port <port>', 'LwM2M CoAPs (DTLS) port', port, 5684)
    .option('--no-coaps', 'no CoAPs (DTLS) listener')
    .option('--bootstrap-port <port>', 'bootstrap server CoAP port', port, 5783)
    .option('--bootstraps-port <port>', 'bootstrap server CoAPs (DTLS) port; factory keys come from the key store', port, 5784)
    .option('--no-bootstrap', 'no bootstrap server')
    .option('--dm-uri <uri>', 'LwM2M server URI written into devices at bootstrap (default coaps://127.0.0.1:<coaps port>)')
    .option('--coap-host <host>', 'LwM2M CoAP and CoAPs listen address', '0.0.0.0')
    .option('--dtls-cert <file>', 'server certificate chain (PEM, leaf first) for X.509 devices')
    .option('--dtls-key <file>', 'server private key (PEM); default: generated once, kept sealed in the data directory')
    .option('--dtls-ca <file>', 'CA certificates (PEM) that device certificates must chain to')
    .option('--dtls-crl <file>', 'CRL file (PEM or DER) checked on every certificate handshake')
    .option('--dtls-cbc', 'also accept the CBC cipher suites of LwM2M 1.1 (off by default)', false)
    .option('--api-port <port>', 'REST API port', port, 8080)
    .option('--api-host <host>', 'REST API listen address', '127.0.0.1')
    .option('--api-token <token>', 'admin API token (default: WARDEN_API_TOKEN, else generated into the data directory)')
    .option('--api-cert <file>', 'certificate chain (PEM) for the API and console: they speak HTTPS')
    .option('--api-key <file>', 'private key (PEM) for --api-cert')
    .option('--api-secure-cookies', 'mark console session cookies Secure (__Host-) though the API speaks plain HTTP: a TLS proxy is in front', false)
    .option('--models <dir>', 'folder of extra LwM2M object definitions (DDF XML)')
    .option('--firmware-key <file>', 'trusted firmware signing public key (PEM or DER); repeat for several; DATA/firmware-keys/*.pem are added', collect)
    .option('--firmware-http-port <port>', 'HTTP(S) port devices download firmware packages from (on --coap-host)', port, 8081)
    .option('--no-firmware-http', 'no HTTP(S) firmware download listener')
    .option('--firmware-http-cert <file>', 'certificate chain (PEM) for the firmware download listener: it speaks HTTPS')
    .option('--firmware-http-key <file>', 'private key (PEM) for --firmware-http-cert')
    .option('--public-host <host>', 'host name devices reach this server by, in firmware Package URIs (default: the --dm-uri host, else --coap-host unless 0.0.0.0, else 127.0.0.1)')
    .option('--no-inventory-read', 'do not read each newly registered device\'s firmware version (/3/0/3) for the device list')
    .option('--log-level <level>', 'debug, info, warn or error', 'info');
}

function onSignals(stop: () => Promise<void>): void {
  let stopping = false;
  const handler = () => {
    if (stopping) process.exit(1);
    stopping = true;
    stop().then(() => process.exit(0), () => process.exit(1));
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}

/** A certificate and key given as a pair of flags, or neither. */
function tlsFiles(cert: string | undefined, key: string | undefined, names: string): { certFile: string; keyFile: string } | undefined {
  if ((cert === undefined) !== (key === undefined)) throw new Error(`${names} go together`);
  return cert && key ? { certFile: cert, keyFile: key } : undefined;
}

async function runServer(flags: ServerFlags, devices: number): Promise<void> {
  const logger = createLogger(flags.logLevel);
  const warden = await startWarden({
    dataDir: flags.data, coapPort: flags.coap ? flags.coapPort : undefined, coapsPort: flags.coaps ? flags.coapsPort : undefined,
    dtls: { certFile: flags.dtlsCert, keyFile: flags.dtlsKey, caFile: flags.dtlsCa, crlFile: flags.dtlsCrl, cbc: flags.dtlsCbc },
    bootstrapPort: flags.bootstrap ? flags.bootstrapPort : undefined,
    bootstrapsPort: flags.bootstrap ? flags.bootstrapsPort : undefined,
    dmServerUri: flags.dmUri,
    coapHost: flags.coapHost, apiPort: flags.apiPort,
    apiHost: flags.apiHost, apiToken: flags.apiToken, apiSecureCookies: flags.apiSecureCookies,
    apiTls: tlsFiles(flags.apiCert, flags.apiKey, '--api-cert and --api-key'), modelsDir: flags.models, logger,
    firmware: {
      trustedKeyFiles: flags.firmwareKey,
      httpPort: flags.firmwareHttp ? flags.firmwareHttpPort : undefined,
      httpTls: tlsFiles(flags.firmwareHttpCert, flags.firmwareHttpKey, '--firmware-http-cert and --firmware-http-key'),
      publicHost: flags.publicHost,
    },
    inventoryRead: flags.inventoryRead,
  });
  const clients: Lwm2mClient[] = [];
  for (let i = 1; i <= devices; i++) {
    const endpoint = `warden-demo-${i}`;
    // The first demo device speaks DTLS with a PSK, when the server listens for CoAPs.
    const secure = i === 1 && warden.coapsPort !== undefined;
    let security: ClientSecurity | undefined;
    if (secure) {
      const key = randomBytes(16);
      warden.security.add({ endpoint, mode: 'psk', pskIdentity: endpoint, pskKey: key });
      security = { mode: 'psk', identity: endpoint, key };
    } else if (warden.coapPort === undefined) {
      continue;
    }
    const client = new Lwm2mClient({
      endpoint,
      serverUri: secure ? `coaps://127.0.0.1:${warden.coapsPort}` : `coap://127.0.0.1:${warden.coapPort}`,
      security,
      lifetime: 300,
      queueMode: i === devices && devices > 1,
      logger: logger.child({ layer: 'client', endpoint }),
    });
    await client.start();
    clients.push(client);
  }
  if (devices > 0) {
    logger.info({ devices, api: `${warden.apiUrl}/api/clients` }, 'simulated devices registered; try: curl -H "Authorization: Bearer $TOKEN" ' + `${warden.apiUrl}/api/clients`);
    logger.info({ console: `${warden.apiUrl}/` }, `web console: ${warden.apiUrl}/ (sign in as a user made with: npx warden users add NAME --role admin --data ${flags.data})`);
  }
  onSignals(async () => {
    await Promise.all(clients.map((c) => c.stop()));
    await warden.close();
  });
}

const program = new Command();
program.name('warden').description('Secure device management for IoT fleets (LwM2M over CoAP)').version('0.1.0');

serverOptions(program.command('server').description('run the LwM2M server and the REST API')).action((flags: ServerFlags) =>
  runServer(flags, 0));

serverOptions(program.command('demo').description('run the server with a handful of simulated devices on loopback'))
  .option('--devices <n>', 'number of simulated devices', positive, 5)
  .action((flags: ServerFlags & { devices: number }) => runServer(flags, flags.devices));

function certUsage(value: string): number {
  const n = Number(value);
  if (![0, 1, 2, 3].includes(n) || value.trim() === '') throw new InvalidArgumentError('a certificate usage is 0, 1, 2 or 3');
  return n;
}

interface ClientFlags extends ClientSecurityFlags {
  endpoint: string;
  server?: string;
  lifetime: number;
  queue: boolean;
  cid: boolean;
  logLevel: string;
}

program
  .command('client')
  .description('run one LwM2M client (a simulated device); with credentials it talks CoAPs (DTLS)')
  .requiredOption('--endpoint <name>', 'endpoint client name')
  .option('--server <uri>', 'LwM2M server URI (default coap://127.0.0.1:5683, or coaps://127.0.0.1:5684 with credentials)')
  .option('--lifetime <seconds>', 'registration lifetime', positive, 300)
  .option('--queue', 'queue mode (sleep between exchanges)', false)
  .option('--psk-identity <id>', 'PSK mode: the PSK identity')
  .option('--psk-key <hex>', 'PSK mode: the key in hex, or - to read it from stdin')
  .option('--rpk-key <file>', 'raw public key mode: own private key (PEM, P-256)')
  .option('--server-public-key <file>', 'raw public key mode: the server public key to trust (PEM or DER)')
  .option('--cert <file>', 'X.509 mode: own certificate chain (PEM, leaf first)')
  .option('--key <file>', 'X.509 mode: own private key (PEM)')
  .option('--server-cert <file>', 'X.509 mode: the server certificate (usage 1, 3) or a CA certificate (usage 0, 2)')
  .option('--ca <file>', 'X.509 mode: trust anchors (PEM) for certificate usages 0 and 1')
  .option('--cert-usage <n>', 'X.509 mode: certificate usage 0-3 (default 3: the server certificate is pinned)', certUsage)
  .option('--no-cid', 'do not negotiate a DTLS Connection ID')
  .option('--log-level <level>', 'debug, info, warn or error', 'info')
  .action(async (flags: ClientFlags) => {
    const logger = createLogger(flags.logLevel);
    const security = clientSecurityFromFlags(flags);
    const client = new Lwm2mClient({
      endpoint: flags.endpoint, serverUri: flags.server, security, connectionId: flags.cid,
      lifetime: flags.lifetime, queueMode: flags.queue, logger,
    });
    await client.start();
    onSignals(() => client.stop());
    logger.info({ endpoint: flags.endpoint, location: client.registrationLocation?.join('/'), dtls: client.dtls?.cipherSuite }, 'client registered');
  });

registerSecurityCommands(program);
registerKeysCommands(program);
registerCredentialsCommands(program);
registerSimulateCommand(program);
registerFirmwareCommands(program);
registerCampaignCommands(program);
registerUsersCommands(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  console.error(`warden: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
