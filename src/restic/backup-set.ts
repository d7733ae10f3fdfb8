// A backup set in restic: every source of the set captured in one run (one restic snapshot per
// directory source and per database, all tagged with the set and the run), then a small manifest
// snapshot listing them. The manifest is written only when every item succeeded, so "the latest
// restorable point" of a set is its newest manifest — never a mix of runs, and never a run with a
// failed dump (seed 004's flaw). The manifest lives in the repository, so a rebuilt host with an
// empty state directory restores from it just the same.
import { runCommand } from '../exec/command.js';
import type { ResolvedBackupSet, ResolvedRepository, ResolvedSource } from '../config/resolve.js';
import { SnapkeepError } from '../errors.js';
import { dumpDatabase, listDatabases, type PostgresSource } from './postgres.js';
import type { Restic, SnapshotInfo } from './restic.js';
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
}

export interface Manifest {
  readonly format: 1;
  readonly set: string;
  readonly run: string;
  readonly time: string;
  readonly items: readonly SetItem[];
}

// Flat names: restic 0.17+ treats a "/" in --stdin-filename as directories it must find on disk.
export const manifestFilename = (set: string): string => `snapkeep-${set}-manifest.json`;
const dumpFilename = (set: string, source: string, database: string): string =>
  `snapkeep-${set}-${source}-${database}.pgdump`;
const tag = {
  set: (set: string) => `snapkeep-set=${set}`,
  run: (run: string) => `snapkeep-run=${run}`,
  source: (source: string) => `snapkeep-source=${source}`,
  manifest: 'snapkeep-manifest',
};

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

async function passwordOf(source: PostgresSource): Promise<string | undefined> {
  return source.password === undefined
    ? undefined
    : resolveSecret(source.password, `sources.${source.name}.password`);
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
  /** This run's snapshots (items and manifest) now present there. */
  readonly present: number;
  /** Source snapshot ids of this run that are not there after the copy. */
  readonly missing: readonly string[];
  readonly error?: string;
  /** The exit code the failure implies (10: unreachable, 2: its password is wrong, …). */
  readonly exitCode?: number;
  readonly durationMs: number;
}

export interface SetOutcome {
  readonly set: string;
  readonly run: string;
  readonly ok: boolean;
  readonly items: readonly ItemOutcome[];
  readonly manifestId?: string;
  readonly offsite?: readonly OffsiteOutcome[];
  readonly error?: string;
}

