import type { EnablerHost } from './object.js';

/** An EnablerHost for tests of objects outside a client: real timers, nothing else. */
export const timerHost: EnablerHost = {
  fireChange: () => undefined,
  instancesChanged: () => undefined,
  wallNow: () => 0,
  random: () => 0,
  schedule: (ms, fn) => {
    const t = setTimeout(fn, ms);
    return () => clearTimeout(t);
  },
  trigger: () => undefined,
};
