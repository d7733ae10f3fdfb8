// The btrfs planner (pure): (resolved config, observed state, now) → ordered steps, each with the
// reason it exists. --dry-run prints these steps; apply executes them. Semantics follow btrbk
// 0.32.5 (FACTS.md §1): the target policy decides what is sent; the best parent is the nearest
// snapshot with a copy on the target; the latest common snapshot/copy pair is never deleted.
import type { ResolvedSubvolume, ResolvedTarget } from '../config/resolve.js';
import type { DatedSubvolume, Subvolume } from '../btrfs/inventory.js';
import { compareSnapshotDates, nextSnapshotName, parseSnapshotName } from '../snapshot-name.js';
import { schedule, type ScheduleEntry } from '../retention/btrbk-schedule.js';
import type { PointerState } from '../btrfs/latest-pointer.js';
import { join } from 'node:path';

export interface ParentChoice {
  readonly name: string;
  readonly path: string;
  /** The parent's copy on the target (the receive side finds it by received UUID). */
  readonly copyName: string;
  /** UUID of that copy when it exists already (not when an earlier step of this plan sends it). */
  readonly copyUuid?: string;
  /** The UUID the parent's stream carries (streamUuidOf), when the parent exists already. */
  readonly streamUuid?: string;
  readonly reason: string;
}

export type Step =
  | {
      readonly kind: 'delete-garbage';
      readonly subvolume: string;
      readonly target: string;
      readonly path: string;
      readonly reason: string;
    }
  | {
      readonly kind: 'create-snapshot';
      readonly subvolume: string;
      readonly source: string;
      readonly path: string;
      readonly name: string;
      readonly reason: string;
    }
  | {
      readonly kind: 'send';
      readonly subvolume: string;
      readonly target: string;
      readonly name: string;
      readonly snapshotPath: string;
      /**
       * The UUID the stream carries, which the copy gets as its received UUID: the snapshot's
       * received UUID when it was itself received (restored or pulled), else its UUID. Known when
       * the snapshot exists already; a snapshot this plan creates is read after.
       */
      readonly streamUuid?: string;
      readonly targetDirectory: string;
      readonly parent?: ParentChoice;
      readonly reason: string;
    }
  | {
      readonly kind: 'delete-snapshot';
      readonly subvolume: string;
      readonly path: string;
      readonly name: string;
      readonly reason: string;
    }
  | {
      readonly kind: 'delete-copy';
      readonly subvolume: string;
      readonly target: string;
      readonly path: string;
      readonly name: string;
      readonly reason: string;
    }
  | {
      /** Point `<directory>/<basename>.latest` at the newest snapshot or copy (latest-pointer.ts). */
      readonly kind: 'update-latest';
      readonly subvolume: string;
      /** Set for the pointer in a (local) target's directory. */
      readonly target?: string;
      readonly directory: string;
      /** The pointer's path. */
      readonly path: string;
      /** The name it points to (relative, in the same directory); null: the pointer is removed. */
      readonly pointsTo: string | null;
      readonly reason: string;
    };

/** Things the plan decided not to do, or could not, with why (shown in the plan, journaled). */
export interface Note {
  readonly subvolume: string;
  readonly target?: string;
  readonly level: 'info' | 'warning' | 'error';
  readonly message: string;
  /**
   * True for what every run of this config would say again (snapshots the target's retention
   * would not keep, with snapshot_create: always): shown by dry runs and in --json, not repeated
   * in a run's text.
   */
  readonly routine?: boolean;
}

export type ObservedTarget =
  | {
      readonly target: ResolvedTarget;
      readonly reachable: true;
      /**
       * Read-only subvolumes with a received UUID, named like this subvolume's snapshots — whoever
       * sent them: which are this subvolume's is decided by attributeCopies.
       */
      readonly copies: readonly DatedSubvolume[];
      /**
       * Writable subvolumes named like this subvolume's snapshots: left by an interrupted receive
       * (a receive makes its subvolume read-only last, after the received UUID).
       */
      readonly garbage: readonly Subvolume[];
      /**
       * Read-only without a received UUID, named like this subvolume's snapshots: not made by a
       * receive (an original snapshot, when the target directory is a snapshot directory), so
       * neither a copy nor garbage; never touched, but their names are taken.
       */
      readonly others?: readonly DatedSubvolume[];
      /** Every subvolume of the target's filesystem: parents of copies (attributeCopies). */
      readonly filesystem?: readonly Subvolume[];
      /** Received UUIDs of copies earlier runs recorded as this subvolume's on this target. */
      readonly owned?: readonly string[];
      /** Live `btrfs receive` processes writing into the target directory (pids). */
      readonly receiving?: readonly number[];
      /** The `latest` pointer there; undefined where it is not kept (SSH targets). */
      readonly latest?: PointerState;
    }
  | {
      readonly target: ResolvedTarget;
      readonly reachable: false;
      readonly error: string;
      readonly lastSent?: string;
    };

