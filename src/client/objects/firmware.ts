/**
 * Object 5, Firmware Update (Core Appendix E.6): the state machine of firmware-state.ts driven by
 * writes and executes, and a pluggable `FirmwareUpdater` that fetches, checks and installs packages.
 */
import { Lwm2mError, ResponseCode, type ObjectDefinition, type ResourceNode, type ResourceValue } from '../../lwm2m/index.js';
import { BaseInstance, ObjectEnabler, type ExecuteArgs } from '../object.js';
import { int, list, opaque, str } from '../value.js';
import {
  FirmwareState,
  firmwareTransition,
  initialFirmwareStatus,
  UpdateResult,
  type DownloadFailure,
  type FirmwareEvent,
  type FirmwareStatus,
} from './firmware-state.js';

export const FirmwareResource = {
  Package: 0,
  PackageUri: 1,
  Update: 2,
  State: 3,
  UpdateResult: 5,
  PkgName: 6,
  PkgVersion: 7,
  ProtocolSupport: 8,
  DeliveryMethod: 9,
} as const;

/** Firmware Update Protocol Support (resource 8) values. */
export const FirmwareProtocol = { CoAP: 0, CoAPS: 1, HTTP: 2, HTTPS: 3, CoAPTCP: 4, CoAPTLS: 5 } as const;

/** A failure the updater reports, with the Update Result (resource 5) it stands for. */
export class FirmwareFailure extends Error {
  readonly result: number;
  constructor(result: number, message: string) {
    super(message);
    this.name = 'FirmwareFailure';
    this.result = result;
  }
}

/** What an updater gets for each step: cancellation and the client's clock. */
export interface FirmwareContext {
  readonly signal: AbortSignal;
  /** Resolves after `ms` on the client's timer. */
  delay(ms: number): Promise<void>;
}

/** Name and version of a checked package (resources 6 and 7). */
export interface PackageInfo {
  name: string;
  version: string;
}

/** The download/check/install pipeline under Object 5. Reject with FirmwareFailure to set an Update Result. */
export interface FirmwareUpdater {
  /** Resource 8: the protocols `download` accepts. */
  readonly protocols: readonly number[];
  /** Pull delivery: fetch the package at `uri`. */
  download(uri: string, ctx: FirmwareContext): Promise<Uint8Array>;
  /** Checks a downloaded or pushed package (integrity, type). */
  verify(pkg: Uint8Array, ctx: FirmwareContext): Promise<PackageInfo>;
  /** Installs a checked package; resolves with the firmware version now running. */
  install(pkg: Uint8Array, info: PackageInfo, ctx: FirmwareContext): Promise<string>;
}

const SCHEME_PROTOCOL: Record<string, number> = {
  'coap:': FirmwareProtocol.CoAP,
  'coaps:': FirmwareProtocol.CoAPS,
  'http:': FirmwareProtocol.HTTP,
  'https:': FirmwareProtocol.HTTPS,
  'coap+tcp:': FirmwareProtocol.CoAPTCP,
  'coaps+tcp:': FirmwareProtocol.CoAPTLS,
};

/** Magic of a simulated package: "WARDEN-FW:<name>:<version>". */
const MAGIC = 'WARDEN-FW:';

/** Makes a package the simulated updater accepts. */
export function simulatedPackage(name: string, version: string, size = 0): Uint8Array {
  const head = Buffer.from(`${MAGIC}${name}:${version}\n`, 'utf8');
  return Buffer.concat([head, Buffer.alloc(size)]);
}

export interface SimulatedUpdaterOptions {
  downloadDelayMs?: number;
  installDelayMs?: number;
  protocols?: number[];
}

/**
 * A simulated pipeline: "downloads" any URI of a supported scheme after a delay (the package's
 * version is the URI's `version` query parameter or the last x.y[.z] in its path, default 2.0.0),
 * accepts packages made by `simulatedPackage`, and "installs" after a delay. A URI containing
 * "fail-download" loses the connection; a version containing "fail" fails to install.
 */
export class SimulatedFirmwareUpdater implements FirmwareUpdater {
  readonly protocols: readonly number[];
  private readonly downloadDelayMs: number;
  private readonly installDelayMs: number;

