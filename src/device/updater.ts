/**
 * The device's firmware pipeline under Object 5 (src/client/objects/firmware-updater.ts): packages are received into
 * the staging (secondary) slot in the slot format of layout.ts, with the download progress (offset, ETag) in the boot
 * state so a pull resumes after a reboot; the manifest is verified as soon as the header has arrived (RFC 9019 §4:
 * before the payload is stored), the whole package again before an install.
 */
import {
  DELTA_HEADER_LENGTH,
  FirmwareError,
  parseDeltaHeader,
  readInPlaceLayout,
  parsePackageHeader,
  PatchApplier,
  PayloadVerifier,
  type Manifest,
} from '../firmware/index.js';
import {
  FirmwareFailure,
  FirmwareProtocol,
  type FirmwareContext,
  type FirmwareRestored,
  type FirmwareUpdater,
  type InstallOutcome,
  type PackageChunk,
  type PackageFetcher,
  type PackageInfo,
} from '../client/objects/firmware-updater.js';
import type { DownloadProgress } from './boot-state.js';
import type { Bootloader } from './bootloader.js';
import { PowerLoss } from './flash.js';
import { headerArea, RegionWriter, roundUp } from './layout.js';
import { imageOf, readSlotHeader, verifyEnvelope, writeSlotHeader } from './slot.js';
import { DeviceResult, updateResultFor } from './update-result.js';

/** Bytes of the patch read from flash per push into the patch applier. */
const PATCH_READ = 4096;

/** Options of a DeviceFirmwareUpdater. */
export interface DeviceUpdaterOptions {
  /** Fetches Package URIs (pull); without it only push is offered. */
  fetcher?: PackageFetcher;
  /** Resource 8 values; default CoAP, CoAPS, HTTP, HTTPS when a fetcher is given. */
  protocols?: readonly number[];
  /** Resource 6 (PkgName) of every package; default "firmware". */
  packageName?: string;
}

function failure(err: unknown): unknown {
  if (err instanceof FirmwareError) return new FirmwareFailure(updateResultFor(err), err.message);
  return err;
}

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

/** A staged package, checked: its manifest and where its payload lies in the staging slot. */
interface Staged {
  readonly manifest: Manifest;
  readonly payloadBase: number;
}

/** The FirmwareUpdater of a simulated device (see the file comment). */
export class DeviceFirmwareUpdater implements FirmwareUpdater {
  readonly protocols: readonly number[];
  readonly #boot: Bootloader;
  readonly #fetcher: PackageFetcher | undefined;
  readonly #name: string;

  constructor(bootloader: Bootloader, options: DeviceUpdaterOptions = {}) {
    this.#boot = bootloader;
    this.#fetcher = options.fetcher;
    this.protocols = options.protocols ?? (options.fetcher ? [FirmwareProtocol.CoAP, FirmwareProtocol.CoAPS, FirmwareProtocol.HTTP, FirmwareProtocol.HTTPS] : []);
    this.#name = options.packageName ?? 'firmware';
  }

  #info(version: string): PackageInfo {
    return { name: this.#name, version };
  }

