/**
 * The credentials pages: the chart of credential age across the fleet (GET /api/credentials/age), rotation campaigns
 * (GET/POST /api/credentials/rotations) and one campaign's progress and device states, kept live by ROTATION events
 * (`kind: "campaign"` summaries and `kind: "device"` moves).
 */
import { call } from './api.js';
import { h, replace, svg } from './dom.js';
import { subscribe } from './events.js';
import { renderCampaignView, type TransitionJson } from './campaign-view.js';

/** Device states of a rotation, in chart order (src/bootstrap/rotation.ts DeviceRotationState). */
export const ROTATION_STATES = ['queued', 'prepared', 'delivered', 'done', 'failed'] as const;
export type RotationState = (typeof ROTATION_STATES)[number];

/** A rotation campaign summary (src/bootstrap/rotation.ts CampaignSummary). */
export interface RotationJson {
  id: number;
  target: { all?: true; group?: string; endpoint?: string; endpoints?: string[] };
  state: 'running' | 'finished';
  actor: string;
  createdAt: number;
  updatedAt: number;
  concurrency: number;
  maxAttempts: number;
  counts: Record<RotationState, number>;
}

/** One device of a campaign (DeviceRotation; ROTATION device events add campaignId and kind). */
export interface RotationDeviceJson {
  campaignId?: number;
  endpoint: string;
  state: RotationState;
  attempts: number;
  newIdentity: string | null;
  lastError: string | null;
  updatedAt: number;
}

/** GET /api/credentials/age. */
export interface AgeJson {
  time: string;
  total: number;
  byMode: Record<string, number>;
  buckets: { label: string; fromMs: number; toMs: number | null; count: number; byMode: Record<string, number> }[];
}

/** The target of a campaign as text. */
export function rotationTargetText(t: RotationJson['target']): string {
  if (t.all) return 'all devices';
  if (t.group !== undefined) return `group ${t.group}`;
  if (t.endpoint !== undefined) return `endpoint ${t.endpoint}`;
  const list = t.endpoints ?? [];
  return list.length <= 3 ? `endpoints ${list.join(', ')}` : `${list.length} endpoints (${list.slice(0, 3).join(', ')}, …)`;
}

const RANK: Readonly<Record<RotationState, number>> = { queued: 0, prepared: 1, delivered: 2, done: 3, failed: 3 };

/** Whether `a` is a later view of a device than `b` (same millisecond: the further state; a retry takes time). */
export function newerDevice(a: RotationDeviceJson, b: RotationDeviceJson): boolean {
  return a.updatedAt !== b.updatedAt ? a.updatedAt > b.updatedAt : RANK[a.state] > RANK[b.state];
}

function totalOf(counts: Record<RotationState, number>): number {
  return ROTATION_STATES.reduce((n, s) => n + (counts[s] ?? 0), 0);
}

/** The age histogram as horizontal SVG bars, one row per bucket, and the counts by mode. */
function ageChart(a: AgeJson): HTMLElement {
  const max = Math.max(1, ...a.buckets.map((b) => b.count));
  const rows = a.buckets.map((b, i) =>
    h('tr', { 'data-bucket': i },
      h('th', { scope: 'row', class: 'age-label' }, b.label),
      h('td', { class: 'age-bar-cell' },
        (() => {
          const bar = svg('svg', { class: 'age-bar', viewBox: '0 0 1000 18', preserveAspectRatio: 'none', role: 'img', 'aria-label': `${b.label}: ${b.count}` });
          bar.appendChild(svg('rect', { x: 0, y: 0, width: 1000, height: 18, class: 'st-empty' }));
          let x = 0;
          for (const mode of ['psk', 'rpk', 'x509']) {
            const n = b.byMode[mode] ?? 0;
            if (n === 0) continue;
            const w = (n / max) * 1000;
            bar.appendChild(svg('rect', { x, y: 0, width: w, height: 18, class: `mode-${mode}`, 'data-mode': mode }, `${mode}: ${n}`));
            x += w;
          }
          return bar;
        })(),
      ),
      h('td', { class: 'age-count', 'data-bucket-count': b.label }, b.count),
    ),
  );
  return h('div', {},
    h('table', { id: 'age-chart', class: 'age-chart' }, h('tbody', {}, ...rows)),
    h('ul', { class: 'legend', id: 'age-modes' },
      ...['psk', 'rpk', 'x509'].map((m) => h('li', {}, h('span', { class: `swatch mode-${m}` }), `${m} `, h('b', { 'data-mode-count': m }, a.byMode[m] ?? 0))),
      h('li', { class: 'muted' }, 'total ', h('b', { id: 'age-total' }, a.total)),
    ),
  );
}

