// Planning a fetch (pure): bringing a snapshot's copy from where it is kept (a target, local or
// over SSH) back into a local directory — the heart of `restore` and `pull`. The same rules as a
// push, in the other direction: incremental against the nearest copy that has a counterpart here,
// full only when none has; garbage from an interrupted fetch is deleted first; a complete
// subvolume that is something else is never overwritten. A copy already here stands in for the
// source's unless the data must be read from the source (restore --from TARGET): then it is
// received anyway, and every reason says which bytes come from where.
import { join } from 'node:path';
import type { DatedSubvolume, Subvolume } from '../btrfs/inventory.js';
import { compareSnapshotDates } from '../snapshot-name.js';
import { chooseParent, isCopyOf, streamUuidOf, type Step } from './btrfs-plan.js';

export type FetchStep = Extract<Step, { kind: 'send' }>;

export interface FetchInput {
  /** A label for messages and the journal (the subvolume or snapshot basename). */
  readonly label: string;
  /** Where the copies are (a target name, or "snapshots"), for messages. */
  readonly from: string;
  /** The copy to bring back. */
  readonly wanted: DatedSubvolume;
  /** All copies next to it with the same basename: candidates for the incremental parent. */
  readonly sourceCopies: readonly DatedSubvolume[];
  /** The local directory the snapshot is received into, and what is in it (same basename). */
  readonly localDirectory: string;
  readonly local: readonly DatedSubvolume[];
  /**
   * Read the data from the source even when a copy of it is here (restore --from): the copy is
   * received into `stagingDirectory` (on the same filesystem) when its name is taken here.
   */
  readonly fromSource?: { readonly stagingDirectory: string };
  /** No parent: every byte is read from the source (a restore drill). */
  readonly full?: boolean;
}

export type FetchPlan =
  | { readonly kind: 'present'; readonly local: DatedSubvolume; readonly reason: string }
  | { readonly kind: 'blocked'; readonly reason: string }
  | {
      readonly kind: 'receive';
      /** Left by an interrupted fetch under the wanted name: deleted before receiving. */
      readonly garbage?: Subvolume;
      /** A copy that is here already, received again because the data must come from the source. */
      readonly alreadyHere?: DatedSubvolume;
      readonly step: FetchStep;
    };

/** A complete local subvolume: read-only and either received or an original snapshot. */
const usable = (subvolume: Subvolume): boolean => subvolume.readonly;

export function planFetch(input: FetchInput): FetchPlan {
  const { wanted, local } = input;
  const counterpart = (copy: Subvolume): DatedSubvolume | undefined =>
    local.find((candidate) => usable(candidate) && isCopyOf(copy, candidate));
  const present = counterpart(wanted);
  if (present && !input.fromSource)
    return {
      kind: 'present',
      local: present,
      reason: `${present.path} is already here (${present.receivedUuid ? 'received' : 'the original snapshot'})`,
    };
  const inTheWay = local.find((candidate) => candidate.name === wanted.name);
  let garbage: Subvolume | undefined;
  let targetDirectory = input.localDirectory;
  if (present && inTheWay && usable(inTheWay)) {
    // The name is taken by a copy of the same snapshot: the new copy goes beside it.
    targetDirectory = input.fromSource!.stagingDirectory;
  } else if (inTheWay) {
    if (inTheWay.readonly && inTheWay.receivedUuid !== undefined)
      return {
        kind: 'blocked',
        reason: `${inTheWay.path} exists but is not a copy of ${wanted.name} on ${input.from}; move it away or delete it`,
      };
    if (inTheWay.readonly)
      return {
        kind: 'blocked',
        reason: `${inTheWay.path} exists and is a read-only snapshot of something else; move it away or delete it`,
      };
    garbage = inTheWay; // writable: an interrupted receive
  }
  // Received counterparts first: their content is exactly the copy's. An original snapshot shows
  // subvolumes nested in it (the default <path>/.snapshots) as stub directories that the copies
  // lack, and a receive whose stream removes such a directory fails.
  const receivedCounterpart = (copy: Subvolume): DatedSubvolume | undefined =>
    local.find(
      (candidate) => usable(candidate) && candidate.receivedUuid !== undefined && isCopyOf(copy, candidate),
    );
  const parent = input.full
    ? undefined
    : (chooseParent(wanted, input.sourceCopies, receivedCounterpart, 'this machine') ??
      chooseParent(wanted, input.sourceCopies, counterpart, 'this machine'));
  const reason = parent
    ? `incremental: the changes since ${parent.name} are read from ${input.from}, the rest is ${parent.name}'s data here (${join(input.localDirectory, parent.copyName)})`
    : input.full
      ? `full (--full): every byte is read from ${input.from}`
      : `full: every byte is read from ${input.from} (no copy there has a counterpart in ${input.localDirectory})`;
  return {
    kind: 'receive',
    ...(garbage ? { garbage } : {}),
    ...(present ? { alreadyHere: present } : {}),
    step: {
      kind: 'send',
      subvolume: input.label,
      target: 'local',
      name: wanted.name,
      snapshotPath: wanted.path,
      streamUuid: streamUuidOf(wanted),
      targetDirectory,
      parent,
      reason,
    },
  };
}

/**
 * Which pulled snapshots to delete so that `keep` remain: only received ones (never an original
 * snapshot), never `newest` (the next pull's parent), oldest first.
 */
export function planPulledRetention(
  local: readonly DatedSubvolume[],
  newest: string,
  keep: number,
): DatedSubvolume[] {
  const pulled = local
    .filter((subvolume) => subvolume.readonly && subvolume.receivedUuid !== undefined)
    .sort((a, b) => compareSnapshotDates(b.date, a.date));
  const kept = new Set([newest, ...pulled.slice(0, Math.max(keep, 1)).map((subvolume) => subvolume.name)]);
  return pulled.filter((subvolume) => !kept.has(subvolume.name));
}

/** The newest of `copies` (by the date in its name), or the one named `name`. */
export function pickCopy(copies: readonly DatedSubvolume[], name: string): DatedSubvolume | undefined {
  if (name !== 'latest') return copies.find((copy) => copy.name === name);
  return [...copies].sort((a, b) => compareSnapshotDates(b.date, a.date))[0];
}
