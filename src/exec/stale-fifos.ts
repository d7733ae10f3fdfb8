// The FIFO directories of runs that were killed without a chance to clean up (SIGKILL, the OOM
// killer, a power cut): a run removes its own on exit, and the next run removes what is left of
// the others. Each directory names the process that made it (`snapkeep-fifo-<pid>-XXXXXX`), so
// only one whose process is gone is removed: a directory of a run still going is never touched.
import { lstat, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';

const prefix = 'snapkeep-fifo-';

/** The prefix of this process's FIFO directory (mkdtemp adds the random part). */
export function fifoDirectoryPrefix(): string {
  return `${prefix}${process.pid}-`;
}

/**
 * Removes, in `directory` (the temp directory), every FIFO directory of a process that no longer
 * exists, made by this user; says which. Anything it cannot read or remove is left: it is only
 * tidying. A reused pid keeps a stale directory until that process ends too (never the reverse).
 */
export async function removeStaleFifoDirectories(directory: string): Promise<string[]> {
  const names = await readdir(directory).catch(() => [] as string[]);
  const removed: string[] = [];
  for (const name of names) {
    const pid = new RegExp(`^${prefix}(\\d+)-[A-Za-z0-9]+$`).exec(name)?.[1];
    if (pid === undefined || Number(pid) === process.pid || isAlive(Number(pid))) continue;
    const path = join(directory, name);
    const info = await lstat(path).catch(() => undefined);
    // A real directory of ours (in a shared /tmp, never another user's or a symlink).
    if (!info?.isDirectory() || info.uid !== process.getuid?.()) continue;
    await rm(path, { recursive: true, force: true }).then(
      () => removed.push(path),
      () => undefined,
    );
  }
  return removed;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, as another user's process.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