/** The credentials page: age chart, campaigns, and (operators) the create form. Returns the clean-up. */
export function renderCredentials(root: HTMLElement, canOperate: boolean): () => void {
  let alive = true;
  const chartBox = h('div', { id: 'age-box' }, h('p', { class: 'muted' }, 'Loading…'));
  const rows = h('tbody', { id: 'rotation-rows' });
  const error = h('p', { class: 'error', role: 'alert', id: 'credentials-error' });
  const live = h('span', { id: 'live-state', class: 'muted' }, 'connecting…');

  const loadAges = async (): Promise<void> => {
    const { data } = await call<AgeJson>('GET', '/api/credentials/age');
    if (alive) replace(chartBox, ageChart(data), h('p', { class: 'muted' }, `Age of each device's current credential at ${new Date(data.time).toLocaleString()}.`));
  };
  const loadCampaigns = async (): Promise<void> => {
    const { data } = await call<RotationJson[]>('GET', '/api/credentials/rotations');
    if (!alive) return;
    replace(rows, ...data.map((c) =>
      h('tr', { 'data-rotation': c.id },
        h('td', {}, h('a', { href: `#/credentials/rotations/${c.id}`, class: 'rotation-link' }, `#${c.id}`)),
        h('td', {}, rotationTargetText(c.target)),
        h('td', { class: 'rotation-state' }, c.state),
        h('td', {}, `${c.counts.done ?? 0} ✓ / ${c.counts.failed ?? 0} ✗ of ${totalOf(c.counts)}`),
        h('td', {}, c.actor),
        h('td', {}, new Date(c.createdAt).toLocaleString()),
      )));
    if (data.length === 0) replace(rows, h('tr', {}, h('td', { colspan: 6, class: 'muted' }, 'No rotation campaign yet.')));
  };
  const refresh = async (): Promise<void> => {
    try {
      await Promise.all([loadAges(), loadCampaigns()]);
      if (alive) error.textContent = '';
    } catch (err) {
      if (alive) error.textContent = (err as Error).message;
    }
  };

  let form: HTMLFormElement | null = null;
  if (canOperate) {
    const kind = h('select', { id: 'rot-target-kind', 'aria-label': 'Target' },
      h('option', { value: 'endpoints' }, 'Endpoints'), h('option', { value: 'group' }, 'Bootstrap group'), h('option', { value: 'all' }, 'All devices'));
    const value = h('input', { id: 'rot-target', placeholder: 'ep1, ep2, …', 'aria-label': 'Endpoints or group', size: 40 });
    const concurrency = h('input', { id: 'rot-concurrency', type: 'number', min: 1, max: 10000, value: 16 });
    const attempts = h('input', { id: 'rot-attempts', type: 'number', min: 1, max: 10000, value: 5 });
    const create = h('button', { id: 'rot-create', type: 'submit' }, 'Start rotation');
    kind.addEventListener('change', () => {
      value.disabled = kind.value === 'all';
      value.placeholder = kind.value === 'group' ? 'group name' : kind.value === 'all' ? '' : 'ep1, ep2, …';
    });
    form = h('form', { id: 'rotation-form', class: 'row' },
      h('label', {}, 'Target', kind),
      h('label', {}, 'Endpoints / group', value),
      h('label', {}, 'Concurrency', concurrency),
      h('label', {}, 'Max attempts', attempts),
      create,
    );
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const v = value.value.trim();
      const target = kind.value === 'all' ? { all: true } : kind.value === 'group' ? { group: v } : { endpoints: v.split(/[\s,]+/).filter((s) => s !== '') };
      const body = { ...target, concurrency: Number(concurrency.value), maxAttempts: Number(attempts.value) };
      create.disabled = true;
      call<RotationJson>('POST', '/api/credentials/rotations', body)
        .then(({ data }) => {
          location.hash = `#/credentials/rotations/${data.id}`;
        })
        .catch((err: Error) => {
          error.textContent = err.message;
        })
        .finally(() => {
          create.disabled = false;
        });
    });
  }

  // Summaries of running campaigns refresh the list; the age chart changes with every credential created, rotated or
  // revoked (AUDIT), whoever did it.
  let debounce: ReturnType<typeof setTimeout> | undefined;
  let agesToo = false;
  const close = subscribe(['ROTATION', 'AUDIT'], (name, data) => {
    const e = data as { kind?: string; state?: string; source?: string };
    if (name === 'AUDIT') {
      if (e.source !== 'credential' || e.kind === 'used-first') return;
      agesToo = true;
    } else if (e.kind !== 'campaign') return;
    clearTimeout(debounce);
    debounce = setTimeout(() => {
      const both = agesToo;
      agesToo = false;
      void (both ? refresh() : loadCampaigns().catch((err: Error) => void (error.textContent = err.message)));
    }, 300);
  }, undefined, (open) => {
    live.textContent = open ? '● live' : 'reconnecting…';
  });

  replace(root,
    h('section', { class: 'card' },
      h('div', { class: 'row' }, h('h1', {}, 'Credentials'), live, h('a', { href: '#/audit', id: 'to-audit' }, 'Audit log ›')),
      error,
      h('h2', {}, 'Credential age'),
      chartBox,
    ),
    h('section', { class: 'card' },
      h('h2', {}, 'Rotation campaigns'),
      form,
      h('table', { id: 'rotations' },
        h('thead', {}, h('tr', {}, ...['Campaign', 'Target', 'State', 'Progress', 'Started by', 'Created'].map((t) => h('th', {}, t)))),
        rows,
      ),
    ),
  );
  void refresh();
  return () => {
    alive = false;
    clearTimeout(debounce);
    close();
  };
}

