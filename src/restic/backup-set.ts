// A backup set in restic: every source of the set captured in one run — one restic snapshot per
// directory source and per database — each tagged with the set, the run, its source and the
// number of items the run has. A run is a restore point only when all its items are there, so
// "latest" never mixes runs and never offers a run whose dump failed (seed 004's flaw). The tags
// live in the repository: a rebuilt host with an empty state directory finds the same points, and
// offsite copies (which keep tags) are restore points of their own. No extra restic process per
// run: each one costs a repository open (~0.75 s of key derivation).
import { runCommand } from '../exec/command.js';
import type { ResolvedBackupSet, ResolvedRepository, ResolvedSource } from '../config/resolve.js';
import { ExitCode, SnapkeepError, UsageError, messageOf } from '../errors.js';
import { dumpDatabase, listDatabases, type PostgresSource } from './postgres.js';
import { withDumpSnapshot, type TableChecksums } from './checksums.js';
import {
  ResticError,
  type BackupStatus,
  type BackupSummary,
  type Restic,
  type SnapshotInfo,
} from './restic.js';
import { resolveSecret } from './secrets.js';

export interface SetItem {
  readonly source: string;
  readonly type: 'directory' | 'postgres';
  /** Directory sources: the paths backed up. */
  readonly paths?: readonly string[];
  /** Database items: the database and the file name it has in the snapshot. */
  readonly database?: string;
  readonly filename?: string;
  readonly snapshotId: string;
  /** What restic said it added to the repository and read (its backup summary). */
  readonly dataAdded?: number;
  readonly bytesProcessed?: number;
  /** Database items, at backup time: row counts and checksums per table, as dumped. */
  readonly checksums?: TableChecksums;
}

// Flat names: restic 0.17+ treats a "/" in --stdin-filename as directories it must find on disk.
const dumpFilename = (set: string, source: string, database: string): string =>
  `snapkeep-${set}-${source}-${database}.pgdump`;
const tag = {
  set: (set: string) => `snapkeep-set=${set}`,
  run: (run: string) => `snapkeep-run=${run}`,
  source: (source: string) => `snapkeep-source=${source}`,
  items: (count: number) => `snapkeep-items=${count}`,
  database: (database: string) => `snapkeep-database=${database}`,
};

/** The value of `snapkeep-<key>=…` among a snapshot's tags. */
const tagValue = (tags: readonly string[] | undefined, key: string): string | undefined =>
  tags?.find((value) => value.startsWith(`snapkeep-${key}=`))?.slice(`snapkeep-${key}=`.length);

/** What one run of a set will capture (for --dry-run and the plan event). */
export interface PlannedItem {
  readonly source: string;
  readonly type: 'directory' | 'postgres';
  readonly description: string;
}

export async function planItems(set: ResolvedBackupSet): Promise<PlannedItem[]> {
  const items: PlannedItem[] = [];
  for (const source of set.sources) {
    if (source.type === 'directory')
      items.push({
        source: source.name,
        type: 'directory',
        description: `back up ${source.paths.join(' ')}`,
      });
    else
      for (const database of await databasesOf(source))
        items.push({
          source: source.name,
          type: 'postgres',
          description: `stream pg_dump of database ${database} into restic (custom format, uncompressed)`,
        });
  }
  return items;
}

/** The source's PGPASSWORD, when it has one (resolved when needed, masked). */
export async function passwordOf(source: PostgresSource): Promise<string | undefined> {
  return source.password === undefined
    ? undefined
    : resolveSecret(source.password, `sources.${source.name}.password`);
}

/**
 * Every secret a run of these sets (and these repositories) needs, resolved before anything is
 * written: a missing or unreadable one is a configuration error — exit 2, nothing touched, all of
 * them named at once — and can never be found out after the local backup was written, when the
 * run could only be partial. The values are cached (secrets.ts), so the run reads none twice.
 */
