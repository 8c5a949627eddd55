/** API and console users: a name, a role and a scrypt password hash (see password.ts). */
import type { SqliteStore } from './sqlite.js';
import { DEFAULT_SCRYPT, checkPasswordPolicy, hashPassword, verifyPassword, type ScryptParams } from './password.js';

/** Roles, weakest first: a viewer reads, an operator also changes devices and state, an admin also manages access. */
export type Role = 'viewer' | 'operator' | 'admin';
export const ROLES: readonly Role[] = ['viewer', 'operator', 'admin'];

/** True if `have` includes everything `need` may do. */
export function roleAtLeast(have: Role, need: Role): boolean {
  return ROLES.indexOf(have) >= ROLES.indexOf(need);
}

/** The weaker of two roles. */
export function weakerRole(a: Role, b: Role): Role {
  return ROLES.indexOf(a) <= ROLES.indexOf(b) ? a : b;
}

export function isRole(v: unknown): v is Role {
  return typeof v === 'string' && (ROLES as readonly string[]).includes(v);
}

/** A user as shown (never the hash). */
export interface User {
  name: string;
  role: Role;
  createdAt: number;
  updatedAt: number;
}

/** Invalid input or a conflict; `code` says which. */
export class UserStoreError extends Error {
  constructor(readonly code: 'INVALID' | 'EXISTS' | 'NOT_FOUND', message: string) {
    super(message);
    this.name = 'UserStoreError';
  }
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

export interface UserStoreOptions {
  /** scrypt cost for new hashes (tests lower it). */
  scrypt?: ScryptParams;
  now?: () => number;
}

type Row = { name: string; role: Role; password_hash: string; created_at: number; updated_at: number };

function toUser(r: Row): User {
  return { name: r.name, role: r.role, createdAt: r.created_at, updatedAt: r.updated_at };
}

/** Users in the `api_user` table. */
export class UserStore {
  private readonly scrypt: ScryptParams;
  private readonly now: () => number;
  private readonly stmt;
  /** Verified against when the user does not exist, so a login takes as long for an unknown name. */
  private dummyHash: Promise<string> | undefined;

  constructor(store: SqliteStore, opts: UserStoreOptions = {}) {
    this.scrypt = opts.scrypt ?? DEFAULT_SCRYPT;
    this.now = opts.now ?? Date.now;
    const db = store.db;
    this.stmt = {
      insert: db.prepare('INSERT INTO api_user VALUES (@name, @role, @hash, @now, @now)'),
      get: db.prepare('SELECT * FROM api_user WHERE name = ?'),
      all: db.prepare('SELECT * FROM api_user ORDER BY name'),
      remove: db.prepare('DELETE FROM api_user WHERE name = ?'),
      setRole: db.prepare('UPDATE api_user SET role = ?, updated_at = ? WHERE name = ?'),
      setHash: db.prepare('UPDATE api_user SET password_hash = ?, updated_at = ? WHERE name = ?'),
      dropSessions: db.prepare('DELETE FROM api_session WHERE username = ?'),
      countAdmins: db.prepare("SELECT COUNT(*) AS n FROM api_user WHERE role = 'admin'"),
    };
  }

  /** Adds a user; throws UserStoreError (INVALID, EXISTS). */
  async add(name: string, role: Role, password: string): Promise<User> {
    if (!NAME.test(name)) throw new UserStoreError('INVALID', 'a user name is 1-64 characters: letters, digits, . _ @ - (not first)');
    if (!isRole(role)) throw new UserStoreError('INVALID', `a role is one of ${ROLES.join(', ')}`);
    try {
      checkPasswordPolicy(password);
    } catch (e) {
      throw new UserStoreError('INVALID', (e as Error).message);
    }
    if (this.get(name)) throw new UserStoreError('EXISTS', `user ${name} exists`);
    const hash = await hashPassword(password, this.scrypt);
    try {
      this.stmt.insert.run({ name, role, hash, now: this.now() });
    } catch (e) {
      if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') throw new UserStoreError('EXISTS', `user ${name} exists`);
      throw e;
    }
    return this.get(name)!;
  }

  get(name: string): User | undefined {
    const r = this.stmt.get.get(name) as Row | undefined;
    return r && toUser(r);
  }

  list(): User[] {
    return (this.stmt.all.all() as Row[]).map(toUser);
  }

  /** Removes a user with its sessions and API tokens; false if there was none. */
  remove(name: string): boolean {
    return this.stmt.remove.run(name).changes > 0;
  }

  /** Changes a role (takes effect on the user's next request). */
  setRole(name: string, role: Role): User {
    if (!isRole(role)) throw new UserStoreError('INVALID', `a role is one of ${ROLES.join(', ')}`);
    if (this.stmt.setRole.run(role, this.now(), name).changes === 0) throw new UserStoreError('NOT_FOUND', `no user ${name}`);
    return this.get(name)!;
  }

  /** Sets a new password and ends the user's console sessions. */
  async setPassword(name: string, password: string): Promise<void> {
    try {
      checkPasswordPolicy(password);
    } catch (e) {
      throw new UserStoreError('INVALID', (e as Error).message);
    }
    const hash = await hashPassword(password, this.scrypt);
    if (this.stmt.setHash.run(hash, this.now(), name).changes === 0) throw new UserStoreError('NOT_FOUND', `no user ${name}`);
    this.stmt.dropSessions.run(name);
  }

  /** Number of admins (the CLI warns before removing the last). */
  adminCount(): number {
    return (this.stmt.countAdmins.get() as { n: number }).n;
  }

  /** The user if `password` is theirs; an unknown name costs one scrypt too, so timing does not tell names apart. */
  async verify(name: string, password: string): Promise<User | undefined> {
    const r = this.stmt.get.get(name) as Row | undefined;
    if (r === undefined) {
      this.dummyHash ??= hashPassword('not-a-password-0123456789', this.scrypt);
      await verifyPassword(password, await this.dummyHash);
      return undefined;
    }
    return (await verifyPassword(password, r.password_hash)) ? toUser(r) : undefined;
  }
}
