// A backup set's restore points, and the restore of one: every directory and database of the
// same run. Files go to their original paths (existing files are overwritten only when agreed)
// or under `to` (DIR + original path, for a rebuilt host); databases into a new database
// (renames OLD=NEW) or over an existing one only with `force` (pg_restore --clean in one
// transaction, stopping at the first error). The plan is checked whole before anything changes;
// the restore is one run (withRun), with the set's stop and start commands around it when it
// replaces live data.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { ResolvedBackupSet, ResolvedRepository } from '../config/resolve.js';
import { ExitCode, SnapkeepError, UsageError, messageOf } from '../errors.js';
import { runCommand } from '../exec/command.js';
import type { Journal } from '../state/journal.js';
import { cleanUpOnInterrupt, withRun } from '../state/run-lifecycle.js';
import { passwordOf, restorePoints, type RestorePoint } from './backup-set.js';
import { createDatabase, databaseExists, restoreDatabase, type PostgresSource } from './postgres.js';
import {
  asideDirectory,
  asideStamp,
  entriesNotInSnapshot,
  firstHardLinkedFile,
  linksOverDirectories,
  moveAside,
} from './point-in-time.js';
import { Restic, ResticError, type SnapshotNode } from './restic.js';

/** One step of a restore, as planned (and shown) before anything changes. */
export type RestoreStep =
  | {
      readonly kind: 'files';
      readonly snapshotId: string;
      readonly path: string;
      readonly target: string;
      /** The target has files that restic overwrites. */
      readonly overwrites: boolean;
      /**
       * What is at the target and not in the run (relative to it, topmost entries): kept in merge
       * mode, moved aside in exact mode (listed again when the restore starts, the app stopped).
       */
      readonly notInRun: readonly string[];
      /** Exact mode: where they are moved (a sibling of the target). */
      readonly aside?: string;
    }
  | {
      readonly kind: 'database';
      readonly snapshotId: string;
      readonly filename: string;
      readonly from: string;
      readonly into: string;
      /** `into` exists: restored over it with --clean in one transaction. */
      readonly exists: boolean;
    };

/** What listing restore points reports. */
export type RestorePointEvent =
  | {
      readonly type: 'restore-point';
      readonly set: string;
      readonly run: string;
      readonly date: string;
      readonly location: string;
      /** How many items (directories and databases) the run has. */
      readonly items: number;
    }
  | {
      /** A repository whose restore points cannot be read (the listing goes on without them). */
      readonly type: 'unreachable';
      readonly set: string;
      readonly repository: string;
      readonly error: string;
      readonly exitCode: number;
    }
  | {
      /**
       * A repository that does not exist yet: no restore points, and no failure — `backup`
       * creates it (a new set before its first backup is not an unreachable one).
       */
      readonly type: 'no-repository';
      readonly set: string;
      readonly repository: string;
    };

/** What a restore reports as it goes. */
export type SetRestoreEvent =
  | {
      readonly type: 'plan';
      readonly set: string;
      readonly run: string;
      readonly repository: string;
      readonly dryRun: boolean;
      /** The run's time and how many items it has. */
      readonly date: string;
      readonly items: number;
      /** merge: files at a target that are not in the run stay; exact: they are moved aside. */
      readonly mode: RestoreMode;
      /** --only: the sources restored (absent: all of the run's). */
      readonly only?: readonly string[];
      readonly steps: readonly RestoreStep[];
      /** The set's stop and start commands, when the restore replaces live data. */
      readonly stop: readonly (readonly string[])[];
      readonly start: readonly (readonly string[])[];
    }
  | {
      readonly type: 'step';
      readonly ok: boolean;
      readonly kind: 'files' | 'database' | 'stop' | 'start';
      readonly what: string;
      readonly durationMs?: number;
    }
  | {
      /** Exact mode: what was at a target and not in the run, moved (renamed) before the restore. */
      readonly type: 'moved-aside';
      readonly target: string;
      readonly directory: string;
      readonly count: number;
      readonly paths: readonly string[];
    }
  | { readonly type: 'restored'; readonly set: string; readonly run: string; readonly repository: string }
  | {
      /**
       * SIGINT/SIGTERM after the stop commands: the restore is partial, and the start commands
       * are not run (the interrupt leaves within a second); what the user must do by hand.
       */
      readonly type: 'restore-interrupted';
      readonly set: string;
      readonly run: string;
      readonly notStarted: readonly string[];
      readonly movedAside: readonly string[];
    }
  | {
      readonly type: 'summary';
      readonly command: 'restore';
      readonly dryRun: true;
      readonly exitCode: number;
      /** Files would be overwritten: the real run asks on a terminal, elsewhere it needs --yes. */
      readonly overwriteNeedsConsent: boolean;
    };

