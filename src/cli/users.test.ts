import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { ApiTokenStore, SqliteStore, UserStore } from '../store/index.js';
import { registerUsersCommands, tokensCreate, tokensList, tokensRevoke, usersAdd, usersList, usersRemove, type UsersCliIo } from './users.js';

const PASSWORD = 'first-admin-password-9';

function io(password = PASSWORD): UsersCliIo & { lines: string[]; errors: string[] } {
  const lines: string[] = [];
  const errors: string[] = [];
  return {
    lines, errors, scrypt: { logN: 4, r: 8, p: 1 }, now: () => Date.parse('2026-05-01T00:00:00Z'),
    readPassword: async () => password, out: (l) => void lines.push(l), err: (l) => void errors.push(l),
  };
}

function tempData(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'warden-cli-users-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function open<T>(data: string, fn: (store: SqliteStore) => T): T {
  const store = new SqliteStore(join(data, 'warden.db'));
  try {
    return fn(store);
  } finally {
    store.close();
  }
}

describe('warden users and tokens commands', () => {
  it('adds the first admin before any server ran, lists and removes users; no password in any output or in the file', async (t) => {
    const data = tempData(t);
    const a = io();
    await usersAdd('root', { role: 'admin', data }, a);
    await usersAdd('eve', { role: 'viewer', data }, io('viewer-password-1'));
    assert.deepEqual(a.lines, ['added user root (admin)']);
    assert.equal((await open(data, (s) => new UserStore(s).verify('root', PASSWORD)))?.role, 'admin');
    await assert.rejects(usersAdd('root', { role: 'admin', data }, io()), /exists/);
    await assert.rejects(usersAdd('x', { role: 'root', data }, io()), /--role/);
    await assert.rejects(usersAdd('weak', { role: 'viewer', data }, io('short')), /at least/);
    const l = io();
    usersList({ data }, l);
    assert.deepEqual(l.lines.map((x) => x.split('\t').slice(0, 2)), [['eve', 'viewer'], ['root', 'admin']]);
    const r = io();
    usersRemove('eve', { data }, r);
    assert.throws(() => usersRemove('eve', { data }, r), /no user eve/);
    for (const line of [...a.lines, ...a.errors, ...l.lines, ...r.lines]) assert.equal(line.includes(PASSWORD), false);
    for (const f of ['warden.db', 'warden.db-wal']) {
      try {
        assert.equal(readFileSync(join(data, f)).includes(Buffer.from(PASSWORD)), false, f);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
    }
  });

  it('creates a token printed once, lists it without the secret, revokes it', async (t) => {
    const data = tempData(t);
    await usersAdd('ops', { role: 'operator', data }, io());
    const c = io();
    tokensCreate({ user: 'ops', scope: 'write', expires: '30d', name: 'ci', data }, c);
    assert.equal(c.lines.length, 1);
    const secret = c.lines[0]!;
    assert.match(secret, /^wdn_/);
    assert.match(c.errors[0]!, /expires 2026-05-31T00:00:00.000Z/);
    const grant = open(data, (s) => new ApiTokenStore(s, { now: () => Date.parse('2026-05-02T00:00:00Z') }).authenticate(secret));
    assert.equal(grant?.role, 'operator');
    assert.throws(() => tokensCreate({ user: 'ops', scope: 'admin', data }, io()), /exceeds/);
    assert.throws(() => tokensCreate({ user: 'nobody', scope: 'read', data }, io()), /no user/);
    assert.throws(() => tokensCreate({ user: 'ops', scope: 'all', data }, io()), /--scope/);
    const l = io();
    tokensList({ data }, l);
    assert.equal(l.lines.length, 1);
    assert.equal(l.lines[0]!.includes(secret.slice(4)), false);
    const id = l.lines[0]!.split('\t')[0]!;
    tokensRevoke(id, { data }, io());
    assert.throws(() => tokensRevoke(id, { data }, io()), /no live token/);
    assert.equal(open(data, (s) => new ApiTokenStore(s).authenticate(secret)), undefined);
  });

  it('registers users add|list|remove and tokens create|list|revoke; no password option exists', async (t) => {
    const data = tempData(t);
    const program = new Command().exitOverride();
    const out = io();
    registerUsersCommands(program, out);
    await program.parseAsync(['node', 'warden', 'users', 'add', 'root', '--role', 'admin', '--data', data]);
    await program.parseAsync(['node', 'warden', 'tokens', 'create', '--user', 'root', '--scope', 'admin', '--data', data]);
    await program.parseAsync(['node', 'warden', 'users', 'list', '--data', data]);
    assert.equal(out.lines[0], 'added user root (admin)');
    assert.match(out.lines[1]!, /^wdn_/);
    assert.match(out.lines[2]!, /^root\tadmin\t/);
    const add = program.commands.find((c) => c.name() === 'users')!.commands.find((c) => c.name() === 'add')!;
    assert.equal(add.options.some((o) => /pass/i.test(o.long ?? '')), false);
    await assert.rejects(program.parseAsync(['node', 'warden', 'tokens', 'create', '--user', 'root', '--expires', '1w', '--data', data]));
  });
});