export interface ObservedSubvolume {
  readonly subvolume: ResolvedSubvolume;
  readonly source: Subvolume;
  /** Read-only snapshots in the snapshot directory with this subvolume's basename. */
  readonly snapshots: readonly DatedSubvolume[];
  readonly targets: readonly ObservedTarget[];
  /** The `latest` pointer in the snapshot directory; undefined where it is not kept (pull mode). */
  readonly latest?: PointerState;
  /**
   * The snapshot directory is inside the source subvolume (the default `<path>/.snapshots`):
   * writing the pointer there changes the subvolume (see planSubvolume).
   */
  readonly latestInsideSource?: boolean;
}

export interface SubvolumePlan {
  readonly subvolume: string;
  readonly steps: readonly Step[];
  readonly notes: readonly Note[];
}

export interface PlanPhases {
  readonly clean: boolean;
  readonly snapshot: boolean;
  readonly send: boolean;
  readonly prune: boolean;
}

/** A copy on a target belongs to a snapshot when it was received from it (btrbk's "correlated"). */
export function isCopyOf(copy: Subvolume, snapshot: Subvolume): boolean {
  return (
    copy.receivedUuid === snapshot.uuid ||
    (snapshot.receivedUuid !== undefined && copy.receivedUuid === snapshot.receivedUuid) ||
    (snapshot.receivedUuid !== undefined && copy.uuid === snapshot.receivedUuid)
  );
}

/**
 * Copies and snapshots matched by isCopyOf through maps instead of scans: a plan asks for every
 * snapshot which copy it has (and `list` for every copy which snapshot it came from), and with
 * ten thousand of each a scan per question is 10^8 comparisons. The answers are exactly those of
 * `copies.find((copy) => isCopyOf(copy, snapshot))` and `snapshots.find((snapshot) =>
 * isCopyOf(copy, snapshot))`: the first match in the order the entries were added.
 */
export class CopyIndex<T extends Subvolume> {
  private readonly entries: T[] = [];
  /** First entry by its received UUID, and by its UUID. */
  private readonly byReceived = new Map<string, number>();
  private readonly byUuid = new Map<string, number>();

  constructor(entries: Iterable<T> = []) {
    for (const entry of entries) this.add(entry);
  }

  add(entry: T): void {
    const index = this.entries.push(entry) - 1;
    if (entry.receivedUuid !== undefined && !this.byReceived.has(entry.receivedUuid))
      this.byReceived.set(entry.receivedUuid, index);
    if (!this.byUuid.has(entry.uuid)) this.byUuid.set(entry.uuid, index);
  }

  private first(...indexes: (number | undefined)[]): T | undefined {
    const found = indexes.filter((index): index is number => index !== undefined);
    return found.length === 0 ? undefined : this.entries[Math.min(...found)];
  }

  /** The first copy (of those added) of `snapshot`. */
  copyOf(snapshot: Subvolume): T | undefined {
    return this.first(
      this.byReceived.get(snapshot.uuid),
      ...(snapshot.receivedUuid === undefined
        ? []
        : [this.byReceived.get(snapshot.receivedUuid), this.byUuid.get(snapshot.receivedUuid)]),
    );
  }

  /** The first snapshot (of those added) that `copy` is a copy of. */
  snapshotOf(copy: Subvolume): T | undefined {
    return this.first(
      ...(copy.receivedUuid === undefined
        ? []
        : [this.byUuid.get(copy.receivedUuid), this.byReceived.get(copy.receivedUuid)]),
      this.byReceived.get(copy.uuid),
    );
  }
}

