import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { DtlsSessionStore } from './dtls-sessions.js';
import { SecretBox } from './secret-box.js';
import { SqliteStore } from './sqlite.js';

test('sessions are sealed at rest, taken once, and a tampered row is skipped', () => {
  const store = new SqliteStore(':memory:');
  const box = SecretBox.fromKey(randomBytes(32));
  const sessions = new DtlsSessionStore(store, box);
  const secret = Buffer.from('master-secret-bytes-of-a-session');
  sessions.save([{ data: secret }, { data: Buffer.from('second') }]);
  const raw = store.db.prepare('SELECT sealed FROM dtls_session').all() as { sealed: Buffer }[];
  assert.equal(raw.length, 2);
  assert.ok(raw.every((r) => !r.sealed.includes(secret)), 'nothing stored in the clear');
  raw[1]!.sealed[raw[1]!.sealed.length - 1]! ^= 1;
  store.db.prepare('UPDATE dtls_session SET sealed = ? WHERE id = 2').run(raw[1]!.sealed);
  const taken = sessions.take();
  assert.deepEqual(taken.sessions.map((s) => Buffer.from(s.data).toString()), ['master-secret-bytes-of-a-session']);
  assert.equal(taken.unreadable, 1);
  assert.equal(sessions.take().sessions.length, 0, 'taken sessions are gone');
  store.close();
});
