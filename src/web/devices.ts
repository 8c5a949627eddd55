/**
 * The device list: GET /api/devices filters and pages on the server (search, online, queue mode, firmware version,
 * security mode, credential age; the total in X-Total-Count). Every filter lives in the hash query
 * (`#/devices?search=..&online=false&..`), so a reload keeps it. Refreshed live, throttled, on registration events.
 */
import { call } from './api.js';
import { h, replace } from './dom.js';
import { subscribe } from './events.js';

import type { DeviceJson } from '../api/devices.js';
import type { RegistrationJson } from '../api/registration-json.js';

export type { DeviceJson, RegistrationJson };

/** Rows per page. */
export const PAGE_SIZE = 25;

/** The filters the list sends to /api/devices, by query parameter; '' is "any". */
const FILTERS = ['search', 'online', 'queueMode', 'firmwareVersion', 'securityMode', 'credentialOlderThan'] as const;
type Filter = (typeof FILTERS)[number];

/** Renders the list into `root` from the hash query `initial`; returns the clean-up (closes the event stream). */
export function renderDevices(root: HTMLElement, initial: URLSearchParams): () => void {
  const state: Record<Filter, string> = Object.fromEntries(FILTERS.map((f) => [f, initial.get(f) ?? ''])) as Record<Filter, string>;
  let offset = Math.max(0, Number(initial.get('offset')) || 0);
  let seq = 0;

  const input = h('input', { id: 'device-search', type: 'search', placeholder: 'Search endpoints…', value: state.search, 'aria-label': 'Search endpoints' });
  const choice = (id: string, label: string, options: [string, string][]): HTMLSelectElement => {
    const sel = h('select', { id, 'aria-label': label }, ...options.map(([value, text]) => h('option', { value }, text)));
    return sel;
  };
  const online = choice('filter-online', 'Online', [['', 'Online: any'], ['true', 'Online'], ['false', 'Offline']]);
  const queue = choice('filter-queue', 'Queue mode', [['', 'Queue mode: any'], ['true', 'Queue mode'], ['false', 'Not queue mode']]);
  const firmware = choice('filter-firmware', 'Firmware version', [['', 'Firmware: any']]);
  const security = choice('filter-security', 'Security mode', [['', 'Security: any'], ['psk', 'PSK'], ['rpk', 'RPK'], ['x509', 'X.509'], ['none', 'NoSec']]);
  const age = h('input', { id: 'filter-age', type: 'number', min: 0, step: 1, placeholder: 'days', value: state.credentialOlderThan, 'aria-label': 'Credential older than (days)', class: 'days-input' });
  const clear = h('button', { id: 'filter-clear', type: 'button', class: 'small' }, 'Clear filters');
  const controls: Partial<Record<Filter, HTMLInputElement | HTMLSelectElement>> = {
    search: input, online, queueMode: queue, firmwareVersion: firmware, securityMode: security, credentialOlderThan: age,
  };
  for (const f of FILTERS) controls[f]!.value = state[f];

  const body = h('tbody', { id: 'device-rows' });
  const summary = h('span', { id: 'device-summary' });
  const prev = h('button', { id: 'page-prev', type: 'button' }, '‹ Previous');
  const next = h('button', { id: 'page-next', type: 'button' }, 'Next ›');
  const live = h('span', { id: 'live-state', class: 'muted' }, 'connecting…');
  const lastEvent = h('span', { id: 'last-event', class: 'muted' });
  const error = h('p', { class: 'error', role: 'alert' });

  const hashQuery = (): URLSearchParams => {
    const q = new URLSearchParams();
    for (const f of FILTERS) if (state[f] !== '') q.set(f, state[f]);
    if (offset > 0) q.set('offset', String(offset));
    return q;
  };

  const load = async (): Promise<void> => {
    const mine = ++seq;
    const q = hashQuery();
    q.set('offset', String(offset));
    q.set('limit', String(PAGE_SIZE));
    try {
      const { data, headers } = await call<DeviceJson[]>('GET', `/api/devices?${q}`);
      if (mine !== seq) return;
      error.textContent = '';
      const total = Number(headers.get('x-total-count') ?? data.length);
      replace(body, ...data.map(row));
      const filtered = FILTERS.some((f) => state[f] !== '');
      if (data.length === 0) replace(body, h('tr', {}, h('td', { colspan: 8, class: 'muted' }, filtered ? 'No device matches.' : 'No device known.')));
      summary.textContent = total === 0 ? '0 devices' : `${offset + 1}–${offset + data.length} of ${total}`;
      prev.disabled = offset === 0;
      next.disabled = offset + data.length >= total;
      const hq = hashQuery().toString();
      history.replaceState(null, '', `#/devices${hq ? `?${hq}` : ''}`);
    } catch (err) {
      if (mine === seq) error.textContent = (err as Error).message;
    }
  };

  const loadVersions = async (): Promise<void> => {
    try {
      const { data } = await call<{ version: string; count: number }[]>('GET', '/api/devices/firmware-versions');
      const chosen = state.firmwareVersion;
      const options = [h('option', { value: '' }, 'Firmware: any'), ...data.map((v) => h('option', { value: v.version }, `${v.version} (${v.count})`))];
      // A version chosen in the hash that no device runs any more stays selectable.
      if (chosen !== '' && !data.some((v) => v.version === chosen)) options.push(h('option', { value: chosen }, `${chosen} (0)`));
      replace(firmware, ...options);
      firmware.value = chosen;
    } catch (err) {
      error.textContent = (err as Error).message;
    }
  };

  let debounce: ReturnType<typeof setTimeout> | undefined;
  const later = (ms: number): void => {
    clearTimeout(debounce);
    debounce = setTimeout(() => void load(), ms);
  };
  const changed = (f: Filter, value: string, ms: number): void => {
    state[f] = value.trim();
    offset = 0;
    later(ms);
  };
  input.addEventListener('input', () => changed('search', input.value, 250));
  age.addEventListener('input', () => changed('credentialOlderThan', /^\d+$/.test(age.value.trim()) ? age.value : '', 250));
  for (const [f, sel] of [['online', online], ['queueMode', queue], ['firmwareVersion', firmware], ['securityMode', security]] as const) {
    sel.addEventListener('change', () => changed(f, sel.value, 0));
  }
  clear.addEventListener('click', () => {
    for (const f of FILTERS) {
      state[f] = '';
      controls[f]!.value = '';
    }
    offset = 0;
    void load();
  });
  prev.addEventListener('click', () => {
    offset = Math.max(0, offset - PAGE_SIZE);
    void load();
  });
  next.addEventListener('click', () => {
    offset += PAGE_SIZE;
    void load();
  });

  // Live: at most one reload per second however many devices register at once.
  let throttle: ReturnType<typeof setTimeout> | undefined;
  let versionsStale = false;
  // DEVICE: an entry changed (registration, credential, firmware version); SLEEPING/AWAKE: queue-mode state.
  const close = subscribe(['DEVICE', 'SLEEPING', 'AWAKE'], (name, data) => {
    const ep = (data as { endpoint?: unknown }).endpoint;
    lastEvent.textContent = `${name} ${typeof ep === 'string' ? ep : ''}`;
    if (name === 'DEVICE') versionsStale = true;
    if (throttle !== undefined) return;
    throttle = setTimeout(() => {
      throttle = undefined;
      if (versionsStale) {
        versionsStale = false;
        void loadVersions();
      }
      void load();
    }, 1000);
  }, undefined, (open) => {
    live.textContent = open ? '● live' : 'reconnecting…';
  });

  replace(root,
    h('section', { class: 'card' },
      h('div', { class: 'row' }, h('h1', {}, 'Devices'), live, lastEvent),
      h('div', { class: 'row', id: 'device-filters' },
        input, online, queue, firmware, security,
        h('label', { class: 'inline' }, 'Credential older than', age, 'days'), clear),
      h('div', { class: 'row' }, summary, prev, next),
      error,
      h('table', { id: 'devices' },
        h('thead', {}, h('tr', {}, ...['Endpoint', 'State', 'Address', 'LwM2M', 'Security', 'Credential age', 'Firmware', 'Last seen'].map((t) => h('th', {}, t)))),
        body,
      ),
    ),
  );
  void loadVersions();
  void load();
  input.focus();
  return () => {
    clearTimeout(debounce);
    clearTimeout(throttle);
    seq++;
    close();
  };
}

