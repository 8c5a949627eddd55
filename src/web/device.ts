/**
 * One device: its registration, the object tree from the registration's object links, and every operation of
 * LwM2M 1.1 Core §6.3/§6.4: read, write, execute (with arguments), create, delete, discover, write-attributes,
 * composite read and observe, observe. Notifications update observed values live. Panels show security info,
 * firmware state and the event timeline (device-panels.ts). Viewers get no button that changes the device.
 * Whatever the device reports is text.
 */
import { call, deviceUrl, HttpError } from './api.js';
import { ATTRIBUTES, attributesBody, createForm, definitions, discoverText, typedValue } from './device-ops.js';
import { firmwarePanel, securityPanel, timelinePanel } from './device-panels.js';
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

function normalize(path: string): string {
  const segs = path.split('/').filter((s) => s !== '');
  if (segs.length === 0 || segs.length > 4 || segs.some((s) => !/^\d+$/.test(s))) throw new Error(`"${path}" is not an LwM2M path like /3/0/0`);
  return `/${segs.map(Number).join('/')}`;
}

type Op = 'read' | 'write' | 'execute' | 'observe' | 'cancel' | 'discover' | 'delete' | 'attributes';

/** True for roles that may change a device (auth.ts: writes on /api/clients need operator). */
export function canOperate(role: string | undefined): boolean {
  return role === 'operator' || role === 'admin';
}

/**
 * Renders the device page into `root` for a user of `role` (viewers get no write, execute, create, delete or
 * write-attributes control); returns the clean-up (closes the event stream).
 */