export async function resolveSecretsOf(
  restic: Restic,
  sets: readonly ResolvedBackupSet[],
  repositories: readonly ResolvedRepository[] = [],
): Promise<void> {
  const byName = new Map<string, ResolvedRepository>();
  for (const repository of [...sets.flatMap((set) => [set.repository, ...set.offsite]), ...repositories])
    byName.set(repository.name, repository);
  const sources = new Map<string, PostgresSource>();
  for (const source of sets.flatMap((set) => set.sources))
    if (source.type === 'postgres') sources.set(source.name, source);
  const results = await Promise.allSettled([
    ...[...byName.values()].map((repository) => restic.environment(repository)),
    ...[...sources.values()].map((source) => passwordOf(source)),
  ]);
  const problems: string[] = [];
  for (const result of results) {
    if (result.status === 'fulfilled') continue;
    if (!(result.reason instanceof SnapkeepError)) throw result.reason;
    problems.push(result.reason.message);
  }
  if (problems.length === 1) throw new UsageError(`${problems[0]!} (nothing was changed)`);
  if (problems.length > 1)
    throw new UsageError(
      `${problems.length} secrets cannot be read (nothing was changed):\n  ${problems.join('\n  ')}`,
    );
}

export async function databasesOf(source: PostgresSource): Promise<string[]> {
  if (source.databases !== 'all') return [...source.databases];
  const result = await runCommand(listDatabases(source, await passwordOf(source)));
  if (result.exitCode !== 0)
    throw new SnapkeepError(
      `source ${source.name}: cannot list the databases: ${result.stderr.trim() || `exit ${result.exitCode}`}`,
    );
  return result.stdout.split('\n').filter(Boolean);
}

export interface ItemOutcome {
  readonly source: string;
  readonly what: string;
  readonly ok: boolean;
  readonly error?: string;
  readonly item?: SetItem;
  readonly durationMs: number;
}

export interface OffsiteOutcome {
  readonly repository: string;
  readonly ok: boolean;
  /** This run's snapshots now present there. */
  readonly present: number;
  /** Source snapshot ids of this run that are not there after the copy. */
  readonly missing: readonly string[];
  readonly error?: string;
  /** The exit code the failure implies (10: unreachable, 2: its password is wrong, …). */
  readonly exitCode?: number;
  readonly durationMs: number;
  /** The set's snapshots there after the copy (absent when it could not be listed). */
  readonly snapshots?: number;
}

export interface SetOutcome {
  readonly set: string;
  readonly run: string;
  readonly ok: boolean;
  readonly items: readonly ItemOutcome[];
  readonly offsite?: readonly OffsiteOutcome[];
  readonly error?: string;
}

/** How far an item's backup is, from restic's status lines. */
export interface ItemProgress {
  readonly source: string;
  readonly what: string;
  readonly bytes: number;
  /** What restic found to read (a directory; unknown for a database stream). */
  readonly expectedBytes?: number;
  readonly etaSeconds?: number;
  readonly elapsedMs: number;
}

/** restic writes status lines many times a second: one report a second is what a person reads. */
const progressIntervalMs = 1000;

