/**
 * `warden campaign create|start|pause|resume|cancel|status|list`: firmware campaigns through the running Warden's REST
 * API (the process holding the LwM2M server drives them). The token comes from WARDEN_API_TOKEN,
 * `--token-file` or DATA/api-token (never argv).
 */
import type { Command } from 'commander';
import type { CampaignDeviceStatus, CampaignHistoryEntry, DeviceFirmwareState, FirmwareCampaignStatus, FirmwareCampaignSummary } from '../firmware/index.js';
import { apiClientOptions, callApi } from './api-client.js';

export interface CampaignCliIo {
  out(line: string): void;
  err(line: string): void;
  /** Waits between two frames of `status --watch`. */
  sleep?(ms: number): Promise<void>;
}

const processIo: CampaignCliIo = {
  out: (line) => void process.stdout.write(line + '\n'),
  err: (line) => void process.stderr.write(line + '\n'),
};

export interface CampaignApiFlags {
  api: string;
  tokenFile?: string;
  data: string;
}

export interface CreateFlags extends CampaignApiFlags {
  package: string;
  target: string;
  canary?: string;
  waves?: string;
  maxConcurrent?: string;
  successThreshold?: string;
  errorThreshold?: string;
  minSample?: string;
  maxAttempts?: string;
  delivery?: string;
  scheme?: string;
}


async function api<T>(flags: CampaignApiFlags, method: string, path: string, body?: unknown): Promise<T> {
  return (await callApi<T>(flags, method, path, body)).json;
}

/**
 * `--target`: `group:NAME`, a bare NAME (a group), or a filter `endpoint=GLOB,version=V,ATTR=VALUE...` (ATTR one of
 * lwm2m, b, lt, queue, secure).
 */
export function parseTarget(text: string): Record<string, unknown> {
  if (text.startsWith('group:')) return { group: text.slice(6) };
  if (!text.includes('=')) return { group: text };
  const filter: { endpoint?: string; version?: string; attributes?: Record<string, string> } = {};
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new Error(`bad target filter "${part}": expected NAME=VALUE`);
    const k = part.slice(0, eq).trim();
    const v = part.slice(eq + 1).trim();
    if (k === 'endpoint' || k === 'ep') filter.endpoint = v;
    else if (k === 'version') filter.version = v;
    else (filter.attributes ??= {})[k] = v;
  }
  return { filter };
}

function positiveInt(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) < 1) throw new Error(`${name} must be a positive integer`);
  return Number(v);
}

function targetText(t: FirmwareCampaignSummary['target']): string {
  if ('group' in t) return `group ${t.group}`;
  const f = t.filter;
  const parts = [f.endpoint !== undefined ? `endpoint=${f.endpoint}` : '', f.version !== undefined ? `version=${f.version}` : '',
    ...Object.entries(f.attributes ?? {}).map(([k, v]) => `${k}=${v}`)].filter((p) => p !== '');
  return parts.length ? parts.join(',') : 'every registered device';
}

const IN_FLIGHT: readonly DeviceFirmwareState[] = ['delivering', 'downloading', 'downloaded', 'updating', 'verifying'];

/**
 * The progress block of a campaign: a header, a bar (`#` succeeded, `x` failed, `c` cancelled, `=` in flight, `.`
 * queued), the share done, and the per-state counts.
 */
export function renderProgress(s: FirmwareCampaignSummary, width = 40): string[] {
  const c = s.counts;
  const inflight = IN_FLIGHT.reduce((n, k) => n + c[k], 0);
  const done = c.succeeded + c.failed + c.cancelled;
  const total = s.total;
  const cells = (n: number) => (total === 0 ? 0 : Math.round((n / total) * width));
  let bar = '#'.repeat(cells(c.succeeded)) + 'x'.repeat(cells(c.failed)) + 'c'.repeat(cells(c.cancelled)) + '='.repeat(cells(inflight));
  bar = bar.slice(0, width).padEnd(width, '.');
  const percent = total === 0 ? 0 : Math.floor((done / total) * 100);
  const waves = s.waveSizes.length;
  const lines = [
    `campaign ${s.id} ${s.state}  package ${s.packageId} (${s.packageVersion})  target ${targetText(s.target)}  wave ${Math.min(s.currentWave + 1, Math.max(waves, 1))}/${waves}`,
    `[${bar}] ${percent}% done (${done}/${total})  succeeded ${c.succeeded}  failed ${c.failed}`,
    ['queued', ...IN_FLIGHT, 'succeeded', 'failed', 'cancelled'].map((k) => `${k} ${c[k as DeviceFirmwareState]}`).join('  '),
  ];
  if (s.pauseReason && s.state !== 'running') lines.push(`${s.state}: ${s.pauseReason}`);
  return lines;
}

