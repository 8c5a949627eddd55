/**
 * The object instances a bootstrap sequence writes (Core Appendix E.1-E.3) built from a configuration, and the
 * plan of the whole sequence: which instances to delete, which to write, in which Content-Format.
 */
import { ContentFormat, type ObjectInstanceNode, type ResourceNode, type ResourceValue } from '../lwm2m/index.js';
import { SECURITY_MODES, type AclConfig, type BootstrapConfig, type SecurityConfig, type ServerConfig } from './config.js';

const int = (value: number): ResourceValue => ({ type: 'integer', value });
const single = (id: number, value: ResourceValue): ResourceNode => ({ kind: 'singleResource', id, value });
const bytes = (hexText: string | undefined): Uint8Array => (hexText ? new Uint8Array(Buffer.from(hexText, 'hex')) : new Uint8Array(0));

/** A generated DM account: a fresh PSK for the Warden DM server (never logged, stored only after Finish). */
export interface GeneratedPsk {
  kind: 'psk';
  identity: string;
  key: Uint8Array;
  /** The endpoint's pending rotation PSK from the security store (already stored), not a fresh one. */
  pending?: boolean;
}

/** A generated certificate account (Security mode 2): a key pair made for the device and a certificate from Warden's CA. */
export interface GeneratedCertificate {
  kind: 'certificate';
  serial: string;
  /** DER. */
  certificate: Uint8Array;
  /** PKCS#8 DER; zeroed once written. */
  privateKey: Uint8Array;
  /** Written to /0/x/4: the trust anchor the device checks the DM server's certificate against. */
  serverTrustAnchor: Uint8Array;
}

/** A generated raw public key account (Security mode 1): a P-256 key pair made for the device. */
export interface GeneratedRawPublicKey {
  kind: 'rpk';
  /** The device's SubjectPublicKeyInfo, DER. */
  publicKey: Uint8Array;
  /** PKCS#8 DER; zeroed once written. */
  privateKey: Uint8Array;
  /** The DM server's SubjectPublicKeyInfo, written to /0/x/4 (pinned by the device). */
  serverPublicKey: Uint8Array;
  /** Stored as the endpoint's pending key before the writes: it replaces the current one once the device proves it. */
  pending: boolean;
}

/** Security mode 4 (Certificate with EST): the device enrolls itself; only the server trust anchor is written. */
export interface GeneratedEst {
  kind: 'est';
  serverTrustAnchor: Uint8Array;
}

export type GeneratedCredential = GeneratedPsk | GeneratedRawPublicKey | GeneratedCertificate | GeneratedEst;

/**
 * RFC 6698 §2.1.1 usage 2 (trust anchor assertion) for generated certificate accounts: /0/x/4 holds Warden's CA
 * certificate and the DM server's certificate must chain to it and name the Server URI host, so the server's
 * certificate can be renewed without touching devices.
 */
export const GENERATED_CERTIFICATE_USAGE = 2;

/** The Security instance fields of a generated account. */
function generatedSecurity(g: GeneratedCredential): Pick<SecurityWrite, 'securityMode' | 'publicKeyOrId' | 'serverPublicKey' | 'secretKey' | 'certificateUsage'> {
  switch (g.kind) {
    case 'psk':
      return { securityMode: SECURITY_MODES.PSK, publicKeyOrId: new Uint8Array(Buffer.from(g.identity, 'utf8')), serverPublicKey: new Uint8Array(0), secretKey: g.key };
    case 'rpk':
      return { securityMode: SECURITY_MODES.RPK, publicKeyOrId: g.publicKey, serverPublicKey: g.serverPublicKey, secretKey: g.privateKey };
    case 'certificate':
      return { securityMode: SECURITY_MODES.X509, publicKeyOrId: g.certificate, serverPublicKey: g.serverTrustAnchor, secretKey: g.privateKey, certificateUsage: GENERATED_CERTIFICATE_USAGE };
    case 'est':
      return { securityMode: SECURITY_MODES.EST, publicKeyOrId: new Uint8Array(0), serverPublicKey: g.serverTrustAnchor, secretKey: new Uint8Array(0), certificateUsage: GENERATED_CERTIFICATE_USAGE };
  }
}

/** One Security instance as written: `config` with its keys as bytes. */
export interface SecurityWrite {
  uri: string;
  bootstrapServer: boolean;
  securityMode: number;
  shortServerId?: number;
  publicKeyOrId: Uint8Array;
  serverPublicKey: Uint8Array;
  secretKey: Uint8Array;
  clientHoldOffTime?: number;
  /** Resource 15 (LwM2M 1.1). */
  certificateUsage?: number;
}

export function securityFromConfig(c: SecurityConfig): SecurityWrite {
  const out: SecurityWrite = {
    uri: c.uri,
    bootstrapServer: c.bootstrapServer === true,
    securityMode: SECURITY_MODES[c.securityMode],
    publicKeyOrId: bytes(c.publicKeyOrId),
    serverPublicKey: bytes(c.serverPublicKey),
    secretKey: bytes(c.secretKey),
  };
  if (c.serverId !== undefined) out.shortServerId = c.serverId;
  if (c.clientOldOffTime !== undefined) out.clientHoldOffTime = c.clientOldOffTime;
  return out;
}

