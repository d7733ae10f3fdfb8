// `restore <set> [run|latest]`: list a backup set's restore points, or bring one back — every
// directory and database of the same run. Files go to their original paths (existing files are
// overwritten only with --yes) or under --to DIR (DIR + original path, for a rebuilt host);
// databases into a new database (--database OLD=NEW) or over an existing one only with --force
// (pg_restore --clean in one transaction, stopping at the first error).
import { join } from 'node:path';
import { readdir } from 'node:fs/promises';
import { runCommand } from '../exec/command.js';
import type { ResolvedBackupSet } from '../config/resolve.js';
import { ExitCode, SnapkeepError, UsageError } from '../errors.js';
import { passwordOf, restorePoints, type RestorePoint } from '../restic/backup-set.js';
import { createDatabase, databaseExists, restoreDatabase, type PostgresSource } from '../restic/postgres.js';
import { Restic } from '../restic/restic.js';
import type { Journal } from '../state/journal.js';
import { withRun } from '../state/run-lifecycle.js';
import { formatTable, type Output } from './output.js';

export interface SetRestoreOptions {
  readonly run?: string;
  readonly from?: string;
  readonly to?: string;
  readonly databases: readonly string[];
  readonly force: boolean;
  readonly yes: boolean;
  readonly dryRun: boolean;
  readonly stateDir: string;
  /** Read restored files back against the backup's content hashes (the drill). */
  readonly verify?: boolean;
}

function repositoryOf(set: ResolvedBackupSet, from: string | undefined) {
  if (from === undefined) return set.repository;
  const found = [set.repository, ...set.offsite].find((repository) => repository.name === from);
  if (!found)
    throw new UsageError(
      `--from ${from}: not a repository of ${set.name}; expected one of: ${[set.repository, ...set.offsite].map((repository) => repository.name).join(', ')}`,
    );
  return found;
}