/** `warden campaign create`: prints the new campaign's id and returns it. */
export async function campaignCreate(flags: CreateFlags, io: CampaignCliIo = processIo): Promise<number> {
  const body: Record<string, unknown> = { package: flags.package, target: parseTarget(flags.target) };
  if (flags.canary !== undefined) body.canary = flags.canary;
  if (flags.waves !== undefined) body.waves = flags.waves.split(',');
  if (flags.successThreshold !== undefined) body.successThreshold = flags.successThreshold;
  if (flags.errorThreshold !== undefined) body.errorThreshold = flags.errorThreshold;
  for (const [k, v] of [['maxConcurrent', flags.maxConcurrent], ['minSample', flags.minSample], ['maxAttempts', flags.maxAttempts]] as const) {
    const n = positiveInt(v, `--${k.replace(/[A-Z]/g, (m) => '-' + m.toLowerCase())}`);
    if (n !== undefined) body[k] = n;
  }
  if (flags.delivery !== undefined) body.delivery = flags.delivery;
  if (flags.scheme !== undefined) body.scheme = flags.scheme;
  const s = await api<FirmwareCampaignSummary>(flags, 'POST', '/api/campaigns', body);
  io.out(`campaign ${s.id} created (package ${s.packageId} ${s.packageVersion}, target ${targetText(s.target)}); start it with: warden campaign start ${s.id}`);
  return s.id;
}

/** `warden campaign start|pause|resume|cancel ID`. */
export async function campaignAction(action: 'start' | 'pause' | 'resume' | 'cancel', flags: CampaignApiFlags & { id: string }, io: CampaignCliIo = processIo): Promise<FirmwareCampaignSummary> {
  const id = positiveInt(flags.id, 'ID');
  const s = await api<FirmwareCampaignSummary>(flags, 'POST', `/api/campaigns/${id}/${action}`);
  io.out(`campaign ${s.id} ${s.state}${action === 'start' ? ` with ${s.total} device${s.total === 1 ? '' : 's'} in ${s.waveSizes.length} wave${s.waveSizes.length === 1 ? '' : 's'} (${s.waveSizes.join(', ')})` : ''}`);
  return s;
}

/** `warden campaign list`. */
export async function campaignList(flags: CampaignApiFlags, io: CampaignCliIo = processIo): Promise<void> {
  const list = await api<FirmwareCampaignSummary[]>(flags, 'GET', '/api/campaigns');
  if (list.length === 0) io.out('no campaigns');
  for (const s of list) {
    const done = s.counts.succeeded + s.counts.failed + s.counts.cancelled;
    io.out([s.id, s.state, `${s.packageId} (${s.packageVersion})`, targetText(s.target), `${done}/${s.total} done`, `failed ${s.counts.failed}`].join('\t'));
  }
}

function deviceLine(d: CampaignDeviceStatus): string {
  return [d.endpoint, `wave ${d.wave + 1}`, d.state, `attempts=${d.attempts}`, d.updateResult !== null ? `result=${d.updateResult}` : '', d.lastError ?? '']
    .filter((p) => p !== '').join('\t');
}

/**
 * `warden campaign status ID [--watch] [--device EP] [--devices]`: the progress block; `--watch` redraws it until the
 * campaign stops running; `--device` shows one device's history.
 */
