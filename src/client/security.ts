/**
 * The client's DTLS credentials and the Security object (LwM2M 1.1 Core Appendix E.1, Transport §5.2.8):
 * client options fill the object; when connecting, the client reads the object back and turns it into
 * DtlsClientOptions, so the object stays the single source of truth.
 */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import type { Clock } from '../coap/index.js';
import type { DtlsClientOptions } from '../dtls/index.js';
import { createPinnedRawPublicKeyVerifier, spkiOf } from '../dtls/rpk.js';
import { createServerCertificateVerifier, type CertificateUsage } from '../dtls/x509.js';
import type { Logger } from '../log.js';
import type { ObjectTree } from './tree.js';
import { SecurityMode, SecurityResource, type SecurityOptions } from './objects/security.js';

/** How the client authenticates to its server, and how it authenticates the server. */
export type ClientSecurity =
  | { mode: 'psk'; identity: string; key: Uint8Array }
  | {
      mode: 'rpk';
      privateKey: KeyObject;
      /** The server's SubjectPublicKeyInfo, DER (pinned). */
      serverPublicKey: Uint8Array;
    }
  | {
      mode: 'x509';
      /** Own certificate chain, DER, leaf first. */
      certificateChain: Uint8Array[];
      privateKey: KeyObject;
      /** Per the certificate usage: the server's certificate (1, 3) or a CA certificate (0, 2), DER. */
      serverCertificate?: Uint8Array;
      /** The device's PKIX trust store, for certificate usages 0 and 1. */
      trustAnchors?: Uint8Array[];
      /** LwM2M Certificate Usage (RFC 6698 §2.1.1), default 3 (domain-issued certificate). */
      certificateUsage?: CertificateUsage;
      /** Name the server certificate must match (Security object SNI, /0/x/14); default: the server URI host. */
      serverName?: string;
    }
  | { mode: 'nosec' };

/** The Security object resources (2-5, 14, 15) that hold `security`. */
export type SecurityCredentials = Omit<SecurityOptions, 'serverUri' | 'shortServerId' | 'bootstrapServer'>;

const MODE_NAMES: Record<number, string> = { 0: 'PSK', 1: 'RPK', 2: 'Certificate', 3: 'NoSec', 4: 'Certificate with EST' };

function pkcs8(key: KeyObject): Uint8Array {
  if (key.type !== 'private') throw new TypeError('the client key must be a private key');
  return new Uint8Array(key.export({ format: 'der', type: 'pkcs8' }));
}

/**
 * The Security object resources for `security`: PSK identity (UTF-8) and key; own SPKI and the server's SPKI for RPK;
 * own certificate(s) and the server certificate for X.509, the private key as PKCS#8 DER in the Secret Key.
 * A chain with intermediates is stored in resource 3 as the DER certificates one after another, leaf first.
 */
export function securityCredentials(security: ClientSecurity): SecurityCredentials {
  switch (security.mode) {
    case 'nosec':
      return { securityMode: SecurityMode.NoSec };
    case 'psk':
      if (security.key.length === 0) throw new TypeError('the PSK key is empty');
      return {
        securityMode: SecurityMode.PSK,
        publicKeyOrIdentity: new Uint8Array(Buffer.from(security.identity, 'utf8')),
        secretKey: new Uint8Array(security.key),
      };
    case 'rpk':
      return {
        securityMode: SecurityMode.RPK,
        publicKeyOrIdentity: spkiOf(security.privateKey),
        serverPublicKey: new Uint8Array(security.serverPublicKey),
        secretKey: pkcs8(security.privateKey),
      };
    case 'x509': {
      if (security.certificateChain.length === 0) throw new TypeError('the client certificate chain is empty');
      const out: SecurityCredentials = {
        securityMode: SecurityMode.Certificate,
        publicKeyOrIdentity: new Uint8Array(Buffer.concat(security.certificateChain)),
        serverPublicKey: new Uint8Array(security.serverCertificate ?? new Uint8Array(0)),
        secretKey: pkcs8(security.privateKey),
      };
      if (security.certificateUsage !== undefined) out.certificateUsage = security.certificateUsage;
      if (security.serverName !== undefined) out.sni = security.serverName;
      return out;
    }
  }
}

