// `run`, `snapshot`, `resume`, `prune`, `clean`: load the config, then as one run (the lifecycle:
// lock, journal; not for --dry-run, which changes nothing) plan, print, apply, and summarise the
// jobs as an exit code.
import {
  deadlineBudget,
  runBtrfs,
  type EngineCommandName,
  type JobResult,
  type RunReporter,
} from '../btrfs/btrfs-run.js';
import type { SendProgress } from '../btrfs/apply-steps.js';
import { loadResolvedConfig } from '../config/config-cache.js';
import type { ResolvedConfig } from '../config/resolve.js';
import { ExitCode, SnapkeepError } from '../errors.js';
import type { Step, SubvolumePlan } from '../plan/btrfs-plan.js';
import type { Journal } from '../state/journal.js';
import { exitCodeOf, withRun, type RunResult } from '../state/run-lifecycle.js';
import { measureLocalTargets } from '../state/target-space.js';
import { TransferStateFile } from '../state/transfer-state.js';
import { createOutput, type Output } from './output.js';
import { createProgressLine, reportStepOutcome } from './progress.js';

export interface EngineCommandOptions {
  readonly config?: string;
  readonly json: boolean;
  readonly dryRun: boolean;
  readonly only: readonly string[];
  /** For tests and previews: the clock the plan uses. */
  readonly now?: Date;
  /** `snapshot --deadline`: seconds from this process's start (SnapshotDeadline in btrfs-run.ts). */
  readonly deadline?: { readonly seconds: number; readonly text: string };
  /** Set from the deadline once the run has its lock (or has given up waiting): epoch ms. */
  readonly stopAt?: number;
}

export function describeStep(step: Step): string {
  switch (step.kind) {
    case 'delete-garbage':
      return `${step.subvolume} → ${step.target}: delete garbage ${step.path} (${step.reason})`;
    case 'create-snapshot':
      return `${step.subvolume}: snapshot ${step.source} → ${step.path} (${step.reason})`;
    case 'send':
      return `${step.subvolume} → ${step.target}: send ${step.name} ${
        step.parent
          ? `incremental from ${step.parent.name} (${step.parent.reason})`
          : `full (no snapshot has a copy on ${step.target} yet)`
      }; ${step.reason}`;
    case 'delete-snapshot':
      return `${step.subvolume}: delete snapshot ${step.name} (${step.reason})`;
    case 'delete-copy':
      return `${step.subvolume} → ${step.target}: delete copy ${step.name} (${step.reason})`;
    case 'update-latest':
      return `${step.subvolume}${step.target === undefined ? '' : ` → ${step.target}`}: ${
        step.pointsTo === null ? `remove ${step.path}` : `point ${step.path} at ${step.pointsTo}`
      } (${step.reason})`;
  }
}

function reporterFor(output: Output, dryRun: boolean, transfers: TransferStateFile | undefined): RunReporter {
  const progressLine = createProgressLine(output);
  return {
    plan(plan: SubvolumePlan, phase) {
      output.event('plan', {
        subvolume: plan.subvolume,
        phase,
        dryRun,
        steps: plan.steps,
        notes: plan.notes,
      });
      // The prune re-plan's notes repeat the initial plan's; its steps print with their outcomes.
      if (output.json || phase === 'prune') return;
      const prefix = dryRun ? 'would ' : '';
      for (const note of plan.notes.filter((each) => dryRun || !each.routine))
        output.text(
          `${note.level === 'info' ? '  ' : `${note.level.toUpperCase()}: `}${note.subvolume}${note.target ? ` → ${note.target}` : ''}: ${note.message}`,
        );
      // When applying, each step is printed once, with its outcome.
      if (dryRun) for (const step of plan.steps) output.text(`${prefix}${describeStep(step)}`);
    },
    outcome(outcome) {
      if (outcome.step.kind === 'send')
        progressLine.finish(`${outcome.step.subvolume} → ${outcome.step.target}`);
      progressLine.clear();
      reportStepOutcome(output, outcome, describeStep(outcome.step));
    },
    progress(progress: SendProgress) {
      const record = transfers?.get(progress.step.subvolume, progress.step.target) ?? {};
      progressLine.show({
        fields: {
          subvolume: progress.step.subvolume,
          target: progress.step.target,
          name: progress.step.name,
        },
        label: `${progress.step.subvolume} → ${progress.step.target}`,
        bytes: progress.bytes,
        elapsedMs: progress.elapsedMs,
        expectedBytes: progress.step.parent ? record.lastIncrementalBytes : record.lastFullBytes,
      });
    },
  };
}

const jobExitCode = { ok: ExitCode.ok, failed: ExitCode.partial, unreachable: ExitCode.targetUnreachable };

/** Summarise job results as the documented exit code (the lifecycle's one rule). */
export function exitCodeFor(jobs: readonly JobResult[]): number {
  return exitCodeOf(jobs.map((job) => jobExitCode[job.status]));
}

