// Space of each local target at a run's end, and how many copies of each subvolume it holds:
// recorded in `run-end` (`space`), so status shows used and free space and forecasts when the
// target is full from the trend, without touching the target itself. fs.statfs and a directory
// listing: no process is spawned. SSH targets are not measured (that would be a connection).
// `status` counts the snapshots in each local snapshot directory the same way (countLocalSnapshots).
import { readdir, statfs } from 'node:fs/promises';
import type { ResolvedSubvolume } from '../config/resolve.js';
import { parseSnapshotName } from '../snapshot-name.js';
import type { JournalSpace } from './journal-events.js';

export async function measureLocalTargets(subvolumes: readonly ResolvedSubvolume[]): Promise<JournalSpace[]> {
  const byTarget = new Map<string, { path: string; subvolumes: ResolvedSubvolume[] }>();
  for (const subvolume of subvolumes)
    for (const target of subvolume.targets) {
      if (target.ssh) continue;
      const entry = byTarget.get(target.name) ?? { path: target.path, subvolumes: [] };
      entry.subvolumes.push(subvolume);
      byTarget.set(target.name, entry);
    }
  const measured = await Promise.all(
    [...byTarget].map(async ([target, { path, subvolumes: sending }]): Promise<JournalSpace | undefined> => {
      try {
        const stats = await statfs(path);
        const names = await readdir(path).catch(() => [] as string[]);
        const copies: Record<string, number> = {};
        for (const subvolume of sending)
          // Names in btrbk's grammar (not the `latest` pointer, not garbage of other names).
          copies[subvolume.name] = names.filter(
            (name) => parseSnapshotName(name)?.basename === subvolume.snapshotName,
          ).length;
        const sizeBytes = stats.blocks * stats.bsize;
        const freeBytes = stats.bavail * stats.bsize;
        return {
          target,
          path,
          sizeBytes,
          freeBytes,
          usedBytes: sizeBytes - stats.bfree * stats.bsize,
          copies,
        };
      } catch {
        return undefined; // an unmounted target: its job says so; no sample
      }
    }),
  );
  return measured.filter((sample): sample is JournalSpace => sample !== undefined);
}

/**
 * Snapshots in each subvolume's snapshot directory now, by subvolume: one directory listing each
 * (no process), names in btrbk's grammar only. A directory not there yet holds none; pull-mode
 * subvolumes (their snapshots on another host) and unreadable directories are left out.
 */
export async function countLocalSnapshots(
  subvolumes: readonly ResolvedSubvolume[],
): Promise<Record<string, number>> {
  const counts = await Promise.all(
    subvolumes
      .filter((subvolume) => !subvolume.ssh)
      .map(async (subvolume): Promise<[string, number] | undefined> => {
        try {
          const names = await readdir(subvolume.snapshotDir);
          return [
            subvolume.name,
            names.filter((name) => parseSnapshotName(name)?.basename === subvolume.snapshotName).length,
          ];
        } catch (error) {
          return (error as NodeJS.ErrnoException).code === 'ENOENT' ? [subvolume.name, 0] : undefined;
        }
      }),
  );
  return Object.fromEntries(counts.filter((count): count is [string, number] => count !== undefined));
}
