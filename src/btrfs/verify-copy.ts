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
// just filled). The reads are synchronous with a yield every so often: tens of thousands of small
// files cost a syscall each that way, not a trip through the thread pool. Files a stream did not touch were compared when the copy that brought them was
// received. Only where snapshot and copy are both on this machine: on an SSH host the target
// filter offers no file reads (a backup key reads nothing back), so remote copies keep the UUID
// checks.
import { closeSync, lstatSync, openSync, readlinkSync, readSync, type BigIntStats } from 'node:fs';
import { join } from 'node:path';
import type { StreamChanges } from './btrfs-parse.js';

/** Bytes of file contents compared per copy; beyond it only metadata is compared. */
export const contentBudgetBytes = 64 * 1024 * 1024;

const chunkBytes = 1024 * 1024;
/** Work between two yields to the event loop (other transfers and progress run meanwhile). */
const pathsPerYield = 512;
const bytesPerYield = 8 * chunkBytes;

const yieldToOthers = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

const statOf = (path: string): BigIntStats | undefined =>
  lstatSync(path, { bigint: true, throwIfNoEntry: false });

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
function metadataProblem(snapshotRoot: string, copyRoot: string, relative: string): string | undefined {
  const original = statOf(join(snapshotRoot, relative));
  const copy = statOf(join(copyRoot, relative));
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
    const from = readlinkSync(join(snapshotRoot, relative));
    const to = readlinkSync(join(copyRoot, relative));
    if (from !== to) return `symlink to ${to} in the copy, to ${from} in the snapshot`;
  }
  return undefined;
}

/** Reads two files range by range and compares; the budget is charged for what was read. */
class RangeComparer {
  private readonly left = Buffer.allocUnsafe(chunkBytes);
  private readonly right = Buffer.allocUnsafe(chunkBytes);
  private sinceYield = 0;

  constructor(private readonly budget: { remaining: number }) {}

  async same(
    leftPath: string,
    rightPath: string,
    ranges: readonly (readonly [number, number])[],
  ): Promise<boolean> {
    const a = openSync(leftPath, 'r');
    try {
      const b = openSync(rightPath, 'r');
      try {
        for (const [offset, length] of ranges) {
          for (let done = 0; done < length && this.budget.remaining > 0;) {
            const size = Math.min(chunkBytes, length - done, this.budget.remaining);
            const readA = readSync(a, this.left, 0, size, offset + done);
            const readB = readSync(b, this.right, 0, size, offset + done);
            this.budget.remaining -= size;
            if (readA !== readB || !this.left.subarray(0, readA).equals(this.right.subarray(0, readB)))
              return false;
            if (readA < size) break;
            done += size;
            this.sinceYield += size;
            if (this.sinceYield >= bytesPerYield) {
              this.sinceYield = 0;
              await yieldToOthers();
            }
          }
        }
        return true;
      } finally {
        closeSync(b);
      }
    } finally {
      closeSync(a);
    }
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
  let count = 0;
  for (const relative of changes.paths) {
    const problem = metadataProblem(snapshotRoot, copyRoot, relative);
    if (problem) problems.push(`${relative || '/'}: ${problem}`);
    if (problems.length >= 3) return problems;
    if (++count % pathsPerYield === 0) await yieldToOthers();
  }
  if (problems.length > 0) return problems;
  const budget = { remaining: budgetBytes };
  const comparer = new RangeComparer(budget);
  for (const [relative, written] of changes.writes) {
    if (budget.remaining <= 0) break;
    const original = statOf(join(snapshotRoot, relative));
    if (!original?.isFile()) continue; // renamed away or removed later in the stream
    // The whole file when it fits: a write lands on what the parent's copy held, and the rest
    // of that file is as good as that copy; else only what the stream wrote.
    const size = Number(original.size);
    const ranges = size <= budget.remaining ? [[0, size] as const] : written;
    if (!(await comparer.same(join(snapshotRoot, relative), join(copyRoot, relative), ranges))) {
      problems.push(`${relative}: its contents differ from the snapshot's`);
      if (problems.length >= 3) return problems;
    }
    if (++count % pathsPerYield === 0) await yieldToOthers();
  }
  return problems;
}