/** One rotation campaign: settings, live chart and device table. Returns the clean-up. */
export function renderRotation(root: HTMLElement, id: number): () => void {
  return renderCampaignView<RotationJson, RotationDeviceJson, TransitionJson & { note: string | null }>(root, id, {
    prefix: 'rotation',
    historyId: 'rotation-history',
    back: { href: '#/credentials', text: '‹ Credentials' },
    url: `/api/credentials/rotations/${id}`,
    deviceUrl: (ep) => `/api/credentials/rotations/${id}/devices/${encodeURIComponent(ep)}`,
    events: ['ROTATION'],
    read: (_name, data, campaign) => {
      const e = data as { kind?: string; id?: number; campaignId?: number };
      if (e.kind === 'campaign' && e.id === campaign) {
        const { kind: _k, ...s } = data as RotationJson & { kind: string };
        return { summary: s };
      }
      return e.kind === 'device' && e.campaignId === campaign ? { device: data as RotationDeviceJson } : undefined;
    },
    title: (c) => `Rotation #${c.id}`,
    details: (c) => [
      h('dl', {},
        h('dt', {}, 'Target'), h('dd', {}, rotationTargetText(c.target)),
        h('dt', {}, 'Started by'), h('dd', { id: 'rotation-actor' }, c.actor),
        h('dt', {}, 'Started'), h('dd', {}, new Date(c.createdAt).toLocaleString()),
        h('dt', {}, 'Concurrency'), h('dd', {}, c.concurrency),
        h('dt', {}, 'Max attempts'), h('dd', {}, c.maxAttempts),
      ),
    ],
    states: ROTATION_STATES,
    finished: ['done', 'failed'],
    total: (c) => totalOf(c.counts),
    counts: (c) => c.counts,
    columns: ['Endpoint', 'State', 'Attempts', 'New identity', 'Last error', 'Updated', ''],
    cells: (d) => [
      h('td', { class: 'device-state' }, h('span', { class: `swatch st-${d.state}` }), d.state),
      d.attempts, h('td', { class: 'mono' }, d.newIdentity ?? ''), d.lastError ?? '', new Date(d.updatedAt).toLocaleTimeString(),
    ],
    links: (d) => [h('a', { href: `#/audit?${new URLSearchParams({ endpoint: d.endpoint })}`, class: 'audit-link' }, 'audit')],
    newer: newerDevice,
    empty: () => 'No device.',
    note: (t) => t.note ?? '',
  });
}
