/** Shared pieces for cross-layer tests: a server on loopback with a real SQLite file. */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoapEndpoint, UdpTransport, type PeerAddress } from '../src/coap/index.js';
import { ModelRegistry } from '../src/lwm2m/registry.js';
import { Lwm2mServer, type ServerOptions } from '../src/server/index.js';
import { SqliteStore } from '../src/store/index.js';

export interface TestServer {
  server: Lwm2mServer;
  store: SqliteStore;
  dir: string;
  port: number;
  peer: PeerAddress;
  uri: string;
  model: ModelRegistry;
  /** Stops the server, keeping the database file. */
  stop(): Promise<void>;
  /** Stops the server and removes its files. */
  close(): Promise<void>;
}

export async function startTestServer(opts: Partial<ServerOptions> & { dir?: string; port?: number } = {}): Promise<TestServer> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'warden-test-'));
  const store = new SqliteStore(join(dir, 'warden.db'));
  const model = new ModelRegistry();
  const transport = await UdpTransport.bind(opts.port ?? 0, '127.0.0.1');
  const port = transport.address().port;
  const server = await Lwm2mServer.start({ model, store, transport, sweepInterval: 50, ...opts });
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await server.close();
    store.close();
  };
  return {
    server, store, dir, port, model,
    peer: { address: '127.0.0.1', port },
    uri: `coap://127.0.0.1:${port}`,
    stop,
    async close() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A bare CoAP endpoint on loopback, to speak to the server byte by byte. */
export async function rawEndpoint(): Promise<CoapEndpoint> {
  return new CoapEndpoint(await UdpTransport.bind(0, '127.0.0.1'), { ackTimeout: 200 });
}

/** Resolves once `emitter` emits `event` (with its first argument). */
export function once<T = unknown>(emitter: NodeJS.EventEmitter, event: string, timeoutMs = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "${event}" event within ${timeoutMs} ms`)), timeoutMs);
    emitter.once(event, (v: T) => {
      clearTimeout(timer);
      resolve(v);
    });
  });
}

/** Polls `cond` until it is true (for state that settles asynchronously); fails after `timeoutMs`. */
export async function until(cond: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`${what} not reached within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Runs a peer's command-line tool (libcoap, openssl) without blocking the event loop — the server under test
 * shares this process. `out` is stdout and stderr together; a missing tool names its Debian package.
 */
export function runTool(
  tool: string,
  args: string[],
  pkg = 'libcoap3-bin',
  timeoutMs = 20_000,
): Promise<{ status: number | null; stdout: string; stderr: string; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(tool, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let out = '';
    child.stdout.on('data', (d: Buffer) => ((stdout += d.toString('utf8')), (out += d.toString('utf8'))));
    child.stderr.on('data', (d: Buffer) => ((stderr += d.toString('utf8')), (out += d.toString('utf8'))));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => reject(new Error(`${tool} could not run (install the Debian package ${pkg}): ${err.message}`)));
    child.on('exit', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr, out });
    });
  });
}
