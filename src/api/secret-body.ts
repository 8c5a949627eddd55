/** JSON bodies that may hold keys (security info, bootstrap configurations). */
import type { FastifyInstance } from 'fastify';
import { ApiError } from './api-error.js';

/**
 * Replaces the scope's JSON parser with one whose error never quotes the body: Fastify's default message for
 * malformed JSON can echo part of it, and these bodies hold secret keys.
 */
export function parseJsonWithoutEcho(scope: FastifyInstance): void {
  scope.removeContentTypeParser('application/json');
  scope.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, text, done) => {
    try {
      done(null, (text as string).trim() === '' ? undefined : JSON.parse(text as string));
    } catch {
      done(new ApiError(400, 'invalid JSON body'), undefined);
    }
  });
}