const SECURITY_LABELS: Record<string, string> = { psk: 'PSK', rpk: 'RPK', x509: 'X.509', nosec: 'NoSec' };

/** "3 d", "5 h", "just now": how long ago `iso` was. */
export function ageOf(iso: string | undefined, now = Date.now()): string {
  if (iso === undefined) return '—';
  const ms = Math.max(0, now - Date.parse(iso));
  const days = Math.floor(ms / 86_400_000);
  if (days > 0) return `${days} d`;
  const hours = Math.floor(ms / 3_600_000);
  return hours > 0 ? `${hours} h` : 'today';
}

function row(d: DeviceJson): HTMLTableRowElement {
  const state = !d.online ? 'offline' : d.sleeping ? 'sleeping' : 'online';
  return h('tr', { 'data-endpoint': d.endpoint, 'data-online': String(d.online), class: d.online ? undefined : 'offline' },
    h('td', {}, h('a', { href: `#/devices/${encodeURIComponent(d.endpoint)}`, class: 'device-link' }, d.endpoint)),
    h('td', { class: 'device-state' }, state + (d.queueMode ? ' (queue)' : '')),
    h('td', {}, d.address ?? '—'),
    h('td', {}, d.lwM2mVersion ?? '—'),
    h('td', { class: 'device-security' }, d.securityMode === undefined ? '—' : (SECURITY_LABELS[d.securityMode] ?? d.securityMode)),
    h('td', { class: 'device-credential-age', title: d.credentialCreatedAt ?? '' }, ageOf(d.credentialCreatedAt)),
    h('td', { class: 'device-firmware' }, d.firmwareVersion ?? '—'),
    h('td', { class: 'device-seen' }, d.lastUpdate !== undefined ? new Date(d.lastUpdate).toLocaleString() : d.lastSeen !== undefined ? `offline since ${new Date(d.lastSeen).toLocaleString()}` : '—'),
  );
}
