/** Worker entry: fuzzes one target in its own isolate so the runner can stop a hang or an OOM. */
import { parentPort, workerData } from 'node:worker_threads';
import { fuzz, type FuzzStats } from './engine.js';
import { readInputs } from './files.js';
import { loadTarget } from './targets/index.js';

/** What the runner passes in. */
export interface WorkerInput {
  target: string;
  seed: number;
  timeMs: number;
  maxExecs?: number;
  slowMs?: number;
  batch?: number;
  singleShare?: number;
  corpusDir: string;
  regressionsDir: string;
  /** Send the corpus entries back (for --merge). */
  wantEntries: boolean;
  minimize: boolean;
  /** [length, ...bytes] of the input being run: what the runner reports after a hang or OOM. */
  current: SharedArrayBuffer;
}

/** Messages to the runner. */
export type WorkerMessage =
  | { type: 'progress'; stats: FuzzStats | null }
  | { type: 'done'; result: import('./engine.js').FuzzResult };

const input = workerData as WorkerInput;
const port = parentPort!;
const target = await loadTarget(input.target);
if (!target) throw new Error(`unknown fuzz target ${input.target}`);

const lenView = new Int32Array(input.current, 0, 1);
const bytesView = new Uint8Array(input.current, 4);
let lastBeat = performance.now();

const result = fuzz(target, {
  seed: input.seed,
  timeMs: input.timeMs,
  ...(input.maxExecs !== undefined ? { maxExecs: input.maxExecs } : {}),
  ...(input.slowMs !== undefined ? { slowMs: input.slowMs } : {}),
  ...(input.batch !== undefined ? { batch: input.batch } : {}),
  ...(input.singleShare !== undefined ? { singleShare: input.singleShare } : {}),
  minimize: input.minimize,
  regressions: readInputs(input.regressionsDir),
  corpus: readInputs(input.corpusDir),
  onInput(data) {
    const n = Math.min(data.length, bytesView.length);
    bytesView.set(data.subarray(0, n));
    lenView[0] = n;
    const now = performance.now();
    if (now - lastBeat > 500) {
      lastBeat = now;
      port.postMessage({ type: 'progress', stats: null });
    }
  },
  onProgress(stats) {
    port.postMessage({ type: 'progress', stats } satisfies WorkerMessage);
  },
});
if (!input.wantEntries) result.entries = [];
port.postMessage({ type: 'done', result } satisfies WorkerMessage);
