/**
 * The bootstrap sequence the server runs for one device (LwM2M 1.1 Core §6.1): an explicit state machine.
 * Bootstrap-Request (or a server-initiated start) -> Bootstrap-Discover -> Bootstrap-Delete -> Bootstrap-Write
 * -> Bootstrap-Finish -> finished. Any step may fail (error answer, timeout, superseded by a new request).
 */
import { BootstrapError } from './error.js';

export type BootstrapState = 'requested' | 'discovering' | 'deleting' | 'writing' | 'finishing' | 'finished' | 'failed';

export type BootstrapEvent =
  | 'discover'
  | 'delete'
  | 'write'
  | 'finish'
  | 'finished'
  /** An error answer, a timeout, a superseding Bootstrap-Request or the server closing. */
  | 'fail';

const TRANSITIONS: Readonly<Record<BootstrapState, Partial<Record<BootstrapEvent, BootstrapState>>>> = {
  requested: { discover: 'discovering', delete: 'deleting', fail: 'failed' },
  discovering: { delete: 'deleting', fail: 'failed' },
  deleting: { write: 'writing', fail: 'failed' },
  writing: { finish: 'finishing', fail: 'failed' },
  finishing: { finished: 'finished', fail: 'failed' },
  finished: {},
  failed: {},
};

/** The next state; throws BootstrapError('ILLEGAL_TRANSITION') for an event the state does not take. */
export function transition(state: BootstrapState, event: BootstrapEvent): BootstrapState {
  const next = TRANSITIONS[state][event];
  if (next === undefined) throw new BootstrapError('ILLEGAL_TRANSITION', `bootstrap: ${event} in state ${state}`);
  return next;
}

/** True for the states a sequence ends in. */
export function isTerminal(state: BootstrapState): boolean {
  return state === 'finished' || state === 'failed';
}

/** One running sequence: its state, and an AbortController that ends its outstanding requests. */
export class BootstrapSession {
  state: BootstrapState = 'requested';
  readonly abort = new AbortController();
  failure: string | undefined;

  constructor(
    readonly endpoint: string,
    readonly id: number,
  ) {}

  get active(): boolean {
    return !isTerminal(this.state);
  }

  step(event: BootstrapEvent): void {
    this.state = transition(this.state, event);
  }

  /** Ends the sequence as failed (once; later calls are ignored). */
  fail(reason: string): boolean {
    if (!this.active) return false;
    this.state = transition(this.state, 'fail');
    this.failure = reason;
    this.abort.abort(new BootstrapError('BUSY', reason));
    return true;
  }
}
