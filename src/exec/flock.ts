// flock(2) for Node, which has no binding for it: util-linux `flock` is started with the caller's
// open lock file as its fd 3 and locks it. A flock lock belongs to the open file description,
// which the child shares with this process's descriptor, so the lock stays held after `flock`
// exits, until this process closes the descriptor or dies (SIGKILL and power loss included: the
// kernel releases it, nobody has to clean up). Node opens files with O_CLOEXEC, so the other
// children of a run never inherit the descriptor and cannot keep the lock alive after it.
import type { ChildProcess } from 'node:child_process';
import { boundToThisProcess, resolveExecutable } from './child-lifetime.js';
import { childProcess } from './child-process.js';

/** `flock` exits with this when the lock is held by someone else (instead of 1, which is ambiguous). */
const conflictExitCode = 75;

// A `flock --wait` that is still waiting when an interrupt arrives must not outlive this process
// (it would take the lock after the holder and keep it until it exits).
const waiting = new Set<ChildProcess>();

export function abandonLockWaits(): void {
  for (const child of waiting) child.kill('SIGKILL');
}

/**
 * Take an exclusive flock on `fd`: at once (`waitSeconds` undefined or 0), or waiting up to
 * `waitSeconds` for the holder to let go. True when this process now holds it, false when
 * another one does.
 */
export function lockFileDescriptor(fd: number, waitSeconds?: number): Promise<boolean> {
  const wait = waitSeconds !== undefined && waitSeconds > 0;
  const flockArgs = [
    '--exclusive',
    ...(wait ? ['--wait', String(waitSeconds)] : ['--nonblock']),
    '--conflict-exit-code',
    String(conflictExitCode),
    '3',
  ];
  // While waiting, a SIGKILL of this process must end the wait too: bound like every child.
  const executable = resolveExecutable('flock', process.env.PATH);
  if (!executable)
    return Promise.reject(new Error('flock: command not found (util-linux; run scripts/install-deps.sh)'));
  const { file, args } = boundToThisProcess(executable, flockArgs);
  return new Promise((resolve, reject) => {
    const child = childProcess().spawn(file, [...args], { stdio: ['ignore', 'ignore', 'pipe', fd] });
    waiting.add(child);
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.once('error', (error: NodeJS.ErrnoException) => {
      waiting.delete(child);
      reject(new Error(`${file}: ${error.message}`));
    });
    child.once('close', (code, signal) => {
      waiting.delete(child);
      if (code === 0) resolve(true);
      else if (code === conflictExitCode) resolve(false);
      else reject(new Error(`flock ${flockArgs.join(' ')}: ${signal ?? `exit ${code}`} ${stderr.trim()}`));
    });
  });
}
