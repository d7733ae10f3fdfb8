// Reads the state a plan needs for one subvolume: the source, its snapshots, and per target the
// copies and the garbage. A target that cannot be read is "unreachable" for this run only.
import { basename } from 'node:path';
import type { ResolvedSubvolume, ResolvedTarget } from '../config/resolve.js';
import { messageOf } from '../errors.js';
import { HostUnreachableError } from '../remote/ssh-host.js';
import type { ObservedSubvolume, ObservedTarget, Step } from '../plan/btrfs-plan.js';
import type { StepOutcome } from './apply-steps.js';
import { datedSubvolumes, NotBtrfsError, type DatedSubvolume, type Inventory } from './inventory.js';

export class SourceError extends Error {}

/** The inventory of the host a target lives on; without a target, the subvolume's host. */
export type InventoryFor = (target?: ResolvedTarget) => Inventory;

export async function observeSubvolume(
  inventoryFor: InventoryFor,
  subvolume: ResolvedSubvolume,
  lastSent: (target: string) => string | undefined,
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
      subvolume.targets.map((target) => observeTarget(inventoryFor(target), subvolume, target, lastSent)),
    ),
  ]);
  return { subvolume, source, snapshots, targets };
}

async function observeSnapshots(inventory: Inventory, subvolume: ResolvedSubvolume) {
  if (!(await inventory.host.exists(subvolume.snapshotDir))) return []; // created with the first snapshot
  const { mount: sourceMount } = await inventory.mountOf(subvolume.path).catch((error: unknown) => {
    throw new SourceError(`subvolume ${subvolume.name}: ${messageOf(error)}`);
  });
  const { mount } = await inventory.mountOf(subvolume.snapshotDir);
  if (mount.majorMinor !== sourceMount.majorMinor) {
    throw new SourceError(
      `subvolume ${subvolume.name}: snapshot_dir ${subvolume.snapshotDir} is on another filesystem than ${subvolume.path}; snapshots must be on the same btrfs filesystem`,
    );
  }
  const inDirectory = await inventory.subvolumesIn(subvolume.snapshotDir);
  return datedSubvolumes(inDirectory, subvolume.snapshotName).filter((snapshot) => snapshot.readonly);
}

export async function observeTarget(
  inventory: Inventory,
  subvolume: ResolvedSubvolume,
  target: ResolvedTarget,
  lastSent: (target: string) => string | undefined,
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
    const dated = datedSubvolumes(await inventory.subvolumesIn(target.path), subvolume.snapshotName);
    return {
      target,
      reachable: true,
      copies: dated.filter((copy) => copy.readonly && copy.receivedUuid !== undefined),
      garbage: dated.filter((copy) => !copy.readonly || copy.receivedUuid === undefined),
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
  return datedSubvolumes(await inventory.subvolumesIn(directory), basename).filter(
    (snapshot) => snapshot.readonly,
  );
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
  return {
    ...observed,
    snapshots: [...kept(observed.snapshots, deletedSnapshots), ...createdBy('create-snapshot')],
    targets: observed.targets.map((target) => {
      if (!target.reachable) return target;
      const deleted = deletedOn(target.target.name);
      return {
        ...target,
        copies: [...kept(target.copies, deleted), ...createdBy('send', target.target.name)],
        garbage: kept(target.garbage, deleted),
      };
    }),
  };
}