/** Back up every source of the set into its repository (created when missing). */
export async function backupSet(
  restic: Restic,
  set: ResolvedBackupSet,
  run: string,
  report: (outcome: ItemOutcome) => void,
  reportOffsite?: (outcome: OffsiteOutcome) => void,
  reportProgress?: (progress: ItemProgress) => void,
): Promise<SetOutcome> {
  const repository = set.repository;
  const outcomes: ItemOutcome[] = [];
  const record = (outcome: ItemOutcome): void => {
    outcomes.push(outcome);
    report(outcome);
  };
  // Every job is known before the first starts: each item carries how many the run has.
  const jobs = (await Promise.all(set.sources.map((source) => jobsOf(source, set.name)))).flat();
  const tags = (job: Job): string[] => [
    tag.set(set.name),
    tag.run(run),
    tag.source(job.source),
    tag.items(jobs.length),
    ...(job.kind === 'stream' ? [tag.database(job.database)] : []),
  ];
  let created = false;
  const progressOf = (job: Job): ((status: BackupStatus) => void) | undefined => {
    if (!reportProgress) return undefined;
    const startedAt = Date.now();
    let reportedAt: number | undefined;
    return (status) => {
      const now = Date.now();
      if (status.bytesDone === 0 || (reportedAt !== undefined && now - reportedAt < progressIntervalMs))
        return;
      reportedAt = now;
      reportProgress({
        source: job.source,
        what: job.what,
        bytes: status.bytesDone,
        ...(status.totalBytes !== undefined ? { expectedBytes: status.totalBytes } : {}),
        ...(status.secondsRemaining !== undefined ? { etaSeconds: status.secondsRemaining } : {}),
        elapsedMs: now - startedAt,
      });
    };
  };
  const backup = async (job: Job): Promise<{ summary: BackupSummary; checksums?: TableChecksums }> => {
    const onStatus = progressOf(job);
    try {
      if (job.kind === 'paths')
        return {
          summary: await restic.backupPaths(repository, job.paths, {
            exclude: job.exclude,
            tags: tags(job),
            onStatus,
          }),
        };
      if (!job.postgres.checksums)
        return {
          summary: await restic.backupStream(
            repository,
            dumpDatabase(job.postgres, job.database, job.password),
            {
              filename: job.filename,
              tags: tags(job),
              what: `pg_dump of database ${job.database} (source ${job.source})`,
              onStatus,
            },
          ),
        };
      const { result, checksums } = await withDumpSnapshot(
        job.postgres,
        job.database,
        job.password,
        (snapshotWhen) =>
          restic.backupStream(
            repository,
            async (resticReady) =>
              dumpDatabase(job.postgres, job.database, job.password, await snapshotWhen(resticReady)),
            {
              filename: job.filename,
              tags: tags(job),
              what: `pg_dump of database ${job.database} (source ${job.source})`,
              onStatus,
            },
          ),
      );
      return { summary: result, checksums };
    } catch (error) {
      // Created when missing: found out by the first item, not by an extra repository open.
      if (error instanceof ResticError && error.problem === 'no-repository' && !created) {
        created = true;
        await restic.init(repository);
        return backup(job);
      }
      throw error;
    }
  };
  for (const job of jobs) {
    const startedAt = Date.now();
    try {
      const { summary, checksums } = await backup(job);
      const { snapshotId } = summary;
      const figures = {
        ...(summary.dataAdded !== undefined ? { dataAdded: summary.dataAdded } : {}),
        ...(summary.bytesProcessed !== undefined ? { bytesProcessed: summary.bytesProcessed } : {}),
      };
      record({
        source: job.source,
        what: job.what,
        ok: true,
        durationMs: Date.now() - startedAt,
        item:
          job.kind === 'paths'
            ? { source: job.source, type: 'directory', paths: job.paths, snapshotId, ...figures }
            : {
                source: job.source,
                type: 'postgres',
                database: job.database,
                filename: job.filename,
                snapshotId,
                ...figures,
                ...(checksums ? { checksums } : {}),
              },
      });
    } catch (error) {
      // A repository problem ends the run: the other items would meet it too.
      if (error instanceof ResticError && error.problem !== 'other') throw error;
      record({
        source: job.source,
        what: job.what,
        ok: false,
        error: messageOf(error),
        durationMs: Date.now() - startedAt,
      });
    }
  }
  const failed = outcomes.filter((outcome) => !outcome.ok);
  if (failed.length > 0)
    return {
      set: set.name,
      run,
      ok: false,
      items: outcomes,
      error: `${failed.length} of ${outcomes.length} item(s) failed, so this run is not a restore point`,
    };
  const runIds = outcomes.flatMap((outcome) => (outcome.item ? [outcome.item.snapshotId] : []));
  const offsite: OffsiteOutcome[] = [];
  for (const target of set.offsite) {
    const outcome = await copyOffsite(restic, set, target, runIds);
    offsite.push(outcome);
    reportOffsite?.(outcome);
  }
  const offsiteFailed = offsite.filter((outcome) => !outcome.ok);
  return {
    set: set.name,
    run,
    ok: offsiteFailed.length === 0,
    items: outcomes,
    offsite,
    ...(offsiteFailed.length > 0
      ? {
          error: `the local backup is complete (a restore point), but ${offsiteFailed.map((outcome) => outcome.repository).join(', ')} did not get it`,
        }
      : {}),
  };
}

/**
 * Copy this run's snapshots to an offsite repository (created with the primary's chunker
 * parameters when missing, so copies dedup), then compare: every source id must be there as a
 * copy's `original`. A missing one is a failure, whatever restic said.
 */
