/**
 * Object 5, Firmware Update (Core Appendix E.6): the state machine of firmware-state.ts driven by
 * writes and executes, and a pluggable `FirmwareUpdater` that fetches, checks and installs packages.
 */
import { Lwm2mError, ResponseCode, type ObjectDefinition, type ResourceNode, type ResourceValue } from '../../lwm2m/index.js';
import { BaseInstance, ObjectEnabler, type EnablerHost, type ExecuteArgs } from '../object.js';
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
import { FirmwareFailure, FirmwareProtocol, protocolOfUri, type FirmwareContext, type FirmwareRestored, type FirmwareUpdater, type PackageInfo } from './firmware-updater.js';
import { SimulatedFirmwareUpdater } from './simulated-firmware.js';

export { FirmwareProtocol, protocolOfUri };

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


export interface FirmwareOptions {
  updater?: FirmwareUpdater;
  /** Called with the new version after a successful install (the Device object's resource 3). */
  onInstalled?: (version: string) => void;
  /** Called when an install needs the device to restart (the bootloader finishes it); the owner reboots the device. */
  onReboot?: () => void;
}

const DOWNLOAD_FAILURES: readonly number[] = [2, 3, 4, 5, 6, 7, 9];



/** The Object 5 status a device starts with, from what its updater kept across the reboot. */
function restoredStatus(restored: FirmwareRestored | undefined): FirmwareStatus {
  switch (restored?.kind) {
    case undefined:
      return initialFirmwareStatus;
    case 'downloading':
      return { state: FirmwareState.Downloading, result: UpdateResult.Initial };
    case 'downloaded':
      return { state: FirmwareState.Downloaded, result: UpdateResult.Initial };
    case 'testing':
      return { state: FirmwareState.Updating, result: UpdateResult.Initial };
    case 'updated':
      return { state: FirmwareState.Idle, result: restored.result };
  }
}

export class FirmwareInstance extends BaseInstance {
  private status: FirmwareStatus;
  private readonly updater: FirmwareUpdater;
  private readonly onInstalled: ((version: string) => void) | undefined;
  private readonly onReboot: (() => void) | undefined;
  private abort: AbortController | undefined;
  private info: PackageInfo | undefined;
  /** A pull to resume once the client runs (after a reboot mid-download). */
  private resumeUri: string | undefined;

  constructor(definition: ObjectDefinition, options: FirmwareOptions = {}) {
    const updater: FirmwareUpdater = options.updater ?? new SimulatedFirmwareUpdater();
    const restored = updater.restore?.();
    const status = restoredStatus(restored);
    const info = restored?.kind === 'downloading' ? undefined : restored?.info;
    const values: [number, ResourceValue | Map<number, ResourceValue>][] = [
      [FirmwareResource.Package, opaque(new Uint8Array(0))],
      [FirmwareResource.PackageUri, str(restored?.kind === 'downloading' ? restored.uri : '')],
      [FirmwareResource.State, int(status.state)],
      [FirmwareResource.UpdateResult, int(status.result)],
      [FirmwareResource.PkgName, str(info?.name ?? '')],
      [FirmwareResource.PkgVersion, str(info?.version ?? '')],
      [FirmwareResource.ProtocolSupport, list(updater.protocols.map((p) => int(p)))],
      // 2: both push (Package) and pull (Package URI).
      [FirmwareResource.DeliveryMethod, int(2)],
    ];
    super(definition, 0, values.filter(([id]) => definition.resources.has(id)), [FirmwareResource.Update]);
    this.status = status;
    this.updater = updater;
    this.onInstalled = options.onInstalled;
    this.onReboot = options.onReboot;
    if (restored?.kind === 'downloaded' || restored?.kind === 'testing') this.info = restored.info;
    if (restored?.kind === 'downloading') this.resumeUri = restored.uri;
  }

  /** The current state and result. */
  get firmwareStatus(): FirmwareStatus {
    return this.status;
  }

  /** Resumes a pull that a reboot interrupted; the client calls it once it runs (its timers are available). */
  resume(): void {
    const uri = this.resumeUri;
    this.resumeUri = undefined;
    if (uri !== undefined && this.status.state === FirmwareState.Downloading) this.pull(uri);
  }

  /**
   * The image that booted in test mode was confirmed (registered, health check passed): the update succeeded. A device
   * that reboots unconfirmed reverts instead, and its next run restores `updated` with Update Failed.
   */
  confirmed(): void {
    if (this.status.state !== FirmwareState.Updating || !this.info) return;
    this.apply({ type: 'update-ok' });
    this.onInstalled?.(this.info.version);
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
    this.resumeUri = undefined;
    if (resourceId === FirmwareResource.PackageUri) this.set(FirmwareResource.PackageUri, value);
    if (empty) {
      this.info = undefined;
      this.set(FirmwareResource.PkgName, str(''));
      this.set(FirmwareResource.PkgVersion, str(''));
      void this.updater.discard().catch(() => undefined);
      return;
    }
    if (resourceId === FirmwareResource.Package) {
      const pkg = (value as { value: Uint8Array }).value;
      this.run(
        async (ctx) => {
          await this.updater.receive(pkg, ctx);
          await this.downloaded(ctx);
        },
        UpdateResult.IntegrityCheckFailure,
        'download',
      );
    } else {
      this.pull((value as { value: string }).value);
    }
  }

  override execute(resourceId: number, args: ExecuteArgs): void {
    if (resourceId !== FirmwareResource.Update) {
      void super.execute(resourceId, args);
      return;
    }
    this.apply({ type: 'execute-update' });
    const info = this.info;
    this.run(
      async (ctx) => {
        if (!info) throw new FirmwareFailure(UpdateResult.IntegrityCheckFailure, 'no package stored');
        const outcome = await this.updater.install(info, ctx);
        if (ctx.signal.aborted) return;
        // A reboot finishes the install; the next run's restore() reports how it ended. Deferred to the client's
        // next timer turn, like its own actions (Lwm2mClient.onAction): the Execute's response leaves first, as a
        // real device answers before it resets.
        if (outcome.kind === 'reboot') {
          await ctx.delay(0);
          if (!ctx.signal.aborted) this.onReboot?.();
          return;
        }
        this.apply({ type: 'update-ok' });
        this.onInstalled?.(outcome.version);
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

  private pull(uri: string): void {
    this.run(
      async (ctx) => {
        protocolOfUri(uri, this.updater.protocols);
        await this.updater.download(uri, ctx);
        if (ctx.signal.aborted) return;
        await this.downloaded(ctx);
      },
      UpdateResult.ConnectionLost,
      'download',
    );
  }

  private async downloaded(ctx: FirmwareContext): Promise<void> {
    const info = await this.updater.verify(ctx);
    if (ctx.signal.aborted) return;
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
        // A failed download leaves nothing usable (Core E.6: back to Idle).
        void this.updater.discard().catch(() => undefined);
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

  override attach(host: EnablerHost): void {
    super.attach(host);
    this.firmware.resume();
  }

  override detach(): void {
    this.firmware.cancelWork();
    super.detach();
  }
}
