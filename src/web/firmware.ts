/**
 * The firmware pages: packages (GET/POST/DELETE /api/firmware; upload as application/octet-stream), campaigns
 * (GET/POST /api/campaigns, start/pause/resume/cancel), and one campaign's progress chart and device table, kept live
 * by CAMPAIGN (summary) and FIRMWARE (one device moved) events.
 */
import { call } from './api.js';
import { h, replace } from './dom.js';
import { subscribe } from './events.js';
import { renderCampaignView, type TransitionJson } from './campaign-view.js';

/** A stored package (src/api/firmware.ts), the fields shown. */
export interface PackageJson {
  id: string;
  name?: string;
  vendor: string;
  class: string;
  version: string;
  kind: 'image' | 'delta';
  packageSize: number;
  uploadedAt: string;
}

/** Device states of a campaign, in the order of the chart (src/firmware/campaign.ts DEVICE_FIRMWARE_STATES). */
export const DEVICE_STATES = ['queued', 'delivering', 'downloading', 'downloaded', 'updating', 'verifying', 'succeeded', 'failed', 'cancelled'] as const;
export type DeviceState = (typeof DEVICE_STATES)[number];

/** A campaign summary (src/firmware/campaign.ts FirmwareCampaignSummary), the fields shown. */
export interface CampaignJson {
  id: number;
  packageId: string;
  packageVersion: string;
  target: { group?: string; filter?: { endpoint?: string; version?: string; attributes?: Record<string, string> } };
  settings: {
    canary: number; waves: number[]; maxConcurrent: number; delivery: string; scheme: string;
    successThreshold?: number; errorThreshold?: number; minSample?: number; maxAttempts?: number;
  };
  state: 'created' | 'running' | 'paused' | 'finished' | 'cancelled';
  currentWave: number;
  waveSizes: number[];
  pauseReason: string | null;
  createdAt: number;
  updatedAt: number;
  total: number;
  counts: Record<DeviceState, number>;
}

/** One device of a campaign (CampaignDeviceStatus; FIRMWARE event data adds campaignId). */
export interface CampaignDeviceJson {
  campaignId?: number;
  endpoint: string;
  wave: number;
  state: DeviceState;
  attempts: number;
  updateResult: number | null;
  lastError: string | null;
  updatedAt: number;
}

/** A byte count as text (B, KiB, MiB). */
export function sizeText(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/** A share (0..1) as a percentage text. */
function pct(v: number): string {
  return `${Math.round(v * 1000) / 10}%`;
}

function targetText(t: CampaignJson['target']): string {
  if (t.group !== undefined) return `group ${t.group}`;
  const f = t.filter ?? {};
  return [
    f.endpoint !== undefined ? `endpoint ${f.endpoint}` : '',
    f.version !== undefined ? `version ${f.version}` : '',
    ...Object.entries(f.attributes ?? {}).map(([k, v]) => `${k}=${v}`),
  ].filter((s) => s !== '').join(', ') || 'all';
}

/** `a=1, b=2` (or one per line) as registration attributes; throws naming a malformed entry. */
export function parseAttributes(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split(/[,\n]/).map((p) => p.trim()).filter((p) => p !== '')) {
    const i = part.indexOf('=');
    if (i <= 0) throw new Error(`attribute "${part}" is not name=value`);
    out[part.slice(0, i).trim()] = part.slice(i + 1).trim();
  }
  return out;
}

function actions(c: CampaignJson, after: (c: CampaignJson) => void, error: HTMLElement): HTMLElement {
  const allowed: Record<string, CampaignJson['state'][]> = { start: ['created'], pause: ['running'], resume: ['paused'], cancel: ['created', 'running', 'paused'] };
  const row = h('span', { class: 'row campaign-actions' });
  for (const [action, states] of Object.entries(allowed)) {
    if (!states.includes(c.state)) continue;
    const b = h('button', { type: 'button', class: 'small', 'data-action': action, 'data-campaign': c.id }, action[0]!.toUpperCase() + action.slice(1));
    b.addEventListener('click', () => {
      b.disabled = true;
      call<CampaignJson>('POST', `/api/campaigns/${c.id}/${action}`)
        .then(({ data }) => {
          error.textContent = '';
          after(data);
        })
        .catch((err: Error) => {
          error.textContent = err.message;
          b.disabled = false;
        });
    });
    row.appendChild(b);
  }
  return row;
}

/**
 * The firmware page: packages, upload, campaigns and the create form (the upload, the form and the actions only for
 * `canOperate`). Returns the clean-up (closes the stream).
 */
