/** OMA DDF (Device Description Framework) object definition files, the LwM2M registry's XML schema (LWM2M.xsd). */
import type { ObjectDefinition, Operations, ResourceDefinition, ResourceType } from './model.js';
import { childElement, parseXml, type XmlElement } from './xml.js';

/** A DDF file that is well-formed XML but not a usable object definition. */
export class DdfError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DdfError';
  }
}

const TYPES: Record<string, ResourceType> = {
  string: 'string',
  integer: 'integer',
  'unsigned integer': 'unsignedInteger',
  unsignedinteger: 'unsignedInteger',
  float: 'float',
  boolean: 'boolean',
  opaque: 'opaque',
  time: 'time',
  objlnk: 'objlnk',
  corelnk: 'corelnk',
  '': 'none',
  none: 'none',
};

const OPERATIONS: Record<string, Operations> = { '': '', r: 'R', w: 'W', rw: 'RW', e: 'E', none: '' };

/** Text of a direct child, trimmed; '' when the child is missing (element names matched case-insensitively). */
function field(el: XmlElement, name: string): string {
  return childElement(el, name, true)?.text.trim() ?? '';
}

function optional(el: XmlElement, name: string): string | undefined {
  const v = field(el, name);
  return v === '' ? undefined : v;
}

function parseId(text: string, what: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) throw new DdfError(`${what} "${text}" is not an id in 0..65535`);
  return Number(text);
}

function parseMultiple(text: string, what: string): boolean {
  const v = text.toLowerCase();
  if (v === 'multiple') return true;
  if (v === 'single' || v === '') return false;
  throw new DdfError(`${what}: MultipleInstances "${text}" is neither Multiple nor Single`);
}

function parseMandatory(text: string, what: string): boolean {
  const v = text.toLowerCase();
  if (v === 'mandatory') return true;
  if (v === 'optional' || v === '') return false;
  throw new DdfError(`${what}: Mandatory "${text}" is neither Mandatory nor Optional`);
}

function parseResource(item: XmlElement, objectWhat: string): ResourceDefinition {
  const idText = (item.attributes['ID'] ?? item.attributes['id'] ?? '').trim();
  const what = `${objectWhat} resource ${idText || '?'}`;
  const id = parseId(idText, `${what}: ID`);
  const name = field(item, 'Name').replace(/\s+/g, ' ');
  if (name === '') throw new DdfError(`${what} has no Name`);
  const opsText = field(item, 'Operations').toUpperCase();
  const operations = OPERATIONS[opsText.toLowerCase()];
  if (operations === undefined) throw new DdfError(`${what}: unknown Operations "${opsText}"`);
  const typeText = field(item, 'Type').toLowerCase().replace(/\s+/g, ' ');
  const type = TYPES[typeText];
  if (type === undefined) throw new DdfError(`${what}: unknown Type "${field(item, 'Type')}"`);
  const def: {
    -readonly [K in keyof ResourceDefinition]: ResourceDefinition[K];
  } = {
    id,
    name,
    operations,
    multiple: parseMultiple(field(item, 'MultipleInstances'), what),
    mandatory: parseMandatory(field(item, 'Mandatory'), what),
    type,
  };
  const range = optional(item, 'RangeEnumeration');
  if (range !== undefined) def.rangeEnumeration = range;
  const units = optional(item, 'Units');
  if (units !== undefined) def.units = units;
  const description = optional(item, 'Description');
  if (description !== undefined) def.description = description;
  return def;
}

function parseObject(obj: XmlElement, index: number): ObjectDefinition {
  const idText = field(obj, 'ObjectID');
  const name = field(obj, 'Name').replace(/\s+/g, ' ');
  if (idText === '') throw new DdfError(`<Object> #${index + 1}${name ? ` (${name})` : ''} has no ObjectID`);
  const id = parseId(idText, 'ObjectID');
  if (name === '') throw new DdfError(`object ${id} has no Name`);
  const what = `object ${id}`;
  const version = optional(obj, 'ObjectVersion') ?? '1.0';
  if (!/^\d+\.\d+$/.test(version)) throw new DdfError(`${what}: ObjectVersion "${version}" is not like 1.0`);
  const resources = new Map<number, ResourceDefinition>();
  const container = childElement(obj, 'Resources', true);
  for (const item of container?.children ?? []) {
    if (item.name.toLowerCase() !== 'item') continue;
    const r = parseResource(item, what);
    if (resources.has(r.id)) throw new DdfError(`${what}: resource ${r.id} defined twice`);
    resources.set(r.id, r);
  }
  const def: { -readonly [K in keyof ObjectDefinition]: ObjectDefinition[K] } = {
    id,
    name,
    version,
    multiple: parseMultiple(field(obj, 'MultipleInstances'), what),
    mandatory: parseMandatory(field(obj, 'Mandatory'), what),
    resources,
  };
  const description = optional(obj, 'Description1');
  if (description !== undefined) def.description = description;
  const lwm2mVersion = optional(obj, 'LWM2MVersion');
  if (lwm2mVersion !== undefined) def.lwm2mVersion = lwm2mVersion;
  const urn = optional(obj, 'ObjectURN');
  if (urn !== undefined) def.urn = urn;
  return def;
}

/**
 * Parses a DDF file; one file may define several objects. Throws XmlError for malformed XML and
 * DdfError for a file that defines no object or an object without ObjectID/Name.
 */
export function parseDdf(xml: string): ObjectDefinition[] {
  const root = parseXml(xml);
  const objects = root.name.toLowerCase() === 'object' ? [root] : root.children.filter((c) => c.name.toLowerCase() === 'object');
  if (objects.length === 0) throw new DdfError(`not an object definition file: root <${root.name}> holds no <Object>`);
  return objects.map(parseObject);
}
