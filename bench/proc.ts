/** Child processes of the benchmarks: pinned to a core, talked to over IPC, their CPU time read from /proc. */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

const TASKSET = '/usr/bin/taskset';

/**
 * Runs `argv` pinned to `core` when taskset exists (and WARDEN_BENCH_PIN is not 0), with an IPC channel and its
 * stdout inherited when `ipc`, in `env` (default: this process's).
 */
export function launch(core: number, argv: string[], ipc: boolean, env: NodeJS.ProcessEnv = process.env): ChildProcess {
  const pin = existsSync(TASKSET) && process.env.WARDEN_BENCH_PIN !== '0';
  const pinned = pin ? [TASKSET, '-c', String(core), ...argv] : argv;
  return spawn(pinned[0]!, pinned.slice(1), { env, stdio: ['ignore', ipc ? 'inherit' : 'ignore', 'inherit', ...(ipc ? ['ipc' as const] : [])] });
}

/** The child's next IPC message; rejects if it exits first. */
export function nextMessage<T>(proc: ChildProcess, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`${what} exited with ${code}`));
    proc.once('exit', onExit);
    proc.once('message', (m) => {
      proc.off('exit', onExit);
      resolve(m as T);
    });
  });
}

/** CPU seconds (user + system) a process has used, from /proc (clock ticks of 100 Hz). */
export function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}