/** btrfs send puts a subvolume's received UUID in the stream when it has one, else its UUID. */
export function streamUuidOf(subvolume: Pick<Subvolume, 'uuid' | 'receivedUuid'>): string {
  return subvolume.receivedUuid ?? subvolume.uuid;
}

function related(a: Subvolume, b: Subvolume): boolean {
  return (
    (a.parentUuid !== undefined && a.parentUuid === b.parentUuid) ||
    a.parentUuid === b.uuid ||
    b.parentUuid === a.uuid
  );
}

const byDate = (a: DatedSubvolume, b: DatedSubvolume): number => compareSnapshotDates(a.date, b.date);

/**
 * The best parent for sending `snapshot` to a target, btrbk's default preference order within
 * the snapshot directory: nearest older related, nearest newer related, nearest older, nearest
 * newer — each needing a copy on the target.
 */
export function chooseParent(
  snapshot: DatedSubvolume,
  snapshots: readonly DatedSubvolume[],
  hasCopy: (candidate: DatedSubvolume) => DatedSubvolume | undefined,
  targetName: string,
): ParentChoice | undefined {
  const older = snapshots.filter((candidate) => byDate(candidate, snapshot) < 0).sort((a, b) => byDate(b, a));
  const newer = snapshots.filter((candidate) => byDate(candidate, snapshot) > 0).sort(byDate);
  const searches: [readonly DatedSubvolume[], boolean, string][] = [
    [older, true, 'nearest older snapshot'],
    [newer, true, 'nearest newer snapshot'],
    [older, false, 'nearest older snapshot (not related by parent UUID)'],
    [newer, false, 'nearest newer snapshot (not related by parent UUID)'],
  ];
  for (const [candidates, needRelated, description] of searches) {
    for (const candidate of candidates) {
      if (needRelated && !related(candidate, snapshot)) continue;
      const copy = hasCopy(candidate);
      if (copy !== undefined) {
        return {
          name: candidate.name,
          path: candidate.path,
          copyName: copy.name,
          ...(copy.id === projectedId ? {} : { copyUuid: copy.uuid }),
          ...(candidate.id === projectedId ? {} : { streamUuid: streamUuidOf(candidate) }),
          reason: `${description} that has a copy on ${targetName} (${copy.name})`,
        };
      }
    }
  }
  return undefined;
}

function latestWithCopy(
  snapshots: readonly DatedSubvolume[],
  copies: readonly DatedSubvolume[],
): { snapshot: DatedSubvolume; copy: DatedSubvolume } | undefined {
  const sorted = [...snapshots].sort((a, b) => byDate(b, a));
  const index = new CopyIndex(copies);
  for (const snapshot of sorted) {
    const copy = index.copyOf(snapshot);
    if (copy) return { snapshot, copy };
  }
  return undefined;
}

/** The id of subvolumes this plan projects (they do not exist yet). */
const projectedId = -1;

/** A snapshot that does not exist yet but will be created by this plan. */
function projectedSnapshot(source: Subvolume, path: string, name: string): DatedSubvolume {
  const parsed = parseSnapshotName(name)!;
  return {
    id: projectedId,
    uuid: `(new snapshot ${name})`,
    parentUuid: source.uuid,
    readonly: true,
    generation: source.generation,
    creationGeneration: Number.MAX_SAFE_INTEGER,
    path,
    name,
    date: parsed.date,
  };
}

function projectedCopy(snapshot: DatedSubvolume, directory: string): DatedSubvolume {
  return {
    ...snapshot,
    id: projectedId,
    uuid: `(copy of ${snapshot.name})`,
    parentUuid: undefined,
    receivedUuid: streamUuidOf(snapshot),
    path: join(directory, snapshot.name),
  };
}

/**
 * Which copies named like this subvolume's snapshots are its own: received from one of its
 * snapshots, recorded as its own by an earlier run (`owned`: its snapshot may be gone), or an
 * ancestor of one of those — a copy's parent (by parent UUID, anywhere on the filesystem) was
 * received from the parent snapshot of the same subvolume. Others (`foreign`: another subvolume
 * with the same snapshot_name, another config or tool sending there) are never pruned or counted:
 * a name says nothing about whose data a copy holds.
 */
