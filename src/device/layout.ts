/**
 * The flash map, after MCUboot's: a boot-state area (two copies, boot-state.ts), one scratch page (the swap's and the
 * in-place journal's spare page), the primary slot (the image that runs) and the secondary slot (staging: downloads
 * and, in A/B mode, the image to test). A single-slot device ('single') has a staging area that only holds the
 * downloaded package; its updates overwrite the primary (in place for a delta).
 *
 * A slot holds a signed package (src/firmware/package.ts) with its header padded to a page boundary: the prefix
 * (magic, version, envelope length, COSE_Sign1 envelope) at the slot start, the image at `headerArea(pageSize)`, so
 * that image pages are flash pages (an in-place patch rewrites whole pages) and the bootloader can verify it at every
 * boot.
 */
import { MAX_ENVELOPE_LENGTH, PACKAGE_MAGIC } from '../firmware/index.js';
import type { Flash } from './flash.js';

/** A page-aligned range of the flash. */
export interface Region {
  readonly offset: number;
  readonly size: number;
}

/** Where everything lives on a device's flash. */
export interface Layout {
  readonly pageSize: number;
  /** 'ab': swap-based test/confirm/revert; 'single': one bootable slot, updates overwrite it. */
  readonly mode: 'ab' | 'single';
  /** Both boot-state copies (the first half holds copy 0, the second copy 1). */
  readonly state: Region;
  readonly scratch: Region;
  readonly primary: Region;
  readonly secondary: Region;
  /** Total flash bytes the layout needs. */
  readonly size: number;
}

/** What `defineLayout` needs. */
export interface LayoutOptions {
  pageSize: number;
  /** Primary slot bytes (rounded up to pages); includes the header area. */
  slotSize: number;
  /** Secondary slot (staging area) bytes; default `slotSize` (A/B needs at least that). */
  stagingSize?: number;
  mode?: 'ab' | 'single';
}

/** Bytes of the package fixed header (magic, version, envelope length). */
const PACKAGE_PREFIX = PACKAGE_MAGIC.length + 1 + 4;

/** Bytes reserved at a slot start for the package prefix: room for the largest envelope, rounded up to pages. */
export function headerArea(pageSize: number): number {
  return roundUp(PACKAGE_PREFIX + MAX_ENVELOPE_LENGTH, pageSize);
}

/** `n` rounded up to a multiple of `unit`. */
export function roundUp(n: number, unit: number): number {
  return Math.ceil(n / unit) * unit;
}

/** Pages of one boot-state copy: a frame of up to 1 KiB. */
export function stateCopyPages(pageSize: number): number {
  return Math.ceil(1024 / pageSize);
}

/** Lays the areas out one after the other from offset 0. */
export function defineLayout(o: LayoutOptions): Layout {
  const ps = o.pageSize;
  const mode = o.mode ?? 'ab';
  const slot = roundUp(o.slotSize, ps);
  const staging = roundUp(o.stagingSize ?? o.slotSize, ps);
  if (slot <= headerArea(ps) || staging <= headerArea(ps)) throw new RangeError('a slot must be larger than its header area');
  if (mode === 'ab' && staging < slot) throw new RangeError('an A/B secondary slot is at least as large as the primary');
  const state = { offset: 0, size: 2 * stateCopyPages(ps) * ps };
  const scratch = { offset: state.size, size: ps };
  const primary = { offset: scratch.offset + scratch.size, size: slot };
  const secondary = { offset: primary.offset + slot, size: staging };
  return { pageSize: ps, mode, state, scratch, primary, secondary, size: secondary.offset + staging };
}

/** Writes `data` at `offset` inside `region`, erasing every page it starts (the caller writes a page's start first). */
export class RegionWriter {
  constructor(
    private readonly flash: Flash,
    private readonly region: Region,
  ) {}

  /** Writes `data` at region offset `at`; pages whose first byte lies in the range are erased first. */
  write(at: number, data: Uint8Array): void {
    const ps = this.flash.pageSize;
    if (at < 0 || at + data.length > this.region.size) throw new RangeError(`write [${at}, ${at + data.length}) outside a region of ${this.region.size} bytes`);
    let p = 0;
    while (p < data.length) {
      const abs = this.region.offset + at + p;
      if (abs % ps === 0) this.flash.erase(abs / ps);
      const n = Math.min(data.length - p, ps - (abs % ps));
      this.flash.write(abs, data.subarray(p, p + n));
      p += n;
    }
  }
}
