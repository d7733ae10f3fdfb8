// The btrfs job runner: observe every subvolume, plan, and (unless dry-run) apply. Independent
// transfers overlap up to `parallel`; a subvolume's sends to one target stay in order because
// each becomes the next one's parent. One job's failure never stops the others.
import type { ResolvedConfig, ResolvedSubvolume } from '../config/resolve.js';
import { UsageError } from '../errors.js';
import { terminateAllChildren } from '../exec/command.js';
import {
  attributeCopies,
  planLatestPointers,
  planSubvolume,
  type Note,
  type PlanPhases,
  type Step,
  type SubvolumePlan,
} from '../plan/btrfs-plan.js';
import type { Journal } from '../state/journal.js';
import type { TransferStateFile } from '../state/transfer-state.js';
import { StepExecutor, type SendProgress, type StepOutcome } from './apply-steps.js';
import { Hosts } from './hosts.js';
import { HostUnreachableError } from '../remote/ssh-host.js';
import { localHost } from './inventory.js';
import { messageOf, observeSubvolume, observedAfter } from './observe.js';

export type EngineCommandName = 'run' | 'snapshot' | 'resume' | 'prune' | 'clean';

export const phasesFor: Record<EngineCommandName, PlanPhases> = {
  run: { clean: true, snapshot: true, send: true, prune: true },
  snapshot: { clean: false, snapshot: true, send: false, prune: false },
  resume: { clean: true, snapshot: false, send: true, prune: false },
  prune: { clean: false, snapshot: false, send: false, prune: true },
  clean: { clean: true, snapshot: false, send: false, prune: false },
};

export interface RunReporter {
  plan(plan: SubvolumePlan, phase: 'initial' | 'prune'): void;
  outcome(outcome: StepOutcome): void;
  progress(progress: SendProgress): void;
}

export interface JobResult {
  readonly subvolume: string;
  readonly target?: string;
  readonly status: 'ok' | 'failed' | 'unreachable';
  readonly message?: string;
}

/**
 * `snapshot --deadline` (the pre-sleep job): snapshots only, and back by `stopAt` whatever hangs.
 *
 * - Targets are not observed at all (not even for the names they hold): an SSH target that
 *   accepts and never answers, or a disk that hangs, is never asked. The new names are chosen
 *   from the local snapshots; the sends come later (`resume`, `run`), derived as pending from the
 *   journal's `step` events.
 * - The lock: waited for up to half the time left (deadlineBudget), then the snapshots are taken
 *   without it (run-start records `lockNotHeld`), because a transfer that holds it can run for
 *   hours and sleep must not wait for it. That is safe against the run holding it: a snapshot is
 *   made by one atomic ioctl (it appears whole or not at all) under a new name; the other run
 *   deletes only what it planned from its own listing (its prune re-plan is derived from that
 *   listing and its own steps, never re-listed, observe.ts observedAfter), so it never deletes,
 *   sends or counts a snapshot made after it looked; the two never write the same name (a name
 *   taken meanwhile makes `btrfs subvolume snapshot` fail, nothing is overwritten); and this run
 *   writes no transfer state (the holder's file), only journal lines (one O_APPEND write each).
 *   The snapshot is simply sent by the next run that looks.
 * - Whatever is not done by `stopAt` is reported as not taken, its commands are stopped, and the
 *   run ends (journaled) with exit 3: partial, the documented code for "some jobs aborted".
 */
export interface SnapshotDeadline {
  /** Epoch milliseconds by which runBtrfs returns. */
  readonly stopAt: number;
  /** As given (`10s`), for messages. */
  readonly text: string;
}

/**
 * How a deadline of `seconds`, counted from this process's start (`startedAt`, epoch ms), is
 * spent: of what is left `now` until `stopAt`, half may go to waiting for the lock; at `stopAt`
 * (a tenth of the deadline before it, at most a second) the work stops; by `answerBy` (a fortieth
 * before it, at most a quarter second) the run's lines are written or left behind, and what
 * remains is exiting.
 */