function groupByReceivedUuid(subvolumes: readonly Subvolume[]): Map<string, Subvolume[]> {
  const groups = new Map<string, Subvolume[]>();
  for (const subvolume of subvolumes) {
    if (subvolume.receivedUuid === undefined) continue;
    const group = groups.get(subvolume.receivedUuid);
    if (group) group.push(subvolume);
    else groups.set(subvolume.receivedUuid, [subvolume]);
  }
  return groups;
}

interface FilesystemIndex {
  readonly byUuid: ReadonlyMap<string, Subvolume>;
  readonly byReceivedUuid: ReadonlyMap<string, readonly Subvolume[]>;
}

/** Per listing of a target's filesystem (one array per run, shared by every subvolume sent there). */
const filesystemIndexes = new WeakMap<readonly Subvolume[], FilesystemIndex>();

function indexOfFilesystem(filesystem: readonly Subvolume[]): FilesystemIndex {
  let index = filesystemIndexes.get(filesystem);
  if (!index) {
    index = {
      byUuid: new Map(filesystem.map((subvolume) => [subvolume.uuid, subvolume] as const)),
      byReceivedUuid: groupByReceivedUuid(filesystem),
    };
    filesystemIndexes.set(filesystem, index);
  }
  return index;
}

export function attributeCopies(
  target: Extract<ObservedTarget, { reachable: true }>,
  snapshots: readonly DatedSubvolume[],
): { own: DatedSubvolume[]; foreign: DatedSubvolume[] } {
  const ownStreams = new Set<string>(target.owned ?? []);
  for (const snapshot of snapshots) if (snapshot.id !== projectedId) ownStreams.add(streamUuidOf(snapshot));
  const bySnapshot = new CopyIndex(snapshots);
  const isOwn = (copy: DatedSubvolume): boolean =>
    (copy.receivedUuid !== undefined && ownStreams.has(copy.receivedUuid)) ||
    bySnapshot.snapshotOf(copy) !== undefined;
  const filesystem = indexOfFilesystem(target.filesystem ?? []);
  const copiesByUuid = new Map(target.copies.map((copy) => [copy.uuid, copy] as const));
  const copiesByStream = groupByReceivedUuid(target.copies);
  // Ancestry by received UUID: from each own stream to its parent's, until nothing is added (a
  // work list: each stream is followed once, however long the chain of copies).
  const pending = [...ownStreams];
  for (let stream = pending.pop(); stream !== undefined; stream = pending.pop()) {
    for (const subvolume of [
      ...(filesystem.byReceivedUuid.get(stream) ?? []),
      ...(copiesByStream.get(stream) ?? []),
    ]) {
      if (subvolume.parentUuid === undefined) continue;
      const parent = copiesByUuid.get(subvolume.parentUuid) ?? filesystem.byUuid.get(subvolume.parentUuid);
      if (parent?.readonly && !ownStreams.has(streamUuidOf(parent))) {
        ownStreams.add(streamUuidOf(parent));
        pending.push(streamUuidOf(parent));
      }
    }
  }
  const own: DatedSubvolume[] = [];
  const foreign: DatedSubvolume[] = [];
  for (const copy of target.copies) (isOwn(copy) ? own : foreign).push(copy);
  return { own, foreign };
}

