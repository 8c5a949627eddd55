/**
 * Every API route's schemas, in one table keyed by `METHOD /fastify/url/:pattern`. The `params`, `querystring` and
 * `body` schemas are what Fastify validates (JSON Schema draft-07, compiled by Fastify's built-in Ajv); the same
 * schemas, with `summary`, `tags` and `responses`, make the OpenAPI document (openapi.ts). Request values stay
 * strings (no type coercion), so the route handlers see what they saw before and keep their precise messages;
 * the schemas refuse what is plainly wrong, the handlers judge the rest.
 */

import { DEVICE_FIRMWARE_STATES } from '../firmware/index.js';
import { AUDIT_KINDS } from '../store/index.js';

/** A JSON Schema (draft-07, also valid as an OpenAPI 3.1 Schema Object). */
export type JsonSchema = { [keyword: string]: unknown };

/** One documented response. */
export interface ResponseSpec {
  description: string;
  /** Body schema (JSON unless `contentType` says otherwise); may `$ref` `#/components/schemas/*`. */
  schema?: JsonSchema;
  contentType?: string;
  /** Response headers by name. */
  headers?: Record<string, { description: string; schema: JsonSchema }>;
}

/** What one route takes and answers. */
export interface RouteSpec {
  summary: string;
  tags: string[];
  description?: string;
  /** Path parameters by name (the wildcard `*` is documented as `path`). */
  params?: Record<string, JsonSchema>;
  /** Query parameters by name; none is required unless listed in `requiredQuery`. */
  query?: Record<string, JsonSchema>;
  requiredQuery?: string[];
  /** JSON request body schema (validated when the request is `application/json`). */
  body?: JsonSchema;
  /** Whether the body must be there (OpenAPI `requestBody.required`). */
  bodyRequired?: boolean;
  /** Bodies in other media types: documented only (their parsers check them). */
  otherBodies?: Record<string, JsonSchema>;
  /** Responses by status code. */
  responses: Record<string, ResponseSpec>;
  /** False for routes served without credentials. */
  auth?: boolean;
}

const ref = (name: string): JsonSchema => ({ $ref: `#/components/schemas/${name}` });
const arrayOf = (items: JsonSchema): JsonSchema => ({ type: 'array', items });
const json = (description: string, schema: JsonSchema): ResponseSpec => ({ description, schema });
const noContent: ResponseSpec = { description: 'Done; no body.' };
const str = (description: string, extra: JsonSchema = {}): JsonSchema => ({ type: 'string', description, ...extra });

const DIGITS = '^\\d{1,9}$';
/** A page of a campaign's devices. */
const DEVICE_PAGE: Record<string, JsonSchema> = {
  state: { type: 'string', description: 'Only devices in this state.', maxLength: 32 },
  offset: { type: 'string', description: 'Devices to skip (default 0).', pattern: '^\\d{1,9}$' },
  limit: { type: 'string', description: 'At most this many devices, 1..1000 (default 1000).', pattern: '^\\d{1,9}$' },
};
const ENDPOINT: JsonSchema = str('Endpoint name of the device.', { minLength: 1, maxLength: 2048 });
const NUMERIC_ID: JsonSchema = str('Numeric id.', { pattern: '^\\d{1,15}$' });
const FLAG: JsonSchema = str('Boolean flag: "true", "false", or present without a value (true).', { enum: ['', 'true', 'false'] });
const FORMAT_NAME: JsonSchema = str('Content format name (case-insensitive): TLV, SENML_JSON, SENML_CBOR, LWM2M_CBOR, TEXT, OPAQUE, JSON.', {
  pattern: '^[A-Za-z0-9_-]{1,32}$',
});
const TIMEOUT: JsonSchema = str('Seconds to wait for the device, in (0, 300]; default 5.', { pattern: '^\\d{1,6}(\\.\\d{1,9})?$' });
const PAGE = {
  offset: str('Entries to skip (default 0).', { pattern: DIGITS }),
  limit: str('Page size (default 100, at most 1000).', { pattern: DIGITS }),
};
const SHARE: JsonSchema = { type: ['number', 'string'], description: 'A percentage: a number or "N%".' };
const X_TOTAL = { 'X-Total-Count': { description: 'Entries in the whole list.', schema: { type: 'string' } } };
const LOCATION = { Location: { description: 'URL of the created resource.', schema: { type: 'string' } } };

const NODE_KINDS = ['obj', 'instance', 'singleResource', 'multiResource', 'resourceInstance'];
/** What every node-ish JSON body must at least be: the node parser (node-json.ts) words anything finer. */
const NODE_HEAD = {
  kind: { enum: NODE_KINDS, description: 'Node kind.' },
  id: { anyOf: [{ type: 'integer', minimum: 0, maximum: 65535 }, { type: 'string', pattern: '^\\d{1,5}$' }], description: 'Node id (0..65535).' },
};
const DEVICE_QUERY = { timeout: TIMEOUT, format: FORMAT_NAME };

