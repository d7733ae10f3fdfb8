// Applying a fetch (plan/fetch-plan.ts): receive a copy from the host that keeps it into a local
// directory, verified like every receive (apply-steps.ts), and "check out" a received snapshot as
// a writable subvolume — moving whatever was at that path aside first, never deleting it. A
// writable snapshot cannot cross filesystems and only btrfs holds one: both are checked when the
// checkout is planned (exit 2, nothing touched), not found out halfway by btrfs (EXDEV).
import { lstat, mkdir, realpath, rename, rmdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { FetchPlan } from '../plan/fetch-plan.js';
import { StepExecutor, type SendProgress, type StepOutcome } from './apply-steps.js';
import {
  createReadonlySnapshot,
  createWritableSnapshot,
  deleteSubvolumes,
  receiveInto,
  sendSnapshot,
} from './btrfs-commands.js';
import { findMount, parseMountinfo, type MountEntry } from './btrfs-parse.js';
import { runPipeline } from '../exec/command.js';
import { SnapkeepError, UsageError } from '../errors.js';
import type { Host } from '../remote/host.js';
import { localHost, NotBtrfsError, type Inventory } from './inventory.js';

/** Delete the garbage (if any), then receive. The outcome says what happened. */
export async function applyFetch(
  plan: Extract<FetchPlan, { kind: 'receive' }>,
  sourceHost: Host,
  onProgress?: (progress: SendProgress) => void,
): Promise<StepOutcome> {
  if (plan.garbage) {
    const result = await localHost.run(deleteSubvolumes([plan.garbage.path]));
    if (result.exitCode !== 0)
      return {
        step: plan.step,
        ok: false,
        durationMs: 0,
        error: `cannot delete ${plan.garbage.path} (left by an interrupted transfer): ${result.stderr.trim()}`,
      };
  }
  // The copy's side plays the "subvolume" role of a push and this machine the "target" role.
  const executor = new StepExecutor(
    ({ target }) => (target === undefined ? sourceHost : localHost),
    onProgress,
  );
  return executor.execute(plan.step);
}

export interface CheckoutPlan {
  /** The read-only snapshot the writable subvolume is made from (where it is once `aside` moved). */
  readonly snapshot: string;
  readonly path: string;
  /** Where what is at `path` now goes (only with --force). */
  readonly aside?: string;
  /**
   * A snapshot directory inside `path` (the default `<path>/.snapshots`) belongs to the subvolume
   * and cannot be moved into the new one (btrfs refuses to rename a read-only subvolume into
   * another directory). So the snapshot is re-created there with its received UUID (rehome), and
   * the next run finds its parent and stays incremental. `removeSource` when `snapshot` was only
   * received next to `path` for this; the history moved aside stays intact.
   */
  readonly rehome?: { readonly into: string; readonly removeSource: boolean };
  /**
   * Delete `snapshot` and its directory after the checkout: it was received into a directory of
   * its own only for this checkout (a copy of it was here already, see FetchPlan.alreadyHere).
   */
  readonly removeSnapshot?: boolean;
}

const isInside = (path: string, directory: string): boolean => path.startsWith(`${directory}/`);

/**
 * The btrfs filesystem that `path` is on, or will be on once created (its nearest existing
 * ancestor's); a usage error naming `what` and the way out when it is not btrfs.
 */
export async function btrfsFilesystemOf(
  inventory: Inventory,
  path: string,
  what: string,
  alternative: string,
): Promise<MountEntry> {
  const existing = await nearestExisting(path);
  try {
    return (await inventory.mountOf(existing)).mount;
  } catch (error) {
    if (!(error instanceof NotBtrfsError)) throw error;
    throw new UsageError(`${what}: ${error.message}; ${alternative}`);
  }
}

/**
 * Check that `path` is free, or may be freed with `force` (moved aside, never deleted), and that
 * a writable snapshot of `snapshot` can be made there: on btrfs, on the snapshot's filesystem. A
 * usage error (exit 2, nothing touched) otherwise. `option` names `path` in messages.
 */
export async function planCheckout(options: {
  readonly snapshot: string;
  readonly path: string;
  readonly snapshotDir: string;
  readonly force: boolean;
  readonly now: Date;
  readonly inventory: Inventory;
  readonly option: string;
  /** How to get the snapshot onto `path`'s filesystem, for the message when it is elsewhere. */
  readonly otherFilesystemHint: string;
  readonly removeSnapshot?: boolean;
}): Promise<CheckoutPlan> {
  const { snapshot, path, snapshotDir } = options;
  const destination = await btrfsFilesystemOf(
    options.inventory,
    dirname(path),
    `${options.option} ${path}`,
    'a writable subvolume can only be made on btrfs',
  );
  const source = await btrfsFilesystemOf(options.inventory, snapshot, snapshot, 'expected btrfs');
  if (source.majorMinor !== destination.majorMinor)
    throw new UsageError(
      `${options.option} ${path}: on another filesystem (${destination.mountPoint}) than ${snapshot} (${source.mountPoint}); a writable snapshot cannot cross filesystems: ${options.otherFilesystemHint}`,
    );
  const remove = options.removeSnapshot ? { removeSnapshot: true } : {};
  const nested = isInside(snapshotDir, path);
  const existing = await lstat(path).catch(() => undefined);
  if (!existing) {
    return {
      snapshot,
      path,
      ...(nested ? { rehome: { into: snapshotDir, removeSource: true } } : {}),
      ...remove,
    };
  }
  // A mount point cannot be renamed (EBUSY): say so now, not after a receive.
  const resolved = await realpath(path);
  if (findMount(parseMountinfo(await localHost.mountinfo()), resolved)?.mountPoint === resolved)
    throw new UsageError(
      `${options.option} ${path} is a mount point, which snapkeep cannot move aside: unmount it, or restore with ${options.option} a path inside or beside it`,
    );
  const aside = `${path}.before-restore.${options.now.toISOString().replace(/[-:]/g, '').slice(0, 15)}`;
  if (!options.force)
    throw new UsageError(
      `${path} exists; snapkeep never restores over it. Use --force to move it aside to ${aside} first, or restore with --to another path`,
    );
  const moved = isInside(snapshot, path) ? aside + snapshot.slice(path.length) : snapshot;
  return {
    snapshot: moved,
    path,
    aside,
    ...(nested ? { rehome: { into: snapshotDir, removeSource: false } } : {}),
    ...remove,
  };
}

export async function applyCheckout(plan: CheckoutPlan): Promise<void> {
  if (plan.aside) {
    try {
      await rename(plan.path, plan.aside);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new SnapkeepError(
        code === 'EBUSY'
          ? `cannot move ${plan.path} aside: it is a mount point; unmount it or restore with --to another path`
          : `cannot move ${plan.path} aside to ${plan.aside}: ${(error as Error).message}`,
      );
    }
  }
  await mkdir(dirname(plan.path), { recursive: true });
  const result = await localHost.run(createWritableSnapshot(plan.snapshot, plan.path));
  if (result.exitCode !== 0) {
    // Put back what was there: a failed restore must leave the machine as it found it.
    if (plan.aside) await rename(plan.aside, plan.path).catch(() => undefined);
    throw new SnapkeepError(`cannot create ${plan.path} from ${plan.snapshot}: ${result.stderr.trim()}`);
  }
  if (plan.rehome) {
    // A snapshot shows a nested subvolume as an empty directory: the real one goes in its place.
    await rmdir(plan.rehome.into).catch(() => undefined);
    await mkdir(plan.rehome.into, { recursive: true });
    await rehomeSnapshot(plan.snapshot, plan.rehome.into);
  }
  if (plan.rehome?.removeSource || plan.removeSnapshot) {
    const removed = await localHost.run(deleteSubvolumes([plan.snapshot]));
    if (removed.exitCode !== 0)
      throw new SnapkeepError(
        `${plan.path} is restored, but the copy it was made from could not be deleted: ${removed.stderr.trim()}; delete ${plan.snapshot} by hand`,
      );
    if (plan.removeSnapshot) await rmdir(dirname(plan.snapshot)).catch(() => undefined);
  }
}

/**
 * A copy of the read-only `snapshot` in `directory` on the same filesystem that carries the
 * snapshot's stream UUID as its received UUID (so it pairs with the copies on targets), sharing
 * all data: a temporary read-only snapshot of it serves as the parent of an empty incremental
 * send. Costs a few milliseconds whatever the size.
 */
async function rehomeSnapshot(snapshot: string, directory: string): Promise<void> {
  const temporary = join(dirname(snapshot), `.${basename(snapshot)}.snapkeep-rehome`);
  const made = await localHost.run(createReadonlySnapshot(snapshot, temporary));
  if (made.exitCode !== 0)
    throw new SnapkeepError(`cannot snapshot ${snapshot} to place it in ${directory}: ${made.stderr.trim()}`);
  try {
    const result = await runPipeline([sendSnapshot(snapshot, temporary), receiveInto(directory)]);
    if (result.stages.some((stage) => stage.exitCode !== 0))
      throw new SnapkeepError(
        `cannot place ${basename(snapshot)} in ${directory}: ${result.stages
          .map((stage) => stage.stderr.trim())
          .join(' ')
          .trim()}`,
      );
  } finally {
    await localHost.run(deleteSubvolumes([temporary]));
  }
}

/** `path` if it exists, else its nearest existing ancestor (to find the filesystem it will be on). */
export async function nearestExisting(path: string): Promise<string> {
  let candidate = path;
  while (candidate !== '/' && !(await localHost.exists(candidate))) candidate = dirname(candidate);
  return candidate;
}
