/**
 * Factory PSKs derived from one master key: key = KDF(master, Label, endpoint || 0x00 || [version]_32, 128 bits)
 * (SP 800-108 counter mode, see kdf.ts). The PSK identity `warden:v<version>:<serial>` carries everything needed to
 * re-derive the key when the device first shows up, so no secret list is stored. Without the master key, nothing
 * secret follows from the serial, endpoint or identity.
 */
import { fixedInput, kdfCounterFixed } from './kdf.js';
import { KeyStoreError, type KeyStore } from './key-store.js';

/** SP 800-108 Label of factory PSKs; changing it changes every key. */
export const FACTORY_LABEL = 'warden factory psk';
/** Factory PSK length: 128 bits. */
export const FACTORY_KEY_BYTES = 16;
/** Identity prefix; the version and the serial follow. */
export const IDENTITY_PREFIX = 'warden:v';
/** Default endpoint prefix (RFC 9039 `urn:dev:sn:` serial number URN form used by many LwM2M fleets). */
export const DEFAULT_ENDPOINT_PREFIX = 'urn:dev:sn:';

const SERIAL = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const IDENTITY = /^warden:v([1-9][0-9]{0,8}):([A-Za-z0-9][A-Za-z0-9._-]{0,63})$/;

/** True for serials the factory list accepts: 1-64 of [A-Za-z0-9._-], starting alphanumeric (safe in CSV and URNs). */
export function isValidSerial(serial: string): boolean {
  return SERIAL.test(serial);
}

export interface FactoryKeyDeriverOptions {
  /** Label of the master key in the store (hmac-sha256 -> HMAC PRF, aes-* -> CMAC PRF). */
  masterLabel: string;
  /** Version that new identities carry (a positive integer). */
  keyVersion: number;
  /** Versions `keyFor` accepts; default 1..keyVersion, so devices made before a version bump still bootstrap. */
  acceptedVersions?: readonly number[];
  /** Prefix that turns a serial into an endpoint name; part of the derivation. Default `urn:dev:sn:`. */
  endpointPrefix?: string;
}

/** A parsed factory identity. */
export interface FactoryIdentity {
  serial: string;
  endpoint: string;
  keyVersion: number;
}

/** What a factory list row holds. */
export interface FactoryCredential extends FactoryIdentity {
  pskIdentity: string;
  pskKey: Uint8Array;
}

/** Derives and re-derives factory PSKs; the bootstrap server asks it for the key of a presented identity. */
export class FactoryKeyDeriver {
  readonly masterLabel: string;
  readonly keyVersion: number;
  readonly endpointPrefix: string;
  readonly #store: KeyStore;
  readonly #accepted: ReadonlySet<number>;
  readonly #label = Buffer.from(FACTORY_LABEL, 'utf8');
  readonly #prf: (data: Uint8Array) => Promise<Uint8Array>;

  constructor(store: KeyStore, options: FactoryKeyDeriverOptions) {
    const { masterLabel, keyVersion } = options;
    if (!Number.isInteger(keyVersion) || keyVersion < 1 || keyVersion > 999_999_999) throw new KeyStoreError('INVALID', 'the key version is a positive integer');
    const prefix = options.endpointPrefix ?? DEFAULT_ENDPOINT_PREFIX;
    if (!/^[\x21-\x7e]{0,64}$/.test(prefix) || /[",]/.test(prefix)) throw new KeyStoreError('INVALID', 'the endpoint prefix is printable ASCII without spaces, commas or quotes');
    this.#store = store;
    this.masterLabel = masterLabel;
    this.keyVersion = keyVersion;
    this.endpointPrefix = prefix;
    const accepted = options.acceptedVersions ?? Array.from({ length: keyVersion }, (_, i) => i + 1);
    this.#accepted = new Set(accepted);
    this.#prf = (data) => store.prf(masterLabel, data);
  }

  /** The PSK identity of a serial at this deriver's key version. */
  identityFor(serial: string): string {
    if (!isValidSerial(serial)) throw new KeyStoreError('INVALID', `invalid serial ${JSON.stringify(serial.slice(0, 80))}: 1-64 of A-Z a-z 0-9 . _ -`);
    return `${IDENTITY_PREFIX}${this.keyVersion}:${serial}`;
  }

  /** The endpoint name of a serial. */
  endpointFor(serial: string): string {
    return this.endpointPrefix + serial;
  }

  /** Serial, endpoint and version from an identity; undefined if it is not one of ours or its version is not accepted. */
  parseIdentity(identity: string): FactoryIdentity | undefined {
    const m = IDENTITY.exec(identity);
    if (!m) return undefined;
    const keyVersion = Number(m[1]);
    if (!this.#accepted.has(keyVersion)) return undefined;
    return { serial: m[2]!, endpoint: this.endpointPrefix + m[2]!, keyVersion };
  }

  /** The 16-byte factory PSK of `identity`, or undefined if the identity is not one of ours. */
  async keyFor(identity: string): Promise<Uint8Array | undefined> {
    const parsed = this.parseIdentity(identity);
    if (!parsed) return undefined;
    return this.#derive(parsed.endpoint, parsed.keyVersion);
  }

  /** Identity, endpoint and key of a serial at the current version (for factory lists). */
  async credentialFor(serial: string): Promise<FactoryCredential> {
    const pskIdentity = this.identityFor(serial);
    const endpoint = this.endpointFor(serial);
    return { serial, endpoint, keyVersion: this.keyVersion, pskIdentity, pskKey: await this.#derive(endpoint, this.keyVersion) };
  }

  #derive(endpoint: string, version: number): Promise<Uint8Array> {
    const ep = Buffer.from(endpoint, 'utf8');
    const context = Buffer.alloc(ep.length + 5);
    ep.copy(context);
    context.writeUInt32BE(version, ep.length + 1);
    return kdfCounterFixed(this.#prf, fixedInput(this.#label, context, FACTORY_KEY_BYTES * 8), FACTORY_KEY_BYTES);
  }
}
