// The btrfs restore drill (`verify --drill`): each run receives ONE target copy back — the pair of
// subvolume × target drilled longest ago (plan/drill-plan.ts), so every pair is drilled within N
// runs — in full, through the same fetch a restore uses (plan/fetch-plan.ts, fetch.ts; over SSH
// through the target's filter), into a scratch directory, and compares every entry with the local
// snapshot it was sent from (verify-copy.ts compareTrees), then deletes the scratch copy.
//
// Where the scratch goes: a hidden directory `.snapkeep-drill.<subvolume>.<unique>` inside the
// subvolume's snapshot directory: on the snapshot's filesystem (btrfs, so it can receive), never
// inside the live data (the default snapshot directory is `<path>/.snapshots`, and a directory
// beside it would be in the user's files and their next snapshot), invisible to snapkeep's and
// btrbk's name scans (`<name>.<date>` directly in the directory), like restore's staging
// directory. Removed after success and failure, on SIGINT/SIGTERM (cleanUpOnInterrupt), and a
// scratch left by a killed drill (SIGKILL, power loss) is removed by the next drill: the run
// lock guarantees no other drill is using it.
//
// When the local snapshot was already pruned (no copy on the target has its snapshot here), the
// newest copy is received anyway and the drill says that its contents were not compared: what the
// receive still proves is that the copy can be restored at all — every byte was read on the
// target (btrfs verifies its data checksums on read, so rot fails the send) and the scratch copy
// carries the received UUID of the stream. That drill is ok, and says so in its detail.
import { lstatSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ResolvedSubvolume, ResolvedTarget } from '../config/resolve.js';
import { ExitCode } from '../errors.js';
import { planFetch } from '../plan/fetch-plan.js';
import {
  chooseCopy,
  choosePair,
  recordDrill,
  type CopyChoice,
  type DrillPair,
  type DrillRotation,
} from '../plan/drill-plan.js';
import { Hosts } from './hosts.js';
import type { Journal } from '../state/journal.js';
import type { SendProgress } from './apply-steps.js';
import { deleteSubvolumes } from './btrfs-commands.js';
import { applyFetch } from './fetch.js';
import { localHost } from './inventory.js';
import { messageOf, observeTarget, snapshotsIn } from './observe.js';
import { compareTrees, measureTree } from './verify-copy.js';

/** The prefix of every scratch directory a drill makes in a snapshot directory. */
export const scratchPrefix = '.snapkeep-drill.';

/** What a btrfs drill reports as it goes (the command renders text or JSON from these). */
export type BtrfsDrillEvent =
  | { readonly type: 'drill-skip'; readonly subvolume: string; readonly reason: string }
  | {
      /** A scratch directory a killed drill left (or this drill could not remove), and its removal. */
      readonly type: 'drill-leftover';
      readonly path: string;
      readonly ok: boolean;
      /** Under --dry-run: it would be removed. */
      readonly dryRun?: boolean;
      readonly error?: string;
    }
  | {
      readonly type: 'drill-plan';
      readonly kind: 'btrfs';
      readonly dryRun: boolean;
      readonly subvolume: string;
      readonly target: string;
      /** Why this pair: never drilled, or drilled longest ago. */
      readonly reason: string;
      readonly snapshot?: string;
      /** The copy on the target (host label "local" or user@host), and why that one. */
      readonly host?: string;
      readonly copy?: string;
      readonly copyReason?: string;
      /** The scratch directory (its unique suffix is chosen when the drill runs). */
      readonly scratch?: string;
      /** The local snapshot compared with, and how it relates to the copy. */
      readonly compareWith?: string;
      readonly relation?: CopyChoice['counterpart']['kind'];
    }
  | {
      readonly type: 'drill-progress';
      readonly subvolume: string;
      readonly target: string;
      readonly bytes: number;
      readonly elapsedMs: number;
    }
  | {
      readonly type: 'drill';
      readonly kind: 'btrfs';
      readonly subvolume: string;
      readonly target: string;
      readonly snapshot?: string;
      readonly ok: boolean;
      readonly detail: string;
      /** Whether the files were compared with the local snapshot. */
      readonly compared: boolean;
      readonly entries?: number;
      readonly files?: number;
      readonly bytes?: number;
      readonly differing?: number;
      readonly problems?: readonly string[];
      readonly receivedBytes?: number;
      /** false when the target could not be reached. */
      readonly reachable?: boolean;
      readonly durationMs: number;
    };

