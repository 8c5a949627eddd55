/**
 * The device page's read-only panels: security info (GET /api/devices/:ep/security: never a key), firmware state
 * (/5/0 and /3/0/3 read from the device, and the device's firmware campaign records), and the event timeline
 * (GET /api/devices/:ep/timeline, then live events prepended). Everything shown is text.
 */
import { call, deviceUrl, HttpError } from './api.js';
import { h, replace } from './dom.js';
import type { LiveEvent } from './events.js';
import { isNode, resourceText, type DeviceResponseJson, type NodeJson } from './format.js';
import type { DeviceSecurityJson, TimelineEntryJson } from '../api/device-detail.js';
import type { DeviceCampaignRecord } from '../firmware/campaign-model.js';

/** One of the device's firmware campaign records as GET /api/devices/:ep/firmware answers it. */
type DeviceCampaignJson = Omit<DeviceCampaignRecord, 'updatedAt'> & { updatedAt: string };

const MODE_NAMES: Readonly<Record<string, string>> = { psk: 'Pre-shared key (PSK)', rpk: 'Raw public key (RPK)', x509: 'X.509 certificate' };

const when = (iso: string | null | undefined): string => (iso ? new Date(iso).toLocaleString() : '—');
const errorText = (err: unknown): string => (err instanceof HttpError ? `${err.status}: ${err.message}` : (err as Error).message);

/** A panel: its element, and `load()` to (re)fetch. */
export interface Panel {
  readonly element: HTMLElement;
  load(): Promise<void>;
}

/** Security info: mode, identity, fingerprint, certificate subject/serial/validity, credential age, pending rotation. */
export function securityPanel(endpoint: string): Panel {
  const body = h('dl', { id: 'security-info' });
  const note = h('p', { id: 'security-status', class: 'muted' }, 'loading…');
  const load = async (): Promise<void> => {
    try {
      const { data: s } = await call<DeviceSecurityJson>('GET', `/api/devices/${encodeURIComponent(endpoint)}/security`);
      const rows: [string, string, string][] = [['Mode', s.mode ? (MODE_NAMES[s.mode] ?? s.mode) : 'none (plain CoAP)', 'sec-mode']];
      if (s.pskIdentity !== undefined) rows.push(['PSK identity', s.pskIdentity, 'sec-identity']);
      if (s.rpkFingerprint !== undefined) rows.push(['Key fingerprint (SHA-256)', s.rpkFingerprint, 'sec-fingerprint']);
      if (s.certificate) {
        const c = s.certificate;
        rows.push(['Certificate subject', c.subject, 'sec-subject'], ['Certificate serial', c.serial, 'sec-serial'],
          ['Valid from', when(c.notBefore), 'sec-not-before'], ['Expires', when(c.notAfter), 'sec-not-after']);
        if (c.revokedAt) rows.push(['Revoked', when(c.revokedAt), 'sec-revoked']);
        if (s.certificates.length > 1) rows.push(['Certificates issued', String(s.certificates.length), 'sec-cert-count']);
      }
      if (s.registeredIdentity) rows.push(['Authenticated as', `${s.registeredIdentity.name} (${s.registeredIdentity.mode})`, 'sec-registered-identity']);
      rows.push(['Credential created', when(s.credentialCreatedAt), 'sec-created'], ['Rotation pending', s.pendingRotation ? 'yes' : 'no', 'sec-pending']);
      replace(body, ...rows.flatMap(([k, v, id]) => [h('dt', {}, k), h('dd', { id }, v)]));
      note.textContent = '';
    } catch (err) {
      replace(body);
      note.textContent = err instanceof HttpError && err.status === 404 ? 'No security info: the device uses plain CoAP or is unknown.' : errorText(err);
    }
  };
  return { element: h('section', { class: 'card', id: 'security-panel' }, h('h2', {}, 'Security'), note, body), load };
}