/** One Security object instance, as the client uses it to reach a server. */
export interface SecurityAccount {
  instanceId: number;
  serverUri: string;
  securityMode: number;
  publicKeyOrIdentity: Uint8Array;
  serverPublicKey: Uint8Array;
  secretKey: Uint8Array;
  matchingType?: number;
  sni?: string;
  certificateUsage?: number;
}

function value(tree: ObjectTree, iid: number, rid: number): string | number | boolean | Uint8Array | undefined {
  const node = tree.enabler(0)?.instance(iid)?.read(rid);
  if (!node || node.kind !== 'singleResource') return undefined;
  const v = node.value;
  switch (v.type) {
    case 'string':
    case 'boolean':
    case 'opaque':
      return v.value;
    case 'integer':
    case 'unsignedInteger':
      return Number(v.value);
    default:
      return undefined;
  }
}

/**
 * The Security instance of the LwM2M Server with `shortServerId` (resource 10), not a Bootstrap-Server account;
 * failing that, the first non-bootstrap instance. Undefined when the tree has no Security object.
 */
export function findSecurityAccount(tree: ObjectTree, shortServerId: number): SecurityAccount | undefined {
  const enabler = tree.enabler(0);
  if (!enabler) return undefined;
  const candidates = enabler.instanceIds().filter((iid) => value(tree, iid, SecurityResource.BootstrapServer) !== true);
  const iid = candidates.find((i) => value(tree, i, SecurityResource.ShortServerId) === shortServerId) ?? candidates[0];
  return iid === undefined ? undefined : accountOf(tree, iid);
}

/**
 * The LwM2M Server account whose Server URI names the same host and port as `uri` (credentials for a coaps://
 * firmware download from that server, as Anjay's downloader picks them); undefined when none does.
 */
export function findSecurityAccountFor(tree: ObjectTree, uri: string): SecurityAccount | undefined {
  const enabler = tree.enabler(0);
  const target = hostPort(uri);
  if (!enabler || target === undefined) return undefined;
  for (const iid of enabler.instanceIds()) {
    if (value(tree, iid, SecurityResource.BootstrapServer) === true) continue;
    const serverUri = value(tree, iid, SecurityResource.ServerUri);
    if (typeof serverUri === 'string' && hostPort(serverUri) === target) return accountOf(tree, iid);
  }
  return undefined;
}

function hostPort(uri: string): string | undefined {
  try {
    const url = new URL(uri);
    // WHATWG URL knows no default port for coaps: (RFC 7252 §6.2: 5684).
    return `${url.hostname.toLowerCase()}:${url.port || (url.protocol === 'coap:' ? '5683' : '5684')}`;
  } catch {
    return undefined;
  }
}

function accountOf(tree: ObjectTree, iid: number): SecurityAccount {
  const bytes = (rid: number): Uint8Array => {
    const v = value(tree, iid, rid);
    return v instanceof Uint8Array ? v : new Uint8Array(0);
  };
  const num = (rid: number): number | undefined => {
    const v = value(tree, iid, rid);
    return typeof v === 'number' ? v : undefined;
  };
  const uri = value(tree, iid, SecurityResource.ServerUri);
  const sni = value(tree, iid, SecurityResource.Sni);
  const account: SecurityAccount = {
    instanceId: iid,
    serverUri: typeof uri === 'string' ? uri : '',
    securityMode: num(SecurityResource.SecurityMode) ?? SecurityMode.NoSec,
    publicKeyOrIdentity: bytes(SecurityResource.PublicKeyOrIdentity),
    serverPublicKey: bytes(SecurityResource.ServerPublicKey),
    secretKey: bytes(SecurityResource.SecretKey),
  };
  const matching = num(SecurityResource.MatchingType);
  const usage = num(SecurityResource.CertificateUsage);
  if (matching !== undefined) account.matchingType = matching;
  if (usage !== undefined) account.certificateUsage = usage;
  if (typeof sni === 'string' && sni !== '') account.sni = sni;
  return account;
}

