/**
 * The audit pages, one mechanism for both logs: credential events (GET /api/audit, #/audit) and, for admins, the
 * state-changing API requests (GET /api/audit/requests, #/audit/requests). Filters and the page offset live in the
 * hash query so a view can be linked and survives a reload; AUDIT events reload the first page live.
 */
import { call } from './api.js';
import { h, replace } from './dom.js';
import { subscribe } from './events.js';
import type { RequestAuditEntry } from '../store/request-audit.js';

/** One audit event (src/api/credentials.ts auditJson). */
export interface AuditJson {
  id: number;
  endpoint: string;
  kind: string;
  time: string;
  actor: string;
  detail?: Record<string, string | number | boolean>;
}

/** One audited API request (src/api/request-audit.ts requestAuditJson). */
export type RequestAuditJson = Omit<RequestAuditEntry, 'time'> & { time: string };

/** Rows per page. */
export const AUDIT_PAGE = 50;
/** Live reloads at most this often (a burst of audited requests reloads once). */
const RELOAD_MS = 1000;

type Input = HTMLInputElement | HTMLSelectElement;

/** A filter: its query name, label and input; `time` filters travel as ISO instants. */
interface Filter {
  name: string;
  label: string;
  input: (value: string) => Input;
  time?: boolean;
}

/** What differs between the two logs. */
interface LogSpec<T> {
  hash: string;
  api: string;
  title: string;
  note: string;
  filters: readonly Filter[];
  columns: readonly string[];
  row(e: T): HTMLTableRowElement;
  /** Which AUDIT events concern this log. */
  source: 'credential' | 'request';
}

const text = (name: string, label: string, placeholder: string, type = 'search'): Filter => ({
  name, label, input: (v) => h('input', { id: `audit-${name}`, type, placeholder, value: v }),
});
const choice = (name: string, label: string, options: readonly string[]): Filter => ({
  name, label,
  input: (v) => {
    const s = h('select', { id: `audit-${name}` }, h('option', { value: '' }, 'any'), ...options.map((o) => h('option', { value: o }, o)));
    s.value = v;
    return s;
  },
});
const time = (name: string, label: string): Filter => ({
  name, label, time: true, input: (v) => h('input', { id: `audit-${name}`, type: 'datetime-local', value: isoToLocal(v) }),
});

const CREDENTIAL_LOG: LogSpec<AuditJson> = {
  hash: '#/audit', api: '/api/audit', title: 'Audit log', note: 'credential events: created, first used, rotated, revoked', source: 'credential',
  filters: [
    text('endpoint', 'Endpoint', 'endpoint'), choice('kind', 'Kind', ['created', 'used-first', 'rotated', 'revoked']),
    text('actor', 'Actor', 'actor (rotation:* for a prefix)', 'text'), time('since', 'Since'), time('until', 'Until'),
  ],
  columns: ['Time', 'Endpoint', 'Kind', 'Actor', 'Detail'],
  row: (e) => h('tr', { 'data-audit': e.id, 'data-endpoint': e.endpoint, 'data-kind': e.kind },
    h('td', {}, new Date(e.time).toLocaleString()),
    h('td', {}, h('a', { href: `#/devices/${encodeURIComponent(e.endpoint)}` }, e.endpoint)),
    h('td', { class: 'audit-kind' }, e.kind),
    h('td', { class: 'audit-actor' }, e.actor),
    h('td', { class: 'mono' }, e.detail ? Object.entries(e.detail).map(([k, v]) => `${k}=${String(v)}`).join(' ') : ''),
  ),
};

const REQUEST_LOG: LogSpec<RequestAuditJson> = {
  hash: '#/audit/requests', api: '/api/audit/requests', title: 'API requests', note: 'every change made through the API, refusals included', source: 'request',
  filters: [
    text('actor', 'User', 'user name', 'text'), choice('method', 'Method', ['POST', 'PUT', 'DELETE']), text('path', 'Path', '/api/firmware', 'text'),
    choice('status', 'Status', ['2xx', '4xx', '5xx']), time('since', 'Since'), time('until', 'Until'),
  ],
  columns: ['Time', 'User', 'Via', 'Request', 'Status', 'Address'],
  row: (e) => h('tr', { 'data-audit': e.id, 'data-status': e.status, 'data-actor': e.actor },
    h('td', {}, new Date(e.time).toLocaleString()),
    h('td', { class: 'audit-actor' }, e.actor || '—'),
    h('td', {}, e.via),
    h('td', { class: 'mono' }, `${e.method} ${e.path}`),
    h('td', { class: e.status >= 400 ? 'error' : '' }, e.status),
    h('td', { class: 'mono' }, e.address),
  ),
};

/** `YYYY-MM-DDTHH:MM` of a datetime-local input as an ISO instant (the browser's time zone), or '' if empty/invalid. */
function localToIso(v: string): string {
  if (v === '') return '';
  const t = new Date(v).getTime();
  return Number.isFinite(t) ? new Date(t).toISOString() : '';
}

