// `restore <set> [run|latest]` for backup sets: the restore points as a table, or the restore of
// one run (src/restic/set-restore.ts), rendered as text or JSON.
import type { ResolvedBackupSet } from '../config/resolve.js';
import { ExitCode } from '../errors.js';
import {
  listRestorePoints,
  restoreSetRun,
  type RestorePointEvent,
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
    output.text('\nRestore one with: snapkeep restore <set> <run|latest> [--to DIR] [--database OLD=NEW]');
  return exitCode;
}

export function setRestoreText(event: SetRestoreEvent): readonly TextLine[] {
  switch (event.type) {
    case 'plan': {
      const prefix = event.dryRun ? 'would ' : '';
      return [
        `${event.set}: run ${event.run} from ${event.repository} (${event.items} item(s), ${event.date})`,
        ...event.stop.map((command) => `  ${prefix}stop: ${command.join(' ')}`),
        ...event.steps.map((step) =>
          step.kind === 'files'
            ? `  ${prefix}restore ${step.path} → ${step.target}${step.overwrites ? ' (overwrites files there)' : ''}`
            : `  ${prefix}restore database ${step.from} → ${step.into}${step.exists ? ' (exists: --clean in one transaction)' : ' (new database)'}`,
        ),
        ...event.start.map((command) => `  ${prefix}start: ${command.join(' ')} (also if the restore fails)`),
      ];
    }
    case 'step':
      if (!event.ok) return []; // the run's error says what failed
      return event.kind === 'stop' || event.kind === 'start'
        ? [`ok   ${event.kind}: ${event.what}`]
        : [`ok   restored ${event.what} [${((event.durationMs ?? 0) / 1000).toFixed(2)}s]`];
    case 'restored':
      return [`restored ${event.set} run ${event.run}`];
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