/** Shared response shapes: `components.schemas` of the OpenAPI document. */
export const COMPONENT_SCHEMAS: Record<string, JsonSchema> = {
  Error: { type: 'object', required: ['message'], properties: { message: { type: 'string' } } },
  Health: { type: 'object', required: ['status'], properties: { status: { type: 'string', enum: ['ok'] } } },
  Link: {
    type: 'object',
    required: ['url', 'attributes'],
    properties: { url: { type: 'string' }, attributes: { type: 'object', additionalProperties: { type: 'string' } } },
  },
  Registration: {
    type: 'object',
    required: ['endpoint', 'registrationId', 'registrationDate', 'lastUpdate', 'address', 'lwM2mVersion', 'lifetime', 'bindingMode', 'queueMode', 'rootPath', 'objectLinks', 'supportedContentFormats', 'secure', 'sleeping'],
    properties: {
      endpoint: { type: 'string' },
      registrationId: { type: 'string' },
      registrationDate: { type: 'string', format: 'date-time' },
      lastUpdate: { type: 'string', format: 'date-time' },
      address: { type: 'string', description: '"host:port" ("[v6]:port" for IPv6).' },
      lwM2mVersion: { type: 'string' },
      lifetime: { type: 'integer', description: 'Seconds.' },
      bindingMode: { type: 'string' },
      queueMode: { type: 'boolean' },
      smsNumber: { type: 'string' },
      rootPath: { type: 'string' },
      objectLinks: arrayOf(ref('Link')),
      supportedContentFormats: arrayOf({ type: 'integer' }),
      secure: { type: 'boolean' },
      sleeping: { type: 'boolean' },
    },
  },
  Scalar: { type: ['string', 'number', 'boolean', 'null'], description: 'Opaque as hex, time as epoch seconds, objlnk as "3:0".' },
  ResourceType: { type: 'string', enum: ['STRING', 'INTEGER', 'UNSIGNED_INTEGER', 'FLOAT', 'BOOLEAN', 'OPAQUE', 'TIME', 'OBJLNK', 'CORELINK', 'NONE'] },
  Node: {
    description: 'An LwM2M node: object, instance, single or multiple resource, or resource instance.',
    oneOf: [
      { type: 'object', required: ['kind', 'id', 'instances'], properties: { kind: { const: 'obj' }, id: { type: 'integer' }, instances: arrayOf(ref('Node')) } },
      { type: 'object', required: ['kind', 'id', 'resources'], properties: { kind: { const: 'instance' }, id: { type: 'integer' }, resources: arrayOf(ref('Node')) } },
      { type: 'object', required: ['kind', 'id', 'value'], properties: { kind: { const: 'singleResource' }, id: { type: 'integer' }, type: ref('ResourceType'), value: ref('Scalar') } },
      {
        type: 'object',
        required: ['kind', 'id', 'values'],
        properties: { kind: { const: 'multiResource' }, id: { type: 'integer' }, type: ref('ResourceType'), values: { type: 'object', additionalProperties: ref('Scalar') } },
      },
      { type: 'object', required: ['kind', 'id', 'value'], properties: { kind: { const: 'resourceInstance' }, id: { type: 'integer' }, type: ref('ResourceType'), value: ref('Scalar') } },
    ],
  },
  DeviceResponse: {
    type: 'object',
    required: ['status', 'valid', 'success', 'failure'],
    properties: {
      status: { type: 'string', description: 'LwM2M code name, e.g. "CONTENT(205)", "NOT_FOUND(404)".' },
      valid: { type: 'boolean' },
      success: { type: 'boolean' },
      failure: { type: 'boolean' },
      content: { anyOf: [ref('Node'), { type: 'object', description: 'Composite: nodes by path.', additionalProperties: ref('Node') }] },
      objectLinks: arrayOf(ref('Link')),
      location: { type: 'string' },
      observationId: { type: 'string' },
      errormessage: { type: 'string' },
    },
  },
  Observation: {
    type: 'object',
    required: ['observationId', 'paths', 'composite', 'createdAt'],
    properties: { observationId: { type: 'string' }, paths: arrayOf({ type: 'string' }), composite: { type: 'boolean' }, createdAt: { type: 'string', format: 'date-time' } },
  },
  Cancelled: { type: 'object', required: ['cancelled'], properties: { cancelled: { type: 'integer' } } },
  Device: {
    type: 'object',
    required: ['endpoint', 'online', 'sleeping', 'queueMode'],
    properties: {
      endpoint: { type: 'string' },
      online: { type: 'boolean', description: 'Registered now.' },
      sleeping: { type: 'boolean', description: 'A queue-mode device presumed asleep.' },
      queueMode: { type: 'boolean' },
      lastUpdate: { type: 'string', format: 'date-time', description: 'Last Register/Update, while registered.' },
      lastSeen: { type: 'string', format: 'date-time', description: 'When an offline device was last heard of (de-registration or expiry).' },
      address: { type: 'string', description: '"host:port", while registered.' },
      lwM2mVersion: { type: 'string' },
      securityMode: { enum: ['psk', 'rpk', 'x509', 'nosec'], description: "The credential's mode; nosec for a plain CoAP registration." },
      credentialCreatedAt: { type: 'string', format: 'date-time', description: 'When the current credential was set.' },
      firmwareVersion: { type: 'string', description: 'Device /3/0/3 as last read, notified or sent.' },
      fwState: { type: 'integer', description: 'Firmware Update /5/0/3 as last read, notified or sent.' },
    },
  },
  FirmwareVersionCount: {
    type: 'object',
    required: ['version', 'count'],
    properties: { version: { type: 'string' }, count: { type: 'integer' } },
  },
  SecurityInfo: {
    type: 'object',
    required: ['endpoint', 'tls', 'createdAt'],
    properties: {
      endpoint: { type: 'string' },
      tls: {
        type: 'object',
        required: ['mode', 'details'],
        properties: { mode: { enum: ['psk', 'rpk', 'x509'] }, details: { type: 'object', description: 'psk: identity; rpk: SHA-256 fingerprint; never a key.' } },
      },
      createdAt: { type: 'string', format: 'date-time' },
    },
  },
  BootstrapConfig: {
    type: 'object',
    description: 'A bootstrap configuration (servers, security, acls, toDelete); secret keys show as hasSecretKey.',
    properties: { servers: { type: 'object' }, security: { type: 'object' }, acls: { type: 'object' }, toDelete: arrayOf({ type: 'string' }) },
  },
  BootstrapConfigs: { type: 'object', additionalProperties: ref('BootstrapConfig') },
  RotationCampaign: {
    type: 'object',
    required: ['id', 'target', 'state', 'counts'],
    properties: {
      id: { type: 'integer' }, target: { type: 'object' }, state: { type: 'string' }, actor: { type: 'string' },
      createdAt: { type: 'integer' }, updatedAt: { type: 'integer' }, concurrency: { type: 'integer' }, maxAttempts: { type: 'integer' },
      counts: { type: 'object', additionalProperties: { type: 'integer' } },
      devices: arrayOf({ type: 'object' }),
    },
  },
  RotationDevice: {
    type: 'object',
    required: ['endpoint', 'state', 'attempts', 'history'],
    properties: {
      endpoint: { type: 'string' }, state: { type: 'string' }, attempts: { type: 'integer' }, newIdentity: { type: ['string', 'null'] },
      lastError: { type: ['string', 'null'] }, updatedAt: { type: 'integer' },
      history: arrayOf({
        type: 'object',
        properties: { endpoint: { type: 'string' }, time: { type: 'integer' }, from: { type: 'string' }, to: { type: 'string' }, note: { type: ['string', 'null'] } },
      }),
    },
  },
  CredentialAges: {
    type: 'object',
    required: ['time', 'total', 'byMode', 'buckets'],
    properties: {
      time: { type: 'string', format: 'date-time' },
      total: { type: 'integer' },
      byMode: { type: 'object', additionalProperties: { type: 'integer' } },
      buckets: arrayOf({
        type: 'object',
        required: ['label', 'fromMs', 'toMs', 'count', 'byMode'],
        properties: {
          label: { type: 'string' }, fromMs: { type: 'integer' }, toMs: { type: ['integer', 'null'] }, count: { type: 'integer' },
          byMode: { type: 'object', additionalProperties: { type: 'integer' } },
        },
      }),
    },
  },
  AuditEvent: {
    type: 'object',
    required: ['id', 'endpoint', 'kind', 'time', 'actor'],
    properties: { id: { type: 'integer' }, endpoint: { type: 'string' }, kind: { type: 'string' }, time: { type: 'string', format: 'date-time' }, actor: { type: 'string' }, detail: { type: 'object' } },
  },
  Certificate: {
    type: 'object',
    required: ['serial', 'endpoint', 'notBefore', 'notAfter', 'issuedAt', 'revokedAt'],
    properties: {
      serial: { type: 'string' }, endpoint: { type: 'string' }, notBefore: { type: 'string', format: 'date-time' }, notAfter: { type: 'string', format: 'date-time' },
      issuedAt: { type: ['string', 'null'], format: 'date-time' }, revokedAt: { type: ['string', 'null'], format: 'date-time' },
    },
  },
  Revoked: {
    type: 'object',
    required: ['revoked', 'serials', 'closed'],
    properties: { revoked: { type: 'integer' }, serials: arrayOf({ type: 'string' }), closed: { type: 'integer', description: 'DTLS associations closed.' } },
  },
  FirmwareCampaign: {
    type: 'object',
    required: ['id', 'packageId', 'packageVersion', 'target', 'settings', 'state', 'total', 'counts'],
    properties: {
      id: { type: 'integer' }, packageId: { type: 'string' }, packageVersion: { type: 'string' }, target: { type: 'object' }, settings: { type: 'object' },
      state: { enum: ['created', 'running', 'paused', 'finished', 'cancelled'] }, currentWave: { type: 'integer' }, waveSizes: arrayOf({ type: 'integer' }),
      pauseReason: { type: ['string', 'null'] }, actor: { type: 'string' }, createdAt: { type: 'integer' }, startedAt: { type: ['integer', 'null'] },
      updatedAt: { type: 'integer' }, total: { type: 'integer' }, counts: { type: 'object', additionalProperties: { type: 'integer' } },
      devices: arrayOf(ref('FirmwareCampaignDevice')),
    },
  },
  FirmwareCampaignDevice: {
    type: 'object',
    required: ['endpoint', 'wave', 'state', 'attempts', 'updateResult', 'lastError', 'updatedAt'],
    properties: {
      endpoint: { type: 'string' }, wave: { type: 'integer' },
      state: { enum: [...DEVICE_FIRMWARE_STATES] },
      attempts: { type: 'integer' }, updateResult: { type: ['integer', 'null'] }, lastError: { type: ['string', 'null'] }, updatedAt: { type: 'integer' },
      history: arrayOf({ type: 'object' }),
    },
  },
  FirmwarePackage: {
    type: 'object',
    required: ['id', 'version', 'uploadedAt'],
    description: 'A stored package; the show route adds alg, manifest and uris.',
    properties: { id: { type: 'string' }, version: { type: 'string' }, uploadedAt: { type: 'string', format: 'date-time' }, manifest: { type: 'object' }, uris: { type: 'object' } },
  },
  User: {
    type: 'object',
    required: ['name', 'role'],
    properties: { name: { type: 'string' }, role: { enum: ['admin', 'operator', 'viewer'] }, createdAt: { type: 'string', format: 'date-time' }, updatedAt: { type: 'string', format: 'date-time' } },
  },
  ApiToken: {
    type: 'object',
    required: ['id', 'user', 'scope'],
    description: 'An API token (the secret `token` only in the answer that creates it).',
    properties: {
      id: { type: 'string' }, user: { type: 'string' }, scope: { enum: ['read', 'write', 'admin'] }, name: { type: 'string' }, token: { type: 'string' },
      createdAt: { type: 'string', format: 'date-time' }, expiresAt: { type: ['string', 'null'] }, revokedAt: { type: ['string', 'null'] }, lastUsed: { type: ['string', 'null'] },
    },
  },
  RequestAuditEntry: {
    type: 'object',
    required: ['id', 'time', 'actor', 'via', 'method', 'route', 'path', 'status', 'address'],
    properties: {
      id: { type: 'integer' }, time: { type: 'string', format: 'date-time' }, actor: { type: 'string' }, via: { enum: ['session', 'token', 'builtin', 'none'] },
      method: { type: 'string' }, route: { type: 'string' }, path: { type: 'string' }, status: { type: 'integer' }, address: { type: 'string' },
    },
  },
  Session: {
    type: 'object',
    required: ['username', 'role'],
    properties: { username: { type: 'string' }, role: { type: 'string' }, via: { type: 'string' }, scope: { type: 'string' }, tokenId: { type: 'string' }, csrfToken: { type: 'string' }, expiresAt: { type: 'string', format: 'date-time' } },
  },
  DeviceCertificate: {
    type: 'object',
    required: ['serial', 'subject', 'notBefore', 'notAfter', 'issuedAt', 'revokedAt'],
    properties: {
      serial: { type: 'string' }, subject: { type: 'string' },
      notBefore: { type: 'string', format: 'date-time' }, notAfter: { type: 'string', format: 'date-time' },
      issuedAt: { type: ['string', 'null'], format: 'date-time' }, revokedAt: { type: ['string', 'null'], format: 'date-time' },
    },
  },
  DeviceSecurity: {
    type: 'object',
    required: ['endpoint', 'mode', 'certificates', 'credentialCreatedAt', 'pendingRotation', 'registeredIdentity'],
    properties: {
      endpoint: { type: 'string' },
      mode: { enum: ['psk', 'rpk', 'x509', null] },
      pskIdentity: { type: 'string' },
      rpkFingerprint: { type: 'string', description: 'SHA-256 of the SubjectPublicKeyInfo, hex.' },
      certificate: { $ref: '#/components/schemas/DeviceCertificate' },
      certificates: { type: 'array', items: { $ref: '#/components/schemas/DeviceCertificate' } },
      credentialCreatedAt: { type: ['string', 'null'], format: 'date-time' },
      pendingRotation: { type: 'boolean' },
      registeredIdentity: { anyOf: [{ type: 'null' }, { type: 'object', required: ['mode', 'name'], properties: { mode: { enum: ['psk', 'rpk', 'x509'] }, name: { type: 'string' } } }] },
    },
  },
  TimelineEntry: {
    type: 'object',
    required: ['time', 'kind', 'source', 'summary'],
    properties: {
      time: { type: 'string', format: 'date-time' }, kind: { type: 'string' },
      source: { enum: ['audit', 'firmware', 'rotation', 'registration'] }, summary: { type: 'string', description: 'Text (may quote device strings).' },
    },
  },
  DeviceCampaign: {
    type: 'object',
    required: ['campaignId', 'packageId', 'packageVersion', 'campaignState', 'state', 'attempts', 'updateResult', 'lastError', 'updatedAt'],
    properties: {
      campaignId: { type: 'integer' }, packageId: { type: 'string' }, packageVersion: { type: 'string' }, campaignState: { type: 'string' },
      state: { type: 'string' }, attempts: { type: 'integer' }, updateResult: { type: ['integer', 'null'] }, lastError: { type: ['string', 'null'] },
      updatedAt: { type: 'string', format: 'date-time' }, endpoint: { type: 'string' }, wave: { type: 'integer' },
    },
  },
  ObjectDefinition: {
    type: 'object',
    required: ['id', 'name', 'version', 'multiple', 'mandatory', 'resources'],
    properties: {
      id: { type: 'integer' }, name: { type: 'string' }, version: { type: 'string' }, multiple: { type: 'boolean' }, mandatory: { type: 'boolean' },
      resources: {
        type: 'array',
        items: {
          type: 'object',
          required: ['id', 'name', 'operations', 'multiple', 'mandatory', 'type'],
          properties: { id: { type: 'integer' }, name: { type: 'string' }, operations: { type: 'string' }, multiple: { type: 'boolean' }, mandatory: { type: 'boolean' }, type: { type: 'string' }, units: { type: 'string' } },
        },
      },
    },
  },
};

