/**
 * The web console's static files (built by Vite into dist/web): `GET /` serves index.html and `GET /assets/*` the
 * hashed bundles. Both are public so the sign-in page loads; everything under /api keeps its authentication.
 * The files are read once at registration and served from memory: only names found then exist, so no request path
 * ever reaches the file system (no traversal).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from './api-error.js';

/** Route patterns the console needs public (for AuthOptions.publicRoutes). */
export const CONSOLE_PUBLIC_ROUTES: readonly string[] = ['/', '/assets/*'];

/**
 * The console's policy (CSP Level 3): scripts and styles from this origin only, no inline script, no eval, no plugins,
 * no framing; the page talks to its own origin only.
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "object-src 'none'",
].join('; ');

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
};

interface StaticFile {
  body: Buffer;
  type: string;
}

/** dist/web next to this module's dist/src/api (where `npm run build` puts the console). */
export function defaultWebRoot(): string {
  return fileURLToPath(new URL('../../web/', import.meta.url));
}

/** True if `root` holds a built console (an index.html). */
export function hasConsole(root: string): boolean {
  return existsSync(join(root, 'index.html'));
}

function loadAssets(dir: string): Map<string, StaticFile> {
  const out = new Map<string, StaticFile>();
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (!statSync(p).isFile()) continue;
    out.set(name, { body: readFileSync(p), type: TYPES[extname(name)] ?? 'application/octet-stream' });
  }
  return out;
}

/**
 * Registers GET / and GET /assets/* serving the built console in `root`. index.html is revalidated on every load
 * (`no-cache`); assets carry a content hash in their names (Vite), so they are cached for a year as immutable.
 */
export function consoleRoutes(app: FastifyInstance, opts: { root: string }): void {
  const index = readFileSync(join(opts.root, 'index.html'));
  const assets = loadAssets(join(opts.root, 'assets'));
  const common = (reply: FastifyReply): FastifyReply =>
    reply.header('Content-Security-Policy', CONSOLE_CSP).header('Cross-Origin-Opener-Policy', 'same-origin').header('Cross-Origin-Resource-Policy', 'same-origin');

  app.get('/', { schema: { summary: 'The web console (HTML)', tags: ['console'] } as object }, async (_req, reply) =>
    common(reply).header('Cache-Control', 'no-cache').type('text/html; charset=utf-8').send(index),
  );
  app.get('/assets/*', { schema: { summary: 'The web console\'s hashed static assets', tags: ['console'] } as object }, async (req: FastifyRequest<{ Params: { '*': string } }>, reply) => {
    const f = assets.get(req.params['*']);
    if (f === undefined) throw new ApiError(404, 'no such asset');
    return common(reply).header('Cache-Control', 'public, max-age=31536000, immutable').type(f.type).send(f.body);
  });
}