export function planSubvolume(observed: ObservedSubvolume, now: Date, phases: PlanPhases): SubvolumePlan {
  const { subvolume, source } = observed;
  const steps: Step[] = [];
  const notes: Note[] = [];
  const note = (level: Note['level'], message: string, target?: string, routine?: boolean): void => {
    notes.push({ subvolume: subvolume.name, target, level, message, ...(routine ? { routine } : {}) });
  };
  let snapshots = [...observed.snapshots].sort(byDate);
  const copiesByTarget = new Map<string, DatedSubvolume[]>();
  // Names on a target that no send may use: every subvolume there named like ours, whoever's.
  const takenByTarget = new Map<string, DatedSubvolume[]>();
  for (const observedTarget of observed.targets) {
    if (observedTarget.reachable) {
      const { own, foreign } = attributeCopies(observedTarget, snapshots);
      copiesByTarget.set(observedTarget.target.name, own);
      takenByTarget.set(observedTarget.target.name, [...foreign, ...(observedTarget.others ?? [])]);
      if (foreign.length > 0)
        note(
          'warning',
          `${foreign.length} subvolume(s) named like ${subvolume.name}'s snapshots on ${observedTarget.target.name} were not received from its snapshots (${foreign
            .map((copy) => copy.name)
            .slice(0, 3)
            .join(
              ', ',
            )}${foreign.length > 3 ? ', …' : ''}): never pruned, never used as a parent, no latest pointer kept beside them; another subvolume, config or tool with snapshot_name ${subvolume.snapshotName} may send there`,
          observedTarget.target.name,
        );
    } else
      note(
        'error',
        `target ${observedTarget.target.name} is unreachable: ${observedTarget.error}`,
        observedTarget.target.name,
      );
  }
  // A target a live receive writes into: nothing there is deleted, nothing sent this run.
  const busy = new Set<string>();
  // A target that is the snapshot directory: its snapshots would be taken for copies or garbage.
  const trimmed = (path: string): string => path.replace(/\/+$/, '');
  for (const observedTarget of observed.targets) {
    if (observedTarget.reachable && trimmed(observedTarget.target.path) === trimmed(subvolume.snapshotDir)) {
      busy.add(observedTarget.target.name);
      copiesByTarget.set(observedTarget.target.name, []);
      note(
        'error',
        `target ${observedTarget.target.name} is the snapshot_dir ${subvolume.snapshotDir}: nothing is sent or deleted there; give the target its own directory`,
        observedTarget.target.name,
      );
    }
  }

  // 1. Garbage from interrupted receives goes first: its name would block the re-send.
  if (phases.clean || phases.send) {
    for (const observedTarget of observed.targets) {
      if (!observedTarget.reachable || busy.has(observedTarget.target.name)) continue;
      const receiving = observedTarget.receiving ?? [];
      if (observedTarget.garbage.length > 0 && receiving.length > 0) {
        busy.add(observedTarget.target.name);
        note(
          'error',
          `not deleting ${observedTarget.garbage.map((garbage) => garbage.path).join(', ')} and not sending: a btrfs receive (pid ${receiving.join(', ')}) is still writing into ${observedTarget.target.path}; run again when it has ended`,
          observedTarget.target.name,
        );
        continue;
      }
      for (const garbage of observedTarget.garbage) {
        steps.push({
          kind: 'delete-garbage',
          subvolume: subvolume.name,
          target: observedTarget.target.name,
          path: garbage.path,
          reason: 'incomplete receive: subvolume is still writable (the transfer was interrupted)',
        });
      }
    }
  }

  // 2. The new snapshot.
  if (phases.snapshot) {
    const latest = [...snapshots].sort((a, b) => a.creationGeneration - b.creationGeneration).at(-1);
    if (
      subvolume.snapshotCreate === 'onchange' &&
      latest &&
      latest.creationGeneration === source.generation
    ) {
      note('info', `no snapshot: unchanged since ${latest.name} (snapshot_create: onchange)`);
    } else {
      const takenNames = [
        ...snapshots.map((snapshot) => snapshot.name),
        ...[...copiesByTarget.values(), ...takenByTarget.values()].flat().map((copy) => copy.name),
        ...observed.targets.flatMap((target) =>
          target.reachable ? target.garbage.map((garbage) => garbage.name) : [],
        ),
      ];
      const name = nextSnapshotName(subvolume.snapshotName, now, subvolume.timestampFormat, takenNames);
      const path = join(subvolume.snapshotDir, name);
      const create: Step = {
        kind: 'create-snapshot',
        subvolume: subvolume.name,
        source: subvolume.path,
        path,
        name,
        reason:
          subvolume.snapshotCreate === 'always'
            ? 'snapshot_create: always'
            : latest
              ? `changed since ${latest.name} (generation ${source.generation} > ${latest.creationGeneration})`
              : 'no snapshot exists yet',
      };
      const pointer = pointerStep(
        { subvolume: subvolume.name, directory: subvolume.snapshotDir, basename: subvolume.snapshotName },
        observed.latest,
        name,
        new Set(snapshots.map((snapshot) => snapshot.name)),
        new Set(),
        observed.latestInsideSource
          ? `the new snapshot ${name} will be the newest; set just before it is taken: the snapshot directory is inside ${subvolume.path}, and a change there after the snapshot would change the subvolume's generation (snapshot_create: onchange would then snapshot again)`
          : `the new snapshot ${name} is the newest`,
      );
      if (pointer && observed.latestInsideSource) steps.push(pointer, create);
      else steps.push(create, ...(pointer ? [pointer] : []));
      snapshots = [...snapshots, projectedSnapshot(source, path, name)].sort(byDate);
    }
  }

  // 3. Sends: per target, the snapshots without a copy that the target policy would keep.
  if (phases.send) {
    for (const observedTarget of observed.targets) {
      if (!observedTarget.reachable || busy.has(observedTarget.target.name)) continue;
      const target = observedTarget.target;
      const copies = copiesByTarget.get(target.name)!;
      const copyIndex = new CopyIndex(copies);
      const taken = takenByTarget.get(target.name) ?? [];
      const missing = snapshots.filter((snapshot) => copyIndex.copyOf(snapshot) === undefined);
      if (missing.length === 0) continue;
      const entries: ScheduleEntry<DatedSubvolume | undefined>[] = [
        ...missing.map((snapshot) => ({ value: snapshot, date: snapshot.date })),
        ...copies.map((copy) => ({ value: undefined, date: copy.date, informativeOnly: true })),
      ];
      const decisions = schedule(entries, target.policy, now);
      const toSend = decisions
        .filter((decision) => decision.action === 'keep' && decision.value !== undefined)
        .map((decision) => ({ snapshot: decision.value!, reason: decision.reason }))
        .sort((a, b) => a.snapshot.creationGeneration - b.snapshot.creationGeneration);
      const skipped = missing.length - toSend.length;
      if (skipped > 0) {
        note(
          'info',
          `${skipped} snapshot(s) not sent: the retention of ${target.name} would not keep them`,
          target.name,
          true,
        );
      }
      for (const { snapshot, reason } of toSend) {
        const occupying = [...copies, ...taken].find((copy) => copy.name === snapshot.name);
        if (occupying) {
          note(
            'error',
            `not sending ${snapshot.name}: ${occupying.path} exists but was not received from it; move it away or delete it`,
            target.name,
          );
          continue;
        }
        const parent = chooseParent(
          snapshot,
          snapshots,
          (candidate) => copyIndex.copyOf(candidate),
          target.name,
        );
        steps.push({
          kind: 'send',
          subvolume: subvolume.name,
          target: target.name,
          name: snapshot.name,
          snapshotPath: snapshot.path,
          ...(snapshot.id === projectedId ? {} : { streamUuid: streamUuidOf(snapshot) }),
          targetDirectory: target.path,
          parent,
          reason: `kept by the retention of ${target.name}: ${reason}`,
        });
        const projected = projectedCopy(snapshot, target.path);
        copies.push(projected);
        copyIndex.add(projected);
      }
    }
  }

  // 4. Pruning, on the state the previous steps will have produced.
  if (phases.prune) steps.push(...planPrune(observed, snapshots, copiesByTarget, now, note));

  // 5. The latest pointers, on the state all of that leaves (a dangling one is repaired too).
  const pointerTargets = phases.send || phases.prune || phases.clean;
  steps.push(
    ...planPointers(observed, snapshots, copiesByTarget, steps, pointerTargets, (message, target) => {
      note('warning', message, target);
    }),
  );

  return { subvolume: subvolume.name, steps, notes };
}

