import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inflateSync } from 'node:zlib';
import { encodePng, formatValue, renderChart } from './chart.js';

function crc32(data: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of data) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

/** Splits a PNG into its chunks, checking the signature and every CRC. */
function chunks(png: Buffer): { type: string; data: Buffer }[] {
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const out: { type: string; data: Buffer }[] = [];
  for (let o = 8; o < png.length; ) {
    const length = png.readUInt32BE(o);
    const type = png.toString('latin1', o + 4, o + 8);
    const data = png.subarray(o + 8, o + 8 + length);
    assert.equal(png.readUInt32BE(o + 8 + length), crc32(png.subarray(o + 4, o + 8 + length)), `CRC of ${type}`);
    out.push({ type, data });
    o += 12 + length;
  }
  return out;
}

test('encodePng writes IHDR, IDAT and IEND with valid CRCs and the pixels behind filter bytes', () => {
  const rgb = Buffer.from([255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9]);
  const c = chunks(encodePng(2, 2, rgb));
  assert.deepEqual(c.map((x) => x.type), ['IHDR', 'IDAT', 'IEND']);
  const ihdr = c[0]!.data;
  assert.deepEqual([ihdr.readUInt32BE(0), ihdr.readUInt32BE(4), ihdr[8], ihdr[9], ihdr[10], ihdr[11], ihdr[12]], [2, 2, 8, 2, 0, 0, 0]);
  assert.deepEqual(inflateSync(c[1]!.data), Buffer.from([0, 255, 0, 0, 0, 255, 0, 0, 0, 0, 255, 9, 9, 9]));
});

test("renderChart draws Warden's bar in its colour and scales each group to its largest bar", () => {
  const png = renderChart('t', [{ title: 'g', bars: [{ label: 'Warden', value: 50, ours: true }, { label: 'peer', value: 100 }] }], 400);
  const c = chunks(png);
  const width = c[0]!.data.readUInt32BE(0);
  const height = c[0]!.data.readUInt32BE(4);
  const raw = inflateSync(Buffer.concat(c.filter((x) => x.type === 'IDAT').map((x) => x.data)));
  const stride = width * 3 + 1;
  assert.equal(raw.length, stride * height);
  const rowsWith = (rgb: readonly number[]) => {
    const widths: number[] = [];
    for (let y = 0; y < height; y++) {
      let n = 0;
      for (let x = 0; x < width; x++) {
        const o = y * stride + 1 + x * 3;
        if (raw[o] === rgb[0] && raw[o + 1] === rgb[1] && raw[o + 2] === rgb[2]) n++;
      }
      if (n > 0) widths.push(n);
    }
    return widths;
  };
  const ours = Math.max(...rowsWith([31, 111, 235]));
  const theirs = Math.max(...rowsWith([173, 181, 189]));
  // The legend swatches are 14 px: the bars are the widest runs; half the value, half the length (to a pixel).
  assert.ok(Math.abs(ours * 2 - theirs) <= 2, `Warden bar ${ours} px, peer bar ${theirs} px`);
});

test('formatValue keeps labels short', () => {
  assert.equal(formatValue(83_205), '83.2K');
  assert.equal(formatValue(1_234_567), '1.23M');
  assert.equal(formatValue(4_455), '4,455');
  assert.equal(formatValue(1.234), '1.23');
});
