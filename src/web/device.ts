/**
 * One device: its registration, the object tree from the registration's object links, and the operations read,
 * write, execute and observe. Notifications update observed values live. Whatever the device reports is text.
 */
import { call, deviceUrl, HttpError } from './api.js';
import { h, replace } from './dom.js';
import { subscribe } from './events.js';
import { isNode, resourceText, responseText, type DeviceResponseJson, type InstanceJson, type NodeJson, type ResourceJson } from './format.js';
import type { RegistrationJson } from './devices.js';

/** Names of the core objects (LwM2M 1.1 Core Appendix E). */
const OBJECT_NAMES: Readonly<Record<number, string>> = {
  0: 'LwM2M Security', 1: 'LwM2M Server', 2: 'Access Control', 3: 'Device', 4: 'Connectivity Monitoring',
  5: 'Firmware Update', 6: 'Location', 7: 'Connectivity Statistics', 9: 'Software Management',
};

const TYPES = ['STRING', 'INTEGER', 'UNSIGNED_INTEGER', 'FLOAT', 'BOOLEAN', 'TIME', 'OPAQUE', 'OBJLNK'] as const;

/** Object id -> instance ids, from object links such as `</3/0>`, `</1>` (the root path stripped). */
export function objectTree(reg: Pick<RegistrationJson, 'objectLinks' | 'rootPath'>): Map<number, number[]> {
  const tree = new Map<number, number[]>();
  const root = reg.rootPath.replace(/\/+$/, '');
  for (const l of reg.objectLinks) {
    let url = l.url;
    if (root !== '' && url.startsWith(root + '/')) url = url.slice(root.length);
    const m = /^\/(\d+)(?:\/(\d+))?$/.exec(url);
    if (m === null) continue;
    const oid = Number(m[1]);
    const list = tree.get(oid) ?? [];
    if (m[2] !== undefined && !list.includes(Number(m[2]))) list.push(Number(m[2]));
    tree.set(oid, list);
  }
  return new Map([...tree.entries()].sort((a, b) => a[0] - b[0]));
}

/** A typed JSON value from the text of the value field. */
function typedValue(type: string, text: string): string | number | boolean {
  switch (type) {
    case 'INTEGER':
    case 'UNSIGNED_INTEGER':
    case 'FLOAT':
    case 'TIME': {
      const n = Number(text);
      if (text.trim() === '' || !Number.isFinite(n)) throw new Error(`"${text}" is not a number`);
      return n;
    }
    case 'BOOLEAN':
      if (/^(true|1)$/i.test(text)) return true;
      if (/^(false|0)$/i.test(text)) return false;
      throw new Error('a boolean is true or false');
    default:
      return text;
  }
}

function normalize(path: string): string {
  const segs = path.split('/').filter((s) => s !== '');
  if (segs.length === 0 || segs.length > 4 || segs.some((s) => !/^\d+$/.test(s))) throw new Error(`"${path}" is not an LwM2M path like /3/0/0`);
  return `/${segs.map(Number).join('/')}`;
}

