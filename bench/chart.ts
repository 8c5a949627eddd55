/**
 * The benchmark chart (bench/results/latest.png) with no dependency: a horizontal bar chart, one group per figure
 * (Warden's bar beside its baseline bars, each group on its own scale), drawn with a built-in 5x7 bitmap font into
 * an RGB raster and written as a PNG (RFC 2083: signature, IHDR, IDAT = zlib stream of filtered scanlines, IEND).
 */
import { writeFileSync } from 'node:fs';
import * as zlib from 'node:zlib';

/** One bar: Warden's (`ours`) or a baseline's. */
export interface Bar {
  label: string;
  value: number;
  ours?: boolean;
}

/** One figure: a title (with its unit) and its bars. */
export interface BarGroup {
  title: string;
  bars: Bar[];
}

type Rgb = readonly [number, number, number];

/** 5x7 glyphs, one 5-bit row per entry (bit 4 = leftmost pixel). Lowercase letters are drawn as capitals. */
const FONT: Record<string, readonly number[]> = {
  A: [0x0e, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11], B: [0x1e, 0x11, 0x11, 0x1e, 0x11, 0x11, 0x1e],
  C: [0x0e, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0e], D: [0x1c, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1c],
  E: [0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x1f], F: [0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x10],
  G: [0x0e, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0f], H: [0x11, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11],
  I: [0x0e, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e], J: [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0c],
  K: [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11], L: [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1f],
  M: [0x11, 0x1b, 0x15, 0x15, 0x11, 0x11, 0x11], N: [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
  O: [0x0e, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e], P: [0x1e, 0x11, 0x11, 0x1e, 0x10, 0x10, 0x10],
  Q: [0x0e, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0d], R: [0x1e, 0x11, 0x11, 0x1e, 0x14, 0x12, 0x11],
  S: [0x0f, 0x10, 0x10, 0x0e, 0x01, 0x01, 0x1e], T: [0x1f, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
  U: [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e], V: [0x11, 0x11, 0x11, 0x11, 0x11, 0x0a, 0x04],
  W: [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0a], X: [0x11, 0x11, 0x0a, 0x04, 0x0a, 0x11, 0x11],
  Y: [0x11, 0x11, 0x11, 0x0a, 0x04, 0x04, 0x04], Z: [0x1f, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1f],
  '0': [0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e], '1': [0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e],
  '2': [0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f], '3': [0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e],
  '4': [0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02], '5': [0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e],
  '6': [0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e], '7': [0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
  '8': [0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e], '9': [0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c],
  ' ': [0, 0, 0, 0, 0, 0, 0], '.': [0, 0, 0, 0, 0, 0x0c, 0x0c], ',': [0, 0, 0, 0, 0x0c, 0x04, 0x08],
  '/': [0, 0x01, 0x02, 0x04, 0x08, 0x10, 0], ':': [0, 0x0c, 0x0c, 0, 0x0c, 0x0c, 0], '-': [0, 0, 0, 0x1f, 0, 0, 0],
  '(': [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02], ')': [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08],
  '%': [0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03], '>': [0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08],
  '<': [0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02], '=': [0, 0, 0x1f, 0, 0x1f, 0, 0], '+': [0, 0x04, 0x04, 0x1f, 0x04, 0x04, 0],
  "'": [0x0c, 0x04, 0x08, 0, 0, 0, 0], _: [0, 0, 0, 0, 0, 0, 0x1f], '*': [0, 0x04, 0x15, 0x0e, 0x15, 0x04, 0],
  '#': [0x0a, 0x0a, 0x1f, 0x0a, 0x1f, 0x0a, 0x0a], '→': [0, 0x04, 0x02, 0x1f, 0x02, 0x04, 0], '?': [0x0e, 0x11, 0x01, 0x02, 0x04, 0, 0x04],
};

/** An RGB raster with the few drawing operations the chart needs. */
class Raster {
  readonly pixels: Buffer;

  constructor(
    readonly width: number,
    readonly height: number,
    background: Rgb,
  ) {
    this.pixels = Buffer.alloc(width * height * 3);
    this.rect(0, 0, width, height, background);
  }

  rect(x: number, y: number, w: number, h: number, [r, g, b]: Rgb): void {
    const x0 = Math.max(0, Math.round(x));
    const y0 = Math.max(0, Math.round(y));
    const x1 = Math.min(this.width, Math.round(x + w));
    const y1 = Math.min(this.height, Math.round(y + h));
    for (let yy = y0; yy < y1; yy++) {
      for (let xx = x0; xx < x1; xx++) {
        const o = (yy * this.width + xx) * 3;
        this.pixels[o] = r;
        this.pixels[o + 1] = g;
        this.pixels[o + 2] = b;
      }
    }
  }

  /** Draws `text` with its top-left corner at (x, y), each font pixel `scale` pixels wide; returns its width. */
  text(x: number, y: number, text: string, color: Rgb, scale = 2): number {
    let cx = x;
    for (const ch of text) {
      const glyph = FONT[ch] ?? FONT[ch.toUpperCase()] ?? FONT['?']!;
      for (let row = 0; row < 7; row++) {
        for (let col = 0; col < 5; col++) if (glyph[row]! & (0x10 >> col)) this.rect(cx + col * scale, y + row * scale, scale, scale, color);
      }
      cx += 6 * scale;
    }
    return cx - x;
  }
}

/** Width in pixels of `text` drawn at `scale`. */
function textWidth(text: string, scale = 2): number {
  return [...text].length * 6 * scale;
}

const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

/** CRC-32 (ISO 3309, as PNG chunks use it): node:zlib's on Node >= 20.15, a table otherwise. */
function crc32(data: Uint8Array): number {
  const native = (zlib as { crc32?: (d: Uint8Array) => number }).crc32;
  if (native) return native(data) >>> 0;
  let c = 0xffffffff;
  for (const b of data) c = crcTable[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  out.set(data, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

/** Encodes an RGB raster as a PNG (8-bit truecolour, no interlace, filter type 0 on every scanline). */
export function encodePng(width: number, height: number, rgb: Uint8Array): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type: truecolour
  const stride = width * 3;
  const raw = Buffer.alloc((stride + 1) * height);
  for (let y = 0; y < height; y++) raw.set(rgb.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(raw, { level: 9 })),
    chunk('IEND', new Uint8Array(0)),
  ]);
}

/** Compact value label: 83,205 -> "83.2K", 1,234,567 -> "1.23M". */
export function formatValue(v: number): string {
  const abs = Math.abs(v);
  if (abs >= 1e6) return `${(v / 1e6).toPrecision(3)}M`;
  if (abs >= 1e4) return `${(v / 1e3).toPrecision(3)}K`;
  if (abs >= 100) return Math.round(v).toLocaleString('en');
  return v.toPrecision(3);
}

const WHITE: Rgb = [255, 255, 255];
const INK: Rgb = [33, 37, 41];
const MUTED: Rgb = [110, 117, 125];
const OURS: Rgb = [31, 111, 235];
const BASELINE: Rgb = [173, 181, 189];
const GRID: Rgb = [222, 226, 230];

/** Draws the groups as a horizontal bar chart (~1000 px wide) and returns the PNG. */
export function renderChart(title: string, groups: readonly BarGroup[], width = 1000): Buffer {
  const margin = 20;
  const barH = 18;
  const barGap = 5;
  const headerH = 24;
  const groupGap = 10;
  const labelW = Math.max(120, ...groups.flatMap((g) => g.bars.map((b) => textWidth(b.label) + 12)));
  const valueW = 90;
  const barX = margin + labelW;
  const barMax = width - barX - valueW - margin;
  let height = margin + 40;
  for (const g of groups) height += headerH + g.bars.length * (barH + barGap) + groupGap;
  height += 30;
  const img = new Raster(width, height, WHITE);
  img.text(margin, margin, title, INK, textWidth(title, 3) <= width - 2 * margin ? 3 : 2);
  let y = margin + 40;
  for (const g of groups) {
    img.rect(margin, y, width - 2 * margin, 1, GRID);
    img.text(margin, y + 7, g.title, INK, 2);
    y += headerH;
    const max = Math.max(...g.bars.map((b) => b.value), 1e-9);
    for (const b of g.bars) {
      img.text(barX - 8 - textWidth(b.label), y + 2, b.label, b.ours ? INK : MUTED);
      const w = Math.max(1, (b.value / max) * barMax);
      img.rect(barX, y, w, barH, b.ours ? OURS : BASELINE);
      img.text(barX + w + 6, y + 2, formatValue(b.value), b.ours ? INK : MUTED);
      y += barH + barGap;
    }
    y += groupGap;
  }
  y += 6;
  img.rect(margin, y, 14, 14, OURS);
  let x = margin + 20 + img.text(margin + 20, y, 'WARDEN', INK) + 20;
  img.rect(x, y, 14, 14, BASELINE);
  x += 20;
  img.text(x, y, 'BASELINE, SAME RUN (EACH GROUP ON ITS OWN SCALE)', MUTED);
  return encodePng(width, height, img.pixels);
}

/** Renders and writes the chart to `path`. */
export function writeChart(path: string, title: string, groups: readonly BarGroup[]): void {
  writeFileSync(path, renderChart(title, groups));
}
