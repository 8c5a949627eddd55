/**
 * The model registry: object definitions by id (the newest version) and by id and version.
 * `loadDirectory` is the one place in src/lwm2m that reads files (the `--models DIR` option).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseDdf } from './ddf.js';
import type { Model, ObjectDefinition, ResourceDefinition } from './model.js';
import { coreObjects } from './objects/core-objects.js';

/** Result of loading a directory of DDF files. */
export interface LoadResult {
  /** Object definitions added. */
  loaded: number;
  errors: { file: string; message: string }[];
}

/** Compares "1.10" and "1.2" numerically, part by part. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** A `Model` over a mutable set of object definitions; starts with the core objects 0-7 by default. */
export class ModelRegistry implements Model {
  private readonly newest = new Map<number, ObjectDefinition>();
  private readonly byVersion = new Map<number, Map<string, ObjectDefinition>>();

  constructor(defs: Iterable<ObjectDefinition> = coreObjects) {
    for (const def of defs) this.add(def);
  }

  /**
   * Adds a definition. A definition with the same id and version replaces the earlier one;
   * `object(id)` answers the highest version known.
   */
  add(def: ObjectDefinition): void {
    let versions = this.byVersion.get(def.id);
    if (!versions) {
      versions = new Map();
      this.byVersion.set(def.id, versions);
    }
    versions.set(def.version, def);
    const current = this.newest.get(def.id);
    if (!current || compareVersions(def.version, current.version) >= 0) this.newest.set(def.id, def);
  }

  /** Parses DDF text and adds every object it defines; returns the definitions added. */
  addDdf(xml: string): ObjectDefinition[] {
    const defs = parseDdf(xml);
    for (const def of defs) this.add(def);
    return defs;
  }

  /** The newest definition of `objectId`, or the given `version` when asked. */
  object(objectId: number, version?: string): ObjectDefinition | undefined {
    if (version === undefined) return this.newest.get(objectId);
    return this.byVersion.get(objectId)?.get(version);
  }

  /** All versions known for an object, oldest first. */
  versions(objectId: number): ObjectDefinition[] {
    const versions = this.byVersion.get(objectId);
    if (!versions) return [];
    return [...versions.values()].sort((a, b) => compareVersions(a.version, b.version));
  }

  resource(objectId: number, resourceId: number, version?: string): ResourceDefinition | undefined {
    return this.object(objectId, version)?.resources.get(resourceId);
  }

  /** The newest definition of every object, by ascending id. */
  objects(): ObjectDefinition[] {
    return [...this.newest.values()].sort((a, b) => a.id - b.id);
  }

  /**
   * Loads every `*.xml` file of `dir` (not recursive). Files that fail to parse are reported in
   * `errors` and skipped; the others are added. Throws only if the directory cannot be read.
   */
  loadDirectory(dir: string): LoadResult {
    const result: LoadResult = { loaded: 0, errors: [] };
    const files = readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isFile() && e.name.toLowerCase().endsWith('.xml'))
      .map((e) => e.name)
      .sort();
    for (const name of files) {
      const file = join(dir, name);
      try {
        result.loaded += this.addDdf(readFileSync(file, 'utf8')).length;
      } catch (err) {
        result.errors.push({ file, message: err instanceof Error ? err.message : String(err) });
      }
    }
    return result;
  }
}
