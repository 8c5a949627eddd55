/**
 * One live campaign page, the same mechanism for firmware campaigns and credential rotations: a head, a stacked chart
 * of device states, a page of the device table (filtered by state) and a device's history, from a snapshot (GET) kept
 * current by live events. The stream opens first and the snapshot is read when it is open, so nothing between the two
 * is missed. Device events update their row at once and bring a fresh snapshot (counts, the page) at most once a
 * second, so a campaign of a million devices costs the page no more than one of ten; a device view older than one
 * already shown is dropped (a snapshot can arrive after newer events).
 */
import { call } from './api.js';
import { h, replace, svg } from './dom.js';
import { subscribe, type LiveEvent } from './events.js';

/** What every campaign summary has. */
export interface SummaryBase {
  id: number;
  updatedAt: number;
}

/** What every campaign device has. */
export interface DeviceBase {
  endpoint: string;
  state: string;
  updatedAt: number;
}

/** One transition of a device. */
export interface TransitionJson {
  time: number;
  from: string;
  to: string;
}

/** What differs between campaign kinds. */
export interface CampaignKind<S extends SummaryBase, D extends DeviceBase, T extends TransitionJson> {
  /** Element ids start with it (`<prefix>-head`, `-state`, `-chart`, `-counts`, `-done`, `-device-rows`, `-devices`). */
  prefix: string;
  historyId: string;
  back: { href: string; text: string };
  /** GET: the summary with its `devices`. */
  url: string;
  /** GET: one device with its `history`. */
  deviceUrl(endpoint: string): string;
  events: readonly LiveEvent[];
  /** The summary or device of campaign `id` that an event carries, if any. */
  read(name: LiveEvent, data: unknown, id: number): { summary: S } | { device: D } | undefined;
  title(s: S): string;
  /** Buttons beside the state (start, pause ...); `after` takes the summary an action answered. */
  actions?(s: S, after: (s: S) => void, error: HTMLElement): HTMLElement | null;
  /** Lines under the title: settings, a pause reason. */
  details(s: S): (HTMLElement | null)[];
  /** Device states in chart order, and those that count as finished. */
  states: readonly string[];
  finished: readonly string[];
  total(s: S): number;
  counts(s: S): Record<string, number>;
  columns: readonly string[];
  /** The cells between the endpoint and the links. */
  cells(d: D): (HTMLElement | string | number)[];
  links?(d: D): HTMLElement[];
  /** Whether `a` is a later view of a device than `b`. */
  newer(a: D, b: D): boolean;
  empty(s: S | undefined): string;
  note(t: T): string;
}

/** Devices per page of the table. */
export const DEVICE_PAGE = 100;
/** Snapshots follow device events at most this often. */
const RELOAD_MS = 1000;

/** A stacked bar of device states (SVG, widths as attributes: the CSP allows no inline style) and its legend. */
export function stateChart(prefix: string, states: readonly string[], finished: readonly string[], counts: Record<string, number>, total: number): HTMLElement {
  const bar = svg('svg', { class: 'progress-chart', viewBox: '0 0 1000 24', preserveAspectRatio: 'none', role: 'img', 'aria-label': 'device states' });
  bar.appendChild(svg('rect', { x: 0, y: 0, width: 1000, height: 24, class: 'st-empty' }));
  let x = 0;
  for (const s of states) {
    const n = counts[s] ?? 0;
    if (n === 0 || total === 0) continue;
    const w = (n / total) * 1000;
    bar.appendChild(svg('rect', { x, y: 0, width: w, height: 24, class: `st-${s}`, 'data-state': s }, `${s}: ${n}`));
    x += w;
  }
  const done = finished.reduce((n, s) => n + (counts[s] ?? 0), 0);
  return h('div', { class: 'chart' }, bar,
    h('div', { class: 'row' },
      h('ul', { class: 'legend', id: `${prefix}-counts` },
        ...states.map((s) => h('li', { 'data-state': s }, h('span', { class: `swatch st-${s}` }), `${s} `, h('b', { 'data-count': s }, counts[s] ?? 0)))),
      h('span', { class: 'muted', id: `${prefix}-done` }, `${done} of ${total} finished`),
    ),
  );
}

