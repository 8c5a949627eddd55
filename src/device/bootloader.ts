/**
 * The bootloader, after MCUboot (docs/design.md of mcuboot: swap-scratch, image trailer, security counter):
 * - secure boot: only an image whose signature, vendor, class, size and SHA-256 verify and whose sequence is not
 *   below the security counter runs;
 * - A/B: a pending image in the secondary slot is swapped into the primary through the scratch page (journaled in
 *   the boot state, so a power cut at any byte resumes) and booted in test mode; the next boot without `confirm()`
 *   swaps it back (revert); `confirm()` makes it permanent and raises the security counter to its sequence;
 * - single slot: an overwrite of the primary (in-place delta or full copy from staging) in progress is finished;
 * - recovery: a primary that does not verify is replaced by a verified secondary (or staged full image).
 * A device is "bricked" only when no slot verifies.
 */
import { applyInPlaceStream, FirmwareError, inPlacePageAt, readInPlaceLayout, type ImageRef, type Manifest, type PatchSource } from '../firmware/index.js';
import { BootStateStore, crc32, type BootState, type OverwriteProgress } from './boot-state.js';
import type { Flash } from './flash.js';
import { headerArea, type Layout } from './layout.js';
import { digestOf, readSlotHeader, verifyEnvelope, verifySlot, writeSlotHeader, type DeviceIdentity, type SlotImage } from './slot.js';
import { DeviceResult, updateResultFor } from './update-result.js';

/** What `boot()` decided. */
export type BootResult =
  | {
      readonly status: 'running';
      readonly version: string;
      readonly sequence: number;
      /** The running image (size and SHA-256): the base a delta must name. */
      readonly image: ImageRef;
      readonly manifest: Manifest;
      /** Running a test image: `confirm()` keeps it, a reboot without it reverts. */
      readonly test: boolean;
      /** The primary did not verify and was restored from the other slot. */
      readonly recovered: boolean;
    }
  | { readonly status: 'bricked'; readonly reason: string };

/** The secure bootloader of one device (see the file comment). */
export class Bootloader {
  readonly flash: Flash;
  readonly layout: Layout;
  readonly identity: DeviceIdentity;
  readonly #store: BootStateStore;
  /** The boot state as last loaded or saved; callers change it and `save()`. */
  state: BootState;
  #running: BootResult = { status: 'bricked', reason: 'not booted' };

  constructor(flash: Flash, layout: Layout, identity: DeviceIdentity) {
    if (flash.pageSize !== layout.pageSize || flash.size < layout.size) throw new RangeError('flash does not match the layout');
    this.flash = flash;
    this.layout = layout;
    this.identity = identity;
    this.#store = new BootStateStore(flash, layout.state);
    this.state = this.#store.load();
  }

  /** The result of the last `boot()`. */
  get running(): BootResult {
    return this.#running;
  }

  /** Persists `state` (atomic: boot-state.ts). */
  save(): void {
    this.#store.save(this.state);
  }

