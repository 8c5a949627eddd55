/**
 * The benchmark report: the printed table, bench/results/latest.json (the raw `results` plus the table rows) and
 * bench/results/latest.png (rows that carry bars, drawn by chart.ts).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeChart, type Bar } from './chart.js';

/** One table row. `value` is printed as is; `met` is whether the target was met (absent when there is no target). */
export interface Row {
  figure: string;
  value: string;
  unit?: string;
  baseline?: string;
  target?: string;
  met?: boolean;
  /** Chart bars for this figure, Warden's (`ours`) first; rows without bars are not drawn. */
  bars?: Bar[];
  /** The chart group's title (default: figure, unit and target). */
  chartTitle?: string;
}

const WIDTH = [58, 16, 40, 12, 4];

function cells(r: Row): string[] {
  const value = r.unit ? `${r.value} ${r.unit}` : r.value;
  return [r.figure, value, r.baseline ?? '', r.target ?? '', r.met === undefined ? '' : r.met ? 'yes' : 'NO'];
}

/** Prints the table to stdout. */
export function printTable(rows: readonly Row[]): void {
  const line = (c: string[]) => c.map((s, i) => s.padEnd(WIDTH[i]!)).join(' ').trimEnd();
  console.log(line(['figure', 'value', 'baseline (same run)', 'target', 'met']));
  for (const r of rows) console.log(line(cells(r)));
}

/** Writes latest.json and latest.png into `dir`; returns their paths. */
export function writeReport(dir: string, name: string, date: Date, results: Record<string, number>, rows: readonly Row[]): { json: string; png: string } {
  mkdirSync(dir, { recursive: true });
  const json = join(dir, `${name}.json`);
  const table = rows.map(({ figure, value, unit, baseline, target, met }) => ({ figure, value, unit, baseline, target, met }));
  writeFileSync(json, JSON.stringify({ date: date.toISOString(), results, table }, null, 2) + '\n');
  const png = join(dir, `${name}.png`);
  const groups = rows
    .filter((r) => r.bars && r.bars.length > 0)
    .map((r) => ({ title: r.chartTitle ?? `${r.figure}${r.unit ? ` (${r.unit})` : ''}${r.target ? `, target ${r.target}` : ''}`, bars: r.bars! }));
  writeChart(png, `Warden benchmarks, ${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`, groups);
  return { json, png };
}

/** "3.41x" */
export function ratio(a: number, b: number): string {
  return b > 0 ? `${(a / b).toFixed(2)}x` : 'n/a';
}

/** Thousands-separated integer. */
export function int(n: number): string {
  return Math.round(n).toLocaleString('en');
}