/** An ISO instant as the value of a datetime-local input (local time, minutes). */
function isoToLocal(v: string): string {
  const t = Date.parse(v);
  if (!Number.isFinite(t)) return '';
  const d = new Date(t - new Date(t).getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 16);
}

/** The credential audit (`requests`: the API request audit) with the filters of `query`; returns the clean-up. */
export function renderAudit(root: HTMLElement, query: URLSearchParams, opts: { requests?: boolean; admin?: boolean } = {}): () => void {
  return opts.requests ? renderLog(root, query, REQUEST_LOG, opts.admin === true) : renderLog(root, query, CREDENTIAL_LOG, opts.admin === true);
}

function renderLog<T>(root: HTMLElement, query: URLSearchParams, spec: LogSpec<T>, admin: boolean): () => void {
  let alive = true;
  let due: ReturnType<typeof setTimeout> | undefined;
  const offset = Math.max(0, Number(query.get('offset')) || 0);
  const inputs = spec.filters.map((f) => [f, f.input(query.get(f.name) ?? '')] as const);
  const rows = h('tbody', { id: 'audit-rows' });
  const summary = h('span', { id: 'audit-summary', class: 'muted' });
  const prev = h('button', { id: 'audit-prev', type: 'button' }, '‹ Newer');
  const next = h('button', { id: 'audit-next', type: 'button' }, 'Older ›');
  const error = h('p', { class: 'error', role: 'alert', id: 'audit-error' });
  const live = h('span', { id: 'live-state', class: 'muted' }, offset === 0 ? 'connecting…' : '');
  const clear = h('button', { id: 'audit-clear', type: 'button' }, 'Clear');

  /** The filters as the hash query and the API query (times as ISO instants). */
  const current = (): URLSearchParams => {
    const q = new URLSearchParams();
    for (const [f, input] of inputs) {
      const raw = input.value.trim();
      const v = f.time ? localToIso(raw) : raw;
      if (v !== '') q.set(f.name, v);
    }
    return q;
  };
  const go = (q: URLSearchParams, off: number): void => {
    if (off > 0) q.set('offset', String(off));
    const s = q.toString();
    location.hash = `${spec.hash}${s ? `?${s}` : ''}`;
  };

  const form = h('form', { id: 'audit-filters', class: 'row' },
    ...inputs.map(([f, input]) => h('label', {}, f.label, input)),
    h('button', { id: 'audit-apply', type: 'submit' }, 'Filter'), clear,
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    go(current(), 0);
  });
  clear.addEventListener('click', () => go(new URLSearchParams(), 0));
  prev.addEventListener('click', () => go(current(), Math.max(0, offset - AUDIT_PAGE)));
  next.addEventListener('click', () => go(current(), offset + AUDIT_PAGE));

  const load = async (): Promise<void> => {
    const q = new URLSearchParams();
    for (const f of spec.filters) {
      const v = query.get(f.name);
      if (v) q.set(f.name, v);
    }
    q.set('limit', String(AUDIT_PAGE));
    q.set('offset', String(offset));
    try {
      const { data } = await call<T[]>('GET', `${spec.api}?${q}`);
      if (!alive) return;
      error.textContent = '';
      replace(rows, ...data.map(spec.row));
      if (data.length === 0) replace(rows, h('tr', {}, h('td', { colspan: spec.columns.length, class: 'muted' }, 'Nothing matches.')));
      summary.textContent = data.length === 0 ? (offset > 0 ? 'No more entries.' : '') : `entries ${offset + 1}–${offset + data.length}`;
      prev.disabled = offset === 0;
      next.disabled = data.length < AUDIT_PAGE;
    } catch (err) {
      if (alive) error.textContent = (err as Error).message;
    }
  };

  // Only the first page follows the log: further pages would shift under the reader.
  const close = offset > 0 ? () => {} : subscribe(['AUDIT'], (_name, data) => {
    if ((data as { source?: string }).source !== spec.source || due !== undefined) return;
    due = setTimeout(() => {
      due = undefined;
      void load();
    }, RELOAD_MS);
  }, undefined, (open) => {
    live.textContent = open ? '● live' : 'reconnecting…';
  });

  const tabs = admin
    ? h('nav', { class: 'tabs' },
      h('a', { href: '#/audit', id: 'audit-tab-credentials', class: spec.source === 'credential' ? 'active' : '' }, 'Credential events'), ' ',
      h('a', { href: '#/audit/requests', id: 'audit-tab-requests', class: spec.source === 'request' ? 'active' : '' }, 'API requests'))
    : null;
  replace(root,
    h('section', { class: 'card' },
      h('div', { class: 'row' }, h('h1', {}, spec.title), live, h('span', { class: 'muted' }, spec.note)),
      tabs,
      form,
      error,
      h('div', { class: 'row' }, summary, prev, next),
      h('table', { id: 'audit' },
        h('thead', {}, h('tr', {}, ...spec.columns.map((t) => h('th', {}, t)))),
        rows,
      ),
    ),
  );
  void load();
  return () => {
    alive = false;
    clearTimeout(due);
    close();
  };
}