export async function listSetRestorePoints(
  sets: readonly ResolvedBackupSet[],
  output: Output,
): Promise<number> {
  if (sets.length === 0) return ExitCode.ok;
  const restic = await Restic.detect();
  const rows: string[][] = [];
  let exitCode: number = ExitCode.ok;
  for (const set of sets) {
    for (const repository of [set.repository, ...set.offsite]) {
      let points: RestorePoint[];
      try {
        points = await restorePoints(restic, repository, set.name);
      } catch (error) {
        if (!(error instanceof SnapkeepError)) throw error;
        output.warn(`UNREACHABLE: ${set.name} → ${repository.name}: ${error.message}`);
        exitCode = error.exitCode;
        continue;
      }
      for (const point of points) {
        output.event('restore-point', {
          set: set.name,
          run: point.run,
          date: point.time,
          location: repository.name,
          items: point.items.length,
        });
        rows.push([set.name, point.run, point.time.slice(0, 19).replace('T', ' '), repository.name]);
      }
    }
  }
  output.text(formatTable(['BACKUP SET', 'RUN', 'DATE (UTC)', 'REPOSITORY'], rows));
  if (rows.length > 0)
    output.text('\nRestore one with: snapkeep restore <set> <run|latest> [--to DIR] [--database OLD=NEW]');
  return exitCode;
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

function databaseMap(entries: readonly string[]): Map<string, string> {
  const map = new Map<string, string>();
  for (const entry of entries) {
    const match = /^([a-zA-Z0-9_.-]+)=([a-zA-Z0-9_.-]+)$/.exec(entry);
    if (!match)
      throw new UsageError(`--database ${entry}: expected OLD=NEW (database names: letters, digits, _ . -)`);
    map.set(match[1]!, match[2]!);
  }
  return map;
}

async function nonEmpty(path: string): Promise<boolean> {
  try {
    return (await readdir(path)).length > 0;
  } catch {
    return false;
  }
}

export async function restoreBackupSet(
  set: ResolvedBackupSet,
  options: SetRestoreOptions,
  output: Output,
): Promise<number> {
  const restic = await Restic.detect();
  const repository = repositoryOf(set, options.from);
  const points = await restorePoints(restic, repository, set.name);
  const wanted =
    options.run === undefined || options.run === 'latest'
      ? points[0]
      : points.find((point) => point.run === options.run);
  if (!wanted)
    throw new SnapkeepError(
      `${options.run && options.run !== 'latest' ? `no complete run ${options.run}` : 'no complete run'} of ${set.name} in ${repository.name}${
        points.length ? `; there are: ${points.map((point) => point.run).join(', ')}` : ''
      }`,
      ExitCode.usage,
    );
  const point = wanted; // the run's items, with this repository's snapshot ids
  const renames = databaseMap(options.databases);
  const sourceOf = (name: string) => set.sources.find((source) => source.name === name);

  // The plan: every step, checked before anything changes.
  type Step =
    | { kind: 'files'; snapshotId: string; path: string; target: string; overwrites: boolean }
    | {
        kind: 'database';
        snapshotId: string;
        filename: string;
        source: PostgresSource;
        from: string;
        into: string;
        exists: boolean;
      };
  const steps: Step[] = [];
  for (const item of point.items) {
    if (item.type === 'directory') {
      for (const path of item.paths ?? []) {
        const target = options.to ? join(options.to, path) : path;
        steps.push({
          kind: 'files',
          snapshotId: item.snapshotId,
          path,
          target,
          overwrites: await nonEmpty(target),
        });
      }
    } else {
      const source = sourceOf(item.source);
      if (source?.type !== 'postgres')
        throw new SnapkeepError(
          `run ${point.run} has database ${item.database ?? '?'} from source ${item.source}, which the config no longer defines as a postgres source`,
        );
      const from = item.database ?? '';
      const into = renames.get(from) ?? from;
      const password = await passwordOf(source);
      const exists = (await runCommand(databaseExists(source, into, password))).stdout.trim() === '1';
      steps.push({
        kind: 'database',
        snapshotId: item.snapshotId,
        filename: item.filename ?? '',
        source,
        from,
        into,
        exists,
      });
    }
  }
  const unknownRenames = [...renames.keys()].filter(
    (name) => !steps.some((step) => step.kind === 'database' && step.from === name),
  );
  if (unknownRenames.length > 0)
    throw new UsageError(`--database: run ${point.run} has no database ${unknownRenames.join(', ')}`);
  const overwriting = steps.filter((step) => step.kind === 'files' && step.overwrites);
  // The app's services are stopped only when live data is replaced: files at their own paths or
  // a database under its own name. A restore elsewhere (and the drill) leaves the app running.
  const live = steps.some((step) =>
    step.kind === 'files' ? options.to === undefined : step.into === step.from,
  );
  const hooks = live ? set.restoreHooks : { stop: [], start: [] };
  const existing = steps.filter((step) => step.kind === 'database' && step.exists);

  // Refused before any plan is shown (also under --dry-run, which says what the real run does):
  // a plan followed by exit 2 read as "this would happen".
  if (existing.length > 0 && !options.force)
    throw new UsageError(
      `database ${existing.map((step) => (step.kind === 'database' ? step.into : '')).join(', ')} exists; restore into a new one with --database OLD=NEW, or over it with --force`,
    );

  output.event('plan', {
    set: set.name,
    run: point.run,
    repository: repository.name,
    dryRun: options.dryRun,
    steps: steps.map(({ source: _s, ...step }: Step & { source?: unknown }) => step),
    stop: hooks.stop,
    start: hooks.start,
  });
  const prefix = options.dryRun ? 'would ' : '';
  output.text(
    `${set.name}: run ${point.run} from ${repository.name} (${point.items.length} item(s), ${point.time})`,
  );
  for (const command of hooks.stop) output.text(`  ${prefix}stop: ${command.join(' ')}`);
  for (const step of steps)
    output.text(
      step.kind === 'files'
        ? `  ${prefix}restore ${step.path} → ${step.target}${step.overwrites ? ' (overwrites files there)' : ''}`
        : `  ${prefix}restore database ${step.from} → ${step.into}${step.exists ? ' (exists: --clean in one transaction)' : ' (new database)'}`,
    );
  for (const command of hooks.start)
    output.text(`  ${prefix}start: ${command.join(' ')} (also if the restore fails)`);
  if (overwriting.length > 0 && !options.yes && !options.dryRun) {
    const where = overwriting.map((step) => (step.kind === 'files' ? step.target : '')).join(', ');
    // Asked on a terminal; from scripts and cron only --yes overwrites.
    const agreed =
      process.stdin.isTTY && !output.json
        ? await confirm(`${where} is not empty; restic will overwrite files there. Overwrite? [y/N] `)
        : false;
    if (!agreed)
      throw new UsageError(
        `${where} is not empty; restic would overwrite files there. Use --to DIR to restore elsewhere, or --yes to overwrite`,
      );
  }
  if (options.dryRun) {
    output.text(
      overwriting.length > 0 && !options.yes
        ? 'dry run: nothing changed (the real run asks before overwriting on a terminal; elsewhere it needs --yes)'
        : 'dry run: nothing changed',
    );
    return ExitCode.ok;
  }

  const restoreSteps = async (journal: Journal): Promise<void> => {
    for (const step of steps) {
      const startedAt = Date.now();
      if (step.kind === 'files') {
        await restic.restorePath(
          repository,
          step.snapshotId,
          step.path,
          options.to ?? '/',
          options.verify ?? false,
        );
      } else {
        const password = await passwordOf(step.source);
        if (!step.exists) {
          const created = await runCommand(createDatabase(step.source, step.into, password));
          if (created.exitCode !== 0)
            throw new SnapkeepError(`cannot create database ${step.into}: ${created.stderr.trim()}`);
        }
        const { restic: dumped, consumer } = await restic.dumpInto(
          repository,
          step.snapshotId,
          step.filename,
          restoreDatabase(step.source, step.into, { clean: step.exists }, password),
        );
        if (dumped.exitCode !== 0) throw restic.failure(repository, dumped, `reading ${step.filename}`);
        if (consumer.exitCode !== 0)
          throw new SnapkeepError(
            `restoring database ${step.into} failed (nothing was committed: one transaction): ${consumer.stderr.trim().split('\n').slice(-3).join(' | ')}`,
          );
      }
      const done =
        step.kind === 'files' ? `${step.path} → ${step.target}` : `database ${step.from} → ${step.into}`;
      output.event('step', { ok: true, kind: step.kind, what: done, durationMs: Date.now() - startedAt });
      output.text(`ok   restored ${done} [${((Date.now() - startedAt) / 1000).toFixed(2)}s]`);
      await journal.append('step', { kind: `restore-${step.kind}`, what: done, ok: true });
    }
  };

  const start = { set: set.name, restoring: point.run, repository: repository.name };
  return withRun({ stateDir: options.stateDir, command: 'restore', fields: start }, async ({ journal }) => {
    const hook = async (phase: 'stop' | 'start', argv: readonly string[]): Promise<void> => {
      const [file, ...args] = argv as [string, ...string[]];
      const result = await runCommand({ file, args }).catch((error: unknown) => {
        throw new SnapkeepError(`${phase} command ${argv.join(' ')}: ${(error as Error).message}`);
      });
      const ok = result.exitCode === 0;
      await journal.append('step', { kind: `restore-${phase}`, what: argv.join(' '), ok });
      output.event('step', { ok, kind: phase, what: argv.join(' ') });
      if (!ok)
        throw new SnapkeepError(
          `${phase} command failed (exit ${result.exitCode ?? result.signal}): ${argv.join(' ')}: ${result.stderr.trim()}`,
        );
      output.text(`ok   ${phase}: ${argv.join(' ')}`);
    };
    try {
      for (const argv of hooks.stop) await hook('stop', argv);
      await restoreSteps(journal);
    } finally {
      // The app comes back even when a stop command or the restore failed; a failing start is
      // reported after the restore's own outcome.
      for (const argv of hooks.start) await hook('start', argv);
    }
    output.text(`restored ${set.name} run ${point.run}`);
    return { exitCode: ExitCode.ok, fields: { set: set.name, restoring: point.run } };
  });
}