export async function runEngineCommand(
  command: EngineCommandName,
  options: EngineCommandOptions,
): Promise<number> {
  const output = createOutput(options.json);
  const { resolved, path } = await loadResolvedConfig(options.config);
  const sets = setsToPrune(command, options.only, resolved);
  // Before the lock and the btrfs part: a missing secret must not be found after snapshots went.
  if (sets) await (await import('./set-prune-command.js')).resolvePruneSecrets(sets);
  // A dry run changes nothing: no lock, no journal.
  if (options.dryRun) return (await runParts(command, options, resolved, output, undefined)).exitCode;
  const budget = options.deadline
    ? deadlineBudget(options.deadline.seconds, performance.timeOrigin, Date.now())
    : undefined;
  let exitCode: number = ExitCode.fatal;
  try {
    exitCode = await withRun(
      {
        stateDir: resolved.stateDir,
        command,
        fields: {
          config: path,
          only: options.only,
          ...(options.deadline ? { deadline: options.deadline.text } : {}),
        },
        now: options.now,
        ...(budget ? { lockOptionalAfterSeconds: budget.lockWaitSeconds, answerBy: budget.answerBy } : {}),
      },
      (run) =>
        runParts(
          command,
          budget && options.deadline ? { ...options, stopAt: budget.stopAt } : options,
          resolved,
          output,
          run.journal,
        ),
    );
    return exitCode;
  } catch (error) {
    exitCode = error instanceof SnapkeepError ? error.exitCode : ExitCode.fatal; // as runCli maps it
    throw error;
  } finally {
    // Past its deadline a run returns with its work abandoned (a hung snapshot command, a
    // journal write the state directory has not taken): the process must not wait for that to
    // end, also when the run ends with an error (which the CLI prints first: this is a later turn).
    if (options.deadline) setTimeout(() => process.exit(exitCode), 0).unref();
  }
}

/** The backup sets `prune` applies retention to (names may be sets or subvolumes); none otherwise. */
function setsToPrune(
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

/** The btrfs part and, for `prune`, the backup sets' part (restic). */
async function runParts(
  command: EngineCommandName,
  options: EngineCommandOptions,
  resolved: ResolvedConfig,
  output: Output,
  journal: Journal | undefined,
): Promise<RunResult> {
  const sets = setsToPrune(command, options.only, resolved);
  if (!sets) return runSubvolumes(command, options, resolved, output, journal);
  const setNames = new Set(resolved.backupSets.map((set) => set.name));
  const onlySubvolumes = options.only.filter((name) => !setNames.has(name));
  const subvolumes =
    onlySubvolumes.length > 0 || (options.only.length === 0 && resolved.subvolumes.length > 0)
      ? await runSubvolumes(command, { ...options, only: onlySubvolumes }, resolved, output, journal)
      : { exitCode: ExitCode.ok };
  const { pruneBackupSets } = await import('./set-prune-command.js');
  const setsCode = await pruneBackupSets(sets, { dryRun: options.dryRun, journal }, output);
  return { ...subvolumes, exitCode: exitCodeOf([subvolumes.exitCode, setsCode]) };
}

/** The btrfs engine's part of a command: plan, apply, journal, summary. */
async function runSubvolumes(
  command: EngineCommandName,
  options: EngineCommandOptions,
  resolved: ResolvedConfig,
  output: Output,
  journal: Journal | undefined,
): Promise<RunResult> {
  const now = options.now ?? new Date();
  // Under a deadline no target is looked at, and the state directory is not read (it may hang).
  const transfers = options.deadline ? undefined : await TransferStateFile.load(resolved.stateDir);
  const summary = await runBtrfs(resolved, {
    command,
    dryRun: options.dryRun,
    only: options.only,
    now,
    reporter: reporterFor(output, options.dryRun, transfers),
    journal,
    transfers,
    ...(options.deadline
      ? {
          deadline: {
            stopAt:
              options.stopAt ??
              deadlineBudget(options.deadline.seconds, performance.timeOrigin, Date.now()).stopAt,
            text: options.deadline.text,
          },
        }
      : {}),
  });
  const exitCode = exitCodeFor(summary.jobs);
  // Under a deadline nothing of the transfer state changes, and the lock may not be ours.
  if (!options.dryRun && transfers) await transfers.save();
  const problems = summary.jobs.filter((job) => job.status !== 'ok');
  output.event('summary', {
    command,
    dryRun: options.dryRun,
    exitCode,
    jobs: summary.jobs,
    steps: summary.outcomes.length,
  });
  const taken = summary.outcomes.flatMap((outcome) =>
    outcome.ok && outcome.step.kind === 'create-snapshot'
      ? [{ subvolume: outcome.step.subvolume, name: outcome.step.name, path: outcome.step.path }]
      : [],
  );
  if (summary.stopped && !options.dryRun) {
    output.event('deadline', {
      deadline: options.deadline?.text,
      taken,
      notTaken: summary.stopped,
    });
    for (const snapshot of taken) output.text(`taken: ${snapshot.subvolume}: ${snapshot.path}`);
    for (const name of summary.stopped)
      output.text(`NOT TAKEN: ${name}: the deadline (${options.deadline?.text}) passed first`);
  }
  for (const job of problems) {
    output.warn(
      `${job.status === 'unreachable' ? 'UNREACHABLE' : 'FAILED'}: ${job.subvolume}${job.target ? ` → ${job.target}` : ''}: ${job.message ?? ''}`,
    );
  }
  if (options.dryRun) {
    const count = summary.plans.reduce((total, plan) => total + plan.steps.length, 0);
    output.text(`dry run: ${count} btrfs step(s) planned, nothing changed`);
  } else {
    const failedSteps = summary.outcomes.filter((outcome) => !outcome.ok).length;
    output.text(
      `${command}: ${summary.outcomes.length - failedSteps} step(s) done, ${failedSteps} failed; ${problems.length === 0 ? 'all jobs ok' : `${problems.length} job(s) with problems`} (exit ${exitCode})`,
    );
  }
  // Space and copies of the local targets at the end: status's forecast reads the trend. Never
  // under a deadline: it looks at no target (a frozen disk would hold the process).
  const space =
    options.dryRun || options.deadline
      ? []
      : await measureLocalTargets(
          resolved.subvolumes.filter((subvolume) =>
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