export function deadlineBudget(
  seconds: number,
  startedAt: number,
  now: number,
): { stopAt: number; answerBy: number; lockWaitSeconds: number } {
  const end = startedAt + seconds * 1000;
  const stopAt = end - Math.min(1000, seconds * 100);
  return {
    stopAt,
    answerBy: end - Math.min(250, seconds * 25),
    lockWaitSeconds: Math.max(0, Math.floor((stopAt - now) / 2) / 1000),
  };
}

export interface RunOptions {
  readonly command: EngineCommandName;
  readonly dryRun: boolean;
  readonly only: readonly string[];
  readonly now: Date;
  readonly reporter: RunReporter;
  readonly journal?: Journal;
  /**
   * The transfer memory; none under a deadline, which looks at no target and must not wait on
   * reading the state directory (the file is the lock holder's, too).
   */
  readonly transfers?: TransferStateFile;
  /** `snapshot --deadline`: see SnapshotDeadline. */
  readonly deadline?: SnapshotDeadline;
}

export interface RunSummary {
  readonly plans: readonly SubvolumePlan[];
  readonly outcomes: readonly StepOutcome[];
  readonly jobs: readonly JobResult[];
  /** With a deadline: the subvolumes not done when it passed (their snapshots were not taken). */
  readonly stopped?: readonly string[];
}

