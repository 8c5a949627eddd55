/**
 * Learns each device's firmware facts from what the server hears anyway: Read / Read-Composite / Observe answers,
 * notifications and Send (LwM2M 1.1 Core §6.3.1, §6.4.2, §6.4.3) that carry Device /3/0/3 (Firmware Version) or
 * Firmware Update /5/0/3 (State), /5/0/5 (Update Result); and, after each new registration, reads /3/0/3 once.
 */
import type { PathNode } from '../lwm2m/format/types.js';
import type { LwM2mNode, ResourceNode } from '../lwm2m/node.js';
import { Lwm2mPath } from '../lwm2m/path.js';
import { silentLogger, type Logger } from '../log.js';
import type { DeviceFactsStore, FirmwareFacts } from '../store/device-facts.js';
import type { DeviceManagement, Notification, ReadData, Registration, SendData } from './types.js';

const DEVICE = 3;
const FIRMWARE = 5;
const FIRMWARE_VERSION = 3;
const FW_STATE = 3;
const FW_RESULT = 5;
const FIRMWARE_VERSION_PATH = Lwm2mPath.parse('/3/0/3');

export interface FirmwareFactsOptions {
  logger?: Logger;
  /** Read /3/0/3 after every new registration (not Updates); default true. */
  inventoryRead?: boolean;
  /** Registration reads in flight at most (default 16). */
  concurrency?: number;
  /** Ms a registration read waits for the device (default 5000). */
  readTimeout?: number;
}

/** The firmware facts `node`, found at `path`, carries (instance 0 of /3 and /5 only); undefined if none. */
export function firmwareFactsOf(path: Lwm2mPath, node: LwM2mNode): FirmwareFacts | undefined {
  const objectId = path.objectId;
  if (objectId !== DEVICE && objectId !== FIRMWARE) return undefined;
  const out: FirmwareFacts = {};
  const resource = (r: ResourceNode): void => {
    if (r.kind !== 'singleResource') return;
    const v = r.value;
    if (objectId === DEVICE && r.id === FIRMWARE_VERSION && v.type === 'string') out.version = v.value;
    else if (objectId === FIRMWARE && r.id === FW_STATE && (v.type === 'integer' || v.type === 'unsignedInteger')) out.fwState = Number(v.value);
    else if (objectId === FIRMWARE && r.id === FW_RESULT && (v.type === 'integer' || v.type === 'unsignedInteger')) out.fwResult = Number(v.value);
  };
  switch (node.kind) {
    case 'object':
      for (const i of node.instances) if (i.id === 0) i.resources.forEach(resource);
      break;
    case 'instance':
      if (node.id === 0) node.resources.forEach(resource);
      break;
    case 'singleResource':
      if (path.instanceId === 0) resource(node);
      break;
    default:
      return undefined;
  }
  return out.version !== undefined || out.fwState !== undefined || out.fwResult !== undefined ? out : undefined;
}

/** Merges the facts of several path/node pairs (composite answers, Send). */
function factsOfAll(contents: readonly PathNode[]): FirmwareFacts | undefined {
  let out: FirmwareFacts | undefined;
  for (const c of contents) {
    const f = firmwareFactsOf(c.path, c.node);
    if (f) out = { ...out, ...f };
  }
  return out;
}

/** Listens to `server` and records into `store`; returns the stop function (pending reads are not waited for). */
export function collectFirmwareFacts(server: DeviceManagement, store: DeviceFactsStore, opts: FirmwareFactsOptions = {}): () => void {
  const log = opts.logger ?? silentLogger;
  // Listeners run inside the server's read path: a store failure is logged, never thrown into the read.
  const record = (endpoint: string, facts: FirmwareFacts | undefined): void => {
    if (!facts) return;
    try {
      store.record(endpoint, facts);
    } catch (err) {
      log.warn({ endpoint, err: (err as Error).message }, 'firmware facts not recorded');
    }
  };
  const onRead = (d: ReadData): void => {
    if (d.path && d.content) record(d.endpoint, firmwareFactsOf(d.path, d.content));
    if (d.contents) record(d.endpoint, factsOfAll(d.contents));
  };
  const onNotification = (n: Notification): void => {
    if (n.content && n.paths.length === 1) record(n.endpoint, firmwareFactsOf(n.paths[0]!, n.content));
    if (n.contents) record(n.endpoint, factsOfAll(n.contents));
  };
  const onSend = (s: SendData): void => record(s.endpoint, factsOfAll(s.contents));

  const limit = opts.concurrency ?? 16;
  const timeout = opts.readTimeout ?? 5000;
  // A registration storm queues one endpoint per device: taken from `head` (shift() would move the rest every time).
  let queue: string[] = [];
  let head = 0;
  let running = 0;
  let stopped = false;
  let scheduled = false;
  const pump = (): void => {
    scheduled = false;
    while (!stopped && running < limit && head < queue.length) {
      const endpoint = queue[head++]!;
      if (head === queue.length) {
        queue = [];
        head = 0;
      }
      if (server.getRegistration(endpoint) === undefined) continue;
      running++;
      server
        .read(endpoint, FIRMWARE_VERSION_PATH, { timeout })
        .then((res) => {
          if (res.code >= 128) log.debug({ endpoint, code: res.code }, 'inventory read refused');
        })
        .catch((err: unknown) => log.debug({ endpoint, err: (err as Error).message }, 'inventory read failed'))
        .finally(() => {
          running--;
          pump();
        });
    }
  };
  // The event fires before the Register's 2.01 leaves: the read waits a turn so the device hears that first.
  const onRegistered = (reg: Registration): void => {
    queue.push(reg.endpoint);
    if (!scheduled) {
      scheduled = true;
      setImmediate(pump);
    }
  };

  server.on('read', onRead);
  server.on('notification', onNotification);
  server.on('send', onSend);
  const inventoryRead = opts.inventoryRead ?? true;
  if (inventoryRead) server.on('registered', onRegistered);
  return () => {
    stopped = true;
    queue = [];
    server.off('read', onRead);
    server.off('notification', onNotification);
    server.off('send', onSend);
    if (inventoryRead) server.off('registered', onRegistered);
  };
}
