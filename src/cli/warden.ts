/** Wires the layers into a running Warden: store, model, LwM2M server and the REST API. */
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { createApi } from '../api/index.js';
import { UdpTransport } from '../coap/index.js';
import { ModelRegistry } from '../lwm2m/registry.js';
import type { Logger } from '../log.js';
import { Lwm2mServer } from '../server/index.js';
import { SqliteStore } from '../store/index.js';
import { resolveApiToken } from './api-token.js';

export interface WardenOptions {
  dataDir: string;
  coapPort: number;
  coapHost: string;
  apiPort: number;
  apiHost: string;
  apiToken?: string;
  modelsDir?: string;
  logger: Logger;
}

export interface Warden {
  server: Lwm2mServer;
  api: FastifyInstance;
  model: ModelRegistry;
  apiUrl: string;
  coapPort: number;
  close(): Promise<void>;
}

export async function startWarden(o: WardenOptions): Promise<Warden> {
  const model = new ModelRegistry();
  if (o.modelsDir) {
    const { loaded, errors } = model.loadDirectory(o.modelsDir);
    o.logger.info({ dir: o.modelsDir, loaded }, 'object models loaded');
    for (const e of errors) o.logger.warn({ file: e.file, err: e.message }, 'object model skipped');
  }
  const store = new SqliteStore(join(o.dataDir, 'warden.db'));
  const transport = await UdpTransport.bind(o.coapPort, o.coapHost);
  const server = await Lwm2mServer.start({ model, store, transport, logger: o.logger.child({ layer: 'server' }) });
  const { token, origin } = resolveApiToken(o.dataDir, o.apiToken);
  const api = await createApi({ server, model, apiToken: token, logger: o.logger.child({ layer: 'api' }) });
  await api.listen({ port: o.apiPort, host: o.apiHost });
  const bound = api.server.address();
  const apiUrl = `http://${o.apiHost}:${typeof bound === 'object' && bound ? bound.port : o.apiPort}`;
  const coapPort = transport.address().port;
  o.logger.info({ coap: `udp://${o.coapHost}:${coapPort}`, coapPort, api: apiUrl, apiToken: origin }, 'Warden server started');
  return {
    server,
    api,
    model,
    apiUrl,
    coapPort,
    async close() {
      await api.close();
      await server.close();
      store.close();
    },
  };
}
