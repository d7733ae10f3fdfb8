// Reads the state a plan needs for one subvolume: the source, its snapshots, and per target the
// copies and the garbage. A target that cannot be read is "unreachable" for this run only.
import { stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { ResolvedSubvolume, ResolvedTarget } from '../config/resolve.js';
import { messageOf } from '../errors.js';
import { HostUnreachableError } from '../remote/ssh-host.js';
import type { ObservedSubvolume, ObservedTarget, Step } from '../plan/btrfs-plan.js';
import type { StepOutcome } from './apply-steps.js';
import { showSubvolume, syncFilesystem } from './btrfs-commands.js';
import { parseSubvolumeShow } from './btrfs-parse.js';
import {
  datedSubvolumes,
  isInterruptedReceive,
  localHost,
  NotBtrfsError,
  type DatedSubvolume,
  type Inventory,
  type Subvolume,
} from './inventory.js';
import { readLatestPointer, type PointerState } from './latest-pointer.js';

export class SourceError extends Error {}

/** The inventory of the host a target lives on; without a target, the subvolume's host. */
export type InventoryFor = (target?: ResolvedTarget) => Inventory;

/** Received UUIDs of the copies on a target that earlier runs recorded as this subvolume's. */
export type OwnedCopies = (target: string) => readonly string[] | undefined;

export async function observeSubvolume(
  inventoryFor: InventoryFor,
  subvolume: ResolvedSubvolume,
  lastSent: (target: string) => string | undefined,
  owned: OwnedCopies = () => undefined,
): Promise<ObservedSubvolume> {
  const inventory = inventoryFor();
  // Every filesystem's listing starts now, together (targets prefetch theirs in observeTarget).
  inventory.prefetch(subvolume.path);
  const [source, snapshots, targets] = await Promise.all([
    inventory.subvolumeAt(subvolume.path).catch((error: unknown) => {
      if (error instanceof HostUnreachableError) throw error;
      throw new SourceError(`subvolume ${subvolume.name}: ${messageOf(error)}`);
    }),
    observeSnapshots(inventory, subvolume),
    Promise.all(
      subvolume.targets.map((target) =>
        observeTarget(inventoryFor(target), subvolume, target, lastSent, owned),
      ),
    ),
  ]);
  const local = inventory.host === localHost;
  const [latest, latestInsideSource] = local
    ? await Promise.all([
        pointerAt(subvolume.snapshotDir, subvolume.snapshotName),
        sameSubvolume(subvolume.snapshotDir, subvolume.path),
      ])
    : [undefined, undefined];
  return {
    subvolume,
    source: await committed(inventory, subvolume, source, snapshots),
    snapshots,
    targets,
    ...(latest === undefined ? {} : { latest }),
    ...(latestInsideSource === undefined ? {} : { latestInsideSource }),
  };
}

/** The `latest` pointer in `directory` (absent when the directory is); undefined if unreadable. */
async function pointerAt(directory: string, basename: string): Promise<PointerState | undefined> {
  try {
    return await readLatestPointer(directory, basename);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw error;
  }
}

/**
 * Whether `directory` (or, while it does not exist, its nearest existing ancestor) is in the
 * subvolume at `subvolumePath`: every btrfs subvolume has its own device number.
 */
async function sameSubvolume(directory: string, subvolumePath: string): Promise<boolean> {
  let existing = directory;
  for (;;) {
    const found = await stat(existing).catch(() => undefined);
    if (found) return found.dev === (await stat(subvolumePath)).dev;
    if (existing === dirname(existing)) return false;
    existing = dirname(existing);
  }
}

/**
 * The source as `snapshot_create: onchange` must see it. A subvolume's generation moves only when
 * its writes are committed (up to the commit interval, 30 s by default, later), so "unchanged
 * since the latest snapshot" is believed only after a commit: the filesystem is synced and the
 * generation read again — only in that case, so a changed subvolume costs nothing more. Only on
 * this machine: the SSH target filter has no sync request, so a remote source (pull mode) is
 * decided on its committed generation.
 */
async function committed(
  inventory: Inventory,
  subvolume: ResolvedSubvolume,
  source: Subvolume,
  snapshots: readonly DatedSubvolume[],
): Promise<Subvolume> {
  const latest = Math.max(...snapshots.map((snapshot) => snapshot.creationGeneration));
  if (subvolume.snapshotCreate !== 'onchange' || latest !== source.generation || inventory.host !== localHost)
    return source;
  const synced = await inventory.host.run(syncFilesystem(subvolume.path));
  if (synced.exitCode !== 0)
    throw new SourceError(`subvolume ${subvolume.name}: cannot sync its filesystem: ${synced.stderr.trim()}`);
  const shown = await inventory.host.run(showSubvolume(subvolume.path));
  if (shown.exitCode !== 0)
    throw new SourceError(`subvolume ${subvolume.name}: cannot read it: ${shown.stderr.trim()}`);
  return { ...source, generation: parseSubvolumeShow(shown.stdout).generation };
}

async function observeSnapshots(inventory: Inventory, subvolume: ResolvedSubvolume) {
  const { mount: sourceMount } = await inventory.mountOf(subvolume.path).catch((error: unknown) => {
    throw new SourceError(`subvolume ${subvolume.name}: ${messageOf(error)}`);
  });
  // A missing snapshot_dir is created with the first snapshot, on the filesystem of its nearest
  // existing ancestor: that is checked now, before the plan creates anything (a dry run too).
  const exists = await inventory.host.exists(subvolume.snapshotDir);
  let existing = subvolume.snapshotDir;
  while (!exists && existing !== dirname(existing) && !(await inventory.host.exists(existing)))
    existing = dirname(existing);
  const mount = await inventory.mountOf(existing).then(
    (found) => found.mount,
    () => undefined, // not btrfs at all: the same answer as another filesystem
  );
  if (mount?.majorMinor !== sourceMount.majorMinor) {
    throw new SourceError(
      `subvolume ${subvolume.name}: snapshot_dir ${subvolume.snapshotDir} ${exists ? 'is' : `would be created`} on another filesystem than ${subvolume.path}${exists ? '' : ` (${existing} is${mount ? ` on ${mount.mountPoint}` : ' not on btrfs'})`}; snapshots must be on the same btrfs filesystem as their subvolume: set snapshot_dir to a directory on the filesystem mounted at ${sourceMount.mountPoint} (for example ${subvolume.path}/.snapshots)`,
    );
  }
  if (!exists) return [];
  return (await inventory.datedIn(subvolume.snapshotDir, subvolume.snapshotName)).filter(
    (snapshot) => snapshot.readonly,
  );
}

export async function observeTarget(
  inventory: Inventory,
  subvolume: ResolvedSubvolume,
  target: ResolvedTarget,
  lastSent: (target: string) => string | undefined,
  owned: OwnedCopies = () => undefined,
): Promise<ObservedTarget> {
  const unreachable = (error: string): ObservedTarget => ({
    target,
    reachable: false,
    error,
    lastSent: lastSent(target.name),
  });
  const where = target.ssh ? `${target.path} on ${inventory.host.label}` : target.path;
  try {
    inventory.prefetch(target.path);
    if (!(await inventory.host.exists(target.path))) {
      return unreachable(`${where} does not exist (is the disk mounted? create the directory if it is)`);
    }
    const dated = await inventory.datedIn(target.path, subvolume.snapshotName);
    const garbage = dated.filter(isInterruptedReceive);
    return {
      target,
      reachable: true,
      copies: dated.filter((copy) => copy.readonly && copy.receivedUuid !== undefined),
      garbage,
      others: dated.filter((other) => other.readonly && other.receivedUuid === undefined),
      filesystem: await inventory.filesystemOf(target.path),
      owned: owned(target.name) ?? [],
      // Looked for only when something would be deleted (a few ms of /proc reads here).
      receiving:
        garbage.length > 0 && inventory.host.receivesInto
          ? await inventory.host.receivesInto(target.path)
          : [],
      ...(inventory.host === localHost
        ? { latest: await readLatestPointer(target.path, subvolume.snapshotName) }
        : {}),
    };
  } catch (error) {
    return unreachable(
      error instanceof NotBtrfsError || error instanceof HostUnreachableError
        ? error.message
        : `cannot read ${where}: ${messageOf(error)}`,
    );
  }
}

/**
 * Read-only snapshots named `<basename>.<timestamp>` in `directory`, without needing the
 * subvolume they were taken of (restore runs where it may be gone); none if the directory is.
 */
export async function snapshotsIn(
  inventory: Inventory,
  directory: string,
  basename: string,
): Promise<DatedSubvolume[]> {
  if (!(await inventory.host.exists(directory))) return [];
  return (await inventory.datedIn(directory, basename)).filter((snapshot) => snapshot.readonly);
}

// One wording for every error a person reads (system errors get their path, cause and fix).
export { messageOf };

/**
 * The observed state after this run's steps, without listing the filesystems again: the run
 * holds the lock, so what changed is exactly what its successful steps did, and each created
 * subvolume was read back by `btrfs subvolume show` when it was made (apply-steps.ts).
 */
export function observedAfter(
  observed: ObservedSubvolume,
  outcomes: readonly StepOutcome[],
): ObservedSubvolume {
  const succeeded = outcomes.filter(
    (outcome) => outcome.ok && outcome.step.subvolume === observed.subvolume.name,
  );
  // Deletions by where they happened: the snapshot directory, or one target.
  const steps = succeeded.map((outcome) => outcome.step);
  const deletedSnapshots = new Set(
    steps.flatMap((step) => (step.kind === 'delete-snapshot' ? [step.path] : [])),
  );
  const deletedOn = (target: string): Set<string> =>
    new Set(
      steps.flatMap((step) =>
        (step.kind === 'delete-copy' || step.kind === 'delete-garbage') && step.target === target
          ? [step.path]
          : [],
      ),
    );
  const createdBy = (kind: Step['kind'], target?: string): DatedSubvolume[] =>
    datedSubvolumes(
      succeeded
        .filter(
          (outcome) =>
            outcome.step.kind === kind &&
            (target === undefined || (outcome.step.kind === 'send' && outcome.step.target === target)),
        )
        .flatMap((outcome) =>
          outcome.created ? [{ ...outcome.created, name: basename(outcome.created.path) }] : [],
        ),
      observed.subvolume.snapshotName,
    );
  const kept = <T extends { path: string }>(list: readonly T[], deleted: Set<string>): T[] =>
    list.filter((entry) => !deleted.has(entry.path));
  // The last pointer update that succeeded in each place (undefined target: the snapshot directory).
  const pointerAfter = (target: string | undefined, before: PointerState | undefined) => {
    const last = steps
      .filter(
        (step): step is Extract<Step, { kind: 'update-latest' }> =>
          step.kind === 'update-latest' && step.target === target,
      )
      .at(-1);
    if (!last || before === undefined) return before;
    return last.pointsTo === null
      ? ({ kind: 'absent' } as const)
      : ({ kind: 'symlink', target: last.pointsTo } as const);
  };
  const latest = pointerAfter(undefined, observed.latest);
  return {
    ...observed,
    snapshots: [...kept(observed.snapshots, deletedSnapshots), ...createdBy('create-snapshot')],
    targets: observed.targets.map((target) => {
      if (!target.reachable) return target;
      const deleted = deletedOn(target.target.name);
      const targetLatest = pointerAfter(target.target.name, target.latest);
      return {
        ...target,
        copies: [...kept(target.copies, deleted), ...createdBy('send', target.target.name)],
        garbage: kept(target.garbage, deleted),
        ...(targetLatest === undefined ? {} : { latest: targetLatest }),
      };
    }),
    ...(latest === undefined ? {} : { latest }),
  };
}
