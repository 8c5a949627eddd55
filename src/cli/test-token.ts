import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dir = mkdtempSync(join(tmpdir(), 'warden-token-'));
process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
let n = 0;

/** A file holding `token` (mode 0600), for the CLI's --token-file; removed when the process exits. */
export function tokenFile(token: string): string {
  const file = join(dir, `token-${n++}`);
  writeFileSync(file, token, { mode: 0o600 });
  return file;
}
