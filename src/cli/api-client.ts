/** How the CLI's client commands call the running Warden's REST API. */
import type { Command } from 'commander';
import { cliApiToken, type ApiTokenFlags } from './api-token.js';

/** Where the API is and how to authenticate to it. */
export interface ApiClientFlags extends ApiTokenFlags {
  /** Base URL of the REST API, e.g. http://127.0.0.1:8080. */
  api: string;
}

/** `--api`, `--token-file` and `--data`, as every command that calls the API takes them. */
export function apiClientOptions(c: Command): Command {
  return c
    .option('--api <url>', 'REST API of the running Warden', 'http://127.0.0.1:8080')
    .option('--token-file <file>', 'file holding the admin API token (default: WARDEN_API_TOKEN, else DATA/api-token)')
    .option('--data <dir>', 'data directory', './data');
}

/** A client of the running Warden's REST API: one base URL and one bearer token. */
export class ApiClient {
  constructor(
    readonly base: string,
    private readonly token: string,
  ) {}

  /**
   * One request: a Uint8Array body goes as application/octet-stream, anything else as JSON. Rejects with
   * "METHOD path: status message" (the query left out) unless the answer is 2xx; an unreachable API or a refused token
   * get their own message.
   */
  async call<T = unknown>(method: string, path: string, body?: unknown): Promise<{ status: number; json: T }> {
    const binary = body instanceof Uint8Array;
    let res: Response;
    try {
      res = await fetch(new URL(path, this.base), {
        method,
        headers: {
          authorization: `Bearer ${this.token}`,
          ...(body === undefined ? {} : { 'content-type': binary ? 'application/octet-stream' : 'application/json' }),
        },
        ...(body === undefined ? {} : { body: binary ? new Uint8Array(body) : JSON.stringify(body) }),
      });
    } catch (err) {
      throw new Error(`cannot reach the Warden API at ${this.base}: ${(err as Error & { cause?: Error }).cause?.message ?? (err as Error).message}`);
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (res.status === 401) throw new Error(`the Warden API at ${this.base} refused the token (401): give a valid token in WARDEN_API_TOKEN or --token-file`);
    if (!res.ok) throw new Error(`${method} ${path.split('?')[0]}: ${res.status} ${(json as { message?: string } | undefined)?.message ?? res.statusText}`);
    return { status: res.status, json: json as T };
  }
}

/** The client the flags describe (the token read once). */
export function apiClient(flags: ApiClientFlags): ApiClient {
  return new ApiClient(flags.api, cliApiToken(flags));
}

/** One request with the flags' API and token (see ApiClient.call). */
export async function callApi<T = unknown>(flags: ApiClientFlags, method: string, path: string, body?: unknown): Promise<{ status: number; json: T }> {
  return apiClient(flags).call<T>(method, path, body);
}
