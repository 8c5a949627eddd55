/** LwM2M paths: /objectId/instanceId/resourceId/resourceInstanceId (Core §6.1). */

export class Lwm2mPath {
  /** Up to four ids; the root path has none. */
  readonly ids: readonly number[];

  private constructor(ids: readonly number[]) {
    this.ids = ids;
  }

  static root(): Lwm2mPath {
    return new Lwm2mPath([]);
  }

  static of(...ids: number[]): Lwm2mPath {
    if (ids.length > 4) throw new RangeError(`LwM2M path has at most 4 levels, got ${ids.length}`);
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id > 65535) throw new RangeError(`invalid LwM2M path id: ${id}`);
    }
    return new Lwm2mPath(ids);
  }

  /** Parses "/3/0/1", "3/0", "/" (65535 is reserved as an id, Core §7.1, but accepted here). */
  static parse(text: string): Lwm2mPath {
    const trimmed = text.replace(/^\/+|\/+$/g, '');
    if (trimmed === '') return Lwm2mPath.root();
    const parts = trimmed.split('/');
    const ids = parts.map((p) => {
      if (!/^\d{1,5}$/.test(p)) throw new RangeError(`invalid LwM2M path "${text}"`);
      return Number(p);
    });
    return Lwm2mPath.of(...ids);
  }

  /** From CoAP Uri-Path segments; returns undefined if they are not an LwM2M path. */
  static fromSegments(segments: readonly string[]): Lwm2mPath | undefined {
    if (segments.length > 4) return undefined;
    const ids: number[] = [];
    for (const s of segments) {
      if (!/^\d{1,5}$/.test(s)) return undefined;
      const n = Number(s);
      if (n > 65535) return undefined;
      ids.push(n);
    }
    return new Lwm2mPath(ids);
  }

  get objectId(): number | undefined {
    return this.ids[0];
  }
  get instanceId(): number | undefined {
    return this.ids[1];
  }
  get resourceId(): number | undefined {
    return this.ids[2];
  }
  get resourceInstanceId(): number | undefined {
    return this.ids[3];
  }

  isRoot(): boolean {
    return this.ids.length === 0;
  }
  isObject(): boolean {
    return this.ids.length === 1;
  }
  isInstance(): boolean {
    return this.ids.length === 2;
  }
  isResource(): boolean {
    return this.ids.length === 3;
  }
  isResourceInstance(): boolean {
    return this.ids.length === 4;
  }

  /** True if `other` is this path or lies below it. */
  contains(other: Lwm2mPath): boolean {
    if (other.ids.length < this.ids.length) return false;
    for (let i = 0; i < this.ids.length; i++) if (this.ids[i] !== other.ids[i]) return false;
    return true;
  }

  child(id: number): Lwm2mPath {
    return Lwm2mPath.of(...this.ids, id);
  }

  parent(): Lwm2mPath {
    return new Lwm2mPath(this.ids.slice(0, -1));
  }

  segments(): string[] {
    return this.ids.map(String);
  }

  equals(other: Lwm2mPath): boolean {
    return this.ids.length === other.ids.length && this.contains(other);
  }

  toString(): string {
    return '/' + this.ids.join('/');
  }
}