/**
 * The step that makes a pointer in `place` name `newest` (null: nothing left to name), or none
 * when it does already or is not kept there. `existing`: the names there before this plan;
 * `deleted`: those this plan deletes.
 */
function pointerStep(
  place: { subvolume: string; target?: string; directory: string; basename: string },
  state: PointerState | undefined,
  newest: string | null,
  existing: ReadonlySet<string>,
  deleted: ReadonlySet<string>,
  why?: string,
): Extract<Step, { kind: 'update-latest' }> | undefined {
  if (state === undefined || state.kind === 'other') return undefined;
  const current = state.kind === 'symlink' ? state.target : null;
  if (current === newest) return undefined;
  const what = place.target === undefined ? 'snapshot' : `copy on ${place.target}`;
  const reason =
    why ??
    (newest === null
      ? `no ${what} is left for the pointer to name`
      : current === null
        ? `no pointer yet; the newest ${what} is ${newest}`
        : deleted.has(current)
          ? `${current} is deleted by retention; the newest ${what} left is ${newest}`
          : !existing.has(current)
            ? `the pointer names ${current}, which is not a ${what} here (deleted outside snapkeep?); the newest is ${newest}`
            : `the pointer names ${current}; the newest ${what} is ${newest}`);
  return {
    kind: 'update-latest',
    subvolume: place.subvolume,
    ...(place.target === undefined ? {} : { target: place.target }),
    directory: place.directory,
    path: join(place.directory, `${place.basename}.latest`),
    pointsTo: newest,
    reason,
  };
}