  constructor(options: SimulatedUpdaterOptions = {}) {
    this.protocols = options.protocols ?? [FirmwareProtocol.CoAP, FirmwareProtocol.CoAPS, FirmwareProtocol.HTTP, FirmwareProtocol.HTTPS];
    this.downloadDelayMs = options.downloadDelayMs ?? 100;
    this.installDelayMs = options.installDelayMs ?? 100;
  }

  async download(uri: string, ctx: FirmwareContext): Promise<Uint8Array> {
    let url: URL;
    try {
      url = new URL(uri);
    } catch {
      throw new FirmwareFailure(UpdateResult.InvalidUri, `invalid package URI "${uri}"`);
    }
    const protocol = SCHEME_PROTOCOL[url.protocol];
    if (protocol === undefined || !this.protocols.includes(protocol)) {
      throw new FirmwareFailure(UpdateResult.UnsupportedProtocol, `unsupported protocol ${url.protocol}`);
    }
    await ctx.delay(this.downloadDelayMs);
    if (uri.includes('fail-download')) throw new FirmwareFailure(UpdateResult.ConnectionLost, 'connection lost during download');
    const segments = url.pathname.split('/').filter((s) => s !== '');
    const fromPath = /(\d+\.\d+(?:\.\d+)?)/.exec(segments[segments.length - 1] ?? '')?.[1];
    const version = url.searchParams.get('version') ?? fromPath ?? '2.0.0';
    const name = segments[0] ?? 'firmware';
    return simulatedPackage(name, version);
  }

  async verify(pkg: Uint8Array, _ctx: FirmwareContext): Promise<PackageInfo> {
    const head = Buffer.from(pkg.subarray(0, Math.min(pkg.length, 256))).toString('latin1');
    const end = head.indexOf('\n');
    if (!head.startsWith(MAGIC) || end < 0) throw new FirmwareFailure(UpdateResult.UnsupportedPackageType, 'not a Warden package');
    const [name, version] = head.slice(MAGIC.length, end).split(':');
    if (!name || !version) throw new FirmwareFailure(UpdateResult.IntegrityCheckFailure, 'package header is damaged');
    return { name, version };
  }

  async install(_pkg: Uint8Array, info: PackageInfo, ctx: FirmwareContext): Promise<string> {
    await ctx.delay(this.installDelayMs);
    if (info.version.includes('fail')) throw new FirmwareFailure(UpdateResult.UpdateFailed, `installing ${info.version} failed`);
    return info.version;
  }
}

export interface FirmwareOptions {
  updater?: FirmwareUpdater;
  /** Called with the new version after a successful install (the Device object's resource 3). */
  onInstalled?: (version: string) => void;
}

const DOWNLOAD_FAILURES: readonly number[] = [2, 3, 4, 5, 6, 7, 9];

export class FirmwareInstance extends BaseInstance {
  private status: FirmwareStatus = initialFirmwareStatus;
  private readonly updater: FirmwareUpdater;
  private readonly onInstalled: ((version: string) => void) | undefined;
  private abort: AbortController | undefined;
  private pkg: Uint8Array | undefined;
  private info: PackageInfo | undefined;

  constructor(definition: ObjectDefinition, options: FirmwareOptions = {}) {
    const updater = options.updater ?? new SimulatedFirmwareUpdater();
    const values: [number, ResourceValue | Map<number, ResourceValue>][] = [
      [FirmwareResource.Package, opaque(new Uint8Array(0))],
      [FirmwareResource.PackageUri, str('')],
      [FirmwareResource.State, int(FirmwareState.Idle)],
      [FirmwareResource.UpdateResult, int(UpdateResult.Initial)],
      [FirmwareResource.PkgName, str('')],
      [FirmwareResource.PkgVersion, str('')],
      [FirmwareResource.ProtocolSupport, list(updater.protocols.map((p) => int(p)))],
      // 2: both push (Package) and pull (Package URI).
      [FirmwareResource.DeliveryMethod, int(2)],
    ];
    super(definition, 0, values.filter(([id]) => definition.resources.has(id)), [FirmwareResource.Update]);
    this.updater = updater;
    this.onInstalled = options.onInstalled;
  }

  /** The current state and result. */
  get firmwareStatus(): FirmwareStatus {
    return this.status;
  }

