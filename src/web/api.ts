/**
 * The console's calls to /api: same-origin cookie session, the CSRF token kept in memory only and sent as
 * X-CSRF-Token on every change, and any 401 sends the user back to sign-in.
 */

/** An API answer other than 2xx. */
export class HttpError extends Error {
  readonly status: number;

  constructor(status: number, message: string) {
    super(message);
    this.name = 'HttpError';
    this.status = status;
  }
}

/** Who is signed in. */
export interface Session {
  username: string;
  role: string;
  csrfToken?: string;
}

let csrfToken: string | undefined;
let unauthorized: () => void = () => {};

/** Called on any 401 (the session expired or was revoked). */
export function onUnauthorized(fn: () => void): void {
  unauthorized = fn;
}

/** Sets (or forgets) the CSRF token of the current session. */
export function setCsrfToken(token: string | undefined): void {
  csrfToken = token;
}

/**
 * One JSON call; resolves with the parsed body and the headers, throws HttpError for a non-2xx answer. A Blob body
 * (a file) is sent as it is, as application/octet-stream.
 */
export async function call<T>(method: string, url: string, body?: unknown): Promise<{ data: T; headers: Headers }> {
  const headers: Record<string, string> = { accept: 'application/json' };
  const raw = body instanceof Blob;
  if (body !== undefined) headers['content-type'] = raw ? 'application/octet-stream' : 'application/json';
  if (method !== 'GET' && method !== 'HEAD' && csrfToken !== undefined) headers['x-csrf-token'] = csrfToken;
  const res = await fetch(url, {
    method,
    headers,
    credentials: 'same-origin',
    cache: 'no-store',
    ...(body !== undefined ? { body: raw ? body : JSON.stringify(body) } : {}),
  });
  const isJson = (res.headers.get('content-type') ?? '').includes('application/json');
  const data: unknown = isJson ? await res.json().catch(() => undefined) : undefined;
  if (!res.ok) {
    const message = typeof (data as { message?: unknown } | undefined)?.message === 'string' ? (data as { message: string }).message : `${res.status} ${res.statusText}`;
    if (res.status === 401 && url !== '/api/login') {
      csrfToken = undefined;
      unauthorized();
    }
    throw new HttpError(res.status, message);
  }
  return { data: data as T, headers: res.headers };
}

/** The URL of a device path: /api/clients/<ep>/<path without leading slash>. */
export function deviceUrl(endpoint: string, path: string, suffix = ''): string {
  const segs = path.split('/').filter((s) => s !== '');
  return `/api/clients/${encodeURIComponent(endpoint)}/${segs.map(encodeURIComponent).join('/')}${suffix}`;
}