/**
 * The pointer steps for the state `steps` leave: the snapshot directory's pointer names the newest
 * snapshot left, each local target's (with `includeTargets`) the newest own copy left. `snapshots`
 * and `copiesByTarget` include what the steps create; deletions are read from the steps.
 */
function planPointers(
  observed: ObservedSubvolume,
  snapshots: readonly DatedSubvolume[],
  copiesByTarget: ReadonlyMap<string, readonly DatedSubvolume[]>,
  steps: readonly Step[],
  includeTargets: boolean,
  warn: (message: string, target?: string) => void,
): Step[] {
  const { subvolume } = observed;
  const pointers: Step[] = [];
  // A pointer already set by an earlier step of this plan (before or after the new snapshot).
  const setEarlier = steps.find(
    (step): step is Extract<Step, { kind: 'update-latest' }> =>
      step.kind === 'update-latest' && step.target === undefined,
  );
  const otherWarning = (state: PointerState | undefined, directory: string, target?: string): void => {
    if (state?.kind === 'other')
      warn(
        `${join(directory, `${subvolume.snapshotName}.latest`)} is ${state.what}, not a symlink: the latest pointer is not kept there until it is moved away`,
        target,
      );
  };
  const deletedSnapshots = new Set(
    steps.flatMap((step) => (step.kind === 'delete-snapshot' ? [step.name] : [])),
  );
  otherWarning(observed.latest, subvolume.snapshotDir);
  const local = pointerStep(
    { subvolume: subvolume.name, directory: subvolume.snapshotDir, basename: subvolume.snapshotName },
    setEarlier && observed.latest ? { kind: 'symlink', target: setEarlier.pointsTo ?? '' } : observed.latest,
    [...snapshots]
      .sort(byDate)
      .filter((snapshot) => !deletedSnapshots.has(snapshot.name))
      .at(-1)?.name ?? null,
    new Set(observed.snapshots.map((snapshot) => snapshot.name)),
    deletedSnapshots,
  );
  if (local) pointers.push(local);
  if (!includeTargets) return pointers;
  const trimmed = (path: string): string => path.replace(/\/+$/, '');
  for (const observedTarget of observed.targets) {
    if (!observedTarget.reachable || observedTarget.latest === undefined) continue;
    // A target that is the snapshot directory shares its pointer (and the planner leaves it alone).
    if (trimmed(observedTarget.target.path) === trimmed(subvolume.snapshotDir)) continue;
    const name = observedTarget.target.name;
    otherWarning(observedTarget.latest, observedTarget.target.path, name);
    const deletedCopies = new Set(
      steps.flatMap((step) => (step.kind === 'delete-copy' && step.target === name ? [step.name] : [])),
    );
    const own = copiesByTarget.get(name) ?? [];
    // Copies another subvolume sent under the same snapshot_name share the pointer's name
    // (`<snapshot_name>.latest`: nothing in it says whose): its runs would point it at theirs,
    // ours at ours, and it would name another subvolume's data after every other run. So no
    // pointer is kept there (one that is there is removed); `snapkeep list` still says which
    // copy is the newest of each.
    const ownPaths = new Set(own.map((copy) => copy.path));
    const foreign = observedTarget.copies.filter((copy) => !ownPaths.has(copy.path));
    const step = pointerStep(
      {
        subvolume: subvolume.name,
        target: name,
        directory: observedTarget.target.path,
        basename: subvolume.snapshotName,
      },
      observedTarget.latest,
      foreign.length > 0
        ? null
        : ([...own]
            .sort(byDate)
            .filter((copy) => !deletedCopies.has(copy.name))
            .at(-1)?.name ?? null),
      new Set(observedTarget.copies.map((copy) => copy.name)),
      deletedCopies,
      foreign.length > 0
        ? `${foreign.length} copy(ies) on ${name} named like ${subvolume.name}'s are another subvolume's (snapshot_name ${subvolume.snapshotName}; e.g. ${foreign[0]!.name}): a pointer there could name either's, so none is kept`
        : undefined,
    );
    if (step) pointers.push(step);
  }
  return pointers;
}