export async function campaignStatus(
  flags: CampaignApiFlags & { id: string; watch?: boolean; device?: string; devices?: boolean; interval?: string },
  io: CampaignCliIo = processIo,
): Promise<FirmwareCampaignSummary | undefined> {
  const id = positiveInt(flags.id, 'ID');
  if (flags.device !== undefined) {
    const d = await api<CampaignDeviceStatus & { history: CampaignHistoryEntry[] }>(flags, 'GET', `/api/campaigns/${id}/devices/${encodeURIComponent(flags.device)}`);
    io.out(deviceLine(d));
    for (const h of d.history) io.out(`  ${new Date(h.time).toISOString()}  ${h.from} -> ${h.to}${h.detail ? `  ${h.detail}` : ''}`);
    return undefined;
  }
  const interval = positiveInt(flags.interval, '--interval') ?? 1000;
  const sleep = io.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  let last = '';
  for (;;) {
    const s = await api<FirmwareCampaignStatus>(flags, 'GET', `/api/campaigns/${id}`);
    const frame = renderProgress(s);
    if (frame.join('\n') !== last) {
      for (const line of frame) io.out(line);
      last = frame.join('\n');
    }
    const inflight = IN_FLIGHT.reduce((n, k) => n + s.counts[k], 0);
    if (!flags.watch || s.state === 'finished' || s.state === 'cancelled' || (s.state === 'paused' && inflight === 0) || s.state === 'created') {
      if (flags.devices) for (const d of s.devices) io.out(deviceLine(d));
      else for (const d of s.devices.filter((x) => x.state === 'failed')) io.out(`failed: ${deviceLine(d)}`);
      return s;
    }
    await sleep(interval);
  }
}

/** Adds `campaign create|start|pause|resume|cancel|status|list` to the program. */
export function registerCampaignCommands(program: Command, io: CampaignCliIo = processIo): void {
  const cmd = program.command('campaign').description('firmware update campaigns: waves, thresholds that pause by themselves, per-device state');
  const common = apiClientOptions;
  common(
    cmd
      .command('create')
      .description('create a campaign (devices are snapshotted when it starts)')
      .requiredOption('--package <id>', 'package id in the firmware repository')
      .requiredOption('--target <target>', 'group:NAME, or a filter endpoint=GLOB,version=V,lwm2m=1.1,queue=true ...')
      .option('--canary <share>', 'share of the devices in the canary wave (default 5%)')
      .option('--waves <shares>', 'cumulative shares of the next waves (default 25%,50%,100%)')
      .option('--max-concurrent <n>', 'devices in flight at once (default 50)')
      .option('--success-threshold <share>', 'success rate a wave needs before the next starts (default 95%)')
      .option('--error-threshold <share>', 'error rate that pauses the campaign (default 5%)')
      .option('--min-sample <n>', 'finished devices before the error threshold applies (default 5)')
      .option('--max-attempts <n>', 'attempts per device for transient errors (default 3)')
      .option('--delivery <how>', 'pull (Package URI) or push (Package)', 'pull')
      .option('--scheme <scheme>', 'URI scheme devices pull from: coap, coaps, http, https'),
  ).action(async (flags: CreateFlags) => void (await campaignCreate(flags, io)));
  for (const action of ['start', 'pause', 'resume', 'cancel'] as const) {
    common(cmd.command(action).argument('<id>', 'campaign id').description(`${action} a campaign`)).action(
      async (id: string, flags: CampaignApiFlags) => void (await campaignAction(action, { ...flags, id }, io)),
    );
  }
  common(
    cmd
      .command('status')
      .argument('<id>', 'campaign id')
      .description('progress of a campaign (per-state counts, % done, failures)')
      .option('--watch', 'redraw until the campaign stops running')
      .option('--interval <ms>', 'ms between redraws (default 1000)')
      .option('--devices', 'a line per device')
      .option('--device <ep>', 'one device with its state history'),
  ).action(async (id: string, flags: CampaignApiFlags & { watch?: boolean; device?: string; devices?: boolean; interval?: string }) =>
    void (await campaignStatus({ ...flags, id }, io)));
  common(cmd.command('list').description('campaigns, newest first')).action((flags: CampaignApiFlags) => campaignList(flags, io));
}
