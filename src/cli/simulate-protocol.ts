/** The IPC contract between `warden simulate` and its worker processes (simulate-worker.ts). */

/** How a simulated device authenticates to the DM server (or, with `bootstrap`, what it is given there). */
export type SimSecurity = 'nosec' | 'psk' | 'rpk' | 'x509';

/** One device a worker runs. Key material is hex (IPC is JSON). */
export interface SimDevice {
  endpoint: string;
  /** DM PSK (direct psk mode). */
  psk?: { identity: string; key: string };
  /** PKCS#8 DER of the device's P-256 key (direct rpk mode). */
  rpkKey?: string;
  /** Factory PSK for the bootstrap server (bootstrap mode). */
  factory?: { identity: string; key: string };
  /** Queue Mode device. */
  queue: boolean;
}

/** What a worker needs to run its share of the fleet (sent over IPC: keys never appear in argv). */
export interface WorkerConfig {
  worker: number;
  devices: SimDevice[];
  /** DM server URI (not used by bootstrap devices: the bootstrap server writes theirs). */
  serverUri: string;
  /** Bootstrap server URI, for devices with `factory` credentials. */
  bootstrapUri?: string;
  /** The DM server's SubjectPublicKeyInfo (hex), pinned by direct rpk devices. */
  serverPublicKey?: string;
  lifetime: number;
  /** Queue Mode awake time in ms. */
  awakeMs: number;
  /** Value changes every this many ms (0: never). */
  notifyMs: number;
  /** Probability that a datagram is dropped, each way. */
  loss: number;
  /** Fraction of the worker's devices rebooted per minute. */
  churnPerMinute: number;
  /** Device starts per second (0: unlimited). */
  rampPerSecond: number;
  /** Starts not yet registered at the most. */
  maxInFlight: number;
  /** CoAP ACK_TIMEOUT and DTLS initial retransmission timer in ms (default: the client's, 2000 and 1000). */
  ackTimeoutMs?: number;
  /** Interval of counter reports in ms. */
  reportMs: number;
  /** Local address of the worker's sockets (default: any). */
  localAddress?: string;
}

/** Counters a worker reports (cumulative, except `registered`, `registering` and memory). */
export interface WorkerCounters {
  devices: number;
  /** Registered now. */
  registered: number;
  /** Started and not registered now. */
  registering: number;
  /** Devices that registered at least once. */
  everRegistered: number;
  /** Epoch ms when the last device registered for the first time (when `everRegistered` reached `devices`). */
  allRegisteredAt?: number;
  /** Registration attempts that failed (handshake, bootstrap, refusal, timeout). */
  failed: number;
  bootstrapped: number;
  /** DTLS handshakes completed (DM and bootstrap). */
  handshakes: number;
  updates: number;
  notifications: number;
  /** Requests from the server answered (read, write, execute, observe, discover ...). */
  requests: number;
  /** Firmware packages accepted (pushed or pulled, then checked). */
  firmwareAccepted: number;
  /** Firmware packages installed. */
  firmwareApplied: number;
  reboots: number;
  deregistered: number;
  /** Datagrams dropped by the lossy wrapper. */
  dropped: number;
  rss: number;
  heapUsed: number;
  /** Memory of the worker before its first device. */
  baseRss: number;
  baseHeapUsed: number;
}

export type WorkerMessage =
  | { type: 'report'; counters: WorkerCounters; errors: string[] }
  | { type: 'final'; counters: WorkerCounters; errors: string[]; latencies: number[] }
  | { type: 'fatal'; message: string };

export type ParentMessage = { type: 'start'; config: WorkerConfig } | { type: 'stop'; deregister: boolean };

/** Counters all zero. */
export function emptyCounters(devices = 0): WorkerCounters {
  return {
    devices, registered: 0, registering: 0, everRegistered: 0, failed: 0, bootstrapped: 0, handshakes: 0, updates: 0,
    notifications: 0, requests: 0, firmwareAccepted: 0, firmwareApplied: 0, reboots: 0, deregistered: 0, dropped: 0, rss: 0, heapUsed: 0,
    baseRss: 0, baseHeapUsed: 0,
  };
}
