/**
 * `warden credentials rotate --all|--group G|--endpoint E`, `warden credentials status [ID]`,
 * `warden credentials audit`, `warden credentials certificates [--endpoint E]` and
 * `warden credentials revoke --serial S|--endpoint E`: talk to the running Warden's REST API, because a campaign is driven by the process that
 * holds the DM and bootstrap servers (their DTLS associations reach the devices). The token comes from
 * WARDEN_API_TOKEN, `--token-file` or DATA/api-token (never argv). Nothing printed holds key material (the API never returns any).
 */
import type { Command } from 'commander';
import type { CertificateJson } from '../api/certificates.js';
import { apiClientOptions, callApi } from './api-client.js';

export interface CredentialsCliIo {
  out(line: string): void;
  err(line: string): void;
}

const processIo: CredentialsCliIo = {
  out: (line) => void process.stdout.write(line + '\n'),
  err: (line) => void process.stderr.write(line + '\n'),
};

export interface ApiFlags {
  /** Base URL of the REST API, e.g. http://127.0.0.1:8080. */
  api: string;
  tokenFile?: string;
  data: string;
}

export interface RotateFlags extends ApiFlags {
  all?: boolean;
  group?: string;
  endpoint?: string;
  concurrency?: string;
  maxAttempts?: string;
}


async function api(flags: ApiFlags, method: string, path: string, body?: unknown): Promise<unknown> {
  return (await callApi(flags, method, path, body)).json;
}

interface Summary {
  id: number;
  target: Record<string, unknown>;
  state: string;
  counts: Record<string, number>;
  createdAt: number;
}
interface Device {
  endpoint: string;
  state: string;
  attempts: number;
  newIdentity: string | null;
  lastError: string | null;
}

const targetText = (t: Record<string, unknown>) =>
  'all' in t ? 'all' : 'group' in t ? `group ${String(t.group)}` : Array.isArray(t.endpoints) ? `endpoints ${t.endpoints.join(',')}` : `endpoint ${String(t.endpoint)}`;
const countsText = (c: Record<string, number>) => Object.entries(c).map(([k, v]) => `${k}=${v}`).join(' ');

function positiveInt(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) < 1) throw new Error(`${name} must be a positive integer`);
  return Number(v);
}

/** `warden credentials rotate`: starts a campaign and prints its id. */
export async function credentialsRotate(flags: RotateFlags, io: CredentialsCliIo = processIo): Promise<number> {
  const chosen = [flags.all ? 'all' : undefined, flags.group, flags.endpoint].filter((v) => v !== undefined);
  if (chosen.length !== 1) throw new Error('give exactly one of --all, --group G, --endpoint E');
  const body: Record<string, unknown> = flags.all ? { all: true } : flags.group !== undefined ? { group: flags.group } : { endpoint: flags.endpoint };
  const concurrency = positiveInt(flags.concurrency, '--concurrency');
  const maxAttempts = positiveInt(flags.maxAttempts, '--max-attempts');
  if (concurrency !== undefined) body.concurrency = concurrency;
  if (maxAttempts !== undefined) body.maxAttempts = maxAttempts;
  const s = (await api(flags, 'POST', '/api/credentials/rotations', body)) as Summary;
  io.out(`rotation ${s.id} started (${targetText(s.target)}): ${countsText(s.counts)}`);
  return s.id;
}

/** `warden credentials status [ID]`: all campaigns, or one with a line per device (endpoint, state, attempts, error). */
export async function credentialsStatus(flags: ApiFlags & { id?: string }, io: CredentialsCliIo = processIo): Promise<void> {
  if (flags.id === undefined) {
    const list = (await api(flags, 'GET', '/api/credentials/rotations')) as Summary[];
    if (list.length === 0) io.out('no rotation campaigns');
    for (const s of list) io.out([s.id, s.state, targetText(s.target), countsText(s.counts)].join('\t'));
    return;
  }
  const id = positiveInt(flags.id, 'ID');
  const s = (await api(flags, 'GET', `/api/credentials/rotations/${id}`)) as Summary & { devices: Device[] };
  io.out(`rotation ${s.id} ${s.state} (${targetText(s.target)}): ${countsText(s.counts)}`);
  for (const d of s.devices) io.out([d.endpoint, d.state, `attempts=${d.attempts}`, d.lastError ?? ''].join('\t').trimEnd());
}

/** Filters of `warden credentials audit` (the query of GET /api/audit). */
export interface AuditFlags {
  endpoint?: string;
  kind?: string;
  actor?: string;
  since?: string;
  until?: string;
  limit?: string;
  offset?: string;
}

/** `warden credentials audit`: credential events, newest first. */
export async function credentialsAudit(flags: ApiFlags & AuditFlags, io: CredentialsCliIo = processIo): Promise<void> {
  const q = new URLSearchParams();
  for (const k of ['endpoint', 'kind', 'actor', 'since', 'until', 'limit', 'offset'] as const) if (flags[k] !== undefined) q.set(k, flags[k]!);
  const events = (await api(flags, 'GET', `/api/audit?${q.toString()}`)) as { time: string; endpoint: string; kind: string; actor: string; detail?: Record<string, unknown> }[];
  if (events.length === 0) io.out('no credential events');
  for (const e of events) io.out([e.time, e.endpoint, e.kind, e.actor, e.detail ? JSON.stringify(e.detail) : ''].join('\t').trimEnd());
}


