// `restore SUBVOLUME SNAPSHOT --path P`: one file or directory copied out of a read-only snapshot
// (brought back from a target first when it is not here), attributes kept (`cp -a`), sharing
// extents where the destination is on the same btrfs filesystem (`--reflink=auto`). An existing
// destination is never overwritten: it is moved aside (--force) or the restore is refused.
import { lstat, rename, rmdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { runChecked, type CommandSpec } from '../exec/command.js';
import { absolutePathProblem } from '../local-path.js';
import { SnapkeepError, UsageError } from '../errors.js';
import { assertSafePath, deleteSubvolumes } from './btrfs-commands.js';
import { localHost } from './inventory.js';

/** `P` as given: relative to the subvolume, no `..`, no control characters. */
export function checkRestorePath(path: string): string {
  const trimmed = path.replace(/^\.\/+/, '').replace(/\/+$/, '');
  const problem =
    trimmed === '' || trimmed === '.'
      ? 'names the whole subvolume (restore it without --path)'
      : trimmed.startsWith('/')
        ? 'is absolute; expected a path inside the subvolume, e.g. Documents/report.odt'
        : absolutePathProblem(`/${trimmed}`);
  if (problem) throw new UsageError(`--path ${JSON.stringify(path)}: it ${problem}`);
  return trimmed;
}

export interface FileRestorePlan {
  /** The path inside the snapshot. */
  readonly source: string;
  /** Where it is copied to. */
  readonly destination: string;
  /** Set when --force moves an existing destination aside first. */
  readonly aside?: string;
  /**
   * The read-only snapshot the file is copied from, when it was received only for this copy
   * (beside a snapshot of the same name here, --from TARGET): deleted afterwards.
   */
  readonly removeSnapshot?: string;
}

/** `cp -a --reflink=auto -- SOURCE DESTINATION` (both checked). */
export const copyPreserving = (source: string, destination: string): CommandSpec => ({
  file: 'cp',
  args: ['-a', '--reflink=auto', '--', assertSafePath(source), assertSafePath(destination)],
});

const exists = (path: string): Promise<boolean> =>
  lstat(path).then(
    () => true,
    () => false,
  );

/**
 * Where `path` of `snapshotPath` goes: into the directory `to` under its own name, or to `to`
 * itself when `to` does not exist (as cp does). Refuses to overwrite without `force`.
 */
export async function planFileRestore(input: {
  readonly snapshotPath: string;
  readonly path: string;
  readonly to: string;
  readonly force: boolean;
  readonly now: Date;
  readonly removeSnapshot: boolean;
}): Promise<FileRestorePlan> {
  const toStat = await lstat(input.to).catch(() => undefined);
  const destination = toStat?.isDirectory() ? join(input.to, basename(input.path)) : input.to;
  const source = join(input.snapshotPath, input.path);
  const remove = input.removeSnapshot ? { removeSnapshot: input.snapshotPath } : {};
  if (!(await exists(destination))) return { source, destination, ...remove };
  if (!input.force)
    throw new UsageError(
      `${destination} exists; it is never overwritten: restore with --to ANOTHER_PATH, or --force to move it aside to ${destination}.before-restore.<time> first`,
    );
  const stamp = input.now.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '');
  return { source, destination, aside: `${destination}.before-restore.${stamp}`, ...remove };
}

/**
 * Checks that the source is in the snapshot (once the snapshot is here), then — unless only
 * checking — moves an existing destination aside and copies.
 */
export async function applyFileRestore(
  plan: FileRestorePlan,
  snapshotLabel: string,
  options: { readonly check?: boolean } = {},
): Promise<void> {
  if (!(await exists(plan.source)))
    throw new UsageError(
      `${snapshotLabel} has no ${plan.source}; see what it has with: ls ${dirname(plan.source)}`,
    );
  if (options.check) return;
  if (plan.aside) await rename(plan.destination, plan.aside);
  await runChecked(copyPreserving(plan.source, plan.destination));
  if (plan.removeSnapshot) {
    const removed = await localHost.run(deleteSubvolumes([plan.removeSnapshot]));
    if (removed.exitCode !== 0)
      throw new SnapkeepError(
        `${plan.destination} is restored, but the copy it was taken from could not be deleted: ${removed.stderr.trim()}; delete ${plan.removeSnapshot} by hand`,
      );
    await rmdir(dirname(plan.removeSnapshot)).catch(() => undefined);
  }
}
