/**
 * The device page's forms for Create (from the model's definition of the object: GET /api/objects/:id, fetched
 * once per object) and
 * Write-Attributes (LwM2M 1.1 Core §5.1.2: pmin, pmax, gt, lt, st, epmin, epmax), and the text of a Discover answer.
 */
import { call } from './api.js';
import { h, replace } from './dom.js';
import type { DeviceResponseJson } from './format.js';

/** GET /api/objects/:id (src/api/device-detail.ts). */
export interface ObjectDefinitionJson {
  id: number;
  name: string;
  multiple: boolean;
  resources: { id: number; name: string; operations: string; multiple: boolean; mandatory: boolean; type: string; units?: string }[];
}

/** Object definitions by id, fetched once per page (undefined: not in the server's model). */
export function definitions(): (oid: number) => Promise<ObjectDefinitionJson | undefined> {
  const cache = new Map<number, Promise<ObjectDefinitionJson | undefined>>();
  return (oid) => {
    let p = cache.get(oid);
    if (p === undefined) {
      p = call<ObjectDefinitionJson>('GET', `/api/objects/${oid}`).then(({ data }) => data, () => undefined);
      cache.set(oid, p);
    }
    return p;
  };
}

/** Write-Attributes names (Core §5.1.2) in the order of the form. */
export const ATTRIBUTES = ['pmin', 'pmax', 'gt', 'lt', 'st', 'epmin', 'epmax'] as const;

/** A typed JSON value from the text of a field (types as the API names them: STRING, INTEGER ...). */
export function typedValue(type: string, text: string): string | number | boolean {
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

/** Write-Attributes body from the form's texts: numbers, and `null` (clear) for a field holding "-"; blanks left out. */
export function attributesBody(fields: Readonly<Record<string, string>>): Record<string, number | null> {
  const out: Record<string, number | null> = {};
  for (const name of ATTRIBUTES) {
    const text = (fields[name] ?? '').trim();
    if (text === '') continue;
    if (text === '-') {
      out[name] = null;
      continue;
    }
    const n = Number(text);
    if (!Number.isFinite(n)) throw new Error(`${name} must be a number (or "-" to clear it)`);
    out[name] = n;
  }
  if (Object.keys(out).length === 0) throw new Error('give at least one attribute');
  return out;
}

/** A Discover answer as lines: one link per line with its attributes (Core §5.4.2). */
export function discoverText(r: DeviceResponseJson): string {
  const lines = [r.status];
  if (r.errormessage) lines.push(r.errormessage);
  for (const l of r.objectLinks ?? []) {
    const attrs = Object.entries(l.attributes).map(([k, v]) => (v === '' ? k : `${k}=${v}`));
    lines.push(`<${l.url}>${attrs.length ? '  ' + attrs.join(' ') : ''}`);
  }
  return lines.join('\n');
}

/**
 * The Create form of an object: an instance id and one field per single, writable resource of its definition
 * (mandatory ones marked); `submit` gets the POST body, a field at fault is named in the form.
 */
export function createForm(def: ObjectDefinitionJson, nextId: number, into: HTMLElement, submit: (body: unknown) => void): void {
  const oid = def.id;
  const writable = def.resources.filter((r) => r.operations.includes('W') && !r.multiple);
  const idInput = h('input', { type: 'number', min: 0, max: 65534, 'data-create-field': 'id', value: nextId, 'aria-label': 'Instance id' });
  const fields = writable.map((r) => ({
    r,
    input: h('input', { 'data-create-field': r.id, placeholder: r.type.toLowerCase() + (r.units ? ` (${r.units})` : ''), 'aria-label': r.name }),
  }));
  const error = h('p', { class: 'error', role: 'alert' });
  const ok = h('button', { type: 'submit', id: `create-submit-${oid}`, class: 'small' }, `Create /${oid} instance`);
  const form = h('form', { class: 'create-form', id: `create-form-${oid}` },
    h('h4', {}, `New instance of /${oid} ${def.name}`),
    h('label', {}, 'Instance id', idInput),
    ...fields.map(({ r, input }) => h('label', {}, `${r.id} ${r.name}${r.mandatory ? ' *' : ''}`, input)),
    error, ok);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    try {
      const resources = fields
        .filter(({ r, input }) => {
          if (input.value === '' && r.mandatory) throw new Error(`${r.name} (${r.id}) is mandatory`);
          return input.value !== '';
        })
        .map(({ r, input }) => ({ id: r.id, kind: 'singleResource', type: r.type, value: typedValue(r.type, input.value) }));
      const id = Number(idInput.value);
      if (idInput.value === '' || !Number.isInteger(id) || id < 0 || id > 65534) throw new Error('the instance id is an integer from 0 to 65534');
      const body = { id, resources };
      error.textContent = '';
      submit(body);
    } catch (err) {
      error.textContent = (err as Error).message;
    }
  });
  replace(into, form);
}
