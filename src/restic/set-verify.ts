// Verifying backup sets: `restic check` of each repository, reading a different 1/N of the pack
// data each time (`--read-data-subset k/N`, k remembered in `<state_dir>/verify.json`), so the
// whole repository is read over N runs without reading it all every night; and the restore
// drill: a set's latest run restored into a scratch directory and scratch databases, each
// database compared table by table with the checksums recorded when it was dumped.
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ResolvedBackupSet, ResolvedRepository } from '../config/resolve.js';
import { ExitCode, SnapkeepError } from '../errors.js';
import { runCommand } from '../exec/command.js';
import type { Journal } from '../state/journal.js';
import { passwordOf, restorePoints } from './backup-set.js';
import { checksumsOf } from './checksums.js';
import { dropDatabase } from './postgres.js';
import { readRecordedChecksums } from './recorded-checksums.js';
import type { Restic } from './restic.js';
import { restoreSetRun } from './set-restore.js';

export type ResticVerifyEvent =
  | {
      /** --dry-run: the part of the pack data a check would read. */
      readonly type: 'plan';
      readonly repository: string;
      readonly subset: string;
    }
  | {
      readonly type: 'check';
      readonly repository: string;
      /** The one shape of every check (src/cli/output.ts). */
      readonly status: 'ok' | 'fail';
      readonly subset: string;
      readonly detail: string;
      readonly durationMs: number;
    }
  | {
      readonly type: 'drill-plan';
      readonly kind: 'restic';
      readonly set: string;
      readonly repository: string;
    }
  | ResticDrillEvent;

/** One finding of a set's drill: a database compared, directories restored, or why it failed. */
export interface ResticDrillEvent {
  readonly type: 'drill';
  readonly kind: 'restic';
  readonly set: string;
  /** The repository the run was restored from (the set's own, or the one of --from). */
  readonly repository: string;
  readonly run?: string;
  readonly ok: boolean;
  readonly detail: string;
  readonly database?: string;
  readonly tables?: number;
  readonly rows?: number;
  /** Tables whose row count or checksum differs from the dump's. */
  readonly differing?: readonly string[];
  /** false: no checksums were recorded for this run on this host (restored, not compared). */
  readonly compared?: boolean;
  /** Directory items: the paths restored, and where. */
  readonly paths?: readonly string[];
  readonly scratch?: string;
}

type VerifyState = Record<string, { nextPart: number; parts: number; lastFullReadAt?: string }>;

const statePath = (stateDir: string): string => join(stateDir, 'verify.json');

async function loadState(stateDir: string): Promise<VerifyState> {
  try {
    return JSON.parse(await readFile(statePath(stateDir), 'utf8')) as VerifyState;
  } catch {
    return {};
  }
}

/** A changed N starts the rotation again. */
const partOf = (state: VerifyState, repository: string, parts: number): number => {
  const remembered = state[repository];
  return remembered && remembered.parts === parts ? remembered.nextPart : 1;
};

/** --dry-run: which part each check would read. */
export async function planChecks(
  repositories: readonly ResolvedRepository[],
  options: { readonly stateDir: string; readonly parts: number },
  report: (event: ResticVerifyEvent) => void,
): Promise<void> {
  const state = await loadState(options.stateDir);
  for (const repository of repositories)
    report({
      type: 'plan',
      repository: repository.name,
      subset: `${partOf(state, repository.name, options.parts)}/${options.parts}`,
    });
}

/** Check each repository (its next part of the data) and move the rotation on; per repository 0 or how it failed. */
export async function checkRepositories(
  restic: Restic,
  repositories: readonly ResolvedRepository[],
  options: { readonly stateDir: string; readonly parts: number; readonly journal: Journal },
  report: (event: ResticVerifyEvent) => void,
): Promise<number[]> {
  const { parts } = options;
  // Read under the lock: a concurrent verify may have moved the rotation on.
  const state = await loadState(options.stateDir);
  const codes: number[] = [];
  for (const repository of repositories) {
    const remembered = state[repository.name];
    const part = partOf(state, repository.name, parts);
    const subset = `${part}/${parts}`;
    const startedAt = Date.now();
    let ok = false;
    let detail: string;
    try {
      const result = await restic.run(repository, ['check', '--read-data-subset', subset]);
      ok = result.exitCode === 0;
      const failure = ok ? undefined : restic.failure(repository, result, 'check');
      detail = failure ? failure.message : `structure and pack data ${subset} read and verified`;
      // A damaged repository is a failed job (3); unreachable or a wrong password keep their codes.
      if (failure) codes.push(failure.problem === 'other' ? ExitCode.partial : failure.exitCode);
    } catch (error) {
      if (!(error instanceof SnapkeepError)) throw error;
      detail = error.message;
      codes.push(error.exitCode);
    }
    if (ok) {
      const next = (part % parts) + 1;
      state[repository.name] = {
        nextPart: next,
        parts,
        ...(part === parts
          ? { lastFullReadAt: new Date().toISOString() }
          : remembered?.lastFullReadAt
            ? { lastFullReadAt: remembered.lastFullReadAt }
            : {}),
      };
    }
    const durationMs = Date.now() - startedAt;
    report({
      type: 'check',
      repository: repository.name,
      status: ok ? 'ok' : 'fail',
      subset,
      detail,
      durationMs,
    });
    await options.journal.append('verify', { repository: repository.name, ok, subset, durationMs });
  }
  const path = statePath(options.stateDir);
  await mkdir(options.stateDir, { recursive: true });
  await writeFile(`${path}.tmp`, `${JSON.stringify(state, null, 2)}\n`);
  await rename(`${path}.tmp`, path);
  return codes;
}

