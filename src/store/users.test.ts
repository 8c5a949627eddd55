import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ApiTokenStore, SessionStore, SqliteStore, UserStore, UserStoreError, hashPassword, parseLifetime, verifyPassword } from './index.js';

const FAST = { logN: 4, r: 8, p: 1 };

describe('password hashes', () => {
  it('are scrypt with a per-hash salt and the parameters kept beside the hash', async () => {
    const a = await hashPassword('correct horse battery', FAST);
    const b = await hashPassword('correct horse battery', FAST);
    assert.match(a, /^scrypt\$4\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    assert.notEqual(a, b, 'fresh salt each time');
    assert.equal(await verifyPassword('correct horse battery', a), true);
    assert.equal(await verifyPassword('correct horse batterY', a), false);
    assert.equal(await verifyPassword('correct horse battery', a.replace('$4$', '$5$')), false, 'parameters are part of the hash');
    assert.equal(await verifyPassword('x', 'not-a-hash'), false);
    assert.match(await hashPassword('default cost!'), /^scrypt\$15\$8\$1\$/, 'the default parameters run (maxmem is raised)');
  });
});

function stores(now: { t: number }) {
  const store = new SqliteStore(':memory:');
  const clock = () => now.t;
  return { store, users: new UserStore(store, { scrypt: FAST, now: clock }), sessions: new SessionStore(store, { now: clock }), tokens: new ApiTokenStore(store, { now: clock }) };
}

describe('UserStore', () => {
  it('adds, verifies, lists, changes and removes users; removal takes sessions and tokens along', async () => {
    const now = { t: 1_000_000 };
    const { store, users, sessions, tokens } = stores(now);
    try {
      await users.add('alice', 'admin', 'alice-password-1');
      await users.add('bob', 'viewer', 'bob-password-12');
      await assert.rejects(users.add('alice', 'viewer', 'another-password'), (e: unknown) => e instanceof UserStoreError && e.code === 'EXISTS');
      await assert.rejects(users.add('carol', 'viewer', 'short'), (e: unknown) => e instanceof UserStoreError && e.code === 'INVALID' && !e.message.includes('short'));
      await assert.rejects(users.add('bad name', 'viewer', 'long-enough-pw'), /user name/);
      await assert.rejects(users.add('dave', 'root' as never, 'long-enough-pw'), /role/);
      assert.deepEqual(users.list().map((u) => [u.name, u.role]), [['alice', 'admin'], ['bob', 'viewer']]);
      assert.equal((await users.verify('alice', 'alice-password-1'))?.role, 'admin');
      assert.equal(await users.verify('alice', 'bob-password-12'), undefined);
      assert.equal(await users.verify('nobody', 'alice-password-1'), undefined);
      const row = store.db.prepare('SELECT password_hash FROM api_user WHERE name = ?').get('alice') as { password_hash: string };
      assert.equal(row.password_hash.includes('alice-password-1'), false);

      const s = sessions.create('bob');
      tokens.create({ username: 'bob', scope: 'read' });
      await users.setPassword('bob', 'bob-new-password');
      assert.equal(sessions.use(s.id), undefined, 'a new password ends the sessions');
      assert.equal((await users.verify('bob', 'bob-new-password'))?.name, 'bob');
      const s2 = sessions.create('bob');
      assert.equal(users.setRole('bob', 'operator').role, 'operator');
      assert.equal(sessions.use(s2.id)?.role, 'operator', 'the role is read at each use');
      assert.equal(users.remove('bob'), true);
      assert.equal(users.remove('bob'), false);
      assert.equal(sessions.use(s2.id), undefined);
      assert.deepEqual(tokens.list(), []);
      assert.equal(users.adminCount(), 1);
    } finally {
      store.close();
    }
  });
});

describe('SessionStore', () => {
  it('keeps only hashes and expires on idle and absolute limits', async () => {
    const now = { t: 0 };
    const { store, users, sessions } = stores(now);
    try {
      await users.add('alice', 'operator', 'alice-password-1');
      const s = sessions.create('alice');
      assert.match(s.id, /^[A-Za-z0-9_-]{43}$/);
      const raw = store.db.prepare('SELECT * FROM api_session').all() as { id_hash: Buffer }[];
      assert.equal(raw.length, 1);
      assert.equal(raw[0]!.id_hash.length, 32);
      assert.equal(sessions.use('x'.repeat(43)), undefined);
      now.t = 29 * 60_000;
      assert.equal(sessions.use(s.id)?.username, 'alice');
      now.t += 30 * 60_000;
      assert.equal(sessions.use(s.id), undefined);
      const s2 = sessions.create('alice');
      const s3 = sessions.create('alice');
      now.t += 31 * 60_000;
      assert.equal(sessions.prune(), 2);
      assert.equal(sessions.use(s2.id) ?? sessions.use(s3.id), undefined);
      const s4 = sessions.create('alice');
      assert.equal(sessions.remove(s4.id), true);
      assert.equal(sessions.use(s4.id), undefined);
    } finally {
      store.close();
    }
  });
});

describe('ApiTokenStore', () => {
  it('creates tokens shown once, stored hashed, capped by scope, expiring and revocable', async () => {
    const now = { t: 5_000 };
    const { store, users, tokens } = stores(now);
    try {
      await users.add('alice', 'admin', 'alice-password-1');
      await users.add('bob', 'operator', 'bob-password-12');
      const a = tokens.create({ username: 'alice', scope: 'read', lifetimeMs: 60_000, name: 'grafana' });
      assert.match(a.secret, /^wdn_[A-Za-z0-9_-]{43}$/);
      assert.equal(JSON.stringify(store.db.prepare('SELECT * FROM api_token').all()).includes(a.secret.slice(4)), false);
      assert.deepEqual(tokens.authenticate(a.secret)?.role, 'viewer', 'admin capped at read');
      assert.equal(tokens.authenticate(a.secret)?.token.name, 'grafana');
      assert.equal(tokens.authenticate(a.secret.slice(0, -1) + 'x'), undefined);
      assert.equal(tokens.authenticate('not-a-token'), undefined);
      now.t += 60_000;
      assert.equal(tokens.authenticate(a.secret), undefined, 'expired');
      const b = tokens.create({ username: 'bob', scope: 'write' });
      assert.equal(tokens.authenticate(b.secret)?.role, 'operator');
      assert.throws(() => tokens.create({ username: 'bob', scope: 'admin' }), /exceeds/);
      assert.throws(() => tokens.create({ username: 'nobody', scope: 'read' }), (e: unknown) => e instanceof UserStoreError && e.code === 'NOT_FOUND');
      assert.equal(tokens.revoke(b.token.id), true);
      assert.equal(tokens.revoke(b.token.id), false);
      assert.equal(tokens.authenticate(b.secret), undefined, 'revoked');
      assert.equal(tokens.get(b.token.id)?.revokedAt, now.t);
      assert.equal(tokens.list('bob').length, 1);
      assert.equal(tokens.list().length, 2);
    } finally {
      store.close();
    }
  });

  it('parses lifetimes', () => {
    assert.equal(parseLifetime('30d'), 30 * 86_400_000);
    assert.equal(parseLifetime('12h'), 12 * 3600_000);
    assert.equal(parseLifetime('90m'), 90 * 60_000);
    assert.equal(parseLifetime('3600'), 3600_000);
    for (const bad of ['0d', '-1d', '1w', '', 'd']) assert.throws(() => parseLifetime(bad), /lifetime/, bad);
  });
});
