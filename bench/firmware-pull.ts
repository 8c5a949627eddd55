/**
 * Child process for the fleet download benchmark: simulated devices pulling one package with the client's own
 * fetcher (createPackageFetcher: CoAPs block by block over a DTLS-PSK association of their own, or HTTP with a
 * connection of its own), all at once. Each device hashes what it received (SHA-256) and checks that every chunk
 * continues where the previous one ended. Protocol over IPC: sends `{ready}`; answers each `PullJob` with a
 * `PullReport`; exits on `{stop: true}`.
 */
import { createHash } from 'node:crypto';
import { createPackageFetcher } from '../src/client/index.js';

/** One download run: every device pulls `uri` and must end with `size` bytes hashing to `sha256`. */
export interface PullJob {
  uri: string;
  /** PSK identity and key (hex) per device; for http(s) only the count matters. */
  devices: { identity: string; key: string }[];
  size: number;
  sha256: string;
  /** Local address the download sockets bind to. */
  localAddress?: string;
}

/** What a run measured in this process. */
export interface PullReport {
  /** Devices that received exactly the package (size and SHA-256). */
  ok: number;
  /** Devices whose download failed (the first few reasons in `errors`). */
  failed: number;
  /** Devices that finished with bytes other than the package's. */
  wrong: number;
  /** Package bytes received by devices that got it right. */
  bytes: number;
  /** Ms from the job's arrival to each device's last byte (ok devices), sorted. */
  finishMs: number[];
  errors: string[];
}

async function pullOne(job: PullJob, device: PullJob['devices'][number], start: number): Promise<{ ms: number; bytes: number; digest: string }> {
  const key = Buffer.from(device.key, 'hex');
  const fetcher = createPackageFetcher({
    security: () => ({ psk: { identity: device.identity, key } }),
    ...(job.localAddress ? { localAddress: job.localAddress } : {}),
  });
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const c of fetcher(job.uri, { offset: 0 }, new AbortController().signal)) {
    if (c.offset !== bytes) throw new Error(`chunk at ${c.offset}, expected ${bytes}`);
    hash.update(c.data);
    bytes += c.data.length;
  }
  return { ms: performance.now() - start, bytes, digest: hash.digest('hex') };
}

/** Runs `job`: every device at once. */
export async function runPullJob(job: PullJob): Promise<PullReport> {
  const start = performance.now();
  const report: PullReport = { ok: 0, failed: 0, wrong: 0, bytes: 0, finishMs: [], errors: [] };
  await Promise.all(job.devices.map(async (d) => {
    try {
      const r = await pullOne(job, d, start);
      if (r.bytes === job.size && r.digest === job.sha256) {
        report.ok++;
        report.bytes += r.bytes;
        report.finishMs.push(r.ms);
      } else {
        report.wrong++;
        if (report.errors.length < 5) report.errors.push(`${d.identity}: ${r.bytes} bytes, sha256 ${r.digest.slice(0, 16)}...`);
      }
    } catch (err) {
      report.failed++;
      if (report.errors.length < 5) report.errors.push(`${d.identity}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }));
  report.finishMs.sort((a, b) => a - b);
  return report;
}

if (process.send) {
  process.on('message', (m: { job?: PullJob; stop?: boolean }) => {
    if (m.job) {
      void runPullJob(m.job).then((r) => process.send!({ report: r }));
    } else if (m.stop) {
      process.disconnect();
      process.exit(0);
    }
  });
  process.send({ ready: true });
}
