/**
 * The firmware repository over REST: `POST /api/firmware` (body: the package file as application/octet-stream, up to
 * 64 MiB; optional `?name=&notes=`) stores a signed package (201, or 200 with the existing record when the same file
 * is already stored), `GET /api/firmware?vendor=&class=&version=&kind=` lists, `GET /api/firmware/{id}` shows one with
 * its manifest, `DELETE /api/firmware/{id}` removes one (409 while a campaign uses it). A malformed package is 400; a
 * bad signature, an unknown key or a payload that is not what the manifest says is 422, the message naming the reason.
 */
import type { FastifyInstance } from 'fastify';
import {
  ALG_ES256,
  FirmwareError,
  FirmwareRepositoryError,
  manifestToJson,
  MAX_PACKAGE_SIZE,
  type FirmwarePackage,
  type FirmwareRepository,
  type PackageScheme,
} from '../firmware/index.js';
import type { Logger } from '../log.js';
import { ApiError } from './api-error.js';
import { param, type Query } from './params.js';

/** What the /api/firmware routes need. */
export interface FirmwareApiOptions {
  repository: Pick<FirmwareRepository, 'upload' | 'list' | 'get' | 'remove' | 'manifest'> & Partial<Pick<FirmwareRepository, 'changes'>>;
  /** The Package URIs devices can pull a package from, by scheme (shown with the package). */
  uris?: (id: string) => Partial<Record<PackageScheme, string>>;
  logger?: Logger;
}

/** A package as JSON: the record with its upload time in ISO 8601. */
export function firmwarePackageToJson(p: FirmwarePackage): Record<string, unknown> {
  return { ...p, uploadedAt: new Date(p.uploadedAt).toISOString() };
}

/** Maps the firmware layer's refusals to HTTP errors (undefined: not one of them). */
export function firmwareApiError(err: unknown): ApiError | undefined {
  if (err instanceof FirmwareError) {
    const malformed = err.code === 'MALFORMED' || err.code === 'TRUNCATED';
    return new ApiError(malformed ? 400 : 422, `package refused: ${err.message}`);
  }
  if (err instanceof FirmwareRepositoryError) {
    switch (err.code) {
      case 'NOT_FOUND':
        return new ApiError(404, err.message);
      case 'IN_USE':
        return new ApiError(409, err.message);
      case 'TOO_LARGE':
        return new ApiError(413, err.message);
      case 'BAD_FILTER':
        return new ApiError(400, err.message);
      case 'CORRUPT':
        return undefined;
    }
  }
  return undefined;
}

function textParam(q: Query, name: string, max: number): string | undefined {
  const v = param(q, name);
  if (v === undefined) return undefined;
  if (v.length > max) throw new ApiError(400, `${name} is at most ${max} characters`);
  return v;
}

function rethrow(err: unknown): never {
  throw firmwareApiError(err) ?? err;
}

/** Registers the /api/firmware routes (in their own scope: the octet-stream body parser and limit are theirs only). */
export function firmwareRoutes(app: FastifyInstance, opts: FirmwareApiOptions): void {
  const { repository: repo } = opts;
  void app.register(async (scope) => {
    scope.addContentTypeParser('application/octet-stream', { parseAs: 'buffer', bodyLimit: MAX_PACKAGE_SIZE }, (_req, body, done) => done(null, body));
    scope.post<{ Querystring: Query }>('/api/firmware', { bodyLimit: MAX_PACKAGE_SIZE }, async (req, reply) => {
      const body = req.body;
      if (!Buffer.isBuffer(body)) throw new ApiError(415, 'the body must be the package file as application/octet-stream');
      if (body.byteLength === 0) throw new ApiError(400, 'the body is empty: send the package file');
      const meta: { name?: string; notes?: string } = {};
      const name = textParam(req.query, 'name', 200);
      const notes = textParam(req.query, 'notes', 2000);
      if (name !== undefined) meta.name = name;
      if (notes !== undefined) meta.notes = notes;
      const r = await repo.upload(body, meta).catch(rethrow);
      opts.logger?.info({ id: r.package.id, version: r.package.version, created: r.created }, 'firmware package uploaded');
      return reply.code(r.created ? 201 : 200).header('location', `/api/firmware/${r.package.id}`).send(firmwarePackageToJson(r.package));
    });
    scope.get<{ Querystring: Query }>('/api/firmware', async (req) => {
      const q = req.query;
      const kind = param(q, 'kind');
      if (kind !== undefined && kind !== 'image' && kind !== 'delta') throw new ApiError(400, 'kind is image or delta');
      const filter = { vendor: param(q, 'vendor'), class: param(q, 'class'), version: param(q, 'version'), kind: kind as 'image' | 'delta' | undefined };
      try {
        return repo.list(filter).map(firmwarePackageToJson);
      } catch (err) {
        rethrow(err);
      }
    });
    scope.get<{ Params: { id: string } }>('/api/firmware/:id', async (req) => {
      const p = repo.get(req.params.id);
      if (!p) throw new ApiError(404, `no firmware package ${req.params.id}`);
      const m = await repo.manifest(p.id);
      if (!m) throw new ApiError(404, `no firmware package ${req.params.id}`);
      return {
        ...firmwarePackageToJson(p),
        alg: m.alg === ALG_ES256 ? 'ES256' : 'EdDSA',
        manifest: manifestToJson(m.manifest),
        ...(opts.uris ? { uris: opts.uris(p.id) } : {}),
      };
    });
    scope.delete<{ Params: { id: string } }>('/api/firmware/:id', async (req, reply) => {
      const p = await repo.remove(req.params.id).catch(rethrow);
      opts.logger?.info({ id: p.id }, 'firmware package removed');
      return reply.code(204).send();
    });
  });
}