/**
 * Throws a clear configuration error unless the URI scheme fits the Security Mode (Transport §5.2.8): coaps://
 * for PSK, RPK and Certificate, coap:// for NoSec. Returns true for coaps://.
 */
export function checkSchemeAndMode(serverUri: string, securityMode: number): boolean {
  let protocol: string;
  try {
    protocol = new URL(serverUri).protocol;
  } catch {
    throw new Error(`invalid server URI "${serverUri}"`);
  }
  const mode = MODE_NAMES[securityMode] ?? `unknown (${securityMode})`;
  if (protocol === 'coap:') {
    if (securityMode !== SecurityMode.NoSec) {
      throw new Error(`server URI ${serverUri} is plain coap:// but the Security Mode is ${mode}: use a coaps:// URI, or NoSec`);
    }
    return false;
  }
  if (protocol === 'coaps:') {
    if (securityMode === SecurityMode.NoSec) {
      throw new Error(`server URI ${serverUri} is coaps:// but the Security Mode is NoSec: give PSK, RPK or X.509 credentials, or use coap://`);
    }
    if (securityMode !== SecurityMode.PSK && securityMode !== SecurityMode.RPK && securityMode !== SecurityMode.Certificate && securityMode !== SecurityMode.CertificateWithEst) {
      throw new Error(`Security Mode ${mode} is not supported (PSK, RPK, Certificate, Certificate with EST or NoSec)`);
    }
    return true;
  }
  throw new Error(`unsupported server URI scheme ${protocol} (coap: or coaps:)`);
}

/** What the client adds to the Security object when it connects. */
export interface DtlsExtras {
  /** PKIX trust store for certificate usages 0 and 1 (not part of the Security object). */
  trustAnchors?: Uint8Array[];
  /** Negotiate a Connection ID (RFC 9146), default true. */
  connectionId?: boolean;
  retransmitInitial?: number;
  /** Handshake flight retransmissions before the handshake fails (DtlsClientOptions.maxRetransmissions). */
  maxRetransmissions?: number;
  /** Local address to bind (default: any). */
  localAddress?: string;
  cipherSuites?: number[];
  logger?: Logger;
  clock?: Clock;
}

function privateKeyOf(der: Uint8Array, what: string): KeyObject {
  if (der.length === 0) throw new Error(`the Security object has no Secret Key (${what} mode needs the private key, PKCS#8 DER)`);
  try {
    return createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'pkcs8' });
  } catch {
    throw new Error('the Security object Secret Key is not a PKCS#8 DER private key');
  }
}

/** Splits DER objects stored one after another (each a SEQUENCE, X.690 §8.1.3 definite lengths). */
export function splitDer(bytes: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let i = 0;
  while (i < bytes.length) {
    if (bytes[i] !== 0x30 || i + 2 > bytes.length) throw new Error('the Security object certificate is not DER');
    let len = bytes[i + 1]!;
    let header = 2;
    if (len & 0x80) {
      const n = len & 0x7f;
      if (n === 0 || n > 3 || i + 2 + n > bytes.length) throw new Error('the Security object certificate is not DER');
      len = 0;
      for (let k = 0; k < n; k++) len = len * 256 + bytes[i + 2 + k]!;
      header += n;
    }
    const end = i + header + len;
    if (end > bytes.length) throw new Error('the Security object certificate is truncated');
    out.push(bytes.subarray(i, end));
    i = end;
  }
  return out;
}

/** The URI host without IPv6 brackets. */
function hostOf(serverUri: string): string {
  return new URL(serverUri).hostname.replace(/^\[|\]$/g, '');
}

