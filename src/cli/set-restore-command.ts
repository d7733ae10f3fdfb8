// `restore <set> [run|latest]` for backup sets: the restore points as a table, or the restore of
// one run (src/restic/set-restore.ts), rendered as text or JSON.
import type { ResolvedBackupSet } from '../config/resolve.js';
import { ExitCode } from '../errors.js';
import {
  listRestorePoints,
  restoreSetRun,
  type RestorePointEvent,
  type RestoreStep,
  type SetRestoreEvent,
  type SetRestoreRequest,
} from '../restic/set-restore.js';
import { formatTable, type Output } from './output.js';
import { createPrinter, toStderr, type TextLine } from './printer.js';

/** The engine's request; the confirmation prompt is this module's to make. */
export type SetRestoreOptions = Omit<SetRestoreRequest, 'confirm'>;

/** The table is the listing's text (from its result); the events say only what went wrong. */
export function restorePointText(event: RestorePointEvent): readonly TextLine[] {
  switch (event.type) {
    case 'restore-point':
      return [];
    case 'unreachable':
      return [toStderr(`UNREACHABLE: ${event.set} → ${event.repository}: ${event.error}`)];
    case 'no-repository':
      return [
        `${event.set} → ${event.repository}: no restore points yet (the repository does not exist yet; the first "snapkeep backup" creates it)`,
      ];
  }
}

export async function listSetRestorePoints(
  sets: readonly ResolvedBackupSet[],
  output: Output,
): Promise<number> {
  if (sets.length === 0) return ExitCode.ok;
  const { exitCode, points } = await listRestorePoints(sets, createPrinter(output, restorePointText));
  const rows = points.map((point) => [
    point.set,
    point.run,
    point.time.slice(0, 19).replace('T', ' '),
    point.repository,
  ]);
  output.text(formatTable(['BACKUP SET', 'RUN', 'DATE (UTC)', 'REPOSITORY'], rows));
  if (rows.length > 0)
    output.text(
      '\nRestore one with: snapkeep restore <set> <run|latest> [--to DIR] [--database OLD=NEW] [--only SOURCE] [--exact]',
    );
  return exitCode;
}

/** A files step: where it goes, what it overwrites, and what happens to what is not in the run. */
function filesStepText(step: RestoreStep & { kind: 'files' }, prefix: string, dryRun: boolean): string[] {
  const notes = [
    ...(step.overwrites ? ['overwrites files there'] : []),
    ...(step.notInRun.length === 0
      ? []
      : step.aside !== undefined
        ? [`${step.notInRun.length} not in the run: moved aside to ${step.aside}`]
        : [`${step.notInRun.length} not in the run: they stay`]),
  ];
  return [
    `  ${prefix}restore ${step.path} → ${step.target}${notes.length > 0 ? ` (${notes.join('; ')})` : ''}`,
    // The dry run names each one; the real run says where they went (the JSON lists them).
    ...(dryRun
      ? step.notInRun.map((path) => `    ${step.aside !== undefined ? 'would move aside' : 'stays'}: ${path}`)
      : []),
  ];
}

export function setRestoreText(event: SetRestoreEvent): readonly TextLine[] {
  switch (event.type) {
    case 'plan': {
      const prefix = event.dryRun ? 'would ' : '';
      const files = event.steps.some((step) => step.kind === 'files');
      return [
        `${event.set}: run ${event.run} from ${event.repository} (${event.items} item(s), ${event.date})`,
        ...(event.only ? [`  only: ${event.only.join(', ')} (the other sources are not touched)`] : []),
        ...(!files
          ? []
          : event.mode === 'exact'
            ? [
                '  mode: exact — what is at a target and not in the run is moved aside (never deleted), then the run is restored',
              ]
            : [
                '  mode: merge — files at a target that are not in the run stay there (--exact moves them aside)',
              ]),
        ...event.stop.map((command) => `  ${prefix}stop: ${command.join(' ')}`),
        ...event.steps.flatMap((step) =>
          step.kind === 'files'
            ? filesStepText(step, prefix, event.dryRun)
            : [
                `  ${prefix}restore database ${step.from} → ${step.into}${step.exists ? ' (exists: --clean in one transaction)' : ' (new database)'}`,
              ],
        ),
        ...event.start.map((command) => `  ${prefix}start: ${command.join(' ')} (also if the restore fails)`),
      ];
    }
    case 'step':
      if (!event.ok) return []; // the run's error says what failed
      return event.kind === 'stop' || event.kind === 'start'
        ? [`ok   ${event.kind}: ${event.what}`]
        : [`ok   restored ${event.what} [${((event.durationMs ?? 0) / 1000).toFixed(2)}s]`];
    case 'moved-aside':
      return [`ok   moved aside ${event.count} not in the run: ${event.target} → ${event.directory}`];
    case 'restored':
      return [`restored ${event.set} run ${event.run}`];
    case 'restore-interrupted':
      return [
        toStderr(
          `${event.set}: the restore of run ${event.run} was interrupted and is partial${event.movedAside.length > 0 ? `; what was not in the run is in ${event.movedAside.join(', ')}` : ''}${event.notStarted.length > 0 ? `; the start commands did not run — run them yourself: ${event.notStarted.join('; ')}` : ''}`,
        ),
      ];
    case 'summary':
      return [
        event.overwriteNeedsConsent
          ? 'dry run: nothing changed (the real run asks before overwriting on a terminal; elsewhere it needs --yes)'
          : 'dry run: nothing changed',
      ];
  }
}

async function confirm(question: string): Promise<boolean> {
  const { createInterface } = await import('node:readline/promises');
  const prompt = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await prompt.question(question)).trim());
  } finally {
    prompt.close();
  }
}

export async function restoreBackupSet(
  set: ResolvedBackupSet,
  options: SetRestoreOptions,
  output: Output,
): Promise<number> {
  return restoreSetRun(
    set,
    // Asked on a terminal; from scripts and cron only --yes overwrites.
    { ...options, ...(process.stdin.isTTY && !output.json ? { confirm } : {}) },
    createPrinter(output, setRestoreText),
  );
}
