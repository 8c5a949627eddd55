/**
 * A simulated firmware pipeline for fleets of simulated clients: packages are a one-line header ("WARDEN-FW:<name>:
 * <version>") and padding, "downloads" are synthesized from the URI, "installs" take a delay. The real device with
 * flash slots and a bootloader is src/device.
 */
import { FirmwareFailure, FirmwareProtocol, protocolOfUri, type FirmwareContext, type FirmwareUpdater, type InstallOutcome, type PackageInfo } from './firmware-updater.js';
import { UpdateResult } from './firmware-state.js';

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
 * One device's simulated pipeline: "downloads" any URI of a supported scheme after a delay (the package's version is
 * the URI's `version` query parameter or the last x.y[.z] in its path, default 2.0.0), accepts packages made by
 * `simulatedPackage`, and "installs" after a delay without a reboot. A URI containing "fail-download" loses the
 * connection; a version containing "fail" fails to install.
 */
export class SimulatedFirmwareUpdater implements FirmwareUpdater {
  readonly protocols: readonly number[];
  private readonly downloadDelayMs: number;
  private readonly installDelayMs: number;
  private staged: Uint8Array | undefined;

  constructor(options: SimulatedUpdaterOptions = {}) {
    this.protocols = options.protocols ?? [FirmwareProtocol.CoAP, FirmwareProtocol.CoAPS, FirmwareProtocol.HTTP, FirmwareProtocol.HTTPS];
    this.downloadDelayMs = options.downloadDelayMs ?? 100;
    this.installDelayMs = options.installDelayMs ?? 100;
  }

  async download(uri: string, ctx: FirmwareContext): Promise<void> {
    const url = protocolOfUri(uri, this.protocols).url;
    await ctx.delay(this.downloadDelayMs);
    if (uri.includes('fail-download')) throw new FirmwareFailure(UpdateResult.ConnectionLost, 'connection lost during download');
    const segments = url.pathname.split('/').filter((s) => s !== '');
    const fromPath = /(\d+\.\d+(?:\.\d+)?)/.exec(segments[segments.length - 1] ?? '')?.[1];
    const version = url.searchParams.get('version') ?? fromPath ?? '2.0.0';
    this.staged = simulatedPackage(segments[0] ?? 'firmware', version);
  }

  async receive(pkg: Uint8Array): Promise<void> {
    this.staged = pkg;
  }

  async verify(): Promise<PackageInfo> {
    const pkg = this.staged ?? new Uint8Array(0);
    const head = Buffer.from(pkg.buffer, pkg.byteOffset, Math.min(pkg.length, 256)).toString('latin1');
    const end = head.indexOf('\n');
    if (!head.startsWith(MAGIC) || end < 0) throw new FirmwareFailure(UpdateResult.UnsupportedPackageType, 'not a Warden package');
    const [name, version] = head.slice(MAGIC.length, end).split(':');
    if (!name || !version) throw new FirmwareFailure(UpdateResult.IntegrityCheckFailure, 'package header is damaged');
    return { name, version };
  }

  async install(info: PackageInfo, ctx: FirmwareContext): Promise<InstallOutcome> {
    await ctx.delay(this.installDelayMs);
    if (info.version.includes('fail')) throw new FirmwareFailure(UpdateResult.UpdateFailed, `installing ${info.version} failed`);
    this.staged = undefined;
    return { kind: 'installed', version: info.version };
  }

  async discard(): Promise<void> {
    this.staged = undefined;
  }
}