/**
 * The restore drill of a set: its latest restore point (in `repository`, by default the set's
 * own; an offsite one reads every byte from there) restored into a scratch directory and
 * scratch databases (inside the caller's run), then each database compared table by table (rows
 * and checksums) with what was recorded when it was dumped. Everything scratch is removed
 * afterwards. Whether every finding was ok.
 */
export async function drillSet(
  restic: Restic,
  set: ResolvedBackupSet,
  stateDir: string,
  report: (event: ResticDrillEvent) => void,
  repository: ResolvedRepository = set.repository,
): Promise<boolean> {
  const base = { type: 'drill', kind: 'restic', set: set.name, repository: repository.name } as const;
  const [point] = await restorePoints(restic, repository, set.name);
  if (!point) {
    report({ ...base, ok: false, detail: `no complete run to restore in ${repository.name}` });
    return false;
  }
  await mkdir(stateDir, { recursive: true });
  const scratch = await mkdtemp(join(stateDir, `drill-${set.name}-`));
  const renames = point.items.flatMap((item) =>
    item.database === undefined
      ? []
      : [[item.database, `snapkeep_drill_${process.pid}_${item.database}`.slice(0, 63)] as const],
  );
  const recorded = await readRecordedChecksums(stateDir, set.name, point.run);
  let ok = true;
  try {
    const restored = await restoreSetRun(
      set,
      {
        run: point.run,
        from: repository.name,
        to: scratch,
        databases: renames.map(([from, into]) => `${from}=${into}`),
        force: false,
        yes: true,
        dryRun: false,
        stateDir,
        verify: true,
        restic,
      },
      () => undefined,
    );
    if (restored !== ExitCode.ok) ok = false;
    for (const item of point.items) {
      if (item.database === undefined) continue;
      const source = set.sources.find((candidate) => candidate.name === item.source);
      if (source?.type !== 'postgres') continue;
      const scratchDatabase = renames.find(([from]) => from === item.database)?.[1] ?? '';
      const password = await passwordOf(source);
      const then = recorded[item.database];
      const now = await checksumsOf(source, scratchDatabase, password, then);
      const tables = Object.keys(now).length;
      const rows = Object.values(now).reduce((total, table) => total + table.rows, 0);
      const found = { ...base, run: point.run, database: item.database, tables, rows };
      if (!then) {
        report({
          ...found,
          ok: true,
          compared: false,
          detail: `database ${item.database} of run ${point.run} restored (${tables} tables; no checksums were recorded for this run on this host)`,
        });
        continue;
      }
      const differing = [...new Set([...Object.keys(then), ...Object.keys(now)])].filter(
        (table) => then[table]?.rows !== now[table]?.rows || then[table]?.checksum !== now[table]?.checksum,
      );
      if (differing.length > 0) ok = false;
      report({
        ...found,
        ok: differing.length === 0,
        compared: true,
        differing,
        detail:
          differing.length === 0
            ? `database ${item.database} of run ${point.run}: ${tables} tables, ${rows} rows, every row count and checksum equal to the dump's`
            : `database ${item.database} of run ${point.run} differs from what was dumped in: ${differing.join(', ')}`,
      });
    }
    for (const item of point.items)
      if (item.type === 'directory')
        report({
          ...base,
          run: point.run,
          ok: true,
          paths: item.paths ?? [],
          scratch,
          detail: `${(item.paths ?? []).join(' ')} restored under ${scratch} (restic verified every file's content hash)`,
        });
  } catch (error) {
    if (!(error instanceof SnapkeepError)) throw error;
    ok = false;
    report({ ...base, run: point.run, ok: false, detail: error.message });
  } finally {
    for (const item of point.items) {
      const source = set.sources.find((candidate) => candidate.name === item.source);
      const scratchDatabase = renames.find(([from]) => from === item.database)?.[1];
      if (source?.type === 'postgres' && scratchDatabase) {
        const password = await passwordOf(source);
        await runCommand(dropDatabase(source, scratchDatabase, password));
      }
    }
    await rm(scratch, { recursive: true, force: true });
  }
  return ok;
}