/** merge: restic's restore, files not in the run stay; exact: they are moved aside first. */
export type RestoreMode = 'merge' | 'exact';

export interface SetRestoreRequest {
  /** A run id, or "latest" (the default). */
  readonly run?: string;
  /** A repository name of the set (default: its own repository). */
  readonly from?: string;
  /** Restore files under this directory (DIR + original path) instead of their paths. */
  readonly to?: string;
  /** Restore only the items of these sources (default: every item of the run). */
  readonly only?: readonly string[];
  /** Default merge. */
  readonly mode?: RestoreMode;
  /** OLD=NEW: restore database OLD as NEW. */
  readonly databases: readonly string[];
  /** Restore over an existing database. */
  readonly force: boolean;
  /** Overwrite existing files without asking. */
  readonly yes: boolean;
  readonly dryRun: boolean;
  readonly stateDir: string;
  /** Read restored files back against the backup's content hashes (the drill). */
  readonly verify?: boolean;
  /** Asked before files are overwritten without `yes` (on a terminal); absent: refused. */
  readonly confirm?: (question: string) => Promise<boolean>;
  readonly restic?: Restic;
}

function repositoryOf(set: ResolvedBackupSet, from: string | undefined): ResolvedRepository {
  if (from === undefined) return set.repository;
  const found = [set.repository, ...set.offsite].find((repository) => repository.name === from);
  if (!found)
    throw new UsageError(
      `--from ${from}: not a repository of ${set.name}; expected one of: ${[set.repository, ...set.offsite].map((repository) => repository.name).join(', ')}`,
    );
  return found;
}

