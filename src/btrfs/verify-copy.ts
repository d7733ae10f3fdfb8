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
import {
  closeSync,
  lstatSync,
  openSync,
  readdirSync,
  readlinkSync,
  readSync,
  type BigIntStats,
} from 'node:fs';
import { join } from 'node:path';
import { pathBelow, printableName, type StreamChanges } from './send-stream.js';

/** Bytes of file contents compared per copy; beyond it only metadata is compared. */
export const contentBudgetBytes = 64 * 1024 * 1024;

const chunkBytes = 1024 * 1024;
/** Work between two yields to the event loop (other transfers and progress run meanwhile). */
const pathsPerYield = 512;
const bytesPerYield = 8 * chunkBytes;

const yieldToOthers = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

const statOf = (path: string | Buffer): BigIntStats | undefined =>
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

/**
 * How the entry at `relative` differs between snapshot and copy, or undefined. `relative` may hold
 * bytes that are not UTF-8 (send-stream.ts): it reaches the filesystem through pathBelow.
 */
function metadataProblem(snapshotRoot: string, copyRoot: string, relative: string): string | undefined {
  const original = statOf(pathBelow(snapshotRoot, relative));
  const copy = statOf(pathBelow(copyRoot, relative));
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
    // As bytes: two targets that are not UTF-8 could decode to one string.
    const from = readlinkSync(pathBelow(snapshotRoot, relative), { encoding: 'buffer' });
    const to = readlinkSync(pathBelow(copyRoot, relative), { encoding: 'buffer' });
    if (!from.equals(to))
      return `symlink to ${to.toString()} in the copy, to ${from.toString()} in the snapshot`;
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
    leftPath: string | Buffer,
    rightPath: string | Buffer,
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
    if (problem) problems.push(`${printableName(relative) || '/'}: ${problem}`);
    if (problems.length >= 3) return problems;
    if (++count % pathsPerYield === 0) await yieldToOthers();
  }
  if (problems.length > 0) return problems;
  const budget = { remaining: budgetBytes };
  const comparer = new RangeComparer(budget);
  for (const [relative, written] of changes.writes) {
    if (budget.remaining <= 0) break;
    const original = statOf(pathBelow(snapshotRoot, relative));
    if (!original?.isFile()) continue; // renamed away or removed later in the stream
    // The whole file when it fits: a write lands on what the parent's copy held, and the rest
    // of that file is as good as that copy; else only what the stream wrote.
    const size = Number(original.size);
    const ranges = size <= budget.remaining ? [[0, size] as const] : written;
    if (!(await comparer.same(pathBelow(snapshotRoot, relative), pathBelow(copyRoot, relative), ranges))) {
      problems.push(`${printableName(relative)}: its contents differ from the snapshot's`);
      if (problems.length >= 3) return problems;
    }
    if (++count % pathsPerYield === 0) await yieldToOthers();
  }
  return problems;
}

/** Subvolume roots (256) and the stubs a snapshot shows for subvolumes nested in it (2). */
const isNestedSubvolume = (stats: BigIntStats): boolean =>
  stats.isDirectory() && (stats.ino === 256n || stats.ino === 2n);

export interface TreeComparison {
  /** Regular files compared (contents byte for byte). */
  readonly files: number;
  /** Bytes of file contents compared. */
  readonly bytes: number;
  /** Entries compared (files, directories, symlinks, others). */
  readonly entries: number;
  /** How many entries differ, and the first few of them ("path: how"). */
  readonly differing: number;
  readonly problems: readonly string[];
}

/**
 * Every entry of the snapshot at `snapshotRoot` and of the copy at `copyRoot` compared (the
 * restore drill's check, unlike compareChanges not limited to what a stream touched): type,
 * mode, owner, size, modification time, symlink target, and every regular file's contents byte
 * for byte — as strict as comparing checksums, for the same reads, read in chunks (never a whole
 * file in memory). Subvolumes nested in either are not part of it (a stream never carries them).
 */
export async function compareTrees(
  snapshotRoot: string,
  copyRoot: string,
  problemLimit = 5,
): Promise<TreeComparison> {
  const problems: string[] = [];
  let differing = 0;
  let files = 0;
  let bytes = 0;
  let entries = 0;
  const budget = { remaining: Number.POSITIVE_INFINITY };
  const comparer = new RangeComparer(budget);
  const differ = (relative: string, problem: string): void => {
    differing++;
    if (problems.length < problemLimit) problems.push(`${relative || '/'}: ${problem}`);
  };
  const namesIn = (path: string): string[] => {
    try {
      return readdirSync(path);
    } catch {
      return [];
    }
  };
  const walk = async (relative: string): Promise<void> => {
    const names = new Set([...namesIn(join(snapshotRoot, relative)), ...namesIn(join(copyRoot, relative))]);
    for (const name of [...names].sort()) {
      const path = relative === '' ? name : join(relative, name);
      const original = statOf(join(snapshotRoot, path));
      const copy = statOf(join(copyRoot, path));
      if ((original && isNestedSubvolume(original)) || (copy && isNestedSubvolume(copy))) continue;
      entries++;
      const problem = metadataProblem(snapshotRoot, copyRoot, path);
      if (problem) differ(path, problem);
      else if (original?.isFile()) {
        const size = Number(original.size);
        files++;
        bytes += size;
        if (!(await comparer.same(join(snapshotRoot, path), join(copyRoot, path), [[0, size]])))
          differ(path, "its contents differ from the snapshot's");
      } else if (original?.isDirectory()) await walk(path);
      if (entries % pathsPerYield === 0) await yieldToOthers();
    }
  };
  const rootProblem = metadataProblem(snapshotRoot, copyRoot, '');
  if (rootProblem) differ('', rootProblem);
  await walk('');
  return { files, bytes, entries, differing, problems };
}

/** The entries below `root` (files, and their bytes), for a copy with nothing to compare it with. */
export async function measureTree(root: string): Promise<{ entries: number; files: number; bytes: number }> {
  let entries = 0;
  let files = 0;
  let bytes = 0;
  const walk = async (directory: string): Promise<void> => {
    for (const name of readdirSync(directory)) {
      const stats = statOf(join(directory, name));
      if (!stats || isNestedSubvolume(stats)) continue;
      entries++;
      if (stats.isFile()) {
        files++;
        bytes += Number(stats.size);
      } else if (stats.isDirectory()) await walk(join(directory, name));
      if (entries % pathsPerYield === 0) await yieldToOthers();
    }
  };
  await walk(root);
  return { entries, files, bytes };
}