/** At most `limit` tasks at once. */
function createPool(limit: number): <T>(task: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async <T>(task: () => Promise<T>): Promise<T> => {
    if (active >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
    active++;
    try {
      return await task();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}

/** `alsoKnown`: other names the caller accepts (backup sets for `list`), shown in the error. */
export function selectSubvolumes(
  config: ResolvedConfig,
  only: readonly string[],
  alsoKnown: readonly string[] = [],
): ResolvedSubvolume[] {
  const unknown = only.filter((name) => !config.subvolumes.some((subvolume) => subvolume.name === name));
  if (unknown.length > 0) {
    const known = [...config.subvolumes.map((subvolume) => subvolume.name), ...alsoKnown];
    throw new UsageError(
      `unknown ${alsoKnown.length > 0 ? 'subvolume or backup set' : 'subvolume'} ${unknown.map((name) => `"${name}"`).join(', ')}; the config defines: ${known.join(', ') || '(none)'}`,
    );
  }
  return only.length === 0
    ? [...config.subvolumes]
    : config.subvolumes.filter((subvolume) => only.includes(subvolume.name));
}

type SendChain = readonly [target: string, chain: readonly Extract<Step, { kind: 'send' }>[]];

/**
 * The send chains of one subvolume, grouped so that chains sending exactly the same streams (the
 * same snapshots from the same parents, in the same order) to targets on this host run together:
 * each stream is sent once and fanned out (StepExecutor.executeFanOut). Other chains run alone.
 */
export function groupSameStreams(
  chains: ReadonlyMap<string, readonly Extract<Step, { kind: 'send' }>[]>,
  fanOutPossible: (target: string) => boolean,
): SendChain[][] {
  const groups = new Map<string, SendChain[]>();
  const alone: SendChain[][] = [];
  for (const [target, chain] of chains) {
    if (!fanOutPossible(target)) {
      alone.push([[target, chain]]);
      continue;
    }
    const key = JSON.stringify(chain.map((step) => [step.snapshotPath, step.parent?.path ?? null]));
    groups.set(key, [...(groups.get(key) ?? []), [target, chain]]);
  }
  return [...groups.values(), ...alone];
}

export async function runBtrfs(config: ResolvedConfig, options: RunOptions): Promise<RunSummary> {
  // With a deadline no target is looked at (SnapshotDeadline).
  const subvolumes = selectSubvolumes(config, options.only).map((subvolume) =>
    options.deadline ? { ...subvolume, targets: [] } : subvolume,
  );
  const phases = phasesFor[options.command];
  const hosts = new Hosts();
  const targetsByName = new Map(
    subvolumes.flatMap((subvolume) => subvolume.targets.map((target) => [target.name, target] as const)),
  );
  const subvolumesByName = new Map(subvolumes.map((subvolume) => [subvolume.name, subvolume] as const));
  const targetNamed = (name?: string) => (name === undefined ? undefined : targetsByName.get(name));
  const plans: SubvolumePlan[] = [];
  const outcomes: StepOutcome[] = [];
  const jobs: JobResult[] = [];
  const pool = createPool(config.parallel);
  const executor = new StepExecutor(
    ({ subvolume, target }) =>
      hosts.hostOf(target === undefined ? subvolumesByName.get(subvolume) : targetNamed(target)),
    (progress) => {
      options.reporter.progress(progress);
    },
    options.deadline ? 'processes' : 'file-calls',
  );
  const lastSent = (subvolume: string) => (target: string) =>
    options.transfers?.get(subvolume, target).lastSent;

  const execute = async (step: Step): Promise<StepOutcome> => record(await executor.execute(step));
  const record = async (outcome: StepOutcome): Promise<StepOutcome> => {
    const step = outcome.step;
    outcomes.push(outcome);
    options.reporter.outcome(outcome);
    await options.journal?.append('step', {
      ...step,
      ok: outcome.ok,
      error: outcome.error,
      durationMs: outcome.durationMs,
      bytes: outcome.bytes,
    });
    if (outcome.ok && step.kind === 'send') {
      const isFull = step.parent === undefined;
      options.transfers?.update(step.subvolume, step.target, {
        lastSent: step.name,
        lastSentAt: new Date().toISOString(),
        ...(isFull ? { lastFullBytes: outcome.bytes } : { lastIncrementalBytes: outcome.bytes }),
      });
    }
    return outcome;
  };

  const runOne = async (subvolume: ResolvedSubvolume): Promise<void> => {
    let observed;
    try {
      observed = await observeSubvolume(
        (target) => hosts.inventoryOf(target ?? subvolume),
        subvolume,
        lastSent(subvolume.name),
        (target) => options.transfers?.get(subvolume.name, target).ownCopies,
      );
    } catch (error) {
      jobs.push({
        subvolume: subvolume.name,
        // A subvolume on an unreachable host (pull mode) is as absent as an unreachable target.
        status: error instanceof HostUnreachableError ? 'unreachable' : 'failed',
        message: messageOf(error),
      });
      plans.push({
        subvolume: subvolume.name,
        steps: [],
        notes: [{ subvolume: subvolume.name, level: 'error', message: messageOf(error) }],
      });
      return;
    }
    const plan = planSubvolume(observed, options.now, phases);
    plans.push(plan);
    options.reporter.plan(plan, 'initial');
    const failedTargets = new Map<string, string>();
    for (const observedTarget of observed.targets) {
      if (!observedTarget.reachable) {
        jobs.push({
          subvolume: subvolume.name,
          target: observedTarget.target.name,
          status: 'unreachable',
          message: observedTarget.error,
        });
      }
    }
    const unreachable = new Set(
      jobs
        .filter((job) => job.subvolume === subvolume.name && job.status === 'unreachable')
        .map((job) => job.target),
    );
    // Errors the planner found on a reachable target (a foreign subvolume in the way) fail that job.
    const plannedErrors = plan.notes.filter(
      (note) => note.level === 'error' && note.target && !unreachable.has(note.target),
    );
    if (options.dryRun) {
      // The exit code the real run would give for them.
      for (const note of plannedErrors)
        jobs.push({
          subvolume: subvolume.name,
          target: note.target,
          status: 'failed',
          message: note.message,
        });
      return;
    }
    for (const note of plannedErrors) failedTargets.set(note.target!, note.message);
    const blockedTargets = new Set<string>();

    let changed = false;
    // Garbage first (per target), then the snapshot.
    for (const step of plan.steps.filter((candidate) => candidate.kind === 'delete-garbage')) {
      const outcome = await execute(step);
      changed = true;
      if (!outcome.ok) {
        failedTargets.set(step.target, outcome.error ?? 'garbage could not be deleted');
        blockedTargets.add(step.target);
      }
    }
    // The last steps of every run: the latest pointers, planned on what the run really left.
    const settlePointers = async (): Promise<void> => {
      const settled = await Promise.all(
        outcomes.map(async (outcome) =>
          outcome.pendingCreated ? { ...outcome, created: await outcome.pendingCreated } : outcome,
        ),
      );
      const pointers = planLatestPointers(
        observedAfter(observed, settled),
        phases.send || phases.prune || phases.clean,
        settled
          .filter((outcome) => outcome.ok && outcome.step.subvolume === subvolume.name)
          .map((outcome) => outcome.step),
      );
      for (const step of pointers.steps) {
        const outcome = await execute(step);
        if (!outcome.ok) pointerFailed(step, outcome.error);
      }
    };
    const pointerFailed = (step: Step, error?: string): void => {
      jobs.push({
        subvolume: subvolume.name,
        ...(step.kind === 'update-latest' && step.target !== undefined ? { target: step.target } : {}),
        status: 'failed',
        message: error ?? 'the latest pointer could not be updated',
      });
    };
    const snapshotIndex = plan.steps.findIndex((candidate) => candidate.kind === 'create-snapshot');
    if (snapshotIndex >= 0) {
      // With the pointer that the planner put next to it: before it (a snapshot directory inside
      // the subvolume) or after it.
      const isLocalPointer = (step?: Step): step is Step =>
        step?.kind === 'update-latest' && step.target === undefined;
      // Under a deadline the pointer moves only once its snapshot exists: a snapshot abandoned
      // at the deadline (a hung disk; its command stopped, the run gone) would leave a pointer
      // to nothing, with no end of the run left to repair it. With the snapshot directory inside
      // the subvolume that write then changes the subvolume after its snapshot, so
      // `snapshot_create: onchange` takes one more snapshot next time: the price of that.
      let before = plan.steps[snapshotIndex - 1];
      let after = plan.steps[snapshotIndex + 1];
      if (options.deadline && isLocalPointer(before)) [before, after] = [undefined, before];
      if (isLocalPointer(before)) {
        const outcome = await execute(before);
        if (!outcome.ok) pointerFailed(before, outcome.error);
      }
      const outcome = await execute(plan.steps[snapshotIndex]!);
      changed = true;
      if (!outcome.ok) {
        jobs.push({ subvolume: subvolume.name, status: 'failed', message: outcome.error });
        await settlePointers(); // a pointer set before it must not name a snapshot that is not there
        return; // its sends would refer to a snapshot that does not exist; pruning waits too
      }
      if (isLocalPointer(after)) {
        const pointerOutcome = await execute(after);
        if (!pointerOutcome.ok) pointerFailed(after, pointerOutcome.error);
      }
    }
    // Sends: one ordered chain per target, chains overlap through the pool.
    const sendsByTarget = new Map<string, Extract<Step, { kind: 'send' }>[]>();
    for (const step of plan.steps) {
      if (step.kind !== 'send' || blockedTargets.has(step.target)) continue;
      sendsByTarget.set(step.target, [...(sendsByTarget.get(step.target) ?? []), step]);
    }
    await Promise.all(
      groupSameStreams(
        sendsByTarget,
        (target) => hosts.hostOf(targetNamed(target)) === localHost && hosts.hostOf(subvolume) === localHost,
      ).map((group) =>
        pool(async () => {
          // Chains of one target each, in step order; members drop out at their first failure
          // (later snapshots would need that one as their parent).
          let members = group;
          for (let index = 0; index < (members[0]?.[1].length ?? 0) && members.length > 0; index++) {
            const steps = members.map(([, chain]) => chain[index]!);
            const stepOutcomes =
              steps.length === 1
                ? [await execute(steps[0]!)]
                : await Promise.all((await executor.executeFanOut(steps)).map(record));
            changed = true;
            const failedNow = new Set<string>();
            for (const outcome of stepOutcomes)
              if (!outcome.ok && outcome.step.kind === 'send') {
                failedTargets.set(outcome.step.target, outcome.error ?? 'send failed');
                failedNow.add(outcome.step.target);
              }
            members = members.filter(([target]) => !failedNow.has(target));
          }
        }),
      ),
    );
    for (const [target, message] of failedTargets)
      jobs.push({ subvolume: subvolume.name, target, status: 'failed', message });

    if (phases.prune) {
      let prunePlan: SubvolumePlan = plan;
      if (changed) {
        // Decide deletions on what is there now (what this run really did), not on the projection.
        // New snapshots are read back while their sends run; the re-plan needs what was read.
        const settled = await Promise.all(
          outcomes.map(async (outcome) =>
            outcome.pendingCreated ? { ...outcome, created: await outcome.pendingCreated } : outcome,
          ),
        );
        prunePlan = planSubvolume(observedAfter(observed, settled), options.now, phasesFor.prune);
        options.reporter.plan(prunePlan, 'prune');
      }
      for (const step of prunePlan.steps) {
        if (step.kind !== 'delete-snapshot' && step.kind !== 'delete-copy') continue;
        const outcome = await execute(step);
        if (!outcome.ok)
          jobs.push({
            subvolume: subvolume.name,
            target: step.kind === 'delete-copy' ? step.target : undefined,
            status: 'failed',
            message: outcome.error,
          });
      }
    }
    await settlePointers();
    // Nothing of this run is left running when it reports.
    const settled = await Promise.all(
      outcomes.map(async (outcome) =>
        outcome.pendingCreated ? { ...outcome, created: await outcome.pendingCreated } : outcome,
      ),
    );
    // Which copies are this subvolume's, remembered for when their snapshots are gone.
    const after = observedAfter(observed, settled);
    for (const observedTarget of after.targets) {
      if (!observedTarget.reachable) continue;
      const { own } = attributeCopies(observedTarget, after.snapshots);
      options.transfers?.update(subvolume.name, observedTarget.target.name, {
        ownCopies: own.flatMap((copy) => (copy.receivedUuid ? [copy.receivedUuid] : [])),
      });
    }
    if (!jobs.some((job) => job.subvolume === subvolume.name && job.status !== 'ok'))
      jobs.push({ subvolume: subvolume.name, status: 'ok' });
  };

  let stopped: string[] = [];
  try {
    if (options.deadline) stopped = await byDeadline(subvolumes, runOne, options.deadline.stopAt);
    else await Promise.all(subvolumes.map(runOne));
  } finally {
    // Past the deadline nothing more is waited for (an SSH host of pull mode may hang).
    if (stopped.length === 0) await hosts.close();
    else void hosts.close().catch(() => undefined);
  }
  if (stopped.length > 0) {
    // A snapshot command still running is stopped (the process exits soon after anyway).
    terminateAllChildren();
    for (const name of stopped)
      jobs.push({
        subvolume: name,
        status: 'failed',
        message: `not taken: the deadline (${options.deadline!.text}) passed first (a hung disk?); its commands were stopped, and a snapshot the kernel still completes is found by the next run`,
      });
  }
  // Keep the report in config order regardless of which subvolume finished first.
  const order = (name: string): number => subvolumes.findIndex((subvolume) => subvolume.name === name);
  // Copies: past a deadline, unfinished work may still add to the originals.
  return {
    plans: [...plans].sort((a, b) => order(a.subvolume) - order(b.subvolume)),
    outcomes: [...outcomes],
    jobs: [...jobs],
    ...(options.deadline ? { stopped } : {}),
  };
}

/** Run every subvolume's job; the names of those not done by `stopAt` (epoch ms). */
async function byDeadline(
  subvolumes: readonly ResolvedSubvolume[],
  runOne: (subvolume: ResolvedSubvolume) => Promise<void>,
  stopAt: number,
): Promise<string[]> {
  const done = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  const inTime = await Promise.race([
    Promise.all(
      subvolumes.map((subvolume) =>
        runOne(subvolume).finally(() => {
          done.add(subvolume.name);
        }),
      ),
    ).then(() => true),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(
        () => {
          resolve(false);
        },
        Math.max(0, stopAt - Date.now()),
      );
    }),
  ]).finally(() => {
    clearTimeout(timer);
  });
  return inTime
    ? []
    : subvolumes.filter((subvolume) => !done.has(subvolume.name)).map((subvolume) => subvolume.name);
}

export type { Note };
