/** Listeners of a store's changes: `watch` subscribes (returning the unsubscribe), `emit` tells them all. */
export class Watchers<T> {
  private readonly fns = new Set<(value: T) => void>();

  /** Calls `fn` with every value emitted from now on; returns the unsubscribe. */
  watch(fn: (value: T) => void): () => void {
    this.fns.add(fn);
    return () => void this.fns.delete(fn);
  }

  emit(value: T): void {
    for (const fn of this.fns) fn(value);
  }
}
