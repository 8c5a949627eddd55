/**
 * The boot state (MCUboot's image trailer and security counter in one record): two copies, each a frame
 * "WBST" | sequence u32 | length u32 | JSON | CRC-32 (IEEE) over sequence, length and JSON. A save writes the copy
 * that does not hold the newest valid frame, with the next sequence number; a load takes the valid frame with the
 * highest sequence. A torn save leaves its copy invalid and the other one intact, so a power cut loses at most the
 * save in progress and every multi-step operation journaled here resumes from its last completed step.
 */
import type { Flash } from './flash.js';
import { stateCopyPages, type Region } from './layout.js';

/** A journaled swap of the two slots through the scratch page (MCUboot swap-scratch). */
export interface SwapProgress {
  /** 'install' swaps a pending test image in; 'revert' swaps the old image back. */
  readonly op: 'install' | 'revert';
  /** Pages swapped, from page 0 up. */
  readonly pages: number;
  /** Page being swapped. */
  index: number;
  /** Steps of page `index` done: 0 none, 1 secondary→scratch, 2 primary→secondary (3 scratch→primary ends it). */
  stage: 0 | 1 | 2;
  /** Version of the image an install swaps in (for the result). */
  readonly version?: string;
}

/** A journaled overwrite of the primary: in-place delta (pages then header) or a full-image copy from staging. */
export interface OverwriteProgress {
  readonly kind: 'inplace' | 'copy';
  /** Pages committed, in the patch's write order (inplace) or from page 0 (copy). */
  committed: number;
  /** The page whose new content is in the scratch page, with its CRC-32 (inplace: written before the primary page). */
  scratch?: { page: number; length: number; crc: number };
  /** 'header': every image page is done, the slot header is being written. */
  phase: 'pages' | 'header';
  /** The package's version and sequence, for the result and the counter. */
  readonly version: string;
  readonly sequence: number;
  /** Pages to copy (copy). */
  readonly pages?: number;
  /** An install (sets the result and the counter when done) rather than a recovery. */
  readonly install: boolean;
}

/** A package being received into the staging area. */
export interface DownloadProgress {
  /** The Package URI of a pull; absent for a push. */
  readonly uri?: string;
  /** Entity tag of the representation (hex). */
  etag?: string;
  /** Package bytes safely stored: a resume fetches from here (a page boundary of the staging area). */
  offset: number;
  /** Whole package stored. */
  complete: boolean;
}

/** How the last install ended (Update Result, Core E.6), kept for the next start of Object 5. */
export interface InstallResult {
  readonly code: number;
  readonly version?: string;
}

/** Everything the bootloader and updater keep across power cycles. */
export interface BootState {
  /** Anti-rollback: the lowest sequence number the device boots or accepts. */
  counter: number;
  /** A checked image waits in the secondary slot for a test boot (A/B). */
  pending: boolean;
  /** The primary runs a test image not confirmed yet; `pages` is the extent of the swap that brought it. */
  testing?: { pages: number };
  swap?: SwapProgress;
  overwrite?: OverwriteProgress;
  download?: DownloadProgress;
  result?: InstallResult;
}

const MAGIC = 0x57425354; // "WBST"
const FRAME_OVERHEAD = 16;

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (IEEE 802.3, as zlib). */
export function crc32(data: Uint8Array, from = 0, to = data.length): number {
  let c = 0xffffffff;
  for (let i = from; i < to; i++) c = CRC_TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** A fresh device's state. */
export function initialBootState(): BootState {
  return { counter: 0, pending: false };
}

/** Reads and writes the two boot-state copies. */
export class BootStateStore {
  readonly #flash: Flash;
  readonly #copyBytes: number;
  readonly #region: Region;
  #seq = 0;
  /** Copy holding the newest valid frame, or -1. */
  #current = -1;

  constructor(flash: Flash, region: Region) {
    this.#flash = flash;
    this.#region = region;
    this.#copyBytes = stateCopyPages(flash.pageSize) * flash.pageSize;
  }

  #readCopy(i: number): { seq: number; state: BootState } | undefined {
    const b = this.#flash.read(this.#region.offset + i * this.#copyBytes, this.#copyBytes);
    const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
    if (v.getUint32(0) !== MAGIC) return undefined;
    const len = v.getUint32(8);
    if (len > this.#copyBytes - FRAME_OVERHEAD) return undefined;
    if (crc32(b, 4, 12 + len) !== v.getUint32(12 + len)) return undefined;
    try {
      return { seq: v.getUint32(4), state: JSON.parse(Buffer.from(b.buffer, b.byteOffset + 12, len).toString('utf8')) as BootState };
    } catch {
      return undefined;
    }
  }

  /** The newest valid state, or the initial state of a device that never saved one. */
  load(): BootState {
    const a = this.#readCopy(0);
    const b = this.#readCopy(1);
    const pick = a && (!b || a.seq > b.seq) ? 0 : b ? 1 : -1;
    this.#current = pick;
    if (pick < 0) {
      this.#seq = 0;
      return initialBootState();
    }
    const r = (pick === 0 ? a : b)!;
    this.#seq = r.seq;
    return r.state;
  }

  /** Saves `state` into the other copy (may throw PowerLoss; the previous state survives a torn save). */
  save(state: BootState): void {
    const json = Buffer.from(JSON.stringify(state), 'utf8');
    if (json.length > this.#copyBytes - FRAME_OVERHEAD) throw new RangeError('boot state too large for its area');
    const target = this.#current === 0 ? 1 : 0;
    const frame = new Uint8Array(FRAME_OVERHEAD + json.length);
    const v = new DataView(frame.buffer);
    const seq = this.#seq + 1;
    v.setUint32(0, MAGIC);
    v.setUint32(4, seq);
    v.setUint32(8, json.length);
    frame.set(json, 12);
    v.setUint32(12 + json.length, crc32(frame, 4, 12 + json.length));
    const ps = this.#flash.pageSize;
    const base = this.#region.offset + target * this.#copyBytes;
    for (let p = 0; p < this.#copyBytes / ps; p++) this.#flash.erase(base / ps + p);
    // The magic goes last: a frame whose write tore before the end has no magic, or a CRC that fails.
    this.#flash.write(base + 4, frame.subarray(4));
    this.#flash.write(base, frame.subarray(0, 4));
    this.#seq = seq;
    this.#current = target;
  }
}