async function copyOffsite(
  restic: Restic,
  set: ResolvedBackupSet,
  target: ResolvedRepository,
  runIds: readonly string[],
): Promise<OffsiteOutcome> {
  const startedAt = Date.now();
  try {
    if (!(await restic.exists(target))) await restic.init(target, set.repository);
    await restic.copyFrom(target, set.repository, runIds);
    const listed = await restic.snapshots(target, [tag.set(set.name)]);
    const there = new Set(
      listed.flatMap((snapshot) => (snapshot.original ? [snapshot.original, snapshot.id] : [snapshot.id])),
    );
    // 0.14 reports short ids from backup; copies record the full id as `original`.
    const missing = runIds.filter((id) => ![...there].some((full) => full.startsWith(id)));
    return {
      repository: target.name,
      ok: missing.length === 0,
      present: runIds.length - missing.length,
      missing,
      ...(missing.length > 0
        ? {
            error: `${missing.length} snapshot(s) of this run are missing on ${target.name} after the copy`,
            exitCode: 3,
          }
        : {}),
      durationMs: Date.now() - startedAt,
      snapshots: listed.length,
    };
  } catch (error) {
    return {
      repository: target.name,
      ok: false,
      present: 0,
      missing: [...runIds],
      error: messageOf(error),
      // The local backup is written and kept: only "unreachable" and "locked" keep their own
      // codes; anything else (a refused credential, a wrong password…) makes the run partial.
      exitCode:
        error instanceof SnapkeepError &&
        (error.exitCode === ExitCode.targetUnreachable || error.exitCode === ExitCode.locked)
          ? error.exitCode
          : ExitCode.partial,
      durationMs: Date.now() - startedAt,
    };
  }
}

type Job =
  | {
      readonly kind: 'paths';
      readonly source: string;
      readonly what: string;
      readonly paths: readonly string[];
      readonly exclude: readonly string[];
    }
  | {
      readonly kind: 'stream';
      readonly source: string;
      readonly what: string;
      readonly database: string;
      readonly filename: string;
      readonly postgres: PostgresSource;
      readonly password: string | undefined;
    };

async function jobsOf(source: ResolvedSource, set: string): Promise<Job[]> {
  if (source.type === 'directory')
    return [
      {
        kind: 'paths',
        source: source.name,
        what: source.paths.join(' '),
        paths: source.paths,
        exclude: source.exclude,
      },
    ];
  const password = await passwordOf(source);
  return (await databasesOf(source)).map((database) => ({
    kind: 'stream',
    source: source.name,
    what: `database ${database}`,
    database,
    filename: dumpFilename(set, source.name, database),
    postgres: source,
    password,
  }));
}

export interface RestorePoint {
  readonly set: string;
  readonly run: string;
  /** The newest item's time (ISO 8601, UTC). */
  readonly time: string;
  readonly repository: string;
  /** With this repository's snapshot ids (a copy has its own). */
  readonly items: readonly SetItem[];
}

/** Every run of a set in a repository (complete or not), from the snapshots' tags. */
export async function runsOf(
  restic: Restic,
  repository: ResolvedRepository,
  set: string,
): Promise<{ run: string; complete: boolean; snapshots: SnapshotInfo[] }[]> {
  const byRun = new Map<string, SnapshotInfo[]>();
  for (const snapshot of await restic.snapshots(repository, [tag.set(set)])) {
    const run = tagValue(snapshot.tags, 'run');
    if (run !== undefined) byRun.set(run, [...(byRun.get(run) ?? []), snapshot]);
  }
  return [...byRun].map(([run, snapshots]) => {
    const expected = Number(tagValue(snapshots[0]?.tags, 'items'));
    return { run, complete: Number.isInteger(expected) && snapshots.length === expected, snapshots };
  });
}

export const runTime = (snapshots: readonly SnapshotInfo[]): string =>
  snapshots
    .map((snapshot) => snapshot.time)
    .sort()
    .at(-1) ?? '';

/** The complete runs of a set in a repository, newest first. */
export async function restorePoints(
  restic: Restic,
  repository: ResolvedRepository,
  set: string,
): Promise<RestorePoint[]> {
  const points: RestorePoint[] = [];
  for (const { run, complete, snapshots } of await runsOf(restic, repository, set)) {
    if (!complete) continue;
    points.push({
      set,
      run,
      time: runTime(snapshots),
      repository: repository.name,
      items: snapshots.map((snapshot): SetItem => {
        const source = tagValue(snapshot.tags, 'source') ?? '?';
        const database = tagValue(snapshot.tags, 'database');
        return database === undefined
          ? { source, type: 'directory', paths: snapshot.paths, snapshotId: snapshot.id }
          : {
              source,
              type: 'postgres',
              database,
              filename: snapshot.paths[0] ?? '',
              snapshotId: snapshot.id,
            };
      }),
    });
  }
  return points.sort((a, b) => b.time.localeCompare(a.time));
}