/** Every restore point of the sets in every repository of theirs, newest first per repository. */
export async function listRestorePoints(
  sets: readonly ResolvedBackupSet[],
  report: (event: RestorePointEvent) => void,
  restic?: Restic,
): Promise<{ readonly exitCode: number; readonly points: readonly RestorePoint[] }> {
  if (sets.length === 0) return { exitCode: ExitCode.ok, points: [] };
  const client = restic ?? (await Restic.detect());
  const points: RestorePoint[] = [];
  let exitCode: number = ExitCode.ok;
  for (const set of sets) {
    for (const repository of [set.repository, ...set.offsite]) {
      let found: RestorePoint[];
      try {
        found = await restorePoints(client, repository, set.name);
      } catch (error) {
        if (error instanceof ResticError && error.problem === 'no-repository') {
          report({ type: 'no-repository', set: set.name, repository: repository.name });
          continue;
        }
        if (!(error instanceof SnapkeepError)) throw error;
        report({
          type: 'unreachable',
          set: set.name,
          repository: repository.name,
          error: error.message,
          exitCode: error.exitCode,
        });
        exitCode = error.exitCode;
        continue;
      }
      for (const point of found) {
        report({
          type: 'restore-point',
          set: set.name,
          run: point.run,
          date: point.time,
          location: repository.name,
          items: point.items.length,
        });
        points.push(point);
      }
    }
  }
  return { exitCode, points };
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

type PlannedStep = RestoreStep & {
  readonly source?: PostgresSource;
  /** Files steps: the snapshot's nodes below the path, and the source's exclude patterns. */
  readonly nodes?: readonly SnapshotNode[];
  readonly exclude?: readonly string[];
};

/** --only: every name a source of the set (checked before anything is read or touched). */
function checkOnly(set: ResolvedBackupSet, only: readonly string[]): void {
  const names = set.sources.map((source) => source.name);
  const unknown = only.filter((name) => !names.includes(name));
  if (unknown.length > 0)
    throw new UsageError(
      `--only ${unknown.join(', ')}: backup set ${set.name} has no source ${unknown.map((name) => `"${name}"`).join(', ')}; its sources: ${names.join(', ')}${unknown.some((name) => name.includes(',')) ? ' (for more than one, repeat --only)' : ''}`,
    );
}

export async function restoreSetRun(
  set: ResolvedBackupSet,
  request: SetRestoreRequest,
  report: (event: SetRestoreEvent) => void,
): Promise<number> {
  const only = request.only && request.only.length > 0 ? [...new Set(request.only)] : undefined;
  if (only) checkOnly(set, only);
  const mode = request.mode ?? 'merge';
  const restic = request.restic ?? (await Restic.detect());
  const repository = repositoryOf(set, request.from);
  const points = await restorePoints(restic, repository, set.name);
  const wanted =
    request.run === undefined || request.run === 'latest'
      ? points[0]
      : points.find((point) => point.run === request.run);
  if (!wanted)
    throw new SnapkeepError(
      `${request.run && request.run !== 'latest' ? `no complete run ${request.run}` : 'no complete run'} of ${set.name} in ${repository.name}${
        points.length ? `; there are: ${points.map((point) => point.run).join(', ')}` : ''
      }`,
      ExitCode.usage,
    );
  const point = wanted; // the run's items, with this repository's snapshot ids
  const renames = databaseMap(request.databases);
  const sourceOf = (name: string) => set.sources.find((source) => source.name === name);
  const items = only ? point.items.filter((item) => only.includes(item.source)) : point.items;
  const missing = (only ?? []).filter((name) => !items.some((item) => item.source === name));
  if (missing.length > 0)
    throw new UsageError(
      `--only ${missing.join(', ')}: run ${point.run} of ${set.name} has nothing of source ${missing.join(', ')} (it has: ${[...new Set(point.items.map((item) => item.source))].join(', ')})`,
    );
  // One name for this restore's moved-aside directories.
  const stamp = asideStamp(new Date());

  // The plan: every step, checked before anything changes.
  const steps: PlannedStep[] = [];
  for (const item of items) {
    if (item.type === 'directory') {
      const source = sourceOf(item.source);
      const exclude = source?.type === 'directory' ? source.exclude : [];
      for (const path of item.paths ?? []) {
        const target = request.to ? join(request.to, path) : path;
        const overwrites = await nonEmpty(target);
        // Listed only when the target has something: an empty one ends up as the snapshot anyway.
        // Exact mode lists it also for an empty target: the app may write there before it stops.
        const nodes =
          overwrites || mode === 'exact' ? await restic.listTree(repository, item.snapshotId, path) : [];
        const notInRun = overwrites ? await entriesNotInSnapshot(target, path, nodes, exclude) : [];
        // Merge: a link where the run has a directory is followed by restic 0.14, which then
        // overwrites files outside the folder (0.18 replaces the link). Exact moves it aside.
        const links = mode === 'merge' ? await linksOverDirectories(target, path, nodes, notInRun) : [];
        if (links.length > 0)
          throw new UsageError(
            `${links.map((link) => `${link.path} is a symbolic link (to ${link.to})`).join(', ')} where run ${point.run} has a directory: restic would write the run's files through it; restore with --exact (moves it aside first), or replace the link by a directory`,
          );
        const linked =
          overwrites && !restic.keepsHardLinksInPlace ? await firstHardLinkedFile(target) : undefined;
        if (linked)
          throw new UsageError(
            `${linked} has more than one name (hard links): restic ${restic.version.text} restoring in place keeps one name and removes the others (restic 0.18 does not); restore with --to DIR and copy back, or use restic 0.18 or later (SNAPKEEP_RESTIC=/path/to/restic)`,
          );
        steps.push({
          kind: 'files',
          snapshotId: item.snapshotId,
          path,
          target,
          overwrites,
          notInRun,
          ...(mode === 'exact' ? { aside: await asideDirectory(target, stamp) } : {}),
          nodes,
          exclude,
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
    throw new UsageError(
      `--database: run ${point.run} has no database ${unknownRenames.join(', ')}${only ? ` among the sources restored (--only ${only.join(', ')})` : ''}`,
    );
  const overwriting = steps.filter((step) => step.kind === 'files' && step.overwrites);
  // The app's services are stopped only when live data is replaced: files at their own paths or
  // a database under its own name. A restore elsewhere (and the drill) leaves the app running.
  const live = steps.some((step) =>
    step.kind === 'files' ? request.to === undefined : step.into === step.from,
  );
  const hooks = live ? set.restoreHooks : { stop: [], start: [] };
  const existing = steps.filter((step) => step.kind === 'database' && step.exists);

  // Refused before any plan is shown (also under --dry-run, which says what the real run does):
  // a plan followed by exit 2 read as "this would happen".
  if (existing.length > 0 && !request.force)
    throw new UsageError(
      `database ${existing.map((step) => (step.kind === 'database' ? step.into : '')).join(', ')} exists; restore into a new one with --database OLD=NEW, or over it with --force`,
    );

  report({
    type: 'plan',
    set: set.name,
    run: point.run,
    repository: repository.name,
    dryRun: request.dryRun,
    date: point.time,
    items: point.items.length,
    mode,
    ...(only ? { only } : {}),
    steps: steps.map(({ source: _source, nodes: _nodes, exclude: _exclude, ...step }) => step),
    stop: hooks.stop,
    start: hooks.start,
  });
  if (overwriting.length > 0 && !request.yes && !request.dryRun) {
    const where = overwriting.map((step) => (step.kind === 'files' ? step.target : '')).join(', ');
    const aside = mode === 'exact' ? '; what is not in the run is moved aside first' : '';
    // Asked on a terminal; from scripts and cron only --yes overwrites.
    const agreed = request.confirm
      ? await request.confirm(
          `${where} is not empty; restic will overwrite files there${aside}. Overwrite? [y/N] `,
        )
      : false;
    if (!agreed)
      throw new UsageError(
        `${where} is not empty; restic would overwrite files there${aside}. Use --to DIR to restore elsewhere, or --yes to overwrite`,
      );
  }
  if (request.dryRun) {
    report({
      type: 'summary',
      command: 'restore',
      dryRun: true,
      exitCode: ExitCode.ok,
      overwriteNeedsConsent: overwriting.length > 0 && !request.yes,
    });
    return ExitCode.ok;
  }

  const restoreSteps = async (journal: Journal): Promise<void> => {
    for (const step of steps) {
      const startedAt = Date.now();
      if (step.kind === 'files') {
        if (step.aside !== undefined) {
          // Listed again now that the app is stopped: it may have written more since the plan.
          const paths = await entriesNotInSnapshot(
            step.target,
            step.path,
            step.nodes ?? [],
            step.exclude ?? [],
          );
          if (paths.length > 0) {
            const directory = await moveAside(step.target, paths, step.aside).catch((error: unknown) => {
              throw new SnapkeepError(
                `moving what is not in run ${point.run} out of ${step.target} into ${step.aside}: ${messageOf(error)} (nothing was deleted; what was moved is there, the restore did not start)`,
              );
            });
            report({ type: 'moved-aside', target: step.target, directory, count: paths.length, paths });
            await journal.append('step', {
              kind: 'restore-move-aside',
              what: `${paths.length} not in run ${point.run}: ${step.target} → ${directory}`,
              name: directory,
              ok: true,
            });
          }
        }
        await restic.restorePath(
          repository,
          step.snapshotId,
          step.path,
          request.to ?? '/',
          request.verify ?? false,
        );
      } else {
        const source = step.source!;
        const password = await passwordOf(source);
        if (!step.exists) {
          const created = await runCommand(createDatabase(source, step.into, password));
          if (created.exitCode !== 0)
            throw new SnapkeepError(`cannot create database ${step.into}: ${created.stderr.trim()}`);
        }
        const { restic: dumped, consumer } = await restic.dumpInto(
          repository,
          step.snapshotId,
          step.filename,
          restoreDatabase(source, step.into, { clean: step.exists }, password),
        );
        if (dumped.exitCode !== 0) throw restic.failure(repository, dumped, `reading ${step.filename}`);
        if (consumer.exitCode !== 0)
          throw new SnapkeepError(
            `restoring database ${step.into} failed (nothing was committed: one transaction): ${consumer.stderr.trim().split('\n').slice(-3).join(' | ')}`,
          );
      }
      const done =
        step.kind === 'files' ? `${step.path} → ${step.target}` : `database ${step.from} → ${step.into}`;
      report({ type: 'step', ok: true, kind: step.kind, what: done, durationMs: Date.now() - startedAt });
      await journal.append('step', { kind: `restore-${step.kind}`, what: done, ok: true });
    }
  };

  const start = { set: set.name, restoring: point.run, repository: repository.name };
  return withRun({ stateDir: request.stateDir, command: 'restore', fields: start }, async ({ journal }) => {
    const hook = async (phase: 'stop' | 'start', argv: readonly string[]): Promise<void> => {
      const [file, ...args] = argv as [string, ...string[]];
      const result = await runCommand({ file, args }).catch((error: unknown) => {
        throw new SnapkeepError(`${phase} command ${argv.join(' ')}: ${(error as Error).message}`);
      });
      const ok = result.exitCode === 0;
      await journal.append('step', { kind: `restore-${phase}`, what: argv.join(' '), ok });
      report({ type: 'step', ok, kind: phase, what: argv.join(' ') });
      if (!ok)
        throw new SnapkeepError(
          `${phase} command failed (exit ${result.exitCode ?? result.signal}): ${argv.join(' ')}: ${result.stderr.trim()}`,
        );
    };
    // An interrupt cannot wait for the start commands; it says what is left to do instead.
    const withdraw = cleanUpOnInterrupt(() => {
      report({
        type: 'restore-interrupted',
        set: set.name,
        run: point.run,
        notStarted: hooks.start.map((argv) => argv.join(' ')),
        movedAside: steps.flatMap((step) =>
          step.kind === 'files' && step.aside !== undefined && step.notInRun.length > 0 ? [step.aside] : [],
        ),
      });
      return Promise.resolve();
    });
    try {
      for (const argv of hooks.stop) await hook('stop', argv);
      await restoreSteps(journal);
    } finally {
      withdraw();
      // The app comes back even when a stop command or the restore failed; a failing start is
      // reported after the restore's own outcome.
      for (const argv of hooks.start) await hook('start', argv);
    }
    report({ type: 'restored', set: set.name, run: point.run, repository: repository.name });
    return { exitCode: ExitCode.ok, fields: { set: set.name, restoring: point.run } };
  });
}