export interface BtrfsDrillOptions {
  readonly subvolumes: readonly ResolvedSubvolume[];
  readonly stateDir: string;
  readonly dryRun: boolean;
  readonly now: Date;
  readonly report: (event: BtrfsDrillEvent) => void;
  /** Where the outcome is journaled (not under --dry-run). */
  readonly journal?: Journal;
  /** Register removal of the scratch copy with the run's interrupt handling (run-lifecycle.ts). */
  readonly onInterrupt?: (cleanup: () => Promise<void>) => () => void;
}

interface DrillState {
  btrfs?: DrillRotation;
}

const statePathOf = (stateDir: string): string => join(stateDir, 'drill.json');

async function loadState(stateDir: string): Promise<DrillState> {
  try {
    return JSON.parse(await readFile(statePathOf(stateDir), 'utf8')) as DrillState;
  } catch {
    return {};
  }
}

async function saveState(stateDir: string, state: DrillState): Promise<void> {
  const path = statePathOf(stateDir);
  await mkdir(stateDir, { recursive: true });
  await writeFile(`${path}.tmp`, `${JSON.stringify(state, null, 2)}\n`);
  await rename(`${path}.tmp`, path);
}

const mebibytes = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

/** Delete the subvolumes in a scratch directory (a received copy, or one a killed drill left), then it. */
async function removeScratch(directory: string): Promise<string | undefined> {
  let names: string[];
  try {
    names = await readdir(directory);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    return messageOf(error);
  }
  const subvolumes = names
    .map((name) => join(directory, name))
    .filter((path) => {
      const stats = lstatSync(path, { throwIfNoEntry: false });
      return stats?.isDirectory() === true && stats.ino === 256;
    });
  for (const subvolume of subvolumes) {
    const result = await localHost.run(deleteSubvolumes([subvolume]));
    // Gone all the same: a failed receive deletes what it left too (apply-steps.ts).
    if (result.exitCode !== 0 && lstatSync(subvolume, { throwIfNoEntry: false }))
      return result.stderr.trim() || `btrfs exited ${result.exitCode}`;
  }
  try {
    await rm(directory, { recursive: true, force: true });
  } catch (error) {
    return messageOf(error);
  }
  return undefined;
}

/** Scratch directories a killed drill left in these snapshot directories. */
async function leftoverScratch(snapshotDirs: readonly string[]): Promise<string[]> {
  const found: string[] = [];
  for (const directory of new Set(snapshotDirs)) {
    const names = await readdir(directory).catch(() => []);
    for (const name of names) if (name.startsWith(scratchPrefix)) found.push(join(directory, name));
  }
  return found;
}

/**
 * One drill: the pair drilled longest ago, one copy of it received and compared. Returns the exit
 * codes of what it did (exitCodeOf combines them): 3 for a copy that differs, cannot be received
 * or is not there, 10 for a target that cannot be reached; none when there is nothing to drill.
 */
