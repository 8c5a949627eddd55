/**
 * Object 2, LwM2M Access Control (Core §7.3.1 / Appendix E.3). With the single LwM2M Server this
 * client talks to, the server owns every instance and holds full rights, so nothing is enforced:
 * the object is kept consistent with the other objects' instances, stored and served. The server
 * may Create and Delete instances too; the client only removes the instances it made itself.
 */
import type { ObjectDefinition, ResourceValue } from '../../lwm2m/index.js';
import { BaseInstance, ObjectEnabler, type ObjectInstance } from '../object.js';
import { int } from '../value.js';

/** ACL bits (Core §7.3.1): Read, Write, Execute, Delete, Create. */
export const AccessRight = { Read: 1, Write: 2, Execute: 4, Delete: 8, Create: 16 } as const;

/** Instance id an ACL uses to grant Create on a whole object (Core §7.3.1). */
const OBJECT_LEVEL = 65535;

export class AccessControlObject extends ObjectEnabler {
  /** Instance ids the client made (and may remove when their target goes away). */
  private readonly managed = new Set<number>();

  constructor(definition: ObjectDefinition) {
    super(definition, [], { creatable: true });
  }

  /**
   * Makes the ACL instances match the objects: one per object instance (Read|Write|Execute|Delete)
   * and one per object that allows Create (instance 65535, Create), owned by `shortServerId`.
   * Security (0) and this object are not covered. Returns true when something changed.
   */
  sync(enablers: Iterable<ObjectEnabler>, shortServerId: number): boolean {
    const wanted = new Map<string, [number, number, number]>();
    for (const e of enablers) {
      if (e.id === 0 || e.id === this.id || e.id === 21) continue;
      for (const iid of e.instanceIds()) {
        wanted.set(`${e.id}/${iid}`, [e.id, iid, AccessRight.Read | AccessRight.Write | AccessRight.Execute | AccessRight.Delete]);
      }
      if (e.definition.multiple) wanted.set(`${e.id}/${OBJECT_LEVEL}`, [e.id, OBJECT_LEVEL, AccessRight.Create]);
    }
    let changed = false;
    for (const [id, inst] of this.instances) {
      const target = targetOf(inst);
      if (!wanted.delete(target) && this.managed.has(id)) {
        this.instances.delete(id);
        this.managed.delete(id);
        changed = true;
      }
    }
    for (const [oid, iid, rights] of wanted.values()) {
      const acl = new Map<number, ResourceValue>([[shortServerId, int(rights)]]);
      const id = this.freeInstanceId();
      this.managed.add(id);
      this.add(new BaseInstance(this.definition, id, [[0, int(oid)], [1, int(iid)], [2, acl], [3, int(shortServerId)]]));
      changed = true;
    }
    return changed;
  }

  override delete(id: number): void {
    super.delete(id);
    this.managed.delete(id);
  }
}

function targetOf(inst: ObjectInstance): string {
  const oid = inst.read(0);
  const iid = inst.read(1);
  const v = (n: typeof oid) => (n?.kind === 'singleResource' ? String(n.value.value) : '?');
  return `${v(oid)}/${v(iid)}`;
}
