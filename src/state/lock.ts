// One run at a time per state directory. The lock file records who holds it so the refusal can
// say so; a lock left by a dead process (crash, kill -9) is recognised and taken over.
import { hostname } from 'node:os';
import { rmSync } from 'node:fs';
import { mkdir, open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ExitCode, SnapkeepError } from '../errors.js';

export interface LockHolder {
  readonly pid: number;
  readonly host: string;
  readonly command: string;
  readonly startedAt: string;
}

export interface HeldLock {
  readonly path: string;
  release(): Promise<void>;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function readHolder(path: string): Promise<LockHolder | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as LockHolder;
  } catch {
    return undefined;
  }
}

export async function acquireLock(stateDir: string, command: string): Promise<HeldLock> {
  await mkdir(stateDir, { recursive: true });
  const path = join(stateDir, 'snapkeep.lock');
  const holder: LockHolder = {
    pid: process.pid,
    host: hostname(),
    command,
    startedAt: new Date().toISOString(),
  };
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(path, 'wx', 0o644);
      await handle.writeFile(`${JSON.stringify(holder)}\n`);
      await handle.close();
      let released = false;
      const release = async (): Promise<void> => {
        if (released) return;
        released = true;
        await rm(path, { force: true });
      };
      // An interrupt exits through process.exit; leave no lock behind for the next run.
      process.once('exit', () => {
        if (!released) {
          rmSync(path, { force: true });
        }
      });
      return { path, release };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const current = await readHolder(path);
      if (current && current.host === hostname() && !isAlive(current.pid)) {
        await rm(path, { force: true }); // stale: its process is gone
        continue;
      }
      const who = current
        ? `pid ${current.pid} on ${current.host} ("snapkeep ${current.command}", started ${current.startedAt})`
        : 'an unknown process';
      throw new SnapkeepError(`another snapkeep run holds the lock ${path}: ${who}`, ExitCode.locked);
    }
  }
  throw new SnapkeepError(`could not take the lock ${path}`, ExitCode.locked);
}