  #try(region: 'primary' | 'secondary'): SlotImage | undefined {
    try {
      return verifySlot(this.flash, this.layout[region], this.identity, this.state.counter);
    } catch (err) {
      if (err instanceof FirmwareError) return undefined;
      throw err;
    }
  }

  /**
   * Decides what runs: finishes journaled work, tests or reverts (A/B), verifies, recovers. Async because finishing
   * an in-place install streams the staged patch through an incremental decoder.
   */
  async boot(): Promise<BootResult> {
    this.state = this.#store.load();
    const st = this.state;
    // A test swap that a power cut interrupted ends in this boot, which is then the test boot.
    const resumedInstall = st.swap?.op === 'install';
    if (st.swap) this.#runSwap();
    if (st.overwrite) {
      try {
        await this.#runOverwrite();
      } catch (err) {
        // A staged package that no longer verifies: secure boot below decides what can run.
        if (!(err instanceof FirmwareError)) throw err;
      }
    }
    if (this.layout.mode === 'ab') {
      if (st.pending) this.#startTest();
      else if (st.testing && !resumedInstall) this.#startSwap('revert', st.testing.pages);
    }
    let primary = this.#try('primary');
    if (!primary && st.testing) {
      // The swapped-in test image does not verify (it did in the secondary slot): put the old one back.
      this.#startSwap('revert', st.testing.pages);
      primary = this.#try('primary');
    }
    let recovered = false;
    if (!primary) {
      const secondary = this.#try('secondary');
      if (secondary) {
        st.overwrite = { kind: 'copy', committed: 0, phase: 'pages', version: secondary.manifest.version, sequence: secondary.manifest.sequence, pages: Math.ceil(secondary.used / this.flash.pageSize), install: false };
        this.save();
        await this.#runOverwrite();
        primary = this.#try('primary');
        recovered = true;
      }
    }
    if (!primary) {
      this.#running = { status: 'bricked', reason: 'no slot holds a verified image' };
      return this.#running;
    }
    const m = primary.manifest;
    this.#running = { status: 'running', version: m.version, sequence: m.sequence, image: primary.image, manifest: m, test: st.testing !== undefined, recovered };
    return this.#running;
  }

  /** Makes the running image permanent and raises the security counter to its sequence (MCUboot image_ok). */
  confirm(): void {
    const r = this.#running;
    if (r.status !== 'running') throw new Error('no image is running');
    if (this.state.testing === undefined && this.state.counter >= r.sequence) return;
    this.state.testing = undefined;
    this.state.counter = Math.max(this.state.counter, r.sequence);
    this.save();
  }

  /** A pending secondary image: refused (with its Update Result) or swapped in for a test boot. */
  #startTest(): void {
    const st = this.state;
    let sec: SlotImage;
    try {
      sec = verifySlot(this.flash, this.layout.secondary, this.identity, st.counter);
    } catch (err) {
      if (!(err instanceof FirmwareError)) throw err;
      st.pending = false;
      st.result = { code: updateResultFor(err) };
      this.save();
      return;
    }
    const pri = this.#try('primary');
    const pages = Math.ceil(Math.max(sec.used, pri?.used ?? 0) / this.flash.pageSize);
    st.swap = { op: 'install', pages, index: 0, stage: 0, version: sec.manifest.version };
    this.save();
    this.#runSwap();
  }

  #startSwap(op: 'install' | 'revert', pages: number): void {
    this.state.swap = { op, pages, index: 0, stage: 0 };
    this.save();
    this.#runSwap();
  }

  /** Copies one page between absolute page-aligned offsets (erase, then program). */
  #copy(from: number, to: number): void {
    const ps = this.flash.pageSize;
    const data = this.flash.read(from, ps);
    this.flash.erase(to / ps);
    this.flash.write(to, data);
  }

  /**
   * Swap-scratch, page by page from page 0: secondary→scratch, primary→secondary, scratch→primary, the boot state
   * saved after each step. A step's source is untouched until the next step ends, so a resumed step is redone whole.
   */
  #runSwap(): void {
    const st = this.state;
    const sw = st.swap!;
    const ps = this.flash.pageSize;
    const { primary, secondary, scratch } = this.layout;
    while (sw.index < sw.pages) {
      const off = sw.index * ps;
      if (sw.stage === 0) {
        this.#copy(secondary.offset + off, scratch.offset);
        sw.stage = 1;
      } else if (sw.stage === 1) {
        this.#copy(primary.offset + off, secondary.offset + off);
        sw.stage = 2;
      } else {
        this.#copy(scratch.offset, primary.offset + off);
        sw.index++;
        sw.stage = 0;
      }
      this.save();
    }
    st.swap = undefined;
    if (sw.op === 'install') {
      st.pending = false;
      st.testing = { pages: sw.pages };
      st.result = { code: DeviceResult.Success, ...(sw.version !== undefined ? { version: sw.version } : {}) };
    } else {
      st.testing = undefined;
      st.result = { code: DeviceResult.UpdateFailed };
    }
    this.save();
  }

  /** Starts an overwrite of the primary (single-slot install) and runs it to the end. */
  async overwrite(progress: OverwriteProgress): Promise<void> {
    this.state.overwrite = progress;
    this.state.download = undefined;
    this.state.result = undefined;
    this.save();
    await this.#runOverwrite();
  }

  /** Finishes the journaled overwrite in the boot state. */
  async #runOverwrite(): Promise<void> {
    const st = this.state;
    const ov = st.overwrite!;
    const ps = this.flash.pageSize;
    const { primary, secondary } = this.layout;
    if (ov.kind === 'copy') {
      const pages = ov.pages ?? 0;
      while (ov.committed < pages) {
        this.#copy(secondary.offset + ov.committed * ps, primary.offset + ov.committed * ps);
        ov.committed++;
        this.save();
      }
    } else {
      await this.#runInPlace(ov);
    }
    st.overwrite = undefined;
    if (ov.install) {
      // Single slot: nothing to revert to, so the new image is permanent at once (MCUboot overwrite-only).
      st.counter = Math.max(st.counter, ov.sequence);
      st.result = { code: DeviceResult.Success, version: ov.version };
    }
    this.save();
  }

  /**
   * The in-place journal: each new page goes to the scratch page first, the boot state records it (page and CRC),
   * then the primary page is rewritten and the state counts it committed. A cut while the primary page is torn
   * resumes by copying the scratch page again; the patch decoder resumes after the committed pages. The slot header
   * is written last, so the image verifies only once it is whole. The patch is read from the staging slot a piece at
   * a time (applyInPlaceStream), never whole.
   */
  async #runInPlace(ov: OverwriteProgress): Promise<void> {
    const flash = this.flash;
    const ps = flash.pageSize;
    const { primary, secondary, scratch } = this.layout;
    const H = headerArea(ps);
    const staged = readSlotHeader(flash, secondary);
    const m = verifyEnvelope(staged.envelope, this.identity, 0);
    if (m.payload.kind !== 'delta') throw new FirmwareError('MALFORMED', 'in-place install of a package that is not a delta');
    if (!Buffer.from(digestOf(flash, secondary.offset + H, m.payload.size)).equals(m.payload.digest)) {
      throw new FirmwareError('DIGEST_MISMATCH', 'staged patch changed');
    }
    if (ov.phase === 'pages') {
      const readPatch = (o: number, n: number): Uint8Array => flash.read(secondary.offset + H + o, n);
      const patch: PatchSource = { size: m.payload.size, read: readPatch };
      const commitPage = (page: number, data: Uint8Array): void => {
        flash.erase((primary.offset + H) / ps + page);
        flash.write(primary.offset + H + page * ps, data);
        ov.committed++;
        ov.scratch = undefined;
        this.save();
      };
      if (ov.scratch) {
        const s = ov.scratch;
        const data = flash.read(scratch.offset, s.length);
        if (s.page !== inPlacePageAt(readInPlaceLayout(patch.size, readPatch), ov.committed) || crc32(data) !== s.crc) throw new FirmwareError('MALFORMED', 'in-place journal: scratch page does not match');
        commitPage(s.page, data);
      }
      await applyInPlaceStream(
        {
          read: (o, n) => flash.read(primary.offset + H + o, n),
          writePage: (page, data) => {
            flash.erase(scratch.offset / ps);
            flash.write(scratch.offset, data);
            ov.scratch = { page, length: data.length, crc: crc32(data) };
            this.save();
            commitPage(page, data);
          },
        },
        patch,
        ov.committed,
      );
      ov.phase = 'header';
      this.save();
    }
    writeSlotHeader(flash, primary, staged.prefix);
  }
}
