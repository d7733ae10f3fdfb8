// `run`, `snapshot`, `resume`, `prune`, `clean`: load the config, take the lock (not for
// --dry-run, which changes nothing), plan, print, apply, journal, and summarise as an exit code.
import { runBtrfs, type EngineCommandName, type JobResult, type RunReporter } from '../btrfs/btrfs-run.js';
import type { SendProgress } from '../btrfs/apply-steps.js';
import { loadResolvedConfig } from '../config/config-cache.js';
import type { ResolvedConfig } from '../config/resolve.js';
import { ExitCode } from '../errors.js';
import type { Step, SubvolumePlan } from '../plan/btrfs-plan.js';
import { Journal, newRunId } from '../state/journal.js';
import { acquireLock } from '../state/lock.js';
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
  }
}

function reporterFor(output: Output, dryRun: boolean, transfers: TransferStateFile): RunReporter {
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
      for (const note of plan.notes)
        output.text(
          `${note.level === 'info' ? '  ' : `${note.level.toUpperCase()}: `}${note.subvolume}${note.target ? ` → ${note.target}` : ''}: ${note.message}`,
        );
      // When applying, each step is printed once, with its outcome.
      if (dryRun) for (const step of plan.steps) output.text(`${prefix}${describeStep(step)}`);
    },
    outcome(outcome) {
      progressLine.clear();
      reportStepOutcome(output, outcome, describeStep(outcome.step));
    },
    progress(progress: SendProgress) {
      const record = transfers.get(progress.step.subvolume, progress.step.target);
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

/** Summarise job results as the documented exit code. */
export function exitCodeFor(jobs: readonly JobResult[]): number {
  const failed = jobs.filter((job) => job.status === 'failed');
  const unreachable = jobs.filter((job) => job.status === 'unreachable');
  if (failed.length === 0 && unreachable.length === 0) return ExitCode.ok;
  if (failed.length === 0) return ExitCode.targetUnreachable;
  return ExitCode.partial;
}

export async function runEngineCommand(
  command: EngineCommandName,
  options: EngineCommandOptions,
): Promise<number> {
  const output = createOutput(options.json);
  const { resolved, path } = await loadResolvedConfig(options.config);
  // `prune` also applies the retention of backup sets (restic); names may be sets or subvolumes.
  const setNames = new Set(resolved.backupSets.map((set) => set.name));
  const namedSets = options.only.filter((name) => setNames.has(name));
  if (command !== 'prune' || (namedSets.length === 0 && (options.only.length > 0 || setNames.size === 0)))
    return runSubvolumes(command, options, resolved, path, output);
  const onlySubvolumes = options.only.filter((name) => !setNames.has(name));
  const subvolumeCode =
    onlySubvolumes.length > 0 || (options.only.length === 0 && resolved.subvolumes.length > 0)
      ? await runSubvolumes(command, { ...options, only: onlySubvolumes }, resolved, path, output)
      : ExitCode.ok;
  const sets =
    namedSets.length > 0
      ? resolved.backupSets.filter((set) => namedSets.includes(set.name))
      : resolved.backupSets;
  const lock = options.dryRun ? undefined : await acquireLock(resolved.stateDir, 'prune');
  try {
    const journal = options.dryRun ? undefined : new Journal(resolved.stateDir, newRunId());
    const { pruneBackupSets } = await import('./set-prune-command.js');
    return Math.max(subvolumeCode, await pruneBackupSets(sets, { dryRun: options.dryRun, journal }, output));
  } finally {
    await lock?.release();
  }
}

/** The btrfs engine's part of a command: lock, plan, apply, journal, summary. */
async function runSubvolumes(
  command: EngineCommandName,
  options: EngineCommandOptions,
  resolved: ResolvedConfig,
  path: string,
  output: Output,
): Promise<number> {
  const now = options.now ?? new Date();
  const lock = options.dryRun ? undefined : await acquireLock(resolved.stateDir, command);
  try {
    const runId = newRunId(now);
    const journal = options.dryRun ? undefined : new Journal(resolved.stateDir, runId);
    const [transfers] = await Promise.all([
      TransferStateFile.load(resolved.stateDir),
      journal?.append('run-start', { command, config: path, only: options.only }),
    ]);
    const summary = await runBtrfs(resolved, {
      command,
      dryRun: options.dryRun,
      only: options.only,
      now,
      reporter: reporterFor(output, options.dryRun, transfers),
      journal,
      transfers,
    });
    const exitCode = exitCodeFor(summary.jobs);
    if (!options.dryRun) await transfers.save();
    const problems = summary.jobs.filter((job) => job.status !== 'ok');
    await journal?.append('run-end', { command, exitCode, jobs: summary.jobs });
    output.event('summary', {
      command,
      dryRun: options.dryRun,
      exitCode,
      jobs: summary.jobs,
      steps: summary.outcomes.length,
    });
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
    return exitCode;
  } finally {
    await lock?.release();
  }
}