/** Renders campaign `id` of `kind` into `root`; returns the clean-up (closes the stream). */
export function renderCampaignView<S extends SummaryBase & { state: string }, D extends DeviceBase, T extends TransitionJson>(
  root: HTMLElement, id: number, kind: CampaignKind<S, D, T>,
): () => void {
  const p = kind.prefix;
  let alive = true;
  let summary: S | undefined;
  let devicesTotal = 0;
  let offset = 0;
  let due: ReturnType<typeof setTimeout> | undefined;
  const devices = new Map<string, D>();
  const head = h('div', { id: `${p}-head` });
  const chartBox = h('div', { id: `${p}-chart` });
  const rows = h('tbody', { id: `${p}-device-rows` });
  const error = h('p', { class: 'error', role: 'alert' });
  const live = h('span', { id: 'live-state', class: 'muted' }, 'connecting…');
  const history = h('div', { id: kind.historyId });
  const stateFilter = h('select', { id: `${p}-state-filter` }, h('option', { value: '' }, 'all states'), ...kind.states.map((st) => h('option', { value: st }, st)));
  const pageText = h('span', { id: `${p}-page`, class: 'muted' });
  const prev = h('button', { type: 'button', id: `${p}-prev` }, '‹ Previous');
  const next = h('button', { type: 'button', id: `${p}-next` }, 'Next ›');

  const drawHead = (): void => {
    if (!summary) return;
    const s = summary;
    const actions = kind.actions?.(s, (next) => {
      summary = next;
      drawHead();
    }, error) ?? null;
    replace(head,
      h('div', { class: 'row' }, h('h1', {}, kind.title(s)), h('span', { id: `${p}-state`, 'data-state': s.state }, s.state), live, actions),
      ...kind.details(s),
    );
  };
  const drawChart = (): void => {
    if (summary) replace(chartBox, stateChart(p, kind.states, kind.finished, kind.counts(summary), kind.total(summary)));
  };
  const showHistory = async (ep: string): Promise<void> => {
    try {
      const { data } = await call<D & { history: T[] }>('GET', kind.deviceUrl(ep));
      if (!alive) return;
      replace(history,
        h('h3', {}, `History of ${ep}`),
        h('table', {}, h('tbody', {}, ...data.history.map((t) =>
          h('tr', {}, h('td', {}, new Date(t.time).toLocaleTimeString()), h('td', {}, `${t.from} → ${t.to}`), h('td', {}, kind.note(t)))))),
      );
    } catch (err) {
      if (alive) error.textContent = (err as Error).message;
    }
  };
  const deviceRow = (d: D): HTMLTableRowElement => {
    const link = h('a', { href: '#', class: 'history-link' }, 'history');
    link.addEventListener('click', (e) => {
      e.preventDefault();
      void showHistory(d.endpoint);
    });
    return h('tr', { 'data-endpoint': d.endpoint, 'data-state': d.state },
      h('td', {}, h('a', { href: `#/devices/${encodeURIComponent(d.endpoint)}` }, d.endpoint)),
      ...kind.cells(d).map((c) => (c instanceof HTMLElement && c.tagName === 'TD' ? c : h('td', {}, c))),
      h('td', {}, link, ...(kind.links?.(d) ?? []).flatMap((l) => [' ', l])),
    );
  };
  const drawRows = (): void => {
    replace(rows, ...[...devices.values()].map(deviceRow));
    if (devices.size === 0) replace(rows, h('tr', {}, h('td', { colspan: kind.columns.length, class: 'muted' }, kind.empty(summary))));
    pageText.textContent = devicesTotal === 0 ? '' : `devices ${offset + 1}–${offset + devices.size} of ${devicesTotal}`;
    prev.disabled = offset === 0;
    next.disabled = offset + devices.size >= devicesTotal;
  };
  const load = async (): Promise<void> => {
    const q = new URLSearchParams({ limit: String(DEVICE_PAGE), offset: String(offset) });
    if (stateFilter.value !== '') q.set('state', stateFilter.value);
    try {
      const { data } = await call<S & { devices: D[]; devicesTotal: number }>('GET', `${kind.url}?${q}`);
      if (!alive) return;
      const { devices: list, devicesTotal: n, ...s } = data;
      if (!summary || s.updatedAt >= summary.updatedAt) summary = s as unknown as S;
      devicesTotal = n;
      // The page in the server's order; a device event newer than the snapshot keeps its view.
      const shown = new Map(devices);
      devices.clear();
      for (const d of list) {
        const seen = shown.get(d.endpoint);
        devices.set(d.endpoint, seen && kind.newer(seen, d) ? seen : d);
      }
      error.textContent = '';
      drawHead();
      drawChart();
      drawRows();
    } catch (err) {
      if (alive) error.textContent = (err as Error).message;
    }
  };
  const reloadSoon = (): void => {
    due ??= setTimeout(() => {
      due = undefined;
      void load();
    }, RELOAD_MS);
  };
  const turn = (to: number): void => {
    offset = Math.max(0, to);
    void load();
  };
  stateFilter.addEventListener('change', () => turn(0));
  prev.addEventListener('click', () => turn(offset - DEVICE_PAGE));
  next.addEventListener('click', () => turn(offset + DEVICE_PAGE));

  const close = subscribe(kind.events, (name, data) => {
    const e = kind.read(name, data, id);
    if (e === undefined) return;
    if ('summary' in e) {
      if (summary && e.summary.updatedAt < summary.updatedAt) return;
      summary = e.summary;
      drawHead();
      drawChart();
      reloadSoon();
      return;
    }
    reloadSoon();
    const d = e.device;
    const seen = devices.get(d.endpoint);
    if (stateFilter.value !== '' && d.state !== stateFilter.value) return;
    if (seen) {
      if (kind.newer(seen, d)) return;
      devices.set(d.endpoint, d);
      rows.querySelector(`tr[data-endpoint="${CSS.escape(d.endpoint)}"]`)?.replaceWith(deviceRow(d));
    } else if (offset === 0 && devices.size < DEVICE_PAGE) {
      // Room on the first page: shown now, put in the server's order by the next snapshot.
      devices.set(d.endpoint, d);
      drawRows();
    }
  }, undefined, (open) => {
    live.textContent = open ? '● live' : 'reconnecting…';
    if (open) void load();
  });

  replace(root,
    h('section', { class: 'card' }, h('p', {}, h('a', { href: kind.back.href }, kind.back.text)), head, error, chartBox),
    h('section', { class: 'card' },
      h('div', { class: 'row' }, h('h2', {}, 'Devices'), stateFilter, pageText, prev, next),
      h('table', { id: `${p}-devices` }, h('thead', {}, h('tr', {}, ...kind.columns.map((t) => h('th', {}, t)))), rows),
      history,
    ),
  );
  void load();
  return () => {
    alive = false;
    clearTimeout(due);
    close();
  };
}