export async function drillBtrfs(options: BtrfsDrillOptions): Promise<number[]> {
  const { report } = options;
  const local: ResolvedSubvolume[] = [];
  for (const subvolume of options.subvolumes) {
    if (subvolume.ssh)
      report({
        type: 'drill-skip',
        subvolume: subvolume.name,
        reason: `it lives on ${subvolume.ssh.location.host} (pull mode); drills compare with snapshots on this machine`,
      });
    else if (subvolume.targets.length === 0)
      report({ type: 'drill-skip', subvolume: subvolume.name, reason: 'it has no targets to drill' });
    else local.push(subvolume);
  }
  const pairs: DrillPair[] = local.flatMap((subvolume) =>
    subvolume.targets.map((target) => ({ subvolume: subvolume.name, target: target.name })),
  );
  if (pairs.length === 0) return [];

  const leftovers = await leftoverScratch(local.map((subvolume) => subvolume.snapshotDir));
  const codes: number[] = [];
  for (const path of leftovers) {
    if (options.dryRun) {
      report({ type: 'drill-leftover', path, ok: true, dryRun: true });
      continue;
    }
    const error = await removeScratch(path);
    report({ type: 'drill-leftover', path, ok: error === undefined, ...(error ? { error } : {}) });
  }

  const state = await loadState(options.stateDir);
  const rotation = state.btrfs ?? {};
  const choice = choosePair(pairs, rotation);
  if (!choice) return codes;
  const subvolume = local.find((each) => each.name === choice.pair.subvolume)!;
  const target = subvolume.targets.find((each) => each.name === choice.pair.target)!;
  const startedAt = Date.now();
  const hosts = new Hosts();
  let outcome: DrillOutcome | undefined;
  try {
    outcome = await drillPair(subvolume, target, hosts, choice.reason, options);
  } catch (error) {
    outcome = {
      type: 'drill',
      kind: 'btrfs',
      subvolume: subvolume.name,
      target: target.name,
      ok: false,
      detail: messageOf(error),
      compared: false,
      durationMs: Date.now() - startedAt,
    };
  } finally {
    await hosts.close();
  }
  if (!outcome) return codes; // a dry run: the plan is reported
  report(outcome);
  if (options.dryRun) return [...codes, codeOf(outcome)];
  await options.journal?.append('drill', {
    kind: 'btrfs',
    subvolume: outcome.subvolume,
    target: outcome.target,
    snapshot: outcome.snapshot,
    ok: outcome.ok,
    detail: outcome.detail,
  });
  await saveState(options.stateDir, {
    ...state,
    btrfs: recordDrill(rotation, choice.pair, {
      lastDrilledAt: options.now.toISOString(),
      ok: outcome.ok,
      ...(outcome.snapshot ? { snapshot: outcome.snapshot } : {}),
    }),
  });
  return [...codes, codeOf(outcome)];
}

type DrillOutcome = Extract<BtrfsDrillEvent, { type: 'drill' }>;

/** A target that could not be reached keeps its code (10); any other failed drill is 3. */
const codeOf = (outcome: DrillOutcome): number =>
  outcome.ok ? ExitCode.ok : outcome.reachable === false ? ExitCode.targetUnreachable : ExitCode.partial;

async function drillPair(
  subvolume: ResolvedSubvolume,
  target: ResolvedTarget,
  hosts: Hosts,
  pairReason: string,
  options: BtrfsDrillOptions,
): Promise<DrillOutcome | undefined> {
  const startedAt = Date.now();
  const base = { type: 'drill', kind: 'btrfs', subvolume: subvolume.name, target: target.name } as const;
  const failed = (detail: string): DrillOutcome => ({
    ...base,
    ok: false,
    detail,
    compared: false,
    durationMs: Date.now() - startedAt,
  });
  const targetInventory = hosts.inventoryOf(target);
  const [observed, snapshots] = await Promise.all([
    observeTarget(targetInventory, subvolume, target, () => undefined),
    snapshotsIn(hosts.inventoryOf(), subvolume.snapshotDir, subvolume.snapshotName),
  ]);
  const planned = {
    type: 'drill-plan',
    kind: 'btrfs',
    dryRun: options.dryRun,
    subvolume: subvolume.name,
    target: target.name,
    reason: pairReason,
  } as const;
  if (!observed.reachable) {
    options.report(planned);
    return { ...failed(`${target.name} cannot be reached: ${observed.error}`), reachable: false };
  }
  const candidates = [
    ...observed.copies,
    ...(observed.others ?? []).filter((other) => snapshots.some((snapshot) => snapshot.name === other.name)),
  ];
  const choice = chooseCopy(candidates, snapshots);
  const scratchPattern = join(subvolume.snapshotDir, `${scratchPrefix}${subvolume.name}.`);
  if (!choice) {
    options.report(planned);
    return failed(`no copy of ${subvolume.name} on ${target.name} (${target.path}) to drill`);
  }
  const { copy, counterpart } = choice;
  options.report({
    ...planned,
    snapshot: copy.name,
    host: targetInventory.host.label,
    copy: copy.path,
    copyReason: choice.reason,
    scratch: `${scratchPattern}XXXXXX`,
    ...(counterpart.kind === 'none' ? {} : { compareWith: counterpart.local.path }),
    relation: counterpart.kind,
  });
  if (options.dryRun) return undefined;

  await mkdir(subvolume.snapshotDir, { recursive: true });
  const scratch = await mkdtemp(scratchPattern);
  let removal: Promise<string | undefined> | undefined;
  const remove = (): Promise<string | undefined> => (removal ??= removeScratch(scratch));
  const withdraw = options.onInterrupt?.(async () => {
    await remove();
  });
  let result: DrillOutcome;
  try {
    result = await receiveAndCompare(subvolume, target, choice, candidates, scratch, hosts, options);
  } finally {
    const error = await remove();
    withdraw?.();
    if (error) options.report({ type: 'drill-leftover', path: scratch, ok: false, error });
  }
  return { ...result, durationMs: Date.now() - startedAt };
}