/** Every route of the API. Keys are `METHOD url` with the URL exactly as registered with Fastify. */
export const ROUTE_SCHEMAS: Readonly<Record<string, RouteSpec>> = {
  'GET /healthz': { summary: 'Liveness check', tags: ['operations'], auth: false, responses: { 200: json('Serving.', ref('Health')) } },
  'GET /metrics': {
    summary: 'Prometheus metrics (text exposition format 0.0.4)',
    description: 'Scrape with `authorization: Bearer <API token>` (Prometheus `authorization` or `bearer_token_file`).',
    tags: ['operations'],
    responses: { 200: { description: 'Metrics.', contentType: 'text/plain; version=0.0.4', schema: { type: 'string' } } },
  },
  'GET /api/openapi.json': { summary: 'This OpenAPI document', tags: ['operations'], responses: { 200: json('OpenAPI 3.1 document.', { type: 'object' }) } },

  'GET /api/clients': {
    summary: 'List registrations',
    tags: ['clients'],
    query: { ...PAGE, search: str('Substring of the endpoint name.', { maxLength: 2048 }) },
    responses: { 200: { ...json('A page of registrations sorted by endpoint.', arrayOf(ref('Registration'))), headers: X_TOTAL } },
  },
  'GET /api/devices': {
    summary: 'List known devices (registered or holding a credential), filtered',
    tags: ['clients'],
    query: {
      ...PAGE,
      search: str('Substring of the endpoint name.', { maxLength: 2048 }),
      online: str('Registered now: true or false.', { enum: ['', 'true', 'false'] }),
      queueMode: str('Registered in queue mode: true or false.', { enum: ['', 'true', 'false'] }),
      firmwareVersion: str('Exact firmware version (/3/0/3).', { maxLength: 255 }),
      securityMode: str('psk, rpk, x509 or none (NoSec).', { enum: ['', 'psk', 'rpk', 'x509', 'none'] }),
      credentialOlderThan: str('Credential set more than this many days ago.', { pattern: '^\\d{1,6}(\\.\\d{1,6})?$' }),
      credentialNewerThan: str('Credential set less than this many days ago.', { pattern: '^\\d{1,6}(\\.\\d{1,6})?$' }),
    },
    responses: { 200: { ...json('A page of devices sorted by endpoint; never key material.', arrayOf(ref('Device'))), headers: X_TOTAL } },
  },
  'GET /api/devices/firmware-versions': {
    summary: 'Firmware versions of known devices, with counts',
    tags: ['clients'],
    responses: { 200: json('Distinct versions sorted, with how many devices run each.', arrayOf(ref('FirmwareVersionCount'))) },
  },
  'GET /api/clients/:ep': { summary: 'Show a registration', tags: ['clients'], params: { ep: ENDPOINT }, responses: { 200: json('The registration.', ref('Registration')) } },
  'GET /api/clients/:ep/*': {
    summary: 'Read, discover, composite read or list observations',
    description: '`path` is an LwM2M path ("3/0/1"), optionally followed by "/discover"; or "composite" (with `paths`); or "observations".',
    tags: ['devices'],
    params: { ep: ENDPOINT, '*': str('LwM2M path and action; may contain "/".', { maxLength: 256 }) },
    query: { ...DEVICE_QUERY, paths: { type: ['string', 'array'], items: { type: 'string' }, description: 'Composite: comma-separated paths (or repeated).' }, pathformat: FORMAT_NAME, nodeformat: FORMAT_NAME },
    responses: { 200: json('What the device answered (observations: a list of Observation).', { anyOf: [ref('DeviceResponse'), arrayOf(ref('Observation'))] }) },
  },
  'PUT /api/clients/:ep/*': {
    summary: 'Write, write-attributes or composite write',
    description: 'Body: a node (`{"kind": ..., "id": ..., ...}`) for a write; `{"/3/0/1": node, ...}` for "composite"; `{"pmin": 10, "gt": null}` for ".../attributes" (or attributes in the query).',
    tags: ['devices'],
    params: { ep: ENDPOINT, '*': str('LwM2M path, "path/attributes" or "composite".', { maxLength: 256 }) },
    query: { ...DEVICE_QUERY, replace: FLAG, nodeformat: FORMAT_NAME },
    body: { type: ['object', 'null'], properties: NODE_HEAD },
    responses: { 200: json('What the device answered.', ref('DeviceResponse')) },
  },
  'POST /api/clients/:ep/*': {
    summary: 'Execute, create, observe or composite observe',
    description: 'Execute a resource path (body: text/plain arguments or `{"args": "..."}`); create under an object path (body: an instance, a list of them, or an object node); ".../observe"; "composite/observe" (with `paths`).',
    tags: ['devices'],
    params: { ep: ENDPOINT, '*': str('LwM2M path, "path/observe" or "composite/observe".', { maxLength: 256 }) },
    query: { ...DEVICE_QUERY, paths: { type: ['string', 'array'], items: { type: 'string' } }, pathformat: FORMAT_NAME, nodeformat: FORMAT_NAME },
    body: {
      type: ['object', 'array', 'string', 'null'],
      properties: { ...NODE_HEAD, args: { type: ['string', 'null'], description: 'Execute arguments (Core §5.4.5).' } },
      items: { type: 'object', properties: NODE_HEAD },
    },
    otherBodies: { 'text/plain': { type: 'string', description: 'Execute arguments.' } },
    responses: { 200: json('What the device answered.', ref('DeviceResponse')) },
  },
  'DELETE /api/clients/:ep/*': {
    summary: 'Delete an instance, or cancel an observation',
    tags: ['devices'],
    params: { ep: ENDPOINT, '*': str('LwM2M path, "path/observe" or "composite/observe".', { maxLength: 256 }) },
    query: { ...DEVICE_QUERY, active: FLAG, paths: { type: ['string', 'array'], items: { type: 'string' } } },
    responses: { 200: json('What the device answered, or the number of observations cancelled.', { anyOf: [ref('DeviceResponse'), ref('Cancelled')] }) },
  },
  'GET /api/event': {
    summary: 'Server-sent events',
    description: 'REGISTRATION, UPDATED, DEREGISTRATION, SLEEPING, AWAKE, NOTIFICATION, SEND, CAMPAIGN, FIRMWARE.',
    tags: ['events'],
    query: { ep: str('Only events of this endpoint.', { maxLength: 2048 }) },
    responses: { 200: { description: 'An event stream.', contentType: 'text/event-stream', schema: { type: 'string' } } },
  },

  'GET /api/security/clients': {
    summary: 'List device security info', tags: ['security'], query: PAGE,
    responses: { 200: { ...json('A page of security info.', arrayOf(ref('SecurityInfo'))), headers: X_TOTAL } },
  },
  'GET /api/security/clients/:ep': { summary: 'Show device security info', tags: ['security'], params: { ep: ENDPOINT }, responses: { 200: json('Security info (never a key).', ref('SecurityInfo')) } },
  'PUT /api/security/clients': {
    summary: 'Add or replace device security info',
    tags: ['security'],
    body: {
      type: 'object',
      required: ['endpoint', 'tls'],
      properties: {
        endpoint: ENDPOINT,
        tls: {
          type: 'object',
          required: ['mode'],
          properties: { mode: { enum: ['psk', 'rpk', 'x509'] }, details: { type: 'object', description: 'psk: {identity, key (hex)}; rpk: {key (hex SPKI)}; x509: {}.' } },
        },
      },
    },
    bodyRequired: true,
    responses: { 200: json('Stored (keys never returned).', ref('SecurityInfo')) },
  },
  'DELETE /api/security/clients/:ep': { summary: 'Remove device security info', tags: ['security'], params: { ep: ENDPOINT }, responses: { 204: noContent } },

  'GET /api/bootstrap': { summary: 'List bootstrap configurations', tags: ['bootstrap'], responses: { 200: json('Configurations by endpoint.', ref('BootstrapConfigs')) } },
  'GET /api/bootstrap/groups': { summary: 'List bootstrap groups', tags: ['bootstrap'], responses: { 200: json('Group configurations by name.', ref('BootstrapConfigs')) } },
  'GET /api/bootstrap/groups/:name': { summary: 'Show a bootstrap group', tags: ['bootstrap'], params: { name: str('Group name.', { minLength: 1 }) }, responses: { 200: json('The group.', ref('BootstrapConfig')) } },
  'PUT /api/bootstrap/groups/:name': {
    summary: 'Create or replace a bootstrap group', tags: ['bootstrap'], params: { name: str('Group name.', { minLength: 1 }) },
    body: { type: 'object', required: ['servers'], properties: { servers: { type: 'object' } } }, bodyRequired: true,
    responses: { 200: json('Stored (secret keys redacted).', ref('BootstrapConfig')) },
  },
  'DELETE /api/bootstrap/groups/:name': { summary: 'Remove a bootstrap group', tags: ['bootstrap'], params: { name: str('Group name.', { minLength: 1 }) }, responses: { 204: noContent } },
  'GET /api/bootstrap/:ep': { summary: 'Show a device bootstrap configuration', tags: ['bootstrap'], params: { ep: ENDPOINT }, responses: { 200: json('The configuration.', ref('BootstrapConfig')) } },
  'PUT /api/bootstrap/:ep': {
    summary: 'Create or replace a device bootstrap configuration', tags: ['bootstrap'], params: { ep: ENDPOINT },
    body: { type: 'object', required: ['servers'], properties: { servers: { type: 'object' }, security: { type: 'object' }, acls: { type: 'object' }, toDelete: { type: 'array' } } },
    bodyRequired: true,
    responses: { 200: json('Stored (secret keys redacted).', ref('BootstrapConfig')) },
  },
  'DELETE /api/bootstrap/:ep': { summary: 'Remove a device bootstrap configuration', tags: ['bootstrap'], params: { ep: ENDPOINT }, responses: { 204: noContent } },
  'POST /api/bootstrap/:ep/start': {
    summary: 'Server-initiated bootstrap', tags: ['bootstrap'], params: { ep: ENDPOINT },
    responses: { 200: json('Whether the device was bootstrapped.', { type: 'object', required: ['success'], properties: { success: { type: 'boolean' } } }) },
  },

  'POST /api/credentials/rotations': {
    summary: 'Start a credential rotation campaign',
    description: 'Exactly one of all, group, endpoint, endpoints. The campaign actor is the signed-in user.',
    tags: ['credentials'],
    body: {
      type: 'object',
      properties: {
        all: { const: true }, group: str('Device group.', { minLength: 1 }), endpoint: ENDPOINT,
        endpoints: { type: 'array', items: ENDPOINT, minItems: 1, maxItems: 10000, description: 'These endpoints.' },
        concurrency: { type: 'integer', minimum: 1, maximum: 10000 }, maxAttempts: { type: 'integer', minimum: 1, maximum: 10000 },
      },
    },
    bodyRequired: true,
    responses: { 201: { ...json('Started.', ref('RotationCampaign')), headers: LOCATION } },
  },
  'GET /api/credentials/rotations': { summary: 'List rotation campaigns', tags: ['credentials'], responses: { 200: json('Campaigns, newest first.', arrayOf(ref('RotationCampaign'))) } },
  'GET /api/credentials/rotations/:id': {
    summary: 'Show a rotation campaign', tags: ['credentials'], params: { id: NUMERIC_ID }, query: DEVICE_PAGE,
    responses: { 200: json('The campaign with a page of its devices and devicesTotal.', ref('RotationCampaign')) },
  },
  'GET /api/credentials/rotations/:id/devices/:ep': {
    summary: "Show one device's rotation state and history", tags: ['credentials'], params: { id: NUMERIC_ID, ep: ENDPOINT },
    responses: { 200: json('The device with its state transitions, oldest first.', ref('RotationDevice')) },
  },
  'GET /api/credentials/age': {
    summary: 'Histogram of credential age across the fleet',
    description: 'Age of each device\'s current credential (when it was set), counted per bucket and per security mode.',
    tags: ['credentials'],
    query: { buckets: str('Ascending bucket bounds, e.g. 1d,7d,30d,90d,1y (units s m h d w y; at most 20).', { maxLength: 200, pattern: '^[0-9smhdwy, ]*$' }) },
    responses: { 200: json('The histogram.', ref('CredentialAges')) },
  },
  'GET /api/audit': {
    summary: 'Query the credential audit log',
    tags: ['credentials'],
    query: {
      endpoint: str('Endpoint.', { maxLength: 2048 }),
      kind: str('Event kind.', { enum: ['', ...AUDIT_KINDS] }),
      actor: str('Actor; a trailing * matches a prefix (rotation:*).', { maxLength: 256 }),
      offset: str('Matching events to skip (newest first).', { pattern: DIGITS }),
      since: str('Epoch ms or ISO 8601.', { maxLength: 64 }),
      until: str('Epoch ms or ISO 8601.', { maxLength: 64 }),
      limit: str('1..1000.', { pattern: DIGITS }),
    },
    responses: { 200: json('Matching events.', arrayOf(ref('AuditEvent'))) },
  },

  'GET /api/certificates': {
    summary: 'List issued certificates', tags: ['certificates'],
    query: { endpoint: str('Only this endpoint.', { maxLength: 2048 }), limit: str('1..1000 (default 100).', { pattern: DIGITS }) },
    responses: { 200: json('Certificates, newest first (never a key).', arrayOf(ref('Certificate'))) },
  },
  'POST /api/certificates/:serial/revoke': {
    summary: 'Revoke a certificate', tags: ['certificates'],
    params: { serial: str('Serial number in hex (colons allowed).', { pattern: '^[0-9A-Fa-f:]{1,240}$' }) },
    responses: { 200: json('Revoked.', ref('Revoked')) },
  },
  'POST /api/certificates/revoke': {
    summary: "Revoke every unrevoked certificate of an endpoint", tags: ['certificates'],
    body: { type: 'object', required: ['endpoint'], properties: { endpoint: ENDPOINT } }, bodyRequired: true,
    responses: { 200: json('Revoked.', ref('Revoked')) },
  },

  'POST /api/campaigns': {
    summary: 'Create a firmware campaign',
    tags: ['firmware'],
    body: {
      type: 'object',
      required: ['package', 'target'],
      properties: {
        package: str('Package id.', { minLength: 1 }),
        target: {
          type: 'object',
          description: '{"group": NAME} or {"filter": {"endpoint": GLOB, "version": V, "attributes": {...}}}.',
          properties: { group: { type: 'string', minLength: 1 }, filter: { type: 'object' } },
        },
        canary: SHARE, successThreshold: SHARE, errorThreshold: SHARE,
        waves: { type: ['array', 'string'], items: SHARE, description: 'Cumulative shares, e.g. ["25%", "100%"] or "25,100".' },
        maxConcurrent: { type: 'integer', minimum: 1, maximum: 1000000 },
        minSample: { type: 'integer', minimum: 1, maximum: 1000000 },
        maxAttempts: { type: 'integer', minimum: 1, maximum: 1000000 },
        delivery: { enum: ['pull', 'push'] },
        scheme: str('URI scheme of pull delivery.', { maxLength: 16 }),
      },
    },
    bodyRequired: true,
    responses: { 201: { ...json('Created.', ref('FirmwareCampaign')), headers: LOCATION } },
  },
  'GET /api/campaigns': { summary: 'List firmware campaigns', tags: ['firmware'], responses: { 200: json('Campaigns, newest first.', arrayOf(ref('FirmwareCampaign'))) } },
  'GET /api/campaigns/:id': {
    summary: 'Show a firmware campaign', tags: ['firmware'], params: { id: NUMERIC_ID }, query: DEVICE_PAGE,
    responses: { 200: json('The campaign with a page of its devices and devicesTotal.', ref('FirmwareCampaign')) },
  },
  'GET /api/campaigns/:id/devices/:ep': {
    summary: "Show one device's campaign state and history", tags: ['firmware'], params: { id: NUMERIC_ID, ep: ENDPOINT },
    responses: { 200: json('The device.', ref('FirmwareCampaignDevice')) },
  },
  'POST /api/campaigns/:id/:action': {
    summary: 'Start, pause, resume or cancel a firmware campaign', tags: ['firmware'],
    params: { id: NUMERIC_ID, action: str('start, pause, resume or cancel (anything else is 404).', { maxLength: 32 }) },
    responses: { 200: json('The campaign.', ref('FirmwareCampaign')) },
  },

  'POST /api/firmware': {
    summary: 'Upload a signed firmware package',
    tags: ['firmware'],
    query: { name: str('Display name.', { maxLength: 200 }), notes: str('Release notes.', { maxLength: 2000 }) },
    otherBodies: { 'application/octet-stream': { type: 'string', format: 'binary', description: 'The package file (up to 64 MiB).' } },
    bodyRequired: true,
    responses: {
      201: { ...json('Stored.', ref('FirmwarePackage')), headers: LOCATION },
      200: { ...json('The same file was already stored.', ref('FirmwarePackage')), headers: LOCATION },
    },
  },
  'GET /api/firmware': {
    summary: 'List firmware packages', tags: ['firmware'],
    query: { vendor: str('Vendor.', { maxLength: 256 }), class: str('Device class.', { maxLength: 256 }), version: str('Version.', { maxLength: 256 }), kind: str('image or delta.', { enum: ['image', 'delta'] }) },
    responses: { 200: json('Packages.', arrayOf(ref('FirmwarePackage'))) },
  },
  'GET /api/firmware/:id': { summary: 'Show a firmware package with its manifest', tags: ['firmware'], params: { id: str('Package id.', { minLength: 1 }) }, responses: { 200: json('The package.', ref('FirmwarePackage')) } },
  'DELETE /api/firmware/:id': { summary: 'Remove a firmware package', tags: ['firmware'], params: { id: str('Package id.', { minLength: 1 }) }, responses: { 204: noContent } },

  // Users, sessions and tokens (auth.ts, sessions.ts, users.ts, tokens.ts): bodies are checked by their handlers
  // (their messages never echo a password), so the schemas here only require a JSON object.
  'POST /api/login': {
    summary: 'Sign in (console session cookie)', tags: ['access'], auth: false,
    body: { type: 'object', description: '{"username": ..., "password": ...}' }, bodyRequired: true,
    responses: { 200: json('Signed in: the session cookie is set; send csrfToken as X-CSRF-Token on writes.', ref('Session')) },
  },
  'POST /api/logout': { summary: 'Sign out', tags: ['access'], responses: { 204: noContent } },
  'GET /api/me': { summary: 'Who the credentials belong to', tags: ['access'], responses: { 200: json('The principal.', ref('Session')) } },
  'GET /api/users': { summary: 'List users', tags: ['access'], responses: { 200: json('Users (never a password).', arrayOf(ref('User'))) } },
  'POST /api/users': {
    summary: 'Add a user', tags: ['access'], body: { type: 'object', description: '{"name", "role": "admin"|"operator"|"viewer", "password"}' }, bodyRequired: true,
    responses: { 201: { ...json('Added.', ref('User')), headers: LOCATION } },
  },
  'PUT /api/users/:name': {
    summary: "Change a user's role or password", tags: ['access'], params: { name: str('User name.', { minLength: 1 }) },
    body: { type: 'object', description: '{"role"?, "password"?}' }, bodyRequired: true,
    responses: { 200: json('The user.', ref('User')) },
  },
  'DELETE /api/users/:name': { summary: 'Remove a user', tags: ['access'], params: { name: str('User name.', { minLength: 1 }) }, responses: { 204: noContent } },
  'POST /api/tokens': {
    summary: 'Create an API token', tags: ['access'],
    body: { type: ['object', 'null'], description: '{"user", "scope": "read"|"write"|"admin", "expires": "30d" | seconds, "name"}' },
    responses: { 201: { ...json('Created: the only answer that carries the secret.', ref('ApiToken')), headers: LOCATION } },
  },
  'GET /api/tokens': { summary: 'List API tokens', tags: ['access'], query: { user: str('Only this user.', { maxLength: 256 }) }, responses: { 200: json('Tokens (never a secret).', arrayOf(ref('ApiToken'))) } },
  'DELETE /api/tokens/:id': { summary: 'Revoke an API token', tags: ['access'], params: { id: str('Token id.', { minLength: 1 }) }, responses: { 204: noContent } },
  'GET /api/audit/requests': {
    summary: 'Query the audit of state-changing API requests (admins)',
    tags: ['access'],
    description: 'Every request but GET/HEAD/OPTIONS, logins and refused attempts included: who, route, path, status, address. Bodies and query strings are never kept.',
    query: {
      actor: str('User name (api-token for the built-in token).', { maxLength: 256 }),
      method: str('HTTP method.', { enum: ['', 'POST', 'PUT', 'DELETE', 'PATCH'] }),
      path: str('Path prefix, e.g. /api/firmware.', { maxLength: 2048 }),
      status: str('Status class.', { enum: ['', '2xx', '3xx', '4xx', '5xx'] }),
      since: str('Epoch ms or ISO 8601.', { maxLength: 64 }),
      until: str('Epoch ms or ISO 8601.', { maxLength: 64 }),
      limit: str('1..1000 (default 100).', { pattern: DIGITS }),
      before: str('Only entries with a smaller id (paging, newest first).', { pattern: DIGITS }),
      offset: str('Entries to skip, newest first.', { pattern: DIGITS }),
    },
    responses: { 200: json('Matching requests, newest first.', arrayOf(ref('RequestAuditEntry'))) },
  },
  'GET /api/devices/:ep/security': {
    summary: 'Security info of a device', tags: ['devices'], params: { ep: ENDPOINT },
    description: 'Mode, PSK identity, RPK fingerprint, certificates issued to it, pending rotation: never a key. 404 when nothing is known.',
    responses: { 200: json('Security info.', ref('DeviceSecurity')) },
  },
  'GET /api/devices/:ep/timeline': {
    summary: 'Event timeline of a device', tags: ['devices'], params: { ep: ENDPOINT },
    query: { limit: str('At most this many entries (default 100, at most 1000).', { pattern: DIGITS }) },
    description: 'Credential audit events, firmware campaign and credential rotation history, the current registration; newest first. 404 for a device Warden knows nothing of.',
    responses: { 200: json('Entries, newest first.', arrayOf(ref('TimelineEntry'))) },
  },
  'GET /api/devices/:ep/firmware': {
    summary: 'Firmware campaign records of a device', tags: ['devices'], params: { ep: ENDPOINT },
    query: { limit: str('At most this many records (default 100, at most 1000).', { pattern: DIGITS }) },
    responses: { 200: json('Records, newest campaign first.', arrayOf(ref('DeviceCampaign'))) },
  },
  'GET /api/objects/:id': {
    summary: 'An object definition of the model', tags: ['devices'], params: { id: str('Object id.', { pattern: '^\\d{1,5}$' }) },
    responses: { 200: json('The definition.', ref('ObjectDefinition')) },
  },
};
