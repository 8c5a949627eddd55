/**
 * The OMA LwM2M object registry (BSD 3-Clause, see its README) vendored as test data, so a fresh clone tests without
 * anything beside it; WARDEN_REGISTRY_DIR points the tests at another copy.
 */
import { fileURLToPath } from 'node:url';

export const registryDir: string =
  process.env['WARDEN_REGISTRY_DIR'] ?? fileURLToPath(new URL('../../test/fixtures/lwm2m-registry/', import.meta.url));