/**
 * The pointer steps for observed state as it is (no other step): what a run applies last, on the
 * state its steps really left, so a failed step never leaves a pointer to something missing.
 * `done`: the steps the run did (its deletions are named in the reasons).
 */
export function planLatestPointers(
  observed: ObservedSubvolume,
  includeTargets: boolean,
  done: readonly Step[] = [],
): SubvolumePlan {
  const notes: Note[] = [];
  const snapshots = [...observed.snapshots].sort(byDate);
  const copiesByTarget = new Map<string, DatedSubvolume[]>();
  for (const observedTarget of observed.targets)
    if (observedTarget.reachable)
      copiesByTarget.set(observedTarget.target.name, attributeCopies(observedTarget, snapshots).own);
  const deletions = done.filter((step) => step.kind === 'delete-snapshot' || step.kind === 'delete-copy');
  const steps = planPointers(
    observed,
    snapshots,
    copiesByTarget,
    deletions,
    includeTargets,
    (message, target) =>
      notes.push({ subvolume: observed.subvolume.name, target, level: 'warning', message }),
  );
  return { subvolume: observed.subvolume.name, steps, notes };
}

function planPrune(
  observed: ObservedSubvolume,
  snapshots: readonly DatedSubvolume[],
  copiesByTarget: ReadonlyMap<string, readonly DatedSubvolume[]>,
  now: Date,
  note: (level: Note['level'], message: string, target?: string) => void,
): Step[] {
  const { subvolume } = observed;
  const steps: Step[] = [];
  const forced = new Map<DatedSubvolume, string>();
  for (const observedTarget of observed.targets) {
    const target = observedTarget.target;
    if (!observedTarget.reachable) {
      // Keep what that target still needs as a parent; prune the rest (btrbk blocks all pruning).
      const needed = snapshots.find((snapshot) => snapshot.name === observedTarget.lastSent);
      if (needed)
        forced.set(needed, `preserve forced: last snapshot sent to unreachable target ${target.name}`);
      else
        note(
          'warning',
          `target ${target.name} is unreachable and no earlier transfer is recorded; keeping every snapshot`,
          target.name,
        );
      continue;
    }
    const copies = copiesByTarget.get(target.name) ?? [];
    const common = latestWithCopy(snapshots, copies);
    if (common && !forced.has(common.snapshot)) {
      forced.set(common.snapshot, `preserve forced: latest common snapshot with ${target.name}`);
    }
    const decisions = schedule(
      copies.map((copy) => ({
        value: copy,
        date: copy.date,
        forcePreserve: common && copy === common.copy ? 'preserve forced: latest common copy' : undefined,
      })),
      target.policy,
      now,
      { preserveFuture: true },
    );
    for (const decision of decisions) {
      if (decision.action !== 'delete') continue;
      steps.push({
        kind: 'delete-copy',
        subvolume: subvolume.name,
        target: target.name,
        path: decision.value.path,
        name: decision.value.name,
        reason: decision.reason,
      });
    }
  }
  const unreachableWithoutRecord = observed.targets.some(
    (observedTarget) =>
      !observedTarget.reachable && !snapshots.some((snapshot) => snapshot.name === observedTarget.lastSent),
  );
  if (unreachableWithoutRecord) return steps;
  const decisions = schedule(
    snapshots.map((snapshot) => ({
      value: snapshot,
      date: snapshot.date,
      forcePreserve: forced.get(snapshot),
    })),
    subvolume.snapshotPolicy,
    now,
    { preserveFuture: true },
  );
  for (const decision of decisions) {
    if (decision.action !== 'delete') continue;
    steps.push({
      kind: 'delete-snapshot',
      subvolume: subvolume.name,
      path: decision.value.path,
      name: decision.value.name,
      reason: decision.reason,
    });
  }
  return steps;
}
