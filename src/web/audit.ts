/**
 * The audit log page: GET /api/audit with the filters endpoint, kind, actor, since, until and paging by offset, all kept
 * in the hash query (#/audit?endpoint=…&offset=…) so a view can be linked and survives a reload.
 */
import { call } from './api.js';
import { h, replace } from './dom.js';

/** One audit event (src/api/credentials.ts auditJson). */
export interface AuditJson {
  id: number;
  endpoint: string;
  kind: string;
  time: string;
  actor: string;
  detail?: Record<string, string | number | boolean>;
}

/** Rows per page. */
export const AUDIT_PAGE = 50;
const KINDS = ['created', 'used-first', 'rotated', 'revoked'];
const FILTERS = ['endpoint', 'kind', 'actor', 'since', 'until'] as const;
type Filter = (typeof FILTERS)[number];

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

/** Renders the audit log with the filters of `query` (the hash query); returns the clean-up. */
export function renderAudit(root: HTMLElement, query: URLSearchParams): () => void {
  let alive = true;
  const offset = Math.max(0, Number(query.get('offset')) || 0);
  const inputs: Record<Filter, HTMLInputElement | HTMLSelectElement> = {
    endpoint: h('input', { id: 'audit-endpoint', type: 'search', placeholder: 'endpoint', value: query.get('endpoint') ?? '' }),
    kind: h('select', { id: 'audit-kind' }, h('option', { value: '' }, 'any'), ...KINDS.map((k) => h('option', { value: k }, k))),
    actor: h('input', { id: 'audit-actor', placeholder: 'actor (rotation:* for a prefix)', value: query.get('actor') ?? '' }),
    since: h('input', { id: 'audit-since', type: 'datetime-local', value: isoToLocal(query.get('since') ?? '') }),
    until: h('input', { id: 'audit-until', type: 'datetime-local', value: isoToLocal(query.get('until') ?? '') }),
  };
  inputs.kind.value = query.get('kind') ?? '';
  const rows = h('tbody', { id: 'audit-rows' });
  const summary = h('span', { id: 'audit-summary', class: 'muted' });
  const prev = h('button', { id: 'audit-prev', type: 'button' }, '‹ Newer');
  const next = h('button', { id: 'audit-next', type: 'button' }, 'Older ›');
  const error = h('p', { class: 'error', role: 'alert', id: 'audit-error' });
  const apply = h('button', { id: 'audit-apply', type: 'submit' }, 'Filter');
  const clear = h('button', { id: 'audit-clear', type: 'button' }, 'Clear');

  /** The filters as the hash query and the API query (times as ISO instants). */
  const current = (): URLSearchParams => {
    const q = new URLSearchParams();
    for (const f of FILTERS) {
      const raw = inputs[f].value.trim();
      const v = f === 'since' || f === 'until' ? localToIso(raw) : raw;
      if (v !== '') q.set(f, v);
    }
    return q;
  };
  const go = (q: URLSearchParams, off: number): void => {
    if (off > 0) q.set('offset', String(off));
    const s = q.toString();
    location.hash = `#/audit${s ? `?${s}` : ''}`;
  };

  const form = h('form', { id: 'audit-filters', class: 'row' },
    h('label', {}, 'Endpoint', inputs.endpoint),
    h('label', {}, 'Kind', inputs.kind),
    h('label', {}, 'Actor', inputs.actor),
    h('label', {}, 'Since', inputs.since),
    h('label', {}, 'Until', inputs.until),
    apply, clear,
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
    for (const f of FILTERS) {
      const v = query.get(f);
      if (v) q.set(f, v);
    }
    q.set('limit', String(AUDIT_PAGE));
    q.set('offset', String(offset));
    try {
      const { data } = await call<AuditJson[]>('GET', `/api/audit?${q}`);
      if (!alive) return;
      error.textContent = '';
      replace(rows, ...data.map((e) =>
        h('tr', { 'data-audit': e.id, 'data-endpoint': e.endpoint, 'data-kind': e.kind },
          h('td', {}, new Date(e.time).toLocaleString()),
          h('td', {}, h('a', { href: `#/devices/${encodeURIComponent(e.endpoint)}` }, e.endpoint)),
          h('td', { class: 'audit-kind' }, e.kind),
          h('td', { class: 'audit-actor' }, e.actor),
          h('td', { class: 'mono' }, e.detail ? Object.entries(e.detail).map(([k, v]) => `${k}=${String(v)}`).join(' ') : ''),
        )));
      if (data.length === 0) replace(rows, h('tr', {}, h('td', { colspan: 5, class: 'muted' }, 'No event matches.')));
      summary.textContent = data.length === 0 ? (offset > 0 ? 'No more events.' : '') : `events ${offset + 1}–${offset + data.length}`;
      prev.disabled = offset === 0;
      next.disabled = data.length < AUDIT_PAGE;
    } catch (err) {
      if (alive) error.textContent = (err as Error).message;
    }
  };

  replace(root,
    h('section', { class: 'card' },
      h('div', { class: 'row' }, h('h1', {}, 'Audit log'), h('span', { class: 'muted' }, 'credential events: created, first used, rotated, revoked')),
      form,
      error,
      h('div', { class: 'row' }, summary, prev, next),
      h('table', { id: 'audit' },
        h('thead', {}, h('tr', {}, ...['Time', 'Endpoint', 'Kind', 'Actor', 'Detail'].map((t) => h('th', {}, t)))),
        rows,
      ),
    ),
  );
  void load();
  return () => {
    alive = false;
  };
}