export function renderDevice(root: HTMLElement, endpoint: string, role?: string): () => void {
  const operator = canOperate(role);
  const types = new Map<string, string>();
  const observed = new Map<string, HTMLElement>();
  /** Resource paths checked in the tree for a composite request. */
  const selected = new Set<string>();
  const details = h('dl', { id: 'registration' });
  const status = h('p', { id: 'device-status', class: 'muted' });
  const tree = h('div', { id: 'object-tree' });
  const pathInput = h('input', { id: 'op-path', value: '/3/0/0', 'aria-label': 'Path', spellcheck: 'false' });
  const valueInput = h('input', { id: 'op-value', placeholder: 'value to write', 'aria-label': 'Value' });
  const typeSelect = h('select', { id: 'op-type', 'aria-label': 'Type' }, ...TYPES.map((t) => h('option', { value: t }, t)));
  const argsInput = h('input', { id: 'op-args', placeholder: "execute arguments, e.g. 0='x',1", 'aria-label': 'Execute arguments' });
  const attrInputs = ATTRIBUTES.map((name) => h('input', { id: `attr-${name}`, class: 'attr', placeholder: name, 'aria-label': name, size: 6 }));
  const result = h('pre', { id: 'op-result', class: 'result', 'aria-live': 'polite' });
  const obsBody = h('tbody', { id: 'observations' });
  const selection = h('span', { id: 'composite-selection', class: 'muted' }, 'no resource selected');
  const liveState = h('span', { id: 'live-state', class: 'muted' }, 'connecting…');
  const security = securityPanel(endpoint);
  const firmware = firmwarePanel(endpoint);
  const timeline = timelinePanel(endpoint);
  const definition = definitions();
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
  /** A composite answer or notification: `{"/3/0/1": node, ...}`. */
  const learnAll = (content: unknown): void => {
    if (typeof content !== 'object' || content === null || isNode(content)) return;
    for (const [p, n] of Object.entries(content as Record<string, unknown>)) {
      if (!isNode(n)) continue;
      learn(p, n);
      setObserved(p, n);
    }
  };

  const read = async (path: string): Promise<DeviceResponseJson> => {
    const { data } = await call<DeviceResponseJson>('GET', deviceUrl(endpoint, path));
    if (isNode(data.content)) learn(path, data.content);
    return data;
  };

  const op = async (kind: Op): Promise<void> => {
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
        show(`${responseText(data, path)}${args === '' ? '' : `\nwith arguments ${args}`}`, data.success);
      } else if (kind === 'observe') {
        const { data } = await call<DeviceResponseJson>('POST', deviceUrl(endpoint, path, '/observe'));
        show(responseText(data, path), data.success);
        if (data.success) addObservation(path, isNode(data.content) ? data.content : undefined);
      } else if (kind === 'discover') {
        const { data } = await call<DeviceResponseJson>('GET', deviceUrl(endpoint, path, '/discover'));
        show(discoverText(data), data.success);
      } else if (kind === 'delete') {
        if (path.split('/').filter((s) => s !== '').length !== 2) throw new Error('delete takes an instance path /object/instance');
        const { data } = await call<DeviceResponseJson>('DELETE', deviceUrl(endpoint, path));
        show(responseText(data, path), data.success);
      } else if (kind === 'attributes') {
        const fields: Record<string, string> = {};
        ATTRIBUTES.forEach((name, i) => (fields[name] = attrInputs[i]!.value));
        const { data } = await call<DeviceResponseJson>('PUT', deviceUrl(endpoint, path, '/attributes'), attributesBody(fields));
        show(responseText(data, path), data.success);
      } else {
        const { data } = await call<{ cancelled: number }>('DELETE', deviceUrl(endpoint, path, '/observe'));
        show(`cancelled ${data.cancelled} observation(s) of ${path}`, true);
        removeObservation(path);
      }
    } catch (err) {
      failed(err);
    }
  };

  const compositeUrl = (suffix = ''): string =>
    `/api/clients/${encodeURIComponent(endpoint)}/composite${suffix}?paths=${encodeURIComponent([...selected].join(','))}`;
  const composite = async (kind: 'read' | 'observe'): Promise<void> => {
    if (selected.size === 0) return failed(new Error('check one or more resources in the object tree first'));
    const paths = [...selected];
    show(`composite ${kind} ${paths.join(', ')}…`, true);
    try {
      const { data } = await call<DeviceResponseJson>(kind === 'read' ? 'GET' : 'POST', compositeUrl(kind === 'read' ? '' : '/observe'));
      show(responseText(data, ''), data.success);
      if (!data.success) return;
      if (kind === 'observe') for (const p of paths) addObservation(p, undefined, paths);
      learnAll(data.content);
    } catch (err) {
      failed(err);
    }
  };

  /** One row per observed path; `group` names the paths of a composite observation (cancelled together). */
  const addObservation = (path: string, node: NodeJson | undefined, group?: string[]): void => {
    if (node) learn(path, node);
    let cell = observed.get(path);
    if (cell === undefined) {
      cell = h('td', { class: 'live-value', 'data-observed': path });
      const when = h('td', { class: 'muted', 'data-observed-at': path });
      const cancel = h('button', { type: 'button', class: 'small' }, 'Cancel');
      cancel.addEventListener('click', () => {
        if (group === undefined) {
          pathInput.value = path;
          void op('cancel');
          return;
        }
        const url = `/api/clients/${encodeURIComponent(endpoint)}/composite/observe?paths=${encodeURIComponent(group.join(','))}`;
        call<{ cancelled: number }>('DELETE', url)
          .then(({ data }) => {
            show(`cancelled ${data.cancelled} composite observation(s) of ${group.join(', ')}`, true);
            group.forEach(removeObservation);
          })
          .catch(failed);
      });
      obsBody.append(h('tr', { 'data-observation': path }, h('td', {}, path, group ? h('span', { class: 'muted' }, ' (composite)') : ''), cell, when, h('td', {}, cancel)));
      observed.set(path, cell);
    }
    setObserved(path, node);
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
  const small = (label: string, attrs: Record<string, string>, fn: () => void): HTMLButtonElement => {
    const b = h('button', { type: 'button', class: 'small', ...attrs }, label);
    b.addEventListener('click', fn);
    return b;
  };
  const onPath = (path: string, kind: Op) => () => {
    pathInput.value = path;
    void op(kind);
  };

  const instanceView = (oid: number, iid: number): HTMLElement => {
    const path = `/${oid}/${iid}`;
    const out = h('tbody', { 'data-resources-of': path });
    const readBtn = small(`Read ${path}`, { 'data-read': path }, () => {
      pathInput.value = path;
      read(path)
        .then((r) => {
          show(responseText(r, path), r.success);
          if (r.content && isNode(r.content) && r.content.kind === 'instance') replace(out, ...r.content.resources.map((res) => resourceRow(path, res)));
        })
        .catch(failed);
    });
    const controls = h('div', { class: 'row' }, readBtn, small('Discover', { 'data-discover': path }, onPath(path, 'discover')));
    // Delete applies to instances of multiple-instance objects only (Core §5.4.6, the client answers 4.05 otherwise).
    if (operator) {
      void definition(oid).then((def) => {
        if (!def?.multiple) return;
        controls.append(small('Delete', { 'data-delete': path, class: 'small danger' }, () => {
          if (confirm(`Delete ${path} on ${endpoint}?`)) onPath(path, 'delete')();
        }));
      });
    }
    return h('div', { class: 'instance', 'data-instance': path }, controls, h('table', { class: 'resources' }, out));
  };

  const resourceRow = (base: string, r: ResourceJson): HTMLTableRowElement => {
    const p = `${base}/${r.id}`;
    const pick = small('Select', {}, () => {
      pathInput.value = p;
      typeSelect.value = r.type;
      valueInput.value = r.kind === 'multiResource' ? '' : resourceText(r);
    });
    const check = h('input', { type: 'checkbox', 'data-pick': p, 'aria-label': `Select ${p} for a composite request`, checked: selected.has(p) });
    check.addEventListener('change', () => {
      if (check.checked) selected.add(p);
      else selected.delete(p);
      selection.textContent = selected.size ? `selected: ${[...selected].join(', ')}` : 'no resource selected';
    });
    return h('tr', {}, h('td', {}, check), h('td', {}, p), h('td', { 'data-value-of': p }, resourceText(r)), h('td', { class: 'muted' }, r.type), h('td', {}, pick));
  };

  const objectView = (oid: number, iids: number[]): HTMLElement => {
    const form = h('div', { class: 'create-slot', 'data-create-slot': oid });
    const next = iids.length ? Math.max(...iids) + 1 : 0;
    const controls = h('div', { class: 'row' }, small(`Discover /${oid}`, { 'data-discover': `/${oid}` }, onPath(`/${oid}`, 'discover')));
    const name = h('span', {}, OBJECT_NAMES[oid] ?? `Object ${oid}`);
    void definition(oid).then((def) => {
      if (def && OBJECT_NAMES[oid] === undefined) name.textContent = def.name;
    });
    if (operator) {
      void definition(oid).then((def) => {
        if (!def?.multiple) return;
        controls.append(small('New instance…', { 'data-create': String(oid) }, () => {
          createForm(def, next, form, (body) => {
            show(`create /${oid}…`, true);
            call<DeviceResponseJson>('POST', deviceUrl(endpoint, `/${oid}`), body)
              .then(({ data }) => {
                show(`${responseText(data, `/${oid}`)}${data.location ? `\nlocation ${data.location}` : ''}`, data.success);
                if (data.success) replace(form);
              })
              .catch(failed);
          });
        }));
      });
    }
    return h('details', { open: true, class: 'object', 'data-object': oid },
      h('summary', {}, `/${oid} `, name, iids.length ? '' : ' (no instances)'),
      controls,
      form,
      ...iids.sort((a, b) => a - b).map((iid) => instanceView(oid, iid)));
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
    // Checked paths of instances that are gone are dropped.
    for (const p of selected) {
      const [oid, iid] = p.split('/').filter((x) => x !== '').map(Number);
      if (!objects.get(oid!)?.includes(iid!)) selected.delete(p);
    }
    replace(tree, ...[...objects.entries()].map(([oid, iids]) => objectView(oid, iids)));
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

  const close = subscribe(['REGISTRATION', 'UPDATED', 'DEREGISTRATION', 'SLEEPING', 'AWAKE', 'NOTIFICATION', 'FIRMWARE', 'ROTATION', 'AUDIT'], (name, data) => {
    timeline.live(name, data);
    // A credential created, rotated or revoked: the security panel shows the new state.
    if (name === 'AUDIT' || name === 'ROTATION') return void security.load();
    if (name === 'NOTIFICATION') {
      const n = data as { ep?: string; kind?: string; res?: string; val?: unknown };
      if (n.ep !== endpoint || typeof n.res !== 'string') return;
      if (n.kind === 'composite') return learnAll(n.val);
      if (!isNode(n.val)) return;
      learn(n.res, n.val);
      setObserved(n.res, n.val);
      return;
    }
    if (name === 'FIRMWARE') {
      void firmware.loadRecords();
      return;
    }
    if (name === 'DEREGISTRATION') {
      status.textContent = 'The device deregistered.';
      observed.clear();
      replace(obsBody);
      return;
    }
    if (name === 'REGISTRATION') void security.load();
    void loadRegistration();
  }, endpoint, (open) => {
    liveState.textContent = open ? '● live' : 'reconnecting…';
  });

  replace(root,
    h('p', {}, h('a', { href: '#/devices', id: 'back' }, '‹ Devices')),
    h('section', { class: 'card' }, h('div', { class: 'row' }, h('h1', { id: 'device-title' }, endpoint), liveState), status, details),
    h('section', { class: 'card', id: 'operations' },
      h('h2', {}, 'Operations'),
      h('div', { class: 'row' }, pathInput,
        button('Read', 'op-read', () => void op('read')),
        button('Discover', 'op-discover', () => void op('discover')),
        button('Observe', 'op-observe', () => void op('observe')),
        button('Cancel observe', 'op-cancel', () => void op('cancel')),
        operator && button('Delete instance', 'op-delete', () => void op('delete'))),
      operator && h('div', { class: 'row' }, valueInput, typeSelect, button('Write', 'op-write', () => void op('write'))),
      operator && h('div', { class: 'row' }, argsInput, button('Execute', 'op-execute', () => void op('execute'))),
      operator && h('div', { class: 'row', id: 'attributes-row' }, ...attrInputs, button('Write attributes', 'op-attributes', () => void op('attributes'))),
      h('div', { class: 'row' },
        button('Read selected', 'composite-read', () => void composite('read')),
        button('Observe selected', 'composite-observe', () => void composite('observe')),
        selection),
      result,
      h('h3', {}, 'Observations'),
      h('table', {}, h('thead', {}, h('tr', {}, ...['Path', 'Value', 'Updated', ''].map((t) => h('th', {}, t)))), obsBody),
    ),
    h('section', { class: 'card' }, h('h2', {}, 'Objects'), tree),
    security.element,
    firmware.element,
    timeline.element,
  );
  void loadRegistration();
  void security.load();
  void firmware.load();
  void timeline.load();
  return () => {
    seq++;
    close();
  };
}
