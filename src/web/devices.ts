/**
 * The device list: GET /api/clients pages on the server (`offset`, `limit`, `search`; the total in X-Total-Count),
 * refreshed live on REGISTRATION, UPDATED and DEREGISTRATION events.
 */
import { call } from './api.js';
import { h, replace } from './dom.js';
import { subscribe } from './events.js';

import type { RegistrationJson } from '../api/registration-json.js';

export type { RegistrationJson };

/** Rows per page. */
export const PAGE_SIZE = 25;

/** Renders the list into `root`, starting at `search`/`offset`; returns the clean-up (closes the event stream). */
export function renderDevices(root: HTMLElement, initial: { search: string; offset: number }): () => void {
  let search = initial.search;
  let offset = initial.offset;
  let seq = 0;
  const input = h('input', { id: 'device-search', type: 'search', placeholder: 'Search endpoints…', value: search, 'aria-label': 'Search endpoints' });
  const body = h('tbody', { id: 'device-rows' });
  const summary = h('span', { id: 'device-summary' });
  const prev = h('button', { id: 'page-prev', type: 'button' }, '‹ Previous');
  const next = h('button', { id: 'page-next', type: 'button' }, 'Next ›');
  const live = h('span', { id: 'live-state', class: 'muted' }, 'connecting…');
  const lastEvent = h('span', { id: 'last-event', class: 'muted' });
  const error = h('p', { class: 'error', role: 'alert' });

  const load = async (): Promise<void> => {
    const mine = ++seq;
    const q = new URLSearchParams({ offset: String(offset), limit: String(PAGE_SIZE) });
    if (search !== '') q.set('search', search);
    try {
      const { data, headers } = await call<RegistrationJson[]>('GET', `/api/clients?${q}`);
      if (mine !== seq) return;
      error.textContent = '';
      const total = Number(headers.get('x-total-count') ?? data.length);
      replace(body, ...data.map(row));
      if (data.length === 0) replace(body, h('tr', {}, h('td', { colspan: 7, class: 'muted' }, search ? 'No device matches.' : 'No device registered.')));
      summary.textContent = total === 0 ? '0 devices' : `${offset + 1}–${offset + data.length} of ${total}`;
      prev.disabled = offset === 0;
      next.disabled = offset + data.length >= total;
      history.replaceState(null, '', `#/devices?${new URLSearchParams({ search, offset: String(offset) })}`);
    } catch (err) {
      if (mine === seq) error.textContent = (err as Error).message;
    }
  };

  let debounce: ReturnType<typeof setTimeout> | undefined;
  const later = (ms: number): void => {
    clearTimeout(debounce);
    debounce = setTimeout(() => void load(), ms);
  };
  input.addEventListener('input', () => {
    search = input.value.trim();
    offset = 0;
    later(250);
  });
  prev.addEventListener('click', () => {
    offset = Math.max(0, offset - PAGE_SIZE);
    void load();
  });
  next.addEventListener('click', () => {
    offset += PAGE_SIZE;
    void load();
  });

  const close = subscribe(['REGISTRATION', 'UPDATED', 'DEREGISTRATION', 'SLEEPING', 'AWAKE'], (name, data) => {
    const ep = (data as { endpoint?: unknown }).endpoint;
    lastEvent.textContent = `${name} ${typeof ep === 'string' ? ep : ''}`;
    later(300);
  }, undefined, (open) => {
    live.textContent = open ? '● live' : 'reconnecting…';
  });

  replace(root,
    h('section', { class: 'card' },
      h('div', { class: 'row' }, h('h1', {}, 'Devices'), live, lastEvent),
      h('div', { class: 'row' }, input, summary, prev, next),
      error,
      h('table', { id: 'devices' },
        h('thead', {}, h('tr', {}, ...['Endpoint', 'Address', 'LwM2M', 'Binding', 'Lifetime (s)', 'Last update', 'State'].map((t) => h('th', {}, t)))),
        body,
      ),
    ),
  );
  void load();
  input.focus();
  return () => {
    clearTimeout(debounce);
    seq++;
    close();
  };
}

function row(r: RegistrationJson): HTMLTableRowElement {
  return h('tr', { 'data-endpoint': r.endpoint },
    h('td', {}, h('a', { href: `#/devices/${encodeURIComponent(r.endpoint)}`, class: 'device-link' }, r.endpoint)),
    h('td', {}, r.address),
    h('td', {}, r.lwM2mVersion),
    h('td', {}, r.bindingMode + (r.queueMode ? ' (queue)' : '')),
    h('td', {}, r.lifetime),
    h('td', {}, new Date(r.lastUpdate).toLocaleString()),
    h('td', {}, r.sleeping ? 'sleeping' : 'online'),
  );
}
