/**
 * One timer per client: tasks are kept sorted by due time and a single clock timer is armed for
 * the earliest. Thousands of clients in one process each hold one pending timer, not dozens.
 */
import type { Clock } from '../coap/index.js';

interface Task {
  at: number;
  seq: number;
  fn: () => void;
  done: boolean;
}

export class Scheduler {
  private readonly clock: Clock;
  private readonly tasks: Task[] = [];
  private timer: unknown;
  private armedAt = Infinity;
  private seq = 0;
  private closed = false;
  private readonly onError: (err: unknown) => void;

  constructor(clock: Clock, onError: (err: unknown) => void = () => {}) {
    this.clock = clock;
    this.onError = onError;
  }

  now(): number {
    return this.clock.now();
  }

  /** Runs `fn` after `ms`; returns a function that cancels it. */
  schedule(ms: number, fn: () => void): () => void {
    if (this.closed) return noop;
    const task: Task = { at: this.clock.now() + Math.max(0, ms), seq: this.seq++, fn, done: false };
    // Insert keeping (at, seq) order; scanning from the end is cheap because most tasks go late.
    let i = this.tasks.length;
    while (i > 0 && this.tasks[i - 1]!.at > task.at) i--;
    this.tasks.splice(i, 0, task);
    if (i === 0) this.arm();
    return () => this.cancel(task);
  }

  /** Drops every task and the timer; later `schedule` calls do nothing. */
  close(): void {
    this.closed = true;
    this.tasks.length = 0;
    this.disarm();
  }

  /** Number of pending tasks (tests, leak checks). */
  get size(): number {
    return this.tasks.length;
  }

  private cancel(task: Task): void {
    if (task.done) return;
    task.done = true;
    const i = this.tasks.indexOf(task);
    if (i >= 0) this.tasks.splice(i, 1);
    if (i === 0) this.arm();
  }

  private arm(): void {
    const first = this.tasks[0];
    if (!first) {
      this.disarm();
      return;
    }
    if (first.at === this.armedAt && this.timer !== undefined) return;
    this.disarm();
    this.armedAt = first.at;
    this.timer = this.clock.setTimeout(() => this.fire(), Math.max(0, first.at - this.clock.now()));
    unref(this.timer);
  }

  private disarm(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.armedAt = Infinity;
  }

  private fire(): void {
    this.timer = undefined;
    this.armedAt = Infinity;
    const now = this.clock.now();
    while (!this.closed && this.tasks.length > 0 && this.tasks[0]!.at <= now) {
      const task = this.tasks.shift()!;
      task.done = true;
      try {
        task.fn();
      } catch (err) {
        this.onError(err);
      }
    }
    if (!this.closed) this.arm();
  }
}

function noop(): void {}

/** The client's timers must not keep a process alive on their own: its socket does while it runs. */
function unref(handle: unknown): void {
  if (handle && typeof (handle as { unref?: unknown }).unref === 'function') (handle as { unref(): void }).unref();
}
