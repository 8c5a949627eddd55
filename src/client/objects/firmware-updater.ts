/**
 * The contract between Object 5 (firmware.ts, the LwM2M side) and a device's firmware pipeline: where a package is
 * stored while it arrives, how it is checked and installed, and what survives a reboot. One updater per device: it
 * holds that device's staged package.
 */
import { UpdateResult } from './firmware-state.js';

/** Firmware Update Protocol Support (resource 8) values. */
export const FirmwareProtocol = { CoAP: 0, CoAPS: 1, HTTP: 2, HTTPS: 3, CoAPTCP: 4, CoAPTLS: 5 } as const;

const SCHEME_PROTOCOL: Readonly<Record<string, number>> = {
  'coap:': FirmwareProtocol.CoAP,
  'coaps:': FirmwareProtocol.CoAPS,
  'http:': FirmwareProtocol.HTTP,
  'https:': FirmwareProtocol.HTTPS,
  'coap+tcp:': FirmwareProtocol.CoAPTCP,
  'coaps+tcp:': FirmwareProtocol.CoAPTLS,
};

/** Parses a Package URI; FirmwareFailure 7 (invalid URI) or 9 (unsupported protocol) when it cannot be fetched. */
export function protocolOfUri(uri: string, supported: readonly number[]): { url: URL; protocol: number } {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw new FirmwareFailure(UpdateResult.InvalidUri, 'invalid package URI');
  }
  const protocol = SCHEME_PROTOCOL[url.protocol];
  if (protocol === undefined || !supported.includes(protocol)) {
    throw new FirmwareFailure(UpdateResult.UnsupportedProtocol, `unsupported protocol ${url.protocol}`);
  }
  return { url, protocol };
}

/** A failure the updater reports, with the Update Result (resource 5, Core Appendix E.6) it stands for. */
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

/** How an install ended: done in place (the running version now), or the device must restart to finish it. */
export type InstallOutcome = { readonly kind: 'installed'; readonly version: string } | { readonly kind: 'reboot' };

/**
 * What an earlier run of the device left, read once when Object 5 starts (after a reboot or power loss):
 * - `downloading`: a pull was interrupted; Object 5 starts in Downloading and calls `download(uri)` again, which
 *   resumes where the stored bytes end (Core E.6: the client may resume after a reboot).
 * - `downloaded`: a complete, checked package is stored; Object 5 starts in Downloaded.
 * - `testing`: the new image runs in test mode (not yet confirmed). Object 5 starts in Updating: the outcome is not
 *   known until the device passed its health check and confirmed the image (`FirmwareInstance.confirmed()`), or
 *   rebooted unconfirmed and the bootloader reverted (the next run reports `updated` with 8).
 * - `updated`: an install finished across the reboot; `result` is Success (1) when the new image runs, or the failure
 *   (8 Update Failed when the bootloader reverted, 5 when the image did not verify ...). Object 5 starts in Idle with it.
 */
export type FirmwareRestored =
  | { readonly kind: 'downloading'; readonly uri: string }
  | { readonly kind: 'downloaded'; readonly info: PackageInfo }
  | { readonly kind: 'testing'; readonly info: PackageInfo }
  | { readonly kind: 'updated'; readonly result: number; readonly info?: PackageInfo };

/** One chunk of a package being fetched. */
export interface PackageChunk {
  /** Byte offset of `data` in the package. */
  readonly offset: number;
  readonly data: Uint8Array;
  /** The package's total size, when the transport says it (CoAP Size2, HTTP Content-Range/Length). */
  readonly total?: number;
  /**
   * The representation's entity tag (CoAP ETag, HTTP ETag). A resumed fetch passes it back; the fetcher fails with
   * Update Result 4 (connection lost) rather than splice bytes from a different package.
   */
  readonly etag?: Uint8Array;
}

/**
 * Fetches the package at `uri` from byte `offset` on, in order. Transient losses are retried inside; a fetch that
 * gives up throws FirmwareFailure (4 connection lost, 7 invalid URI, 9 unsupported protocol).
 */
export type PackageFetcher = (
  uri: string,
  from: { readonly offset: number; readonly etag?: Uint8Array },
  signal: AbortSignal,
) => AsyncIterable<PackageChunk>;

/** The download/check/install pipeline under Object 5. Reject with FirmwareFailure to set an Update Result. */
export interface FirmwareUpdater {
  /** Resource 8: the protocols `download` accepts (FirmwareProtocol values). */
  readonly protocols: readonly number[];
  /** What an earlier run left; undefined (or absent) for a device with nothing pending. */
  restore?(): FirmwareRestored | undefined;
  /** Pull delivery: fetch `uri` into the device's staging area, resuming bytes an interrupted attempt stored. */
  download(uri: string, ctx: FirmwareContext): Promise<void>;
  /** Push delivery: the package written to resource 0 (a block-wise write arrives whole). */
  receive(pkg: Uint8Array, ctx: FirmwareContext): Promise<void>;
  /** Checks the staged package (signature, vendor and class, digest, anti-rollback, base image of a delta). */
  verify(ctx: FirmwareContext): Promise<PackageInfo>;
  /** Installs the checked package. */
  install(info: PackageInfo, ctx: FirmwareContext): Promise<InstallOutcome>;
  /** Forgets the staged package and any partial download (the reset write of Core E.6). */
  discard(): Promise<void>;
}