  /**
   * Where the payload goes in the staging slot, after the capacity checks (Update Result 2): a full image or an
   * in-place patch right after the header area; an A/B patch at the slot's end, so the image it produces fits in
   * front of it.
   */
  #placement(m: Manifest): number {
    const { layout } = this.#boot;
    const H = headerArea(layout.pageSize);
    const image = imageOf(m);
    if (H + image.size > layout.primary.size) throw new FirmwareFailure(DeviceResult.NotEnoughFlash, `image of ${image.size} bytes does not fit the slot`);
    if (m.payload.kind === 'image' || layout.mode === 'single') {
      if (H + m.payload.size > layout.secondary.size) throw new FirmwareFailure(DeviceResult.NotEnoughFlash, 'package does not fit the staging area');
      return H;
    }
    const base = layout.secondary.size - roundUp(m.payload.size, layout.pageSize);
    if (H + image.size > base) throw new FirmwareFailure(DeviceResult.NotEnoughFlash, 'image and patch do not fit the secondary slot together');
    return base;
  }

  /** verify.ts's verifyManifest, with the signature check remembered (slot.ts signedManifest). */
  #verifyManifest(envelope: Uint8Array): Manifest {
    const m = verifyEnvelope(envelope, this.#boot.identity, this.#boot.state.counter);
    if (m.payload.kind === 'delta') {
      const r = this.#boot.running;
      const base = m.payload.base;
      if (r.status !== 'running' || r.image.size !== base.size || !Buffer.from(r.image.digest).equals(base.digest)) {
        throw new FirmwareError('WRONG_BASE', 'delta applies to another image');
      }
    }
    return m;
  }

  /** What an earlier run left (FirmwareUpdater.restore). */
  restore(): FirmwareRestored | undefined {
    const st = this.#boot.state;
    const r = this.#boot.running;
    // Object 5 stays Updating until the owner confirms the test image (or reboots unconfirmed, and the next boot reverts).
    if (st.testing && r.status === 'running') return { kind: 'testing', info: this.#info(r.version) };
    const d = st.download;
    if (d && !d.complete) {
      if (d.uri !== undefined) return { kind: 'downloading', uri: d.uri };
      st.download = undefined; // an interrupted push cannot resume
      this.#boot.save();
      return undefined;
    }
    if (d) {
      try {
        return { kind: 'downloaded', info: this.#info(this.#check().manifest.version) };
      } catch (err) {
        st.download = undefined;
        this.#boot.save();
        return { kind: 'updated', result: err instanceof FirmwareFailure ? err.result : DeviceResult.IntegrityFailure };
      }
    }
    if (st.result) return { kind: 'updated', result: st.result.code, ...(st.result.version !== undefined ? { info: this.#info(st.result.version) } : {}) };
    return undefined;
  }

  async download(uri: string, ctx: FirmwareContext): Promise<void> {
    if (!this.#fetcher) throw new FirmwareFailure(9, 'this device only takes pushed packages');
    // Core E.6: the Package URI is at most 255 bytes (and it must fit the boot state).
    if (Buffer.byteLength(uri) > 255) throw new FirmwareFailure(7, 'package URI longer than 255 bytes');
    const st = this.#boot.state;
    let progress = st.download;
    if (!progress || progress.complete || progress.uri !== uri) {
      progress = { uri, offset: 0, complete: false };
      st.download = progress;
      st.result = undefined;
      this.#boot.save();
    }
    const etag = progress.etag !== undefined ? Uint8Array.from(Buffer.from(progress.etag, 'hex')) : undefined;
    const sink = new StagingSink(this, progress);
    try {
      for await (const chunk of this.#fetcher(uri, { offset: progress.offset, ...(etag ? { etag } : {}) }, ctx.signal)) {
        if (ctx.signal.aborted) return;
        sink.push(chunk);
      }
      if (ctx.signal.aborted) return;
      sink.end();
    } catch (err) {
      throw failure(err);
    }
  }

  async receive(pkg: Uint8Array, ctx: FirmwareContext): Promise<void> {
    const st = this.#boot.state;
    const progress: DownloadProgress = { offset: 0, complete: false };
    st.download = progress;
    st.result = undefined;
    this.#boot.save();
    if (ctx.signal.aborted) return;
    const sink = new StagingSink(this, progress);
    try {
      sink.push({ offset: 0, data: pkg });
      sink.end();
    } catch (err) {
      throw failure(err);
    }
  }

  async verify(ctx: FirmwareContext): Promise<PackageInfo> {
    void ctx;
    return this.#info(this.#check().manifest.version);
  }

  /** Checks the staged package whole: manifest, placement, payload digest, a patch's header against the manifest. */
  #check(): Staged {
    const { flash, layout } = this.#boot;
    const d = this.#boot.state.download;
    if (!d?.complete) throw new FirmwareFailure(DeviceResult.IntegrityFailure, 'no complete package is stored');
    try {
      const manifest = this.#verifyManifest(readSlotHeader(flash, layout.secondary).envelope);
      const payloadBase = this.#placement(manifest);
      const p = manifest.payload;
      const v = new PayloadVerifier(p);
      const at = layout.secondary.offset + payloadBase;
      for (let o = 0; o < p.size; o += layout.pageSize) v.update(flash.read(at + o, Math.min(layout.pageSize, p.size - o)));
      v.finish();
      if (p.kind === 'delta') {
        const h = parseDeltaHeader(flash.read(at, Math.min(p.size, DELTA_HEADER_LENGTH)));
        // parseDeltaHeader refuses unknown flags: the only one is in-place (delta-format.ts).
        const inPlace = h.flags !== 0;
        if (inPlace !== (layout.mode === 'single')) {
          throw new FirmwareFailure(DeviceResult.UnsupportedPackage, inPlace ? 'an in-place patch for an A/B device' : 'a streaming patch for a single-slot device');
        }
        if (inPlace && readInPlaceLayout(p.size, (o, n) => flash.read(at + o, n)).pageSize !== layout.pageSize) {
          throw new FirmwareFailure(DeviceResult.UnsupportedPackage, 'in-place patch made for another page size');
        }
        const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(b);
        if (h.oldSize !== p.base.size || !same(h.oldSha256, p.base.digest) || h.newSize !== p.image.size || !same(h.newSha256, p.image.digest)) {
          throw new FirmwareError('MALFORMED', 'patch header disagrees with the manifest');
        }
      }
      return { manifest, payloadBase };
    } catch (err) {
      throw failure(err);
    }
  }

  async install(info: PackageInfo, ctx: FirmwareContext): Promise<InstallOutcome> {
    void info;
    const { manifest, payloadBase } = this.#check();
    const boot = this.#boot;
    const st = boot.state;
    if (ctx.signal.aborted) return { kind: 'reboot' };
    if (boot.layout.mode === 'single') {
      await boot.overwrite(
        manifest.payload.kind === 'delta'
          ? { kind: 'inplace', committed: 0, phase: 'pages', version: manifest.version, sequence: manifest.sequence, install: true }
          : {
              kind: 'copy',
              committed: 0,
              phase: 'pages',
              version: manifest.version,
              sequence: manifest.sequence,
              pages: Math.ceil((headerArea(boot.layout.pageSize) + manifest.payload.size) / boot.layout.pageSize),
              install: true,
            },
      );
      return { kind: 'reboot' };
    }
    if (manifest.payload.kind === 'delta') {
      try {
        await this.#applyAB(manifest, payloadBase);
      } catch (err) {
        throw failure(err);
      }
    }
    st.download = undefined;
    st.pending = true;
    st.result = undefined;
    boot.save();
    return { kind: 'reboot' };
  }

  /** A/B delta: streams the staged patch through PatchApplier, old image from the primary, new into the secondary. */
  async #applyAB(m: Manifest, payloadBase: number): Promise<void> {
    const { flash, layout } = this.#boot;
    const H = headerArea(layout.pageSize);
    const out = new RegionWriter(flash, layout.secondary);
    let pos = H;
    let lost: PowerLoss | undefined;
    const applier = new PatchApplier({
      readOld: (o, n) => flash.read(layout.primary.offset + H + o, n),
      write: (chunk) => {
        try {
          out.write(pos, chunk);
        } catch (err) {
          if (err instanceof PowerLoss) lost = err;
          throw err;
        }
        pos += chunk.length;
      },
    });
    const patchAt = layout.secondary.offset + payloadBase;
    try {
      for (let o = 0; o < m.payload.size; o += PATCH_READ) await applier.push(flash.read(patchAt + o, Math.min(PATCH_READ, m.payload.size - o)));
      await applier.finish();
    } catch (err) {
      // PatchApplier reports a failing write as a patch error; a power cut is not one.
      throw lost ?? err;
    }
  }

  async discard(): Promise<void> {
    const st = this.#boot.state;
    if (st.download === undefined) return;
    st.download = undefined;
    this.#boot.save();
  }

  /** The bootloader whose state and flash this updater uses (for StagingSink). */
  get bootloader(): Bootloader {
    return this.#boot;
  }

  /** Where `m`'s payload goes in the staging slot; FirmwareFailure 2 when it does not fit (for StagingSink). */
  placement(m: Manifest): number {
    return this.#placement(m);
  }

  /** The manifest check made as soon as a package header has arrived (for StagingSink). */
  checkManifest(envelope: Uint8Array): Manifest {
    return this.#verifyManifest(envelope);
  }
}

/**
 * Writes a package arriving in order into the staging slot. The header is kept in RAM until whole, checked, then
 * written; payload bytes go to their place and the progress offset moves to the last whole page written, so a
 * resume re-fetches from a page boundary and the page is erased before it is written again.
 */
class StagingSink {
  readonly #u: DeviceFirmwareUpdater;
  readonly #progress: DownloadProgress;
  #prefix: Uint8Array | undefined;
  #prefixLen = 0;
  #received: number;
  #payloadOffset = 0;
  #payloadBase = 0;
  #manifest: Manifest | undefined;
  readonly #writer: RegionWriter;

  constructor(u: DeviceFirmwareUpdater, progress: DownloadProgress) {
    this.#u = u;
    this.#progress = progress;
    const boot = u.bootloader;
    this.#writer = new RegionWriter(boot.flash, boot.layout.secondary);
    this.#received = progress.offset;
    if (progress.offset > 0) {
      const h = readSlotHeader(boot.flash, boot.layout.secondary);
      this.#setHeader(h.envelope, h.prefix.length);
    }
  }

  #setHeader(envelope: Uint8Array, payloadOffset: number): void {
    const m = this.#u.checkManifest(envelope);
    this.#payloadBase = this.#u.placement(m);
    this.#payloadOffset = payloadOffset;
    this.#manifest = m;
  }

  push(chunk: PackageChunk): void {
    const p = this.#progress;
    const boot = this.#u.bootloader;
    if (chunk.etag) {
      const tag = hex(chunk.etag);
      if (p.etag === undefined) p.etag = tag;
      else if (p.etag !== tag) {
        boot.state.download = undefined;
        boot.save();
        throw new FirmwareFailure(4, 'the package changed while it was downloading (ETag)');
      }
    }
    if (chunk.total !== undefined && chunk.total > boot.layout.secondary.size) throw new FirmwareFailure(DeviceResult.NotEnoughFlash, 'package larger than the staging slot');
    if (chunk.offset > this.#received) throw new FirmwareFailure(4, `gap in the download at ${this.#received}`);
    let data = chunk.data.subarray(Math.min(chunk.data.length, this.#received - chunk.offset));
    while (data.length > 0) {
      if (!this.#manifest) {
        const buf = (this.#prefix ??= new Uint8Array(headerArea(boot.layout.pageSize)));
        const n = Math.min(data.length, buf.length - this.#prefixLen);
        buf.set(data.subarray(0, n), this.#prefixLen);
        this.#prefixLen += n;
        this.#received += n;
        data = data.subarray(n);
        const h = parsePackageHeader(buf.subarray(0, this.#prefixLen));
        if (!h.complete) continue;
        // Bytes past the header belong to the payload.
        const extra = this.#prefixLen - h.payloadOffset;
        this.#received -= extra;
        data = chunk.data.subarray(chunk.data.length - data.length - extra);
        this.#setHeader(h.envelope, h.payloadOffset);
        writeSlotHeader(boot.flash, boot.layout.secondary, buf.subarray(0, h.payloadOffset));
        p.offset = h.payloadOffset;
        boot.save();
        continue;
      }
      const size = this.#manifest.payload.size;
      const pos = this.#received - this.#payloadOffset;
      if (data.length > size - pos) throw new FirmwareError('SIZE_MISMATCH', 'package longer than its manifest says');
      this.#writer.write(this.#payloadBase + pos, data);
      this.#received += data.length;
      data = data.subarray(data.length);
      const done = this.#received - this.#payloadOffset;
      const safe = this.#payloadOffset + (done === size ? size : Math.floor(done / boot.layout.pageSize) * boot.layout.pageSize);
      if (safe > p.offset) {
        p.offset = safe;
        boot.save();
      }
    }
  }

  end(): void {
    const m = this.#manifest;
    if (!m) throw new FirmwareError('TRUNCATED', 'package header cut short');
    if (this.#received < this.#payloadOffset + m.payload.size) throw new FirmwareError('TRUNCATED', `package ends after ${this.#received} bytes`);
    this.#progress.complete = true;
    this.#u.bootloader.save();
  }
}