  override write(resourceId: number, node: ResourceNode, replace: boolean): void {
    if (resourceId !== FirmwareResource.Package && resourceId !== FirmwareResource.PackageUri) {
      super.write(resourceId, node, replace);
      return;
    }
    if (node.kind !== 'singleResource') throw new Lwm2mError(ResponseCode.BadRequest, `resource ${resourceId} is single`);
    const value = node.value;
    let empty: boolean;
    if (resourceId === FirmwareResource.Package) {
      if (value.type !== 'opaque') throw new Lwm2mError(ResponseCode.BadRequest, 'Package takes opaque data');
      empty = value.value.length === 0;
    } else {
      if (value.type !== 'string') throw new Lwm2mError(ResponseCode.BadRequest, 'Package URI takes a string');
      empty = value.value === '';
    }
    this.apply({ type: 'write', empty });
    this.cancelWork();
    if (resourceId === FirmwareResource.PackageUri) this.set(FirmwareResource.PackageUri, value);
    if (empty) {
      this.pkg = undefined;
      this.info = undefined;
      this.set(FirmwareResource.PkgName, str(''));
      this.set(FirmwareResource.PkgVersion, str(''));
      return;
    }
    if (resourceId === FirmwareResource.Package) {
      const pkg = (value as { value: Uint8Array }).value;
      this.run(async (ctx) => this.downloaded(pkg, ctx), UpdateResult.IntegrityCheckFailure, 'download');
    } else {
      const uri = (value as { value: string }).value;
      this.run(async (ctx) => this.downloaded(await this.updater.download(uri, ctx), ctx), UpdateResult.ConnectionLost, 'download');
    }
  }

  override execute(resourceId: number, args: ExecuteArgs): void {
    if (resourceId !== FirmwareResource.Update) {
      void super.execute(resourceId, args);
      return;
    }
    this.apply({ type: 'execute-update' });
    const pkg = this.pkg;
    const info = this.info;
    this.run(
      async (ctx) => {
        if (!pkg || !info) throw new FirmwareFailure(UpdateResult.IntegrityCheckFailure, 'no package stored');
        const version = await this.updater.install(pkg, info, ctx);
        if (ctx.signal.aborted) return;
        this.apply({ type: 'update-ok' });
        this.pkg = undefined;
        this.onInstalled?.(version);
      },
      UpdateResult.UpdateFailed,
      'update',
    );
  }

  /** Stops a download or install in progress (client stop). */
  cancelWork(): void {
    this.abort?.abort();
    this.abort = undefined;
  }

  private async downloaded(pkg: Uint8Array, ctx: FirmwareContext): Promise<void> {
    const info = await this.updater.verify(pkg, ctx);
    if (ctx.signal.aborted) return;
    this.pkg = pkg;
    this.info = info;
    this.set(FirmwareResource.PkgName, str(info.name));
    this.set(FirmwareResource.PkgVersion, str(info.version));
    this.apply({ type: 'download-ok' });
  }

  private run(step: (ctx: FirmwareContext) => Promise<void>, defaultResult: number, phase: 'download' | 'update'): void {
    const abort = new AbortController();
    this.abort = abort;
    const host = this.host;
    const ctx: FirmwareContext = {
      signal: abort.signal,
      delay: (ms) =>
        new Promise<void>((resolve) => {
          if (host) host.schedule(ms, resolve);
          else setTimeout(resolve, ms);
        }),
    };
    step(ctx).catch((err: unknown) => {
      if (abort.signal.aborted) return;
      const result = err instanceof FirmwareFailure ? err.result : defaultResult;
      if (phase === 'download') {
        const r = (DOWNLOAD_FAILURES.includes(result) ? result : UpdateResult.ConnectionLost) as DownloadFailure;
        this.apply({ type: 'download-failed', result: r });
      } else {
        this.apply({ type: 'update-failed', result });
      }
    });
  }

  private apply(event: FirmwareEvent): void {
    const next = firmwareTransition(this.status, event);
    const prev = this.status;
    this.status = next;
    if (prev.state !== next.state) this.set(FirmwareResource.State, int(next.state));
    if (prev.result !== next.result) this.set(FirmwareResource.UpdateResult, int(next.result));
  }
}

/** The Firmware Update object (single instance). */
export class FirmwareObject extends ObjectEnabler {
  readonly firmware: FirmwareInstance;

  constructor(definition: ObjectDefinition, options: FirmwareOptions = {}) {
    const inst = new FirmwareInstance(definition, options);
    super(definition, [inst], { creatable: false });
    this.firmware = inst;
  }

  override detach(): void {
    this.firmware.cancelWork();
    super.detach();
  }
}
