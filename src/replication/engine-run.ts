// `run`, `snapshot`, `resume`, `prune`, `clean` as one run (the lifecycle: lock, journal; not for
// --dry-run, which changes nothing): plan, apply and summarise the btrfs jobs as an exit code, and
// for `prune` also the backup sets' retention (restic). Everything it has to say is an event of
// EngineRunEvent; a command renders them (src/cli/engine-command.ts).
import {
  deadlineBudget,
  runBtrfs,
  type EngineCommandName,
  type JobResult,
  type RunReporter,
} from '../btrfs/btrfs-run.js';
import type { ResolvedConfig } from '../config/resolve.js';
import { ExitCode } from '../errors.js';
import type { Note, Step, SubvolumePlan } from '../plan/btrfs-plan.js';
import type { SetPruneEvent } from '../restic/set-prune.js';
import type { Journal } from '../state/journal.js';
import { exitCodeOf, withRun, type RunResult } from '../state/run-lifecycle.js';
import { measureLocalTargets } from '../state/target-space.js';
import { TransferStateFile } from '../state/transfer-state.js';
import { stepEvent, transferFigures, type StepEvent, type TransferFigures } from './transfer-events.js';

/** A subvolume's plan: at the start (`initial`), and the prune re-plan after the sends. */
export interface EnginePlanEvent {
  readonly type: 'plan';
  readonly subvolume: string;
  readonly phase: 'initial' | 'prune';
  readonly dryRun: boolean;
  readonly steps: readonly Step[];
  readonly notes: readonly Note[];
}

/** A send's progress. */
export interface EngineProgressEvent extends TransferFigures {
  readonly type: 'progress';
  readonly subvolume: string;
  readonly target: string;
  readonly name: string;
}

export interface TakenSnapshot {
  readonly subvolume: string;
  readonly name: string;
  readonly path: string;
}

/** `snapshot --deadline` stopped before every subvolume was done. */
export interface DeadlineEvent {
  readonly type: 'deadline';
  readonly deadline?: string;
  readonly taken: readonly TakenSnapshot[];
  readonly notTaken: readonly string[];
}

/** The btrfs part's end: its jobs and exit code (the run's summary takes these fields). */
export interface EngineSummaryEvent {
  readonly type: 'summary';
  readonly command: EngineCommandName;
  readonly dryRun: boolean;
  readonly exitCode: number;
  readonly jobs: readonly JobResult[];
  /** Steps applied. */
  readonly steps: number;
  /** Of those, failed (not under --dry-run). */
  readonly failedSteps?: number;
  /** Under --dry-run: the steps the plans hold. */
  readonly plannedSteps?: number;
}

export type EngineRunEvent =
  EnginePlanEvent | StepEvent | EngineProgressEvent | DeadlineEvent | EngineSummaryEvent | SetPruneEvent;

export interface EngineRunRequest {
  readonly config: ResolvedConfig;
  /** The config file, for `run-start`. */
  readonly configPath: string;
  readonly dryRun: boolean;
  readonly only: readonly string[];
  /** For tests and previews: the clock the plan uses. */
  readonly now?: Date;
  /** `snapshot --deadline`: seconds from this process's start (SnapshotDeadline in btrfs-run.ts). */
  readonly deadline?: { readonly seconds: number; readonly text: string };
}

type Report = (event: EngineRunEvent) => void;

const jobExitCode = { ok: ExitCode.ok, failed: ExitCode.partial, unreachable: ExitCode.targetUnreachable };

/** Summarise job results as the documented exit code (the lifecycle's one rule). */
export function exitCodeFor(jobs: readonly JobResult[]): number {
  return exitCodeOf(jobs.map((job) => jobExitCode[job.status]));
}

function reporterFor(report: Report, dryRun: boolean, transfers: TransferStateFile | undefined): RunReporter {
  return {
    plan(plan: SubvolumePlan, phase) {
      report({
        type: 'plan',
        subvolume: plan.subvolume,
        phase,
        dryRun,
        steps: plan.steps,
        notes: plan.notes,
      });
    },
    outcome(outcome) {
      report(stepEvent(outcome));
    },
    progress(progress) {
      const { step } = progress;
      const record = transfers?.get(step.subvolume, step.target) ?? {};
      report({
        type: 'progress',
        subvolume: step.subvolume,
        target: step.target,
        name: step.name,
        ...transferFigures(
          progress.bytes,
          progress.elapsedMs,
          step.parent ? record.lastIncrementalBytes : record.lastFullBytes,
        ),
      });
    },
  };
}

/** The backup sets `prune` applies retention to (names may be sets or subvolumes); none otherwise. */
export function setsToPrune(
  command: EngineCommandName,
  only: readonly string[],
  resolved: ResolvedConfig,
): ResolvedConfig['backupSets'] | undefined {
  const setNames = new Set(resolved.backupSets.map((set) => set.name));
  const namedSets = only.filter((name) => setNames.has(name));
  if (command !== 'prune' || (namedSets.length === 0 && (only.length > 0 || setNames.size === 0)))
    return undefined;
  return namedSets.length > 0
    ? resolved.backupSets.filter((set) => namedSets.includes(set.name))
    : resolved.backupSets;
}

