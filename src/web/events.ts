/** Live updates from GET /api/event (server-sent events, WHATWG HTML §9.2); the cookie goes along (same origin). */
import { call } from './api.js';

/** Event names of src/api/events.ts the console listens for. */
export type LiveEvent = 'REGISTRATION' | 'UPDATED' | 'DEREGISTRATION' | 'SLEEPING' | 'AWAKE' | 'NOTIFICATION' | 'CAMPAIGN' | 'FIRMWARE' | 'ROTATION' | 'AUDIT' | 'DEVICE' | 'PACKAGE';

/**
 * Opens a stream (`ep`: one device's events only) and calls `on(name, data)` for each event. The browser reconnects
 * by itself; a stream the server refused (401) closes, and then /api/me decides (a 401 there goes to sign-in).
 * Returns the function that closes the stream.
 */
export function subscribe(events: readonly LiveEvent[], on: (name: LiveEvent, data: unknown) => void, ep?: string, onState?: (open: boolean) => void): () => void {
  const source = new EventSource(ep === undefined ? '/api/event' : `/api/event?ep=${encodeURIComponent(ep)}`);
  for (const name of events) {
    source.addEventListener(name, (e) => {
      let data: unknown;
      try {
        data = JSON.parse((e as MessageEvent<string>).data);
      } catch {
        return;
      }
      on(name, data);
    });
  }
  source.addEventListener('open', () => onState?.(true));
  source.addEventListener('error', () => {
    onState?.(false);
    if (source.readyState === EventSource.CLOSED) void call('GET', '/api/me').catch(() => {});
  });
  return () => source.close();
}