/** Rows as columns padded to their widest cell (the last column unpadded). */
export function formatTable(rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd());
}

/** `warden credentials certificates`: the certificates Warden's CA issued, newest first, as a table. */
export async function credentialsCertificates(flags: ApiFlags & { endpoint?: string; limit?: string }, io: CredentialsCliIo = processIo): Promise<void> {
  const q = new URLSearchParams();
  if (flags.endpoint !== undefined) q.set('endpoint', flags.endpoint);
  const limit = positiveInt(flags.limit, '--limit');
  if (limit !== undefined) q.set('limit', String(limit));
  const certs = (await api(flags, 'GET', `/api/certificates?${q.toString()}`)) as CertificateJson[];
  if (certs.length === 0) {
    io.out('no certificates');
    return;
  }
  const when = (iso: string | null) => (iso === null ? '-' : iso.replace(/\.\d{3}Z$/, 'Z'));
  const rows = [['SERIAL', 'ENDPOINT', 'ISSUED', 'NOT AFTER', 'REVOKED']];
  for (const c of certs) rows.push([c.serial, c.endpoint, when(c.issuedAt), when(c.notAfter), when(c.revokedAt)]);
  for (const line of formatTable(rows)) io.out(line);
}

/** `warden credentials revoke --serial S | --endpoint E`: revokes through the API; returns how many were revoked. */
export async function credentialsRevoke(flags: ApiFlags & { serial?: string; endpoint?: string }, io: CredentialsCliIo = processIo): Promise<number> {
  if ((flags.serial === undefined) === (flags.endpoint === undefined)) throw new Error('give exactly one of --serial S, --endpoint E');
  const r = (flags.serial !== undefined
    ? await api(flags, 'POST', `/api/certificates/${encodeURIComponent(flags.serial)}/revoke`)
    : await api(flags, 'POST', '/api/certificates/revoke', { endpoint: flags.endpoint })) as { revoked: number; serials: string[]; closed: number };
  io.out(`revoked ${r.revoked} certificate${r.revoked === 1 ? '' : 's'}${r.serials.length ? ': ' + r.serials.join(' ') : ''}`);
  if (r.closed > 0) io.out(`closed ${r.closed} DTLS session${r.closed === 1 ? '' : 's'} opened with ${r.revoked === 1 ? 'it' : 'them'}`);
  return r.revoked;
}

/** Adds `credentials rotate|status|audit|certificates|revoke` to the program. */
export function registerCredentialsCommands(program: Command, io: CredentialsCliIo = processIo): void {
  const cmd = program.command('credentials').description('rotate device credentials across the fleet and read the credential audit log');
  const common = apiClientOptions;
  common(
    cmd
      .command('rotate')
      .description('start a rotation campaign: each device gets a new PSK, proves it, then the old one is removed')
      .option('--all', 'every PSK device')
      .option('--group <name>', 'the devices of a bootstrap group')
      .option('--endpoint <name>', 'one device')
      .option('--concurrency <n>', 'devices rotated at once')
      .option('--max-attempts <n>', 'deliveries per device before it is marked failed (it keeps a working credential)'),
  ).action(async (flags: RotateFlags) => void (await credentialsRotate(flags, io)));
  common(cmd.command('status').argument('[id]', 'campaign id').description('list campaigns, or show one campaign per device')).action(
    (id: string | undefined, flags: ApiFlags) => credentialsStatus({ ...flags, ...(id !== undefined ? { id } : {}) }, io),
  );
  common(
    cmd
      .command('audit')
      .description('credential events (created, used-first, rotated, revoked); never any key')
      .option('--endpoint <name>', 'one device')
      .option('--kind <kind>', 'created | used-first | rotated | revoked')
      .option('--actor <actor>', 'who caused it (a trailing * matches a prefix: rotation:*)')
      .option('--since <time>', 'epoch ms or ISO 8601')
      .option('--until <time>', 'epoch ms or ISO 8601 (exclusive)')
      .option('--limit <n>', 'at most this many (default 100)')
      .option('--offset <n>', 'skip this many matching events (paging)'),
  ).action((flags: ApiFlags & AuditFlags) => credentialsAudit(flags, io));
  common(
    cmd
      .command('certificates')
      .description('certificates issued by Warden\'s device CA, newest first (serial, endpoint, dates, revocation); never a key')
      .option('--endpoint <name>', 'one device')
      .option('--limit <n>', 'at most this many (default 100, at most 1000)'),
  ).action((flags: ApiFlags & { endpoint?: string; limit?: string }) => credentialsCertificates(flags, io));
  common(
    cmd
      .command('revoke')
      .description('revoke certificates issued by Warden\'s CA: they enter the CRL, their DTLS sessions end, and the audit log records it')
      .option('--serial <hex>', 'one certificate, by serial number (hex, as `certificates` lists it)')
      .option('--endpoint <name>', 'every unrevoked certificate of a device'),
  ).action(async (flags: ApiFlags & { serial?: string; endpoint?: string }) => void (await credentialsRevoke(flags, io)));
}
