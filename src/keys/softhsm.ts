/** SoftHSM2 tokens for tests and benchmarks: a private token directory per call (Debian package `softhsm2`). */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const SOFTHSM2_MODULE = '/usr/lib/softhsm/libsofthsm2.so';

/** A fresh token labelled `warden` (user PIN 1234) in its own directory; SOFTHSM2_CONF points at it until cleanup. */
export function softHsmToken(): { module: string; tokenLabel: string; pin: string; cleanup: () => void } {
  if (!existsSync(SOFTHSM2_MODULE)) {
    throw new Error(`SoftHSM2 is not installed (${SOFTHSM2_MODULE} missing): apt-get install softhsm2`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'warden-softhsm-'));
  const tokens = join(dir, 'tokens');
  mkdirSync(tokens);
  const conf = join(dir, 'softhsm2.conf');
  writeFileSync(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  const previous = process.env.SOFTHSM2_CONF;
  process.env.SOFTHSM2_CONF = conf;
  try {
    execFileSync('softhsm2-util', ['--init-token', '--free', '--label', 'warden', '--pin', '1234', '--so-pin', '5678'], { env: process.env, stdio: 'pipe' });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`softhsm2-util --init-token failed (package softhsm2): ${(err as Error).message}`);
  }
  return {
    module: SOFTHSM2_MODULE,
    tokenLabel: 'warden',
    pin: '1234',
    cleanup: () => {
      if (previous === undefined) delete process.env.SOFTHSM2_CONF;
      else process.env.SOFTHSM2_CONF = previous;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