/** Firmware: /5/0 state, result, package name/version and /3/0/3 read from the device; the campaign records. */
export function firmwarePanel(endpoint: string): Panel & { refreshDevice(): Promise<void>; loadRecords(): Promise<void> } {
  const state = h('dl', { id: 'fw-state' });
  const note = h('p', { id: 'fw-status', class: 'muted' });
  const records = h('tbody', { id: 'fw-campaigns' });
  const refresh = h('button', { type: 'button', id: 'fw-refresh', class: 'small' }, 'Refresh');
  const STATES = ['Idle', 'Downloading', 'Downloaded', 'Updating'];
  const RESULTS: Readonly<Record<number, string>> = {
    0: 'Initial', 1: 'Success', 2: 'Not enough storage', 3: 'Out of memory', 4: 'Connection lost', 5: 'Integrity check failed',
    6: 'Unsupported package', 7: 'Invalid URI', 8: 'Update failed', 9: 'Unsupported protocol',
  };
  const value = async (path: string): Promise<string | undefined> => {
    const { data } = await call<DeviceResponseJson>('GET', deviceUrl(endpoint, path));
    if (!data.success) return `(${data.status})`;
    return isNode(data.content) && data.content.kind !== 'obj' && data.content.kind !== 'instance' ? resourceText(data.content) : undefined;
  };
  const refreshDevice = async (): Promise<void> => {
    note.textContent = 'reading…';
    try {
      const { data } = await call<DeviceResponseJson>('GET', deviceUrl(endpoint, '/5/0'));
      const res = new Map<number, string>();
      const node: NodeJson | undefined = isNode(data.content) ? data.content : undefined;
      if (node?.kind === 'instance') for (const r of node.resources) res.set(r.id, resourceText(r));
      const version = await value('/3/0/3').catch((e: unknown) => `(${errorText(e)})`);
      const st = res.get(3);
      const rs = res.get(5);
      replace(state,
        h('dt', {}, 'Firmware version (/3/0/3)'), h('dd', { id: 'fw-version' }, version ?? ''),
        h('dt', {}, 'State (/5/0/3)'), h('dd', { id: 'fw-update-state' }, st === undefined ? (data.success ? '' : data.status) : `${STATES[Number(st)] ?? st} (${st})`),
        h('dt', {}, 'Update result (/5/0/5)'), h('dd', { id: 'fw-update-result' }, rs === undefined ? '' : `${RESULTS[Number(rs)] ?? rs} (${rs})`),
        h('dt', {}, 'Package name (/5/0/6)'), h('dd', { id: 'fw-pkg-name' }, res.get(6) ?? ''),
        h('dt', {}, 'Package version (/5/0/7)'), h('dd', { id: 'fw-pkg-version' }, res.get(7) ?? ''),
      );
      note.textContent = `read ${new Date().toLocaleTimeString()}`;
    } catch (err) {
      note.textContent = errorText(err);
    }
  };
  const loadRecords = async (): Promise<void> => {
    try {
      const { data } = await call<DeviceCampaignJson[]>('GET', `/api/devices/${encodeURIComponent(endpoint)}/firmware`);
      replace(records, ...(data.length === 0
        ? [h('tr', {}, h('td', { colspan: 6, class: 'muted' }, 'No firmware campaign has included this device.'))]
        : data.map((c) => h('tr', { 'data-campaign': c.campaignId },
          h('td', {}, h('a', { href: `#/firmware/campaigns/${c.campaignId}` }, `#${c.campaignId}`)),
          h('td', {}, `${c.packageId} ${c.packageVersion}`), h('td', {}, c.state), h('td', {}, String(c.attempts)),
          h('td', {}, c.lastError ?? (c.updateResult === null ? '' : `result ${c.updateResult}`)), h('td', { class: 'muted' }, when(c.updatedAt))))));
    } catch (err) {
      replace(records, h('tr', {}, h('td', { colspan: 6, class: 'error' }, errorText(err))));
    }
  };
  refresh.addEventListener('click', () => void refreshDevice());
  const element = h('section', { class: 'card', id: 'firmware-panel' },
    h('div', { class: 'row' }, h('h2', {}, 'Firmware'), refresh, note), state,
    h('h3', {}, 'Campaigns'),
    h('table', {}, h('thead', {}, h('tr', {}, ...['Campaign', 'Package', 'State', 'Attempts', 'Last', 'Updated'].map((t) => h('th', {}, t)))), records));
  return {
    element,
    refreshDevice,
    loadRecords,
    load: async () => {
      await Promise.all([refreshDevice(), loadRecords()]);
    },
  };
}