/**
 * DtlsClientOptions from a Security account: PSK -> `psk`; RPK -> `rawPublicKey` and the Server Public Key pinned;
 * Certificate -> `certificate` and a verifier for the Certificate Usage (default 3, Core Appendix E.1 /0/x/15) against
 * the Server Public Key, matching the SNI resource or else the server URI host. Throws on incomplete credentials.
 */
export function dtlsClientOptions(account: SecurityAccount, extras: DtlsExtras = {}): DtlsClientOptions {
  const base: DtlsClientOptions = { connectionId: extras.connectionId ?? true };
  if (extras.retransmitInitial !== undefined) base.retransmitInitial = extras.retransmitInitial;
  if (extras.cipherSuites !== undefined) base.cipherSuites = extras.cipherSuites;
  if (extras.maxRetransmissions !== undefined) base.maxRetransmissions = extras.maxRetransmissions;
  if (extras.localAddress !== undefined) base.localAddress = extras.localAddress;
  if (extras.logger !== undefined) base.logger = extras.logger;
  if (extras.clock !== undefined) base.clock = extras.clock;
  const host = hostOf(account.serverUri);
  switch (account.securityMode) {
    case SecurityMode.PSK:
      if (account.publicKeyOrIdentity.length === 0) throw new Error('the Security object has no PSK identity (/0/x/3)');
      if (account.secretKey.length === 0) throw new Error('the Security object has no PSK (/0/x/5)');
      return { ...base, psk: { identity: account.publicKeyOrIdentity, key: account.secretKey } };
    case SecurityMode.RPK: {
      const privateKey = privateKeyOf(account.secretKey, 'RPK');
      if (account.serverPublicKey.length === 0) throw new Error('the Security object has no Server Public Key (/0/x/4) to pin');
      let verify;
      try {
        verify = createPinnedRawPublicKeyVerifier(account.serverPublicKey, host);
      } catch (err) {
        throw new Error(`the Security object Server Public Key (/0/x/4): ${(err as Error).message}`);
      }
      return { ...base, rawPublicKey: { privateKey }, verifyRawPublicKey: verify };
    }
    case SecurityMode.CertificateWithEst:
    case SecurityMode.Certificate: {
      // Mode 4 connects like mode 2 once EST has filled /0/x/3 and /0/x/5 (see enrollPendingAccounts).
      if (account.securityMode === SecurityMode.CertificateWithEst && account.publicKeyOrIdentity.length === 0) {
        throw new Error('the Security object is in Certificate with EST mode and holds no certificate yet: bootstrap enrolls one');
      }
      const privateKey = privateKeyOf(account.secretKey, 'Certificate');
      const chain = splitDer(account.publicKeyOrIdentity);
      if (chain.length === 0) throw new Error('the Security object has no client certificate (/0/x/3)');
      const usage = (account.certificateUsage ?? 3) as CertificateUsage;
      const serverName = account.sni ?? host;
      let verify;
      try {
        verify = createServerCertificateVerifier({
          certificateUsage: usage,
          serverPublicKey: account.serverPublicKey,
          ...(account.matchingType !== undefined ? { matchingType: account.matchingType as 0 | 1 | 2 | 3 } : {}),
          ...(extras.trustAnchors ? { trustAnchors: extras.trustAnchors } : {}),
          serverName,
          ...(extras.logger ? { logger: extras.logger } : {}),
        });
      } catch (err) {
        throw new Error(`X.509 configuration: ${(err as Error).message}`);
      }
      const opts: DtlsClientOptions = { ...base, certificate: { chain, privateKey }, verifyCertificate: verify };
      // RFC 6066 §3: literal IP addresses are not permitted in the SNI HostName.
      if (isIP(serverName) === 0) opts.serverName = serverName;
      return opts;
    }
    default:
      throw new Error(`Security Mode ${MODE_NAMES[account.securityMode] ?? account.securityMode} needs no DTLS or is not supported`);
  }
}