/** Security object instance (Core Appendix E.1): resources 0-5, 10 and 11. */
export function securityInstance(id: number, s: SecurityWrite): ObjectInstanceNode {
  const resources: ResourceNode[] = [
    single(0, { type: 'string', value: s.uri }),
    single(1, { type: 'boolean', value: s.bootstrapServer }),
    single(2, int(s.securityMode)),
    single(3, { type: 'opaque', value: s.publicKeyOrId }),
    single(4, { type: 'opaque', value: s.serverPublicKey }),
    single(5, { type: 'opaque', value: s.secretKey }),
  ];
  if (s.shortServerId !== undefined) resources.push(single(10, int(s.shortServerId)));
  resources.push(single(11, int(s.clientHoldOffTime ?? 0)));
  if (s.certificateUsage !== undefined) resources.push(single(15, int(s.certificateUsage)));
  return { kind: 'instance', id, resources };
}

/** Server object instance (Core Appendix E.2): short id, lifetime, default pmin/pmax, notification storing, binding. */
export function serverInstance(id: number, s: ServerConfig): ObjectInstanceNode {
  const resources: ResourceNode[] = [single(0, int(s.shortId)), single(1, int(s.lifetime ?? 300))];
  if (s.defaultMinPeriod !== undefined) resources.push(single(2, int(s.defaultMinPeriod)));
  if (s.defaultMaxPeriod !== undefined) resources.push(single(3, int(s.defaultMaxPeriod)));
  resources.push(single(6, { type: 'boolean', value: s.notifIfDisabled ?? true }));
  resources.push(single(7, { type: 'string', value: s.binding ?? 'U' }));
  return { kind: 'instance', id, resources };
}

/** Access Control instance (Core Appendix E.3). */
export function aclInstance(id: number, a: AclConfig): ObjectInstanceNode {
  const resources: ResourceNode[] = [single(0, int(a.objectId)), single(1, int(a.objectInstanceId))];
  if (a.acls && Object.keys(a.acls).length > 0) {
    const instances = new Map<number, ResourceValue>();
    for (const [ssid, rights] of Object.entries(a.acls)) instances.set(Number(ssid), int(rights));
    resources.push({ kind: 'multipleResource', id: 2, type: 'integer', instances });
  }
  resources.push(single(3, int(a.AccessControlOwner)));
  return { kind: 'instance', id, resources };
}

/** One Bootstrap-Write: the instance at /objectId/instance.id. */
export interface PlannedWrite {
  objectId: 0 | 1 | 2;
  instance: ObjectInstanceNode;
}

export interface BootstrapPlan {
  toDelete: string[];
  writes: PlannedWrite[];
  /** The credential generated for the Warden DM server, if the plan holds one. */
  generated?: GeneratedCredential;
}

export interface PlanInput {
  config: BootstrapConfig;
  /** Security instance ids the device's bootstrap account uses (kept; never written unless the config says so). */
  bootstrapInstanceIds: readonly number[];
  dmServerUri: string;
  /** Generates the credential for a server of the config that has no Security entry of its own. */
  generate: () => GeneratedCredential;
}

/**
 * The writes of a sequence: Security instances from the config, then a generated PSK account (Warden DM server) for
 * each Server instance whose short id has none (at most one: the security store holds one credential per device;
 * further ones are refused), then Server and ACL instances.
 */
export function planBootstrap(input: PlanInput): BootstrapPlan {
  const { config } = input;
  const writes: PlannedWrite[] = [];
  const securityIds = new Set<number>(input.bootstrapInstanceIds);
  const covered = new Set<number>();
  for (const [k, s] of Object.entries(config.security ?? {})) {
    const id = Number(k);
    // A config entry on an id the bootstrap account holds rewrites the bootstrap account only if it is one.
    if (input.bootstrapInstanceIds.includes(id) && !s.bootstrapServer) throw new Error(`security ${k} is the device's bootstrap account`);
    securityIds.add(id);
    if (s.serverId !== undefined) covered.add(s.serverId);
    writes.push({ objectId: 0, instance: securityInstance(id, securityFromConfig(s)) });
  }
  let generated: GeneratedCredential | undefined;
  for (const s of Object.values(config.servers)) {
    if (covered.has(s.shortId)) continue;
    if (generated) throw new Error(`servers ${s.shortId}: only one server can take a generated credential; give the others a security entry`);
    generated = input.generate();
    let id = 0;
    while (securityIds.has(id)) id++;
    securityIds.add(id);
    writes.push({
      objectId: 0,
      instance: securityInstance(id, {
        uri: input.dmServerUri,
        bootstrapServer: false,
        shortServerId: s.shortId,
        ...generatedSecurity(generated),
      }),
    });
  }
  for (const [k, s] of Object.entries(config.servers)) writes.push({ objectId: 1, instance: serverInstance(Number(k), s) });
  for (const [k, a] of Object.entries(config.acls ?? {})) writes.push({ objectId: 2, instance: aclInstance(Number(k), a) });
  const plan: BootstrapPlan = { toDelete: config.toDelete ?? ['/0', '/1'], writes };
  if (generated) plan.generated = generated;
  return plan;
}

/** Content-Format of the writes: the device's preferred one (`pct`) when it is TLV or SenML CBOR/JSON, else TLV (1.0 and 1.1). */
export function writeFormat(pct: number | undefined): number {
  if (pct === ContentFormat.SENML_CBOR || pct === ContentFormat.SENML_JSON || pct === ContentFormat.TLV) return pct;
  return ContentFormat.TLV;
}