/** Back up every source of the set into its repository (created when missing), then the manifest. */
export async function backupSet(
  restic: Restic,
  set: ResolvedBackupSet,
  run: string,
  report: (outcome: ItemOutcome) => void,
  reportOffsite?: (outcome: OffsiteOutcome) => void,
): Promise<SetOutcome> {
  const repository = set.repository;
  if (!(await restic.exists(repository))) await restic.init(repository);
  const outcomes: ItemOutcome[] = [];
  const record = (outcome: ItemOutcome): void => {
    outcomes.push(outcome);
    report(outcome);
  };
  const tags = (source: string): string[] => [tag.set(set.name), tag.run(run), tag.source(source)];
  for (const source of set.sources) {
    for (const job of await jobsOf(source, set.name)) {
      const startedAt = Date.now();
      try {
        const snapshotId =
          job.kind === 'paths'
            ? await restic.backupPaths(repository, job.paths, {
                exclude: job.exclude,
                tags: tags(source.name),
              })
            : await restic.backupStream(repository, job.producer, {
                filename: job.filename,
                tags: tags(source.name),
                what: `pg_dump of database ${job.database} (source ${source.name})`,
              });
        record({
          source: source.name,
          what: job.what,
          ok: true,
          durationMs: Date.now() - startedAt,
          item:
            job.kind === 'paths'
              ? { source: source.name, type: 'directory', paths: job.paths, snapshotId }
              : {
                  source: source.name,
                  type: 'postgres',
                  database: job.database,
                  filename: job.filename,
                  snapshotId,
                },
        });
      } catch (error) {
        record({
          source: source.name,
          what: job.what,
          ok: false,
          error: error instanceof Error ? error.message : String(error),
          durationMs: Date.now() - startedAt,
        });
      }
    }
  }
  const failed = outcomes.filter((outcome) => !outcome.ok);
  if (failed.length > 0)
    return {
      set: set.name,
      run,
      ok: false,
      items: outcomes,
      error: `${failed.length} of ${outcomes.length} item(s) failed; no manifest was written, so this run is not a restore point`,
    };
  const manifest: Manifest = {
    format: 1,
    set: set.name,
    run,
    time: new Date().toISOString(),
    items: outcomes.flatMap((outcome) => (outcome.item ? [outcome.item] : [])),
  };
  const manifestId = await restic.backupText(repository, `${JSON.stringify(manifest, null, 2)}\n`, {
    filename: manifestFilename(set.name),
    tags: [tag.set(set.name), tag.run(run), tag.manifest],
  });
  const runIds = [...manifest.items.map((item) => item.snapshotId), manifestId];
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
    manifestId,
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
    const there = new Set(
      (await restic.snapshots(target, [tag.set(set.name)])).flatMap((snapshot) =>
        snapshot.original ? [snapshot.original, snapshot.id] : [snapshot.id],
      ),
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
    };
  } catch (error) {
    return {
      repository: target.name,
      ok: false,
      present: 0,
      missing: [...runIds],
      error: error instanceof Error ? error.message : String(error),
      exitCode: error instanceof SnapkeepError ? error.exitCode : 1,
      durationMs: Date.now() - startedAt,
    };
  }
}

type Job =
  | {
      readonly kind: 'paths';
      readonly what: string;
      readonly paths: readonly string[];
      readonly exclude: readonly string[];
    }
  | {
      readonly kind: 'stream';
      readonly what: string;
      readonly database: string;
      readonly filename: string;
      readonly producer: ReturnType<typeof dumpDatabase>;
    };

async function jobsOf(source: ResolvedSource, set: string): Promise<Job[]> {
  if (source.type === 'directory')
    return [{ kind: 'paths', what: source.paths.join(' '), paths: source.paths, exclude: source.exclude }];
  const password = await passwordOf(source);
  return (await databasesOf(source)).map((database) => ({
    kind: 'stream',
    what: `database ${database}`,
    database,
    filename: dumpFilename(set, source.name, database),
    producer: dumpDatabase(source, database, password),
  }));
}

export interface RestorePoint {
  readonly set: string;
  readonly run: string;
  readonly time: string;
  readonly manifestId: string;
  readonly repository: string;
}

/** The complete runs of a set in a repository (newest first), from the manifests' tags. */
export async function restorePoints(
  restic: Restic,
  repository: ResolvedRepository,
  set: string,
): Promise<RestorePoint[]> {
  const snapshots: SnapshotInfo[] = await restic.snapshots(repository, [tag.set(set), tag.manifest]);
  return snapshots
    .map((snapshot) => ({
      set,
      run:
        (snapshot.tags ?? [])
          .find((value) => value.startsWith('snapkeep-run='))
          ?.slice('snapkeep-run='.length) ?? '?',
      time: snapshot.time,
      manifestId: snapshot.id,
      repository: repository.name,
    }))
    .sort((a, b) => b.time.localeCompare(a.time));
}

export async function readManifest(
  restic: Restic,
  repository: ResolvedRepository,
  point: RestorePoint,
): Promise<Manifest> {
  const text = await restic.dumpText(repository, point.manifestId, `/${manifestFilename(point.set)}`);
  const manifest = JSON.parse(text) as Manifest;
  if (manifest.format !== 1 || manifest.set !== point.set)
    throw new SnapkeepError(`the manifest of run ${point.run} of ${point.set} is not one snapkeep can read`);
  return manifest;
}
