// `run`, `snapshot`, `resume`, `prune`, `clean`: load the config, run the engine
// (src/replication/engine-run.ts) and render its events.
import type { EngineCommandName } from '../btrfs/btrfs-run.js';
import { loadResolvedConfig } from '../config/config-cache.js';
import { ExitCode, SnapkeepError } from '../errors.js';
import type { Step } from '../plan/btrfs-plan.js';
import type { SetPruneEvent } from '../restic/set-prune.js';
import { runEngine, type EngineRunEvent } from '../replication/engine-run.js';
import { createOutput } from './output.js';
import { createPrinter, toStderr, type TextLine } from './printer.js';
import { stepOutcomeText } from './progress.js';

export interface EngineCommandOptions {
  readonly config?: string;
  readonly json: boolean;
  readonly dryRun: boolean;
  readonly only: readonly string[];
  /** For tests and previews: the clock the plan uses. */
  readonly now?: Date;
  /** `snapshot --deadline`: seconds from this process's start (SnapshotDeadline in btrfs-run.ts). */
  readonly deadline?: { readonly seconds: number; readonly text: string };
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

/** The lines of the engine's events; `setPruneText` renders the backup sets' part of `prune`. */
export function engineText(
  event: EngineRunEvent,
  setPruneText?: (event: SetPruneEvent) => readonly TextLine[],
): readonly TextLine[] {
  switch (event.type) {
    case 'plan': {
      // The prune re-plan's notes repeat the initial plan's; its steps print with their outcomes.
      if (event.phase === 'prune') return [];
      const prefix = event.dryRun ? 'would ' : '';
      return [
        ...event.notes
          .filter((note) => event.dryRun || !note.routine)
          .map(
            (note) =>
              `${note.level === 'info' ? '  ' : `${note.level.toUpperCase()}: `}${note.subvolume}${note.target ? ` → ${note.target}` : ''}: ${note.message}`,
          ),
        // When applying, each step is printed once, with its outcome.
        ...(event.dryRun ? event.steps.map((step) => `${prefix}${describeStep(step)}`) : []),
      ];
    }
    case 'step':
      return [
        ...(event.step.kind === 'send'
          ? [{ progressEnd: `${event.step.subvolume} → ${event.step.target}` }]
          : []),
        ...stepOutcomeText(event, describeStep(event.step)),
      ];
    case 'progress':
      return [{ progress: { ...event, label: `${event.subvolume} → ${event.target}` } }];
    case 'deadline':
      return [
        ...event.taken.map((snapshot) => `taken: ${snapshot.subvolume}: ${snapshot.path}`),
        ...event.notTaken.map(
          (name) => `NOT TAKEN: ${name}: the deadline (${event.deadline ?? ''}) passed first`,
        ),
      ];
    case 'summary': {
      const problems = event.jobs.filter((job) => job.status !== 'ok');
      const failedSteps = event.failedSteps ?? 0;
      return [
        ...problems.map((job) =>
          toStderr(
            `${job.status === 'unreachable' ? 'UNREACHABLE' : 'FAILED'}: ${job.subvolume}${job.target ? ` → ${job.target}` : ''}: ${job.message ?? ''}`,
          ),
        ),
        event.dryRun
          ? `dry run: ${event.plannedSteps ?? 0} btrfs step(s) planned, nothing changed`
          : `${event.command}: ${event.steps - failedSteps} step(s) done, ${failedSteps} failed; ${problems.length === 0 ? 'all jobs ok' : `${problems.length} job(s) with problems`} (exit ${event.exitCode})`,
      ];
    }
    default:
      return setPruneText ? setPruneText(event) : [];
  }
}
export async function runEngineCommand(
  command: EngineCommandName,
  options: EngineCommandOptions,
): Promise<number> {
  const output = createOutput(options.json);
  const { resolved, path } = await loadResolvedConfig(options.config);
  // Loaded only where it may be needed: `prune` is the one command with a backup sets' part.
  const setPruneText =
    command === 'prune' ? (await import('./set-prune-command.js')).setPruneText : undefined;
  const print = createPrinter<EngineRunEvent>(output, (event) => engineText(event, setPruneText), {
    parallelTransfers: true,
  });
  let exitCode: number = ExitCode.fatal;
  try {
    exitCode = await runEngine(
      command,
      {
        config: resolved,
        configPath: path,
        dryRun: options.dryRun,
        only: options.only,
        ...(options.now ? { now: options.now } : {}),
        ...(options.deadline ? { deadline: options.deadline } : {}),
      },
      print,
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
