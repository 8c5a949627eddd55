/**
 * One live campaign page, the same mechanism for firmware campaigns and credential rotations: a head, a stacked chart
 * of device states, the device table and a device's history, from a snapshot (GET) kept current by live events. The
 * stream opens first and the snapshot is read when it is open, so nothing between the two is missed; a device view
 * older than one already shown is dropped (a snapshot can arrive after newer events).
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
  total(s: S | undefined, devices: number): number;
  /** Counts from the summary, while no device is known. */
  counts(s: S): Record<string, number>;
  columns: readonly string[];
  /** The cells between the endpoint and the links. */
  cells(d: D): (HTMLElement | string | number)[];
  links?(d: D): HTMLElement[];
  /** Whether `a` is a later view of a device than `b`. */
  newer(a: D, b: D): boolean;
  empty(s: S | undefined): string;
  note(t: T): string;
  /** A summary event asks for a fresh snapshot (the campaign just chose its devices). */
  reloadOn?(s: S, devices: number): boolean;
}

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
  const devices = new Map<string, D>();
  const head = h('div', { id: `${p}-head` });
  const chartBox = h('div', { id: `${p}-chart` });
  const rows = h('tbody', { id: `${p}-device-rows` });
  const error = h('p', { class: 'error', role: 'alert' });
  const live = h('span', { id: 'live-state', class: 'muted' }, 'connecting…');
  const history = h('div', { id: kind.historyId });

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
    let counts: Record<string, number>;
    if (devices.size === 0 && summary) counts = kind.counts(summary);
    else {
      counts = {};
      for (const d of devices.values()) counts[d.state] = (counts[d.state] ?? 0) + 1;
    }
    replace(chartBox, stateChart(p, kind.states, kind.finished, counts, kind.total(summary, devices.size)));
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
    replace(rows, ...[...devices.values()].sort((a, b) => a.endpoint.localeCompare(b.endpoint)).map(deviceRow));
    if (devices.size === 0) replace(rows, h('tr', {}, h('td', { colspan: kind.columns.length, class: 'muted' }, kind.empty(summary))));
  };
  /** Keeps `d` unless a later view of the device is already shown. */
  const keep = (d: D): boolean => {
    const seen = devices.get(d.endpoint);
    if (seen && kind.newer(seen, d)) return false;
    devices.set(d.endpoint, d);
    return true;
  };
  const load = async (): Promise<void> => {
    try {
      const { data } = await call<S & { devices: D[] }>('GET', kind.url);
      if (!alive) return;
      const { devices: list, ...s } = data;
      if (!summary || s.updatedAt >= summary.updatedAt) summary = s as unknown as S;
      for (const d of list) keep(d);
      error.textContent = '';
      drawHead();
      drawChart();
      drawRows();
    } catch (err) {
      if (alive) error.textContent = (err as Error).message;
    }
  };

  const close = subscribe(kind.events, (name, data) => {
    const e = kind.read(name, data, id);
    if (e === undefined) return;
    if ('summary' in e) {
      if (summary && e.summary.updatedAt < summary.updatedAt) return;
      summary = e.summary;
      drawHead();
      if (kind.reloadOn?.(e.summary, devices.size)) void load();
      else drawChart();
      return;
    }
    if (!keep(e.device)) return;
    drawChart();
    const row = rows.querySelector(`tr[data-endpoint="${CSS.escape(e.device.endpoint)}"]`);
    if (row) row.replaceWith(deviceRow(e.device));
    else drawRows();
  }, undefined, (open) => {
    live.textContent = open ? '● live' : 'reconnecting…';
    if (open) void load();
  });

  replace(root,
    h('section', { class: 'card' }, h('p', {}, h('a', { href: kind.back.href }, kind.back.text)), head, error, chartBox),
    h('section', { class: 'card' },
      h('h2', {}, 'Devices'),
      h('table', { id: `${p}-devices` }, h('thead', {}, h('tr', {}, ...kind.columns.map((t) => h('th', {}, t)))), rows),
      history,
    ),
  );
  void load();
  return () => {
    alive = false;
    close();
  };
}
