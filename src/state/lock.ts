// One run at a time per state directory: an exclusive flock(2) on <state_dir>/snapkeep.lock,
// held on an open descriptor for the run's life. The kernel decides who holds it, atomically, and
// releases it when the holder's process ends however it ends, so there is no stale lock to take
// over and no race in taking one over. The file's content only names the holder for the refusal
// message: an empty, unreadable or outdated file is not a holder. The file is never deleted (a
// deleted file could be locked by one run while the next creates and locks a new one).
import { closeSync, existsSync, ftruncateSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ExitCode, SnapkeepError, UsageError } from '../errors.js';
import { runCommand, type CommandSpec } from '../exec/command.js';
import { lockFileDescriptor } from '../exec/flock.js';
import { currentProcessIdentity, type ProcessIdentity } from './process-identity.js';

export interface LockHolder extends ProcessIdentity {
  readonly command: string;
  readonly startedAt: string;
}

export interface HeldLock {
  readonly path: string;
  readonly holder: LockHolder;
  /** Let go (synchronous, so an interrupt can release it on its way out); idempotent. */
  release(): void;
}

export interface LockOptions {
  /** Wait up to this long for another run to finish (scheduled jobs); default: fail at once. */
  readonly waitSeconds?: number;
}

const secondsPerUnit: Record<string, number> = { s: 1, m: 60, h: 3600 };

/** A duration flag: `90s`, `30m`, `2h`, `1h30m`, or plain seconds, from 1 s to `maxSeconds`. */
export function parseDurationFlag(flag: string, text: string, maxSeconds: number, maxText: string): number {
  const parts = /^\d+$/.test(text) ? [[text, text, 's']] : [...text.matchAll(/(\d+)([smh])/g)];
  const seconds = parts.reduce((total, part) => total + Number(part[1]) * secondsPerUnit[part[2]!]!, 0);
  if (parts.map((part) => part[0]).join('') !== text || seconds < 1 || seconds > maxSeconds)
    throw new UsageError(
      `${flag} ${text}: expected a duration from 1s to ${maxText}, as seconds or with units s, m, h (e.g. 90s, 30m, 1h30m)`,
    );
  return seconds;
}

/** --lock-wait: at most a day (a scheduled job that waits longer is stuck). */
export const parseLockWait = (text: string): number => parseDurationFlag('--lock-wait', text, 86_400, '24h');

export const lockPath = (stateDir: string): string => join(stateDir, 'snapkeep.lock');

function describeHolder(path: string): string {
  let holder: Partial<LockHolder> | undefined;
  try {
    holder = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockHolder>;
  } catch {
    holder = undefined;
  }
  if (holder?.pid === undefined) return 'a process that has not recorded itself in the file yet';
  return `pid ${holder.pid} on ${holder.host ?? '?'} ("snapkeep ${holder.command ?? '?'}", started ${holder.startedAt ?? '?'})`;
}

function refusal(path: string, waitSeconds: number | undefined): SnapkeepError {
  const waited = waitSeconds ? ` (waited ${waitSeconds} s, --lock-wait)` : '';
  return new SnapkeepError(
    `another snapkeep run holds the lock ${path}${waited}: ${describeHolder(path)}`,
    ExitCode.locked,
  );
}

export async function acquireLock(
  stateDir: string,
  command: string,
  options: LockOptions = {},
): Promise<HeldLock> {
  mkdirSync(stateDir, { recursive: true });
  const path = lockPath(stateDir);
  // Not truncated on open: the content names the current holder until the lock is ours.
  const fd = openSync(path, 'a+', 0o644);
  let locked: boolean;
  try {
    locked = await lockFileDescriptor(fd, options.waitSeconds);
  } catch (error) {
    closeSync(fd);
    throw new SnapkeepError(`could not take the lock ${path}: ${(error as Error).message}`);
  }
  if (!locked) {
    closeSync(fd);
    throw refusal(path, options.waitSeconds);
  }
  const holder: LockHolder = { ...currentProcessIdentity(), command, startedAt: new Date().toISOString() };
  try {
    ftruncateSync(fd, 0);
    writeSync(fd, `${JSON.stringify(holder)}\n`, 0);
  } catch {
    // Only the refusal message of another run misses it (a full state directory, say): the lock
    // is ours either way, and the journal's own write reports the disk.
  }
  let released = false;
  return {
    path,
    holder,
    release() {
      if (released) return;
      released = true;
      try {
        ftruncateSync(fd, 0); // still ours: no one else can be writing it
      } catch {
        // The next holder overwrites it anyway.
      }
      closeSync(fd);
    },
  };
}

/** A command that must be done by `answerBy` (epoch ms); one still running then is left behind. */
async function runBy(spec: CommandSpec, answerBy: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(
      () => {
        reject(new Error(`${spec.file} ${spec.args.join(' ')} did not finish in time (is the disk hung?)`));
      },
      Math.max(0, answerBy - Date.now()),
    );
  });
  try {
    const result = await Promise.race([runCommand(spec), late]);
    if (result.exitCode !== 0)
      throw new Error(
        `${spec.file} ${spec.args.join(' ')}: ${result.stderr.trim() || `exit code ${result.exitCode}`}`,
      );
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The lock for a run that must be back by `answerBy` (epoch ms; `snapshot --deadline`) whatever
 * the state directory does. This process makes no call that writes there: on a frozen or hung
 * filesystem a write waits in the kernel, uninterruptibly, and one thread waiting there keeps
 * the process from exiting. So the lock file is opened read-only (flock(2) takes a lock on any
 * descriptor, and opening an existing file for reading writes nothing); only when it is missing
 * is it made first, by processes that may be left behind. Reads are trusted to answer (a frozen
 * filesystem serves them; a disk that hangs reads as well is out of reach of any program). The
 * holder is not recorded in the file: only another run's refusal message would read it, and it
 * would be one more write to wait for. Rejects with ExitCode.locked when another run still holds
 * the lock after `waitSeconds`, and with a plain error when the state directory did not answer.
 */
export async function acquireLockBy(
  stateDir: string,
  command: string,
  waitSeconds: number,
  answerBy: number,
): Promise<HeldLock> {
  const path = lockPath(stateDir);
  if (!existsSync(path)) {
    await runBy({ file: 'mkdir', args: ['-p', '--', stateDir] }, answerBy);
    await runBy({ file: 'touch', args: ['--', path] }, answerBy);
  }
  const fd = openSync(path, 'r');
  let locked: boolean;
  try {
    locked = await lockFileDescriptor(fd, Math.min(waitSeconds, Math.max(0, (answerBy - Date.now()) / 1000)));
  } catch (error) {
    closeSync(fd);
    throw new SnapkeepError(`could not take the lock ${path}: ${(error as Error).message}`);
  }
  if (!locked) {
    closeSync(fd);
    throw refusal(path, undefined);
  }
  let released = false;
  return {
    path,
    holder: { ...currentProcessIdentity(), command, startedAt: new Date().toISOString() },
    release() {
      if (released) return;
      released = true;
      closeSync(fd);
    },
  };
}