/** A one-line summary of a live event for the timeline (device strings stay text). */
export function liveSummary(name: LiveEvent, data: unknown): string {
  const d = (data ?? {}) as Record<string, unknown>;
  const s = (v: unknown): string => (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : '');
  switch (name) {
    case 'REGISTRATION':
      return `registered (id ${s(d.registrationId)}) from ${s(d.address)}`;
    case 'UPDATED':
      return `registration updated (lifetime ${s(d.lifetime)} s)`;
    case 'SLEEPING':
      return 'sleeping (queue mode)';
    case 'AWAKE':
      return 'awake';
    case 'DEREGISTRATION':
      return 'deregistered';
    case 'NOTIFICATION': {
      const val = d.val;
      const text = isNode(val) && val.kind !== 'obj' && val.kind !== 'instance' ? ` = ${resourceText(val)}` : '';
      return `notification ${s(d.res)}${text} ${s(d.status)}`.trim();
    }
    case 'FIRMWARE':
      return `firmware campaign ${s(d.campaignId)}: ${s(d.state)}${d.lastError ? ` (${s(d.lastError)})` : ''}`;
    case 'ROTATION':
      return `rotation campaign ${s(d.campaignId)}: ${s(d.state)}${d.lastError ? ` (${s(d.lastError)})` : ''}`;
    case 'AUDIT':
      return `credential ${s(d.kind)} by ${s(d.actor)}`;
    default:
      return name.toLowerCase();
  }
}

/** The event timeline: persisted history newest first, live events prepended. */
export function timelinePanel(endpoint: string, limit = 100): Panel & { live(name: LiveEvent, data: unknown): void } {
  const rows = h('tbody', { id: 'timeline' });
  const note = h('p', { class: 'muted', id: 'timeline-status' });
  const row = (time: string, kind: string, source: string, summary: string, live = false): HTMLTableRowElement =>
    h('tr', { 'data-kind': kind, 'data-source': source, ...(live ? { class: 'live' } : {}) },
      h('td', { class: 'muted' }, new Date(time).toLocaleString()), h('td', {}, kind), h('td', { class: 'muted' }, source), h('td', {}, summary));
  const load = async (): Promise<void> => {
    try {
      const { data } = await call<TimelineEntryJson[]>('GET', `/api/devices/${encodeURIComponent(endpoint)}/timeline?limit=${limit}`);
      replace(rows, ...data.map((e) => row(e.time, e.kind, e.source, e.summary)));
      note.textContent = data.length === 0 ? 'Nothing recorded yet.' : '';
    } catch (err) {
      note.textContent = errorText(err);
    }
  };
  const live = (name: LiveEvent, data: unknown): void => {
    rows.prepend(row(new Date().toISOString(), name.toLowerCase(), 'live', liveSummary(name, data), true));
    while (rows.children.length > limit * 2) rows.lastElementChild?.remove();
    note.textContent = '';
  };
  const element = h('section', { class: 'card', id: 'timeline-panel' }, h('h2', {}, 'Timeline'), note,
    h('table', {}, h('thead', {}, h('tr', {}, ...['Time', 'Event', 'Source', 'Summary'].map((t) => h('th', {}, t)))), rows));
  return { element, load, live };
}