export function renderFirmware(root: HTMLElement, canOperate = true): () => void {
  let alive = true;
  const pkgRows = h('tbody', { id: 'package-rows' });
  const campRows = h('tbody', { id: 'campaign-rows' });
  const error = h('p', { class: 'error', role: 'alert', id: 'firmware-error' });
  const file = h('input', { id: 'fw-file', type: 'file', 'aria-label': 'Package file' });
  const fwName = h('input', { id: 'fw-name', placeholder: 'Name (optional)', maxlength: 200 });
  const uploadBtn = h('button', { id: 'fw-upload', type: 'button' }, 'Upload');
  const uploadMsg = h('span', { id: 'fw-upload-result', class: 'muted' });
  const live = h('span', { id: 'live-state', class: 'muted' }, 'connecting…');

  const pkgSelect = h('select', { id: 'cmp-package', required: true, 'aria-label': 'Package' });
  const targetKind = h('select', { id: 'cmp-target-kind', 'aria-label': 'Target' }, h('option', { value: 'filter' }, 'Filter'), h('option', { value: 'group' }, 'Bootstrap group'));
  const group = h('input', { id: 'cmp-group', placeholder: 'group name', disabled: true, 'aria-label': 'Bootstrap group' });
  const endpoint = h('input', { id: 'cmp-endpoint', value: '*', 'aria-label': 'Target endpoint glob' });
  const version = h('input', { id: 'cmp-version', placeholder: 'any', 'aria-label': 'Current firmware version' });
  const attributes = h('input', { id: 'cmp-attributes', placeholder: 'name=value, …', 'aria-label': 'Registration attributes' });
  const success = h('input', { id: 'cmp-success', type: 'number', min: 0, max: 100, step: 'any', value: 95 });
  const errorTh = h('input', { id: 'cmp-error', type: 'number', min: 0, max: 100, step: 'any', value: 5 });
  const minSample = h('input', { id: 'cmp-min-sample', type: 'number', min: 1, value: 5 });
  const attempts = h('input', { id: 'cmp-attempts', type: 'number', min: 1, value: 3 });
  targetKind.addEventListener('change', () => {
    const byGroup = targetKind.value === 'group';
    group.disabled = !byGroup;
    endpoint.disabled = version.disabled = attributes.disabled = byGroup;
  });
  const canary = h('input', { id: 'cmp-canary', type: 'number', min: 0, max: 100, step: 'any', value: 5 });
  const waves = h('input', { id: 'cmp-waves', value: '25,50,100', 'aria-label': 'Waves (cumulative %)' });
  const maxConc = h('input', { id: 'cmp-max', type: 'number', min: 1, value: 50 });
  const delivery = h('select', { id: 'cmp-delivery' }, h('option', { value: 'pull' }, 'pull'), h('option', { value: 'push' }, 'push'));
  const scheme = h('select', { id: 'cmp-scheme' }, ...['coap', 'coaps', 'http', 'https'].map((s) => h('option', { value: s }, s)));
  const createBtn = h('button', { id: 'cmp-create', type: 'submit' }, 'Create campaign');
  const form = h('form', { id: 'campaign-form', class: 'row' },
    h('label', {}, 'Package', pkgSelect),
    h('label', {}, 'Target', targetKind),
    h('label', {}, 'Group', group),
    h('label', {}, 'Endpoint glob', endpoint),
    h('label', {}, 'Current version', version),
    h('label', {}, 'Attributes', attributes),
    h('label', {}, 'Canary %', canary),
    h('label', {}, 'Waves %', waves),
    h('label', {}, 'Max concurrent', maxConc),
    h('label', { title: 'A wave\'s success rate needed to start the next one' }, 'Success %', success),
    h('label', { title: 'Error rate (failed / finished) above which the campaign pauses' }, 'Error %', errorTh),
    h('label', { title: 'Finished devices before the error threshold applies' }, 'Min sample', minSample),
    h('label', {}, 'Max attempts', attempts),
    h('label', {}, 'Delivery', delivery),
    h('label', {}, 'Scheme', scheme),
    createBtn,
  );
  delivery.addEventListener('change', () => {
    scheme.disabled = delivery.value === 'push';
  });

  const loadPackages = async (): Promise<void> => {
    const { data } = await call<PackageJson[]>('GET', '/api/firmware');
    if (!alive) return;
    replace(pkgRows, ...data.map((p) => packageRow(p, () => void refresh(), canOperate)));
    if (data.length === 0) replace(pkgRows, h('tr', {}, h('td', { colspan: 8, class: 'muted' }, 'No package uploaded.')));
    const selected = pkgSelect.value;
    replace(pkgSelect, ...data.map((p) => h('option', { value: p.id }, `${p.name ? `${p.name} ` : ''}${p.version} (${p.kind}, ${p.id.slice(0, 8)})`)));
    if (data.some((p) => p.id === selected)) pkgSelect.value = selected;
    createBtn.disabled = data.length === 0;
  };
  const loadCampaigns = async (): Promise<void> => {
    const { data } = await call<CampaignJson[]>('GET', '/api/campaigns');
    if (!alive) return;
    replace(campRows, ...data.map((c) => campaignRow(c)));
    if (data.length === 0) replace(campRows, h('tr', {}, h('td', { colspan: 7, class: 'muted' }, 'No campaign yet.')));
  };
  const campaignRow = (c: CampaignJson): HTMLTableRowElement =>
    h('tr', { 'data-campaign': c.id },
      h('td', {}, h('a', { href: `#/firmware/campaigns/${c.id}`, class: 'campaign-link' }, `#${c.id}`)),
      h('td', {}, c.packageVersion),
      h('td', {}, targetText(c.target)),
      h('td', { class: 'campaign-state' }, c.state + (c.pauseReason ? ` (${c.pauseReason})` : '')),
      h('td', {}, `${c.counts.succeeded ?? 0} ✓ / ${c.counts.failed ?? 0} ✗ of ${c.total}`),
      h('td', {}, new Date(c.createdAt).toLocaleString()),
      h('td', {}, canOperate ? actions(c, () => void loadCampaigns(), error) : null),
    );
  const refresh = async (): Promise<void> => {
    try {
      await Promise.all([loadPackages(), loadCampaigns()]);
      if (alive) error.textContent = '';
    } catch (err) {
      if (alive) error.textContent = (err as Error).message;
    }
  };

  uploadBtn.addEventListener('click', () => {
    const f = file.files?.[0];
    if (!f) {
      uploadMsg.textContent = 'Choose a package file first.';
      return;
    }
    uploadBtn.disabled = true;
    uploadMsg.textContent = 'uploading…';
    const q = fwName.value.trim() ? `?${new URLSearchParams({ name: fwName.value.trim() })}` : '';
    call<PackageJson>('POST', `/api/firmware${q}`, f)
      .then(({ data }) => {
        uploadMsg.textContent = `Stored ${data.version} (${data.id.slice(0, 12)}…)`;
        file.value = '';
        return loadPackages();
      })
      .catch((err: Error) => {
        uploadMsg.textContent = err.message;
      })
      .finally(() => {
        uploadBtn.disabled = false;
      });
  });

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    let target: CampaignJson['target'];
    try {
      if (targetKind.value === 'group') target = { group: group.value.trim() };
      else {
        const attrs = parseAttributes(attributes.value);
        target = {
          filter: {
            ...(endpoint.value.trim() !== '' ? { endpoint: endpoint.value.trim() } : {}),
            ...(version.value.trim() !== '' ? { version: version.value.trim() } : {}),
            ...(Object.keys(attrs).length > 0 ? { attributes: attrs } : {}),
          },
        };
      }
    } catch (err) {
      error.textContent = (err as Error).message;
      return;
    }
    const body = {
      package: pkgSelect.value,
      target,
      successThreshold: `${success.value || 0}%`,
      errorThreshold: `${errorTh.value || 0}%`,
      minSample: Number(minSample.value),
      maxAttempts: Number(attempts.value),
      canary: `${canary.value || 0}%`,
      waves: waves.value.split(',').map((w) => `${w.trim().replace(/%$/, '')}%`),
      maxConcurrent: Number(maxConc.value),
      delivery: delivery.value,
      ...(delivery.value === 'pull' ? { scheme: scheme.value } : {}),
    };
    createBtn.disabled = true;
    call<CampaignJson>('POST', '/api/campaigns', body)
      .then(({ data }) => {
        error.textContent = '';
        location.hash = `#/firmware/campaigns/${data.id}`;
      })
      .catch((err: Error) => {
        error.textContent = err.message;
      })
      .finally(() => {
        createBtn.disabled = false;
      });
  });

  let debounce: ReturnType<typeof setTimeout> | undefined;
  let packagesToo = false;
  const close = subscribe(['CAMPAIGN', 'PACKAGE'], (name) => {
    packagesToo ||= name === 'PACKAGE';
    clearTimeout(debounce);
    debounce = setTimeout(() => {
      const both = packagesToo;
      packagesToo = false;
      void (both ? refresh() : loadCampaigns()).catch(() => {});
    }, 200);
  }, undefined, (open) => {
    live.textContent = open ? '● live' : 'reconnecting…';
  });

  replace(root,
    h('section', { class: 'card' },
      h('div', { class: 'row' }, h('h1', {}, 'Firmware'), live),
      error,
      h('h2', {}, 'Packages'),
      canOperate ? h('div', { class: 'row' }, file, fwName, uploadBtn, uploadMsg) : null,
      h('table', { id: 'packages' },
        h('thead', {}, h('tr', {}, ...['Name', 'Version', 'Vendor', 'Class', 'Kind', 'Size', 'Uploaded', ''].map((t) => h('th', {}, t)))),
        pkgRows,
      ),
    ),
    h('section', { class: 'card' },
      h('h2', {}, 'Campaigns'),
      canOperate ? form : null,
      h('table', { id: 'campaigns' },
        h('thead', {}, h('tr', {}, ...['Campaign', 'Version', 'Target', 'State', 'Progress', 'Created', ''].map((t) => h('th', {}, t)))),
        campRows,
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

function packageRow(p: PackageJson, removed: () => void, canOperate: boolean): HTMLTableRowElement {
  const del = h('button', { type: 'button', class: 'small', 'data-delete': p.id }, 'Delete');
  const msg = h('span', { class: 'error' });
  del.addEventListener('click', () => {
    if (!confirm(`Delete package ${p.version} (${p.id.slice(0, 12)}…)?`)) return;
    del.disabled = true;
    call('DELETE', `/api/firmware/${encodeURIComponent(p.id)}`)
      .then(removed)
      .catch((err: Error) => {
        msg.textContent = err.message;
        del.disabled = false;
      });
  });
  return h('tr', { 'data-package': p.id },
    h('td', {}, p.name ?? ''),
    h('td', { class: 'pkg-version' }, p.version),
    h('td', { class: 'mono', title: p.vendor }, p.vendor.slice(0, 8)),
    h('td', { class: 'mono', title: p.class }, p.class.slice(0, 8)),
    h('td', {}, p.kind),
    h('td', {}, sizeText(p.packageSize)),
    h('td', {}, new Date(p.uploadedAt).toLocaleString()),
    h('td', {}, canOperate ? del : null, msg),
  );
}

/** One campaign: settings, actions (`canOperate`), a live chart of device states and the device table. Returns the clean-up. */
export function renderCampaign(root: HTMLElement, id: number, canOperate = true): () => void {
  return renderCampaignView<CampaignJson, CampaignDeviceJson, TransitionJson & { detail: string | null }>(root, id, {
    prefix: 'campaign',
    historyId: 'device-history',
    back: { href: '#/firmware', text: '‹ Firmware' },
    url: `/api/campaigns/${id}`,
    deviceUrl: (ep) => `/api/campaigns/${id}/devices/${encodeURIComponent(ep)}`,
    events: ['CAMPAIGN', 'FIRMWARE'],
    read: (name, data, campaign) => {
      if (name === 'CAMPAIGN') return (data as CampaignJson).id === campaign ? { summary: data as CampaignJson } : undefined;
      return (data as CampaignDeviceJson).campaignId === campaign ? { device: data as CampaignDeviceJson } : undefined;
    },
    title: (c) => `Campaign #${c.id}`,
    ...(canOperate ? { actions } : {}),
    details: (c) => [
      c.pauseReason ? h('p', { class: 'error', id: 'pause-reason' }, `Paused: ${c.pauseReason}`) : null,
      h('dl', {},
        h('dt', {}, 'Package'), h('dd', {}, `${c.packageVersion} (${c.packageId.slice(0, 12)}…)`),
        h('dt', {}, 'Target'), h('dd', {}, targetText(c.target)),
        h('dt', {}, 'Waves'), h('dd', {}, `canary ${pct(c.settings.canary)}, ${c.settings.waves.map(pct).join(' → ')}; sizes ${c.waveSizes.join(', ')}; now wave ${c.currentWave}`),
        h('dt', {}, 'Delivery'), h('dd', {}, c.settings.delivery === 'push' ? 'push' : `pull over ${c.settings.scheme}`),
        h('dt', {}, 'Max concurrent'), h('dd', {}, c.settings.maxConcurrent),
        c.settings.successThreshold !== undefined ? h('dt', {}, 'Thresholds') : null,
        c.settings.successThreshold !== undefined
          ? h('dd', { id: 'campaign-thresholds' }, `success ≥ ${pct(c.settings.successThreshold)} per wave, pause above ${pct(c.settings.errorThreshold ?? 0)} errors after ${c.settings.minSample ?? 0} finished; ${c.settings.maxAttempts ?? 0} attempts`)
          : null,
      ),
    ],
    states: DEVICE_STATES,
    finished: ['succeeded', 'failed', 'cancelled'],
    total: (c) => c.total,
    counts: (c) => c.counts,
    columns: ['Endpoint', 'Wave', 'State', 'Attempts', 'Update result', 'Last error', 'Updated', ''],
    cells: (d) => [
      d.wave,
      h('td', { class: 'device-state' }, h('span', { class: `swatch st-${d.state}` }), d.state),
      d.attempts, d.updateResult ?? '', d.lastError ?? '', new Date(d.updatedAt).toLocaleTimeString(),
    ],
    newer: (a, b) => a.updatedAt > b.updatedAt,
    empty: (c) => (c?.state === 'created' ? 'The target devices are chosen when the campaign starts.' : 'No device.'),
    note: (t) => t.detail ?? '',
  });
}