/** The command as one run; its exit code. */
export async function runEngine(
  command: EngineCommandName,
  request: EngineRunRequest,
  report: Report,
): Promise<number> {
  const { config } = request;
  const sets = setsToPrune(command, request.only, config);
  // Before the lock and the btrfs part: a missing secret must not be found after snapshots went.
  if (sets) await (await import('../restic/set-prune.js')).resolvePruneSecrets(sets);
  // A dry run changes nothing: no lock, no journal.
  if (request.dryRun) return (await runParts(command, request, undefined, undefined, report)).exitCode;
  const budget = request.deadline
    ? deadlineBudget(request.deadline.seconds, performance.timeOrigin, Date.now())
    : undefined;
  return withRun(
    {
      stateDir: config.stateDir,
      command,
      fields: {
        config: request.configPath,
        only: request.only,
        ...(request.deadline ? { deadline: request.deadline.text } : {}),
      },
      now: request.now,
      ...(budget ? { lockOptionalAfterSeconds: budget.lockWaitSeconds, answerBy: budget.answerBy } : {}),
    },
    (run) => runParts(command, request, budget?.stopAt, run.journal, report),
  );
}

/** The btrfs part and, for `prune`, the backup sets' part (restic). */
async function runParts(
  command: EngineCommandName,
  request: EngineRunRequest,
  stopAt: number | undefined,
  journal: Journal | undefined,
  report: Report,
): Promise<RunResult> {
  const { config } = request;
  const sets = setsToPrune(command, request.only, config);
  if (!sets) return runSubvolumes(command, request, stopAt, journal, report);
  const setNames = new Set(config.backupSets.map((set) => set.name));
  const onlySubvolumes = request.only.filter((name) => !setNames.has(name));
  const subvolumes =
    onlySubvolumes.length > 0 || (request.only.length === 0 && config.subvolumes.length > 0)
      ? await runSubvolumes(command, { ...request, only: onlySubvolumes }, stopAt, journal, report)
      : { exitCode: ExitCode.ok };
  const { pruneSets } = await import('../restic/set-prune.js');
  const setsCode = await pruneSets(sets, { dryRun: request.dryRun, journal }, report);
  return { ...subvolumes, exitCode: exitCodeOf([subvolumes.exitCode, setsCode]) };
}

/** The btrfs engine's part of a command: plan, apply, journal, summary. */
async function runSubvolumes(
  command: EngineCommandName,
  request: EngineRunRequest,
  stopAt: number | undefined,
  journal: Journal | undefined,
  report: Report,
): Promise<RunResult> {
  const { config, deadline, dryRun } = request;
  const now = request.now ?? new Date();
  // Under a deadline no target is looked at, and the state directory is not read (it may hang).
  const transfers = deadline ? undefined : await TransferStateFile.load(config.stateDir);
  const summary = await runBtrfs(config, {
    command,
    dryRun,
    only: request.only,
    now,
    reporter: reporterFor(report, dryRun, transfers),
    journal,
    transfers,
    ...(deadline
      ? {
          deadline: {
            stopAt: stopAt ?? deadlineBudget(deadline.seconds, performance.timeOrigin, Date.now()).stopAt,
            text: deadline.text,
          },
        }
      : {}),
  });
  const exitCode = exitCodeFor(summary.jobs);
  // Under a deadline nothing of the transfer state changes, and the lock may not be ours.
  if (!dryRun && transfers) await transfers.save();
  const taken = summary.outcomes.flatMap((outcome) =>
    outcome.ok && outcome.step.kind === 'create-snapshot'
      ? [{ subvolume: outcome.step.subvolume, name: outcome.step.name, path: outcome.step.path }]
      : [],
  );
  if (summary.stopped && !dryRun)
    report({ type: 'deadline', deadline: deadline?.text, taken, notTaken: summary.stopped });
  report({
    type: 'summary',
    command,
    dryRun,
    exitCode,
    jobs: summary.jobs,
    steps: summary.outcomes.length,
    ...(dryRun
      ? { plannedSteps: summary.plans.reduce((total, plan) => total + plan.steps.length, 0) }
      : { failedSteps: summary.outcomes.filter((outcome) => !outcome.ok).length }),
  });
  // Space and copies of the local targets at the end: status's forecast reads the trend. Never
  // under a deadline: it looks at no target (a frozen disk would hold the process).
  const space =
    dryRun || deadline
      ? []
      : await measureLocalTargets(
          config.subvolumes.filter((subvolume) =>
            summary.plans.some((plan) => plan.subvolume === subvolume.name),
          ),
        ).catch(() => []);
  return {
    exitCode,
    fields: {
      jobs: summary.jobs,
      ...(summary.stopped ? { taken, notTaken: summary.stopped } : {}),
      ...(space.length > 0 ? { space } : {}),
    },
  };
}