/** Renders the device page into `root`; returns the clean-up (closes the event stream). */
export function renderDevice(root: HTMLElement, endpoint: string): () => void {
  const types = new Map<string, string>();
  const observed = new Map<string, HTMLElement>();
  const details = h('dl', { id: 'registration' });
  const status = h('p', { id: 'device-status', class: 'muted' });
  const tree = h('div', { id: 'object-tree' });
  const pathInput = h('input', { id: 'op-path', value: '/3/0/0', 'aria-label': 'Path', spellcheck: 'false' });
  const valueInput = h('input', { id: 'op-value', placeholder: 'value to write', 'aria-label': 'Value' });
  const typeSelect = h('select', { id: 'op-type', 'aria-label': 'Type' }, ...TYPES.map((t) => h('option', { value: t }, t)));
  const argsInput = h('input', { id: 'op-args', placeholder: "execute arguments, e.g. 0='x'", 'aria-label': 'Execute arguments' });
  const result = h('pre', { id: 'op-result', class: 'result', 'aria-live': 'polite' });
  const obsBody = h('tbody', { id: 'observations' });
  const liveState = h('span', { id: 'live-state', class: 'muted' }, 'connecting…');
  let seq = 0;

  const show = (text: string, ok: boolean): void => {
    result.textContent = text;
    result.className = ok ? 'result ok' : 'result fail';
  };
  const failed = (err: unknown): void => show(err instanceof HttpError ? `${err.status}: ${err.message}` : (err as Error).message, false);

  /** Remembers resource types from an answer so a later write sends the right one, and fills live cells. */
  const learn = (path: string, node: NodeJson): void => {
    const segs = path.split('/').filter((s) => s !== '');
    const walkResource = (base: string, r: ResourceJson): void => {
      const p = `${base}/${r.id}`;
      types.set(p, r.type);
      for (const cell of document.querySelectorAll<HTMLElement>(`[data-value-of="${CSS.escape(p)}"]`)) cell.textContent = resourceText(r);
    };
    const walkInstance = (base: string, i: InstanceJson): void => i.resources.forEach((r) => walkResource(`${base}/${i.id}`, r));
    if (node.kind === 'obj') node.instances.forEach((i) => walkInstance(`/${node.id}`, i));
    else if (node.kind === 'instance') walkInstance(`/${segs[0]}`, node);
    else walkResource(`/${segs.slice(0, -1).join('/')}`, node);
    if (node.kind !== 'obj' && node.kind !== 'instance' && types.has(path)) typeSelect.value = types.get(path)!;
  };

  const read = async (path: string): Promise<DeviceResponseJson> => {
    const { data } = await call<DeviceResponseJson>('GET', deviceUrl(endpoint, path));
    if (isNode(data.content)) learn(path, data.content);
    return data;
  };

  const op = async (kind: 'read' | 'write' | 'execute' | 'observe' | 'cancel'): Promise<void> => {
    let path: string;
    try {
      path = normalize(pathInput.value);
    } catch (err) {
      return failed(err);
    }
    show(`${kind} ${path}…`, true);
    try {
      if (kind === 'read') {
        const r = await read(path);
        show(responseText(r, path), r.success);
      } else if (kind === 'write') {
        const segs = path.split('/').filter((s) => s !== '');
        if (segs.length !== 3) throw new Error('write takes a resource path /object/instance/resource');
        const type = typeSelect.value;
        const body = { id: Number(segs[2]), kind: 'singleResource', type, value: typedValue(type, valueInput.value) };
        const { data } = await call<DeviceResponseJson>('PUT', deviceUrl(endpoint, path), body);
        show(responseText(data, path), data.success);
      } else if (kind === 'execute') {
        const args = argsInput.value.trim();
        const { data } = await call<DeviceResponseJson>('POST', deviceUrl(endpoint, path), args === '' ? undefined : { args });
        show(responseText(data, path), data.success);
      } else if (kind === 'observe') {
        const { data } = await call<DeviceResponseJson>('POST', deviceUrl(endpoint, path, '/observe'));
        show(responseText(data, path), data.success);
        if (data.success) addObservation(path, data);
      } else {
        const { data } = await call<{ cancelled: number }>('DELETE', deviceUrl(endpoint, path, '/observe'));
        show(`cancelled ${data.cancelled} observation(s) of ${path}`, true);
        removeObservation(path);
      }
    } catch (err) {
      failed(err);
    }
  };

  const addObservation = (path: string, r: DeviceResponseJson): void => {
    if (isNode(r.content)) learn(path, r.content);
    let cell = observed.get(path);
    if (cell === undefined) {
      cell = h('td', { class: 'live-value', 'data-observed': path });
      const when = h('td', { class: 'muted', 'data-observed-at': path });
      const cancel = h('button', { type: 'button', class: 'small' }, 'Cancel');
      cancel.addEventListener('click', () => {
        pathInput.value = path;
        void op('cancel');
      });
      obsBody.append(h('tr', { 'data-observation': path }, h('td', {}, path), cell, when, h('td', {}, cancel)));
      observed.set(path, cell);
    }
    setObserved(path, isNode(r.content) ? r.content : undefined);
  };
  const removeObservation = (path: string): void => {
    observed.delete(path);
    obsBody.querySelector(`tr[data-observation="${CSS.escape(path)}"]`)?.remove();
  };
  const setObserved = (path: string, node: NodeJson | undefined): void => {
    const cell = observed.get(path);
    if (cell === undefined || node === undefined) return;
    cell.textContent = node.kind === 'obj' || node.kind === 'instance' ? responseText({ status: '', success: true, content: node }, path).trim() : resourceText(node);
    const when = obsBody.querySelector(`td[data-observed-at="${CSS.escape(path)}"]`);
    if (when) when.textContent = new Date().toLocaleTimeString();
  };

  const button = (label: string, id: string, fn: () => void): HTMLButtonElement => {
    const b = h('button', { type: 'button', id }, label);
    b.addEventListener('click', fn);
    return b;
  };

  const instanceView = (oid: number, iid: number): HTMLElement => {
    const path = `/${oid}/${iid}`;
    const out = h('tbody', { 'data-resources-of': path });
    const readBtn = h('button', { type: 'button', class: 'small', 'data-read': path }, `Read ${path}`);
    readBtn.addEventListener('click', () => {
      pathInput.value = path;
      read(path)
        .then((r) => {
          show(responseText(r, path), r.success);
          if (r.content && isNode(r.content) && r.content.kind === 'instance') replace(out, ...r.content.resources.map((res) => resourceRow(path, res)));
        })
        .catch(failed);
    });
    return h('div', { class: 'instance' }, readBtn, h('table', { class: 'resources' }, out));
  };

  const resourceRow = (base: string, r: ResourceJson): HTMLTableRowElement => {
    const p = `${base}/${r.id}`;
    const pick = h('button', { type: 'button', class: 'small' }, 'Select');
    pick.addEventListener('click', () => {
      pathInput.value = p;
      typeSelect.value = r.type;
      valueInput.value = r.kind === 'multiResource' ? '' : resourceText(r);
    });
    return h('tr', {}, h('td', {}, p), h('td', { 'data-value-of': p }, resourceText(r)), h('td', { class: 'muted' }, r.type), h('td', {}, pick));
  };

  const renderRegistration = (reg: RegistrationJson): void => {
    const rows: [string, string][] = [
      ['Endpoint', reg.endpoint], ['Registration id', reg.registrationId], ['Address', reg.address], ['LwM2M version', reg.lwM2mVersion],
      ['Binding', reg.bindingMode], ['Queue mode', reg.queueMode ? 'yes' : 'no'], ['State', reg.sleeping ? 'sleeping' : 'online'],
      ['Lifetime', `${reg.lifetime} s`], ['Secure (DTLS)', reg.secure ? 'yes' : 'no'], ['Registered', new Date(reg.registrationDate).toLocaleString()],
      ['Last update', new Date(reg.lastUpdate).toLocaleString()], ['Content formats', reg.supportedContentFormats.join(', ')], ['Root path', reg.rootPath],
    ];
    replace(details, ...rows.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
    const objects = objectTree(reg);
    replace(tree, ...[...objects.entries()].map(([oid, iids]) =>
      h('details', { open: true, class: 'object', 'data-object': oid },
        h('summary', {}, `/${oid} ${OBJECT_NAMES[oid] ?? 'Object ' + oid}`, iids.length ? '' : ' (no instances)'),
        ...iids.sort((a, b) => a - b).map((iid) => instanceView(oid, iid)),
      )));
  };

  const loadRegistration = async (): Promise<void> => {
    const mine = ++seq;
    try {
      const { data } = await call<RegistrationJson>('GET', `/api/clients/${encodeURIComponent(endpoint)}`);
      if (mine !== seq) return;
      status.textContent = '';
      renderRegistration(data);
    } catch (err) {
      if (mine === seq) status.textContent = err instanceof HttpError && err.status === 404 ? 'This device is not registered (offline).' : (err as Error).message;
    }
  };

  const close = subscribe(['REGISTRATION', 'UPDATED', 'DEREGISTRATION', 'SLEEPING', 'AWAKE', 'NOTIFICATION'], (name, data) => {
    if (name === 'NOTIFICATION') {
      const n = data as { ep?: string; res?: string; val?: unknown };
      if (n.ep !== endpoint || typeof n.res !== 'string' || !isNode(n.val)) return;
      learn(n.res, n.val);
      setObserved(n.res, n.val);
      return;
    }
    if (name === 'DEREGISTRATION') {
      status.textContent = 'The device deregistered.';
      observed.clear();
      replace(obsBody);
      return;
    }
    void loadRegistration();
  }, endpoint, (open) => {
    liveState.textContent = open ? '● live' : 'reconnecting…';
  });

  replace(root,
    h('p', {}, h('a', { href: '#/devices', id: 'back' }, '‹ Devices')),
    h('section', { class: 'card' }, h('div', { class: 'row' }, h('h1', { id: 'device-title' }, endpoint), liveState), status, details),
    h('section', { class: 'card' },
      h('h2', {}, 'Operations'),
      h('div', { class: 'row' }, pathInput,
        button('Read', 'op-read', () => void op('read')),
        button('Observe', 'op-observe', () => void op('observe')),
        button('Cancel observe', 'op-cancel', () => void op('cancel'))),
      h('div', { class: 'row' }, valueInput, typeSelect, button('Write', 'op-write', () => void op('write'))),
      h('div', { class: 'row' }, argsInput, button('Execute', 'op-execute', () => void op('execute'))),
      result,
      h('h3', {}, 'Observations'),
      h('table', {}, h('thead', {}, h('tr', {}, ...['Path', 'Value', 'Updated', ''].map((t) => h('th', {}, t)))), obsBody),
    ),
    h('section', { class: 'card' }, h('h2', {}, 'Objects'), tree),
  );
  void loadRegistration();
  return () => {
    seq++;
    close();
  };
}
