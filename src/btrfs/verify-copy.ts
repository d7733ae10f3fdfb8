// A received copy compared with the snapshot it was received from, on what its stream changed.
//
// Why this check: the UUIDs and the read-only flag say a receive *finished*, not that the copy
// holds what the stream carried. A second receive writing into the same path (an orphan of a
// killed run), or a copy changed after its receive, keeps both — and every later incremental is
// built on it. So after each receive the paths the stream touched are compared between snapshot
// and copy: existence, type, mode, owner, size, mtime, symlink target, and the contents of the
// files it wrote to.
//
// Why these paths and this budget: the list comes from the same stream without data
// (`btrfs send --no-data`: for an incremental the kernel compares only what changed), so the
// check costs in proportion to what was sent, never a walk of the whole tree: metadata of every
// touched path, and at most `contentBudgetBytes` of file contents per copy (whole files while
// they fit, else the ranges the stream wrote; read back mostly from the page cache the transfer
// just filled). Files a stream did not touch were compared when the copy that brought them was
// received. Only where snapshot and copy are both on this machine: on an SSH host the target
// filter offers no file reads (a backup key reads nothing back), so remote copies keep the UUID
// checks.
import { open, lstat, readlink } from 'node:fs/promises';
import type { BigIntStats } from 'node:fs';
import { join } from 'node:path';
import type { StreamChanges } from './btrfs-parse.js';

/** Bytes of written ranges compared per copy; beyond it only metadata is compared. */
export const contentBudgetBytes = 64 * 1024 * 1024;

const chunkBytes = 1024 * 1024;

async function statOf(path: string): Promise<BigIntStats | undefined> {
  try {
    return await lstat(path, { bigint: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

const typeOf = (stats: BigIntStats): string =>
  stats.isFile()
    ? 'file'
    : stats.isDirectory()
      ? 'directory'
      : stats.isSymbolicLink()
        ? 'symlink'
        : stats.isFIFO()
          ? 'fifo'
          : stats.isSocket()
            ? 'socket'
            : 'device';

/** How the entry at `relative` differs between snapshot and copy, or undefined. */
async function metadataProblem(
  snapshotRoot: string,
  copyRoot: string,
  relative: string,
): Promise<string | undefined> {
  const [original, copy] = await Promise.all([
    statOf(join(snapshotRoot, relative)),
    statOf(join(copyRoot, relative)),
  ]);
  if (!original && !copy) return undefined;
  if (!copy) return 'missing in the copy';
  if (!original) return 'in the copy but not in the snapshot';
  if (typeOf(original) !== typeOf(copy))
    return `a ${typeOf(copy)} in the copy, a ${typeOf(original)} in the snapshot`;
  const octal = (mode: bigint): string => (mode & 0o7777n).toString(8);
  if (original.mode !== copy.mode)
    return `mode ${octal(copy.mode)} in the copy, ${octal(original.mode)} in the snapshot`;
  if (original.uid !== copy.uid || original.gid !== copy.gid)
    return `owner ${copy.uid}:${copy.gid} in the copy, ${original.uid}:${original.gid} in the snapshot`;
  if (!original.isDirectory() && original.size !== copy.size)
    return `${copy.size} bytes in the copy, ${original.size} in the snapshot`;
  if (!original.isDirectory() && original.mtimeNs !== copy.mtimeNs) return 'modification time differs';
  if (original.isSymbolicLink()) {
    const [from, to] = await Promise.all([
      readlink(join(snapshotRoot, relative)),
      readlink(join(copyRoot, relative)),
    ]);
    if (from !== to) return `symlink to ${to} in the copy, to ${from} in the snapshot`;
  }
  return undefined;
}

/** Whether `ranges` of two files hold the same bytes; `budget` is decremented by what was read. */
async function sameRanges(
  left: string,
  right: string,
  ranges: readonly (readonly [number, number])[],
  budget: { remaining: number },
): Promise<boolean> {
  const [a, b] = await Promise.all([open(left, 'r'), open(right, 'r')]);
  try {
    const bufferA = Buffer.alloc(chunkBytes);
    const bufferB = Buffer.alloc(chunkBytes);
    for (const [offset, length] of ranges) {
      for (let done = 0; done < length && budget.remaining > 0;) {
        const size = Math.min(chunkBytes, length - done, budget.remaining);
        const [readA, readB] = await Promise.all([
          a.read(bufferA, 0, size, offset + done),
          b.read(bufferB, 0, size, offset + done),
        ]);
        if (readA.bytesRead !== readB.bytesRead) return false;
        if (!bufferA.subarray(0, readA.bytesRead).equals(bufferB.subarray(0, readB.bytesRead))) return false;
        budget.remaining -= size;
        if (readA.bytesRead < size) break;
        done += size;
      }
    }
    return true;
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
}

/**
 * What differs between the snapshot at `snapshotRoot` and the copy at `copyRoot` on the paths
 * `changes` lists (at most a few, for the message); empty when they agree.
 */
export async function compareChanges(
  snapshotRoot: string,
  copyRoot: string,
  changes: StreamChanges,
  budgetBytes = contentBudgetBytes,
): Promise<string[]> {
  const problems: string[] = [];
  const paths = [...changes.paths].sort();
  for (const relative of paths) {
    const problem = await metadataProblem(snapshotRoot, copyRoot, relative);
    if (problem) problems.push(`${relative || '/'}: ${problem}`);
    if (problems.length >= 3) return problems;
  }
  const budget = { remaining: budgetBytes };
  for (const [relative, written] of changes.writes) {
    if (budget.remaining <= 0) break;
    const original = await statOf(join(snapshotRoot, relative));
    if (!original?.isFile()) continue; // renamed away or removed later in the stream
    // The whole file when it fits: a write lands on what the parent's copy held, and the rest
    // of that file is as good as that copy; else only what the stream wrote.
    const size = Number(original.size);
    const ranges = size <= budget.remaining ? [[0, size] as const] : written;
    if (!(await sameRanges(join(snapshotRoot, relative), join(copyRoot, relative), ranges, budget))) {
      problems.push(`${relative}: its contents differ from the snapshot's`);
      if (problems.length >= 3) return problems;
    }
  }
  return problems;
}