async function receiveAndCompare(
  subvolume: ResolvedSubvolume,
  target: ResolvedTarget,
  choice: CopyChoice,
  candidates: Parameters<typeof planFetch>[0]['sourceCopies'],
  scratch: string,
  hosts: Hosts,
  options: BtrfsDrillOptions,
): Promise<DrillOutcome> {
  const { copy, counterpart } = choice;
  const base = {
    type: 'drill',
    kind: 'btrfs',
    subvolume: subvolume.name,
    target: target.name,
    snapshot: copy.name,
    durationMs: 0,
  } as const;
  const plan = planFetch({
    label: subvolume.name,
    from: target.name,
    wanted: copy,
    sourceCopies: candidates,
    localDirectory: scratch,
    local: [],
    full: true,
  });
  if (plan.kind !== 'receive')
    return { ...base, ok: false, compared: false, detail: `cannot receive ${copy.name}: ${plan.reason}` };
  const received = await applyFetch(plan, hosts.hostOf(target), (progress: SendProgress) => {
    options.report({
      type: 'drill-progress',
      subvolume: subvolume.name,
      target: target.name,
      bytes: progress.bytes,
      elapsedMs: progress.elapsedMs,
    });
  });
  if (!received.ok)
    return {
      ...base,
      ok: false,
      compared: false,
      detail: `${copy.name} could not be received from ${target.name}: ${received.error ?? 'the receive failed'}`,
    };
  const scratchCopy = join(scratch, copy.name);
  const receivedBytes = received.bytes ?? 0;
  if (counterpart.kind === 'none') {
    const measured = await measureTree(scratchCopy);
    return {
      ...base,
      ok: true,
      compared: false,
      ...measured,
      receivedBytes,
      detail: `${copy.name} received in full from ${target.name} (${measured.files} files, ${mebibytes(measured.bytes)}); contents not compared: no copy there has its snapshot here any more (pruned locally); the receive read every byte on the target and the copy carries its received UUID`,
    };
  }
  const compared = await compareTrees(counterpart.local.path, scratchCopy);
  const how =
    counterpart.kind === 'name'
      ? ` (related by name only: ${copy.receivedUuid === undefined ? 'the copy on the target has lost its received UUID, it was made writable at some time' : 'the copy was not received from it'})`
      : '';
  const measured = {
    entries: compared.entries,
    files: compared.files,
    bytes: compared.bytes,
    differing: compared.differing,
    problems: compared.problems,
    receivedBytes,
  };
  if (compared.differing > 0)
    return {
      ...base,
      ok: false,
      compared: true,
      ...measured,
      detail: `${copy.name} on ${target.name} differs from ${counterpart.local.path} in ${compared.differing} ${compared.differing === 1 ? 'entry' : 'entries'}${how}: ${compared.problems.join('; ')}${compared.differing > compared.problems.length ? '; …' : ''}`,
    };
  return {
    ...base,
    ok: true,
    compared: true,
    ...measured,
    detail: `${copy.name} received in full from ${target.name} and equal to ${counterpart.local.path}${how}: ${compared.entries} entries, ${compared.files} files, ${mebibytes(compared.bytes)} (type, size, mode, owner, mtime, symlink target; contents byte for byte)`,
  };
}
