/**
 * DTLS sessions kept across a server restart (issue 3 item 6): sealed with the SecretBox, written at
 * shutdown and taken (read and deleted) at start, so a restored session can never be restored twice.
 */
import type { SecretBox } from './secret-box.js';

const AAD = 'warden-dtls-session-v1';

export class DtlsSessionStore {
  private readonly db: import('better-sqlite3').Database;

  constructor(store: { readonly db: import('better-sqlite3').Database }, private readonly box: SecretBox) {
    this.db = store.db;
    this.db.exec('CREATE TABLE IF NOT EXISTS dtls_session (id INTEGER PRIMARY KEY, sealed BLOB NOT NULL)');
  }

  /** Replaces the saved sessions with these (each sealed on its own). */
  save(sessions: readonly { data: Uint8Array }[]): void {
    const insert = this.db.prepare('INSERT INTO dtls_session (sealed) VALUES (?)');
    this.db.transaction(() => {
      this.db.exec('DELETE FROM dtls_session');
      for (const s of sessions) insert.run(Buffer.from(this.box.seal(s.data, AAD)));
    })();
  }

  /** Returns the saved sessions and forgets them; rows that do not open (tampered, other key) are skipped. */
  take(): { sessions: { data: Uint8Array }[]; unreadable: number } {
    const rows = this.db.prepare('SELECT sealed FROM dtls_session').all() as { sealed: Buffer }[];
    this.db.exec('DELETE FROM dtls_session');
    const sessions: { data: Uint8Array }[] = [];
    let unreadable = 0;
    for (const r of rows) {
      try {
        sessions.push({ data: this.box.open(r.sealed, AAD) });
      } catch {
        unreadable++;
      }
    }
    return { sessions, unreadable };
  }
}
