// `verify`: `restic check` of every repository the backup sets use, reading a different 1/N of
// the pack data each time (`--read-data-subset k/N`, k remembered in the state directory), so the
// whole repository is read over N runs without reading it all every night. `--drill` also
// restores: each backup set's latest run (below), and one btrfs target copy per run, rotating
// through subvolumes × targets (src/btrfs/drill.ts).
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand } from '../exec/command.js';
import { loadResolvedConfig } from '../config/config-cache.js';
import type { ResolvedBackupSet, ResolvedRepository } from '../config/resolve.js';
import { ExitCode, SnapkeepError, UsageError } from '../errors.js';
import { Restic } from '../restic/restic.js';
import { cleanUpOnInterrupt, exitCodeOf, withRun } from '../state/run-lifecycle.js';
import type { Journal } from '../state/journal.js';
import { drillBtrfs, type BtrfsDrillEvent } from '../btrfs/drill.js';
import { selectSubvolumes } from '../btrfs/btrfs-run.js';
import { createProgressLine } from './progress.js';
import { checksumsPath, selectSets } from './backup-command.js';
import { restoreBackupSet } from './set-restore-command.js';
import { passwordOf, restorePoints } from '../restic/backup-set.js';
import { checksumsOf, type TableChecksums } from '../restic/checksums.js';
import { dropDatabase } from '../restic/postgres.js';
import { createOutput, type Output } from './output.js';

type VerifyState = Record<string, { nextPart: number; parts: number; lastFullReadAt?: string }>;

async function loadState(path: string): Promise<VerifyState> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as VerifyState;
  } catch {
    return {};
  }
}

export async function runVerify(options: {
  config?: string;
  json: boolean;
  /** Backup sets and subvolumes (one namespace); default all. */
  sets: readonly string[];
  parts: number;
  drill: boolean;
  dryRun?: boolean;
  now?: Date;
}): Promise<number> {
  const output = createOutput(options.json);
  const dryRun = options.dryRun ?? false;
  if (!Number.isInteger(options.parts) || options.parts < 1 || options.parts > 1000)
    throw new UsageError(
      `--parts ${options.parts}: expected a whole number from 1 (read everything) to 1000`,
    );
  const { resolved } = await loadResolvedConfig(options.config);
  const isSubvolume = (name: string): boolean =>
    resolved.subvolumes.some((subvolume) => subvolume.name === name);
  const unknown = options.sets.filter(
    (name) => !isSubvolume(name) && !resolved.backupSets.some((set) => set.name === name),
  );
  if (unknown.length > 0)
    throw new UsageError(
      `unknown backup set or subvolume ${unknown.map((name) => `"${name}"`).join(', ')}; the config defines: ${[...resolved.backupSets.map((set) => set.name), ...resolved.subvolumes.map((subvolume) => subvolume.name)].join(', ') || '(none)'}`,
    );
  const setNames = options.sets.filter((name) => !isSubvolume(name));
  const subvolumeNames = options.sets.filter(isSubvolume);
  // Named: only those; unnamed: everything.
  const sets = options.sets.length > 0 && setNames.length === 0 ? [] : selectSets(resolved, setNames);
  const subvolumes = !options.drill
    ? []
    : options.sets.length > 0 && subvolumeNames.length === 0
      ? []
      : selectSubvolumes(resolved, subvolumeNames);
  const repositories = new Map<string, ResolvedRepository>();
  for (const set of sets)
    for (const repository of [set.repository, ...set.offsite]) repositories.set(repository.name, repository);
  if (repositories.size === 0 && subvolumes.length === 0)
    throw new UsageError(
      subvolumeNames.length > 0
        ? `${subvolumeNames.join(', ')}: btrfs subvolumes are verified by a restore drill: add --drill`
        : 'no backup sets are defined (backup_sets: in the config); btrfs targets are verified with --drill',
    );
  const statePath = join(resolved.stateDir, 'verify.json');
  const names = [...repositories.keys()];
  const now = options.now ?? new Date();
  const drillBtrfsCopies = (journal?: Journal): Promise<number[]> =>
    drillBtrfs({
      subvolumes,
      stateDir: resolved.stateDir,
      dryRun,
      now,
      report: renderBtrfsDrill(output),
      ...(journal ? { journal } : {}),
      onInterrupt: cleanUpOnInterrupt,
    });
  if (dryRun) {
    const state = await loadState(statePath);
    for (const repository of repositories.values()) {
      const remembered = state[repository.name];
      const part = remembered && remembered.parts === options.parts ? remembered.nextPart : 1;
      output.event('plan', { repository: repository.name, subset: `${part}/${options.parts}` });
      output.text(`would check ${repository.name}: structure and pack data ${part}/${options.parts}`);
    }
    if (options.drill)
      for (const set of sets) {
        output.event('drill-plan', { kind: 'restic', set: set.name, repository: set.repository.name });
        output.text(
          `would drill ${set.name}: restore its latest run from ${set.repository.name} into a scratch directory and scratch databases, and compare`,
        );
      }
    const codes = await drillBtrfsCopies();
    output.text('dry run: nothing changed');
    return exitCodeOf(codes);
  }
  const restic = repositories.size > 0 ? await Restic.detect() : undefined;
  return withRun(
    {
      stateDir: resolved.stateDir,
      command: 'verify',
      fields: {
        repositories: names,
        ...(subvolumes.length > 0 ? { subvolumes: subvolumes.map((subvolume) => subvolume.name) } : {}),
      },
      now,
    },
    async ({ journal }) => {
      // Read under the lock: a concurrent verify may have moved the rotation on.
      const state = await loadState(statePath);
      // Per repository and drill: 0, or how it failed.
      const codes: number[] = [];
      for (const repository of restic ? repositories.values() : []) {
        const remembered = state[repository.name];
        // A changed N starts the rotation again.
        const part = remembered && remembered.parts === options.parts ? remembered.nextPart : 1;
        const subset = `${part}/${options.parts}`;
        const startedAt = Date.now();
        let ok = false;
        let detail: string;
        try {
          const result = await restic!.run(repository, ['check', '--read-data-subset', subset]);
          ok = result.exitCode === 0;
          const failure = ok ? undefined : restic!.failure(repository, result, 'check');
          detail = failure ? failure.message : `structure and pack data ${subset} read and verified`;
          // A damaged repository is a failed job (3); unreachable or a wrong password keep their codes.
          if (failure) codes.push(failure.problem === 'other' ? ExitCode.partial : failure.exitCode);
        } catch (error) {
          if (!(error instanceof SnapkeepError)) throw error;
          detail = error.message;
          codes.push(error.exitCode);
        }
        if (ok) {
          const next = (part % options.parts) + 1;
          state[repository.name] = {
            nextPart: next,
            parts: options.parts,
            ...(part === options.parts
              ? { lastFullReadAt: new Date().toISOString() }
              : remembered?.lastFullReadAt
                ? { lastFullReadAt: remembered.lastFullReadAt }
                : {}),
          };
        }
        const durationMs = Date.now() - startedAt;
        output.event('check', { repository: repository.name, ok, subset, detail, durationMs });
        output.text(
          `${ok ? 'ok  ' : 'FAIL'} ${repository.name}: ${detail} [${(durationMs / 1000).toFixed(2)}s]`,
        );
        if (!ok) output.warn(`ERROR: ${repository.name}: ${detail}`);
        await journal.append('verify', { repository: repository.name, ok, subset, durationMs });
      }
      if (restic) {
        await mkdir(resolved.stateDir, { recursive: true });
        await writeFile(`${statePath}.tmp`, `${JSON.stringify(state, null, 2)}\n`);
        await rename(`${statePath}.tmp`, statePath);
      }
      if (options.drill && restic)
        for (const set of sets) {
          const ok = await drill(restic, set, resolved.stateDir, output);
          await journal.append('drill', { set: set.name, ok });
          if (!ok) codes.push(ExitCode.partial);
        }
      if (options.drill) codes.push(...(await drillBtrfsCopies(journal)));
      return exitCodeOf(codes);
    },
  );
}

/** Text lines and JSON events of a btrfs drill (src/btrfs/drill.ts). */
function renderBtrfsDrill(output: Output): (event: BtrfsDrillEvent) => void {
  const progressLine = createProgressLine(output);
  return (event) => {
    const { type, ...fields } = event;
    if (type !== 'drill-progress') {
      progressLine.clear();
      output.event(type, fields);
    }
    switch (event.type) {
      case 'drill-skip':
        output.text(`skip ${event.subvolume}: drill: ${event.reason}`);
        return;
      case 'drill-leftover':
        if (event.dryRun) output.text(`would remove ${event.path} (scratch left by a killed drill)`);
        else if (event.ok) output.text(`ok   drill: removed ${event.path} (scratch left by a killed drill)`);
        else output.warn(`WARNING: cannot remove drill scratch ${event.path}: ${event.error ?? ''}`);
        return;
      case 'drill-plan': {
        const label = `${event.subvolume}@${event.target}`;
        const prefix = event.dryRun ? 'would drill' : 'drill';
        output.text(
          event.snapshot === undefined
            ? `${prefix} ${label}: ${event.reason}`
            : `${prefix} ${label}: receive ${event.snapshot} from ${event.target} (${event.host === 'local' ? event.copy : `${event.host}:${event.copy}`}) in full into ${event.scratch}, ${event.compareWith ? `compare every file with ${event.compareWith}` : 'nothing here to compare it with (its snapshot was pruned)'}, delete the scratch copy (${event.reason}${event.relation === 'received-uuid' ? '' : `; ${event.copyReason}`})`,
        );
        return;
      }
      case 'drill-progress':
        progressLine.show({
          fields: { subvolume: event.subvolume, target: event.target, drill: 'btrfs' },
          label: `drill ${event.subvolume}@${event.target}`,
          bytes: event.bytes,
          elapsedMs: event.elapsedMs,
        });
        return;
      case 'drill':
        output.text(
          `${event.ok ? 'ok  ' : 'FAIL'} ${event.subvolume}@${event.target}: drill: ${event.detail} [${(event.durationMs / 1000).toFixed(2)}s]`,
        );
        if (!event.ok) output.warn(`ERROR: ${event.subvolume}@${event.target}: drill: ${event.detail}`);
        return;
    }
  };
}

/**
 * The restore drill: the latest restore point of the set, restored into a scratch directory and
 * scratch databases, then each database compared table by table (rows and checksums) with what
 * was recorded when it was dumped. Everything scratch is removed afterwards.
 */
async function drill(
  restic: Restic,
  set: ResolvedBackupSet,
  stateDir: string,
  output: Output,
): Promise<boolean> {
  const [point] = await restorePoints(restic, set.repository, set.name);
  if (!point) {
    output.text(`FAIL ${set.name}: drill: no complete run to restore in ${set.repository.name}`);
    return false;
  }
  await mkdir(stateDir, { recursive: true });
  const scratch = await mkdtemp(join(stateDir, `drill-${set.name}-`));
  const renames = point.items.flatMap((item) =>
    item.database === undefined
      ? []
      : [[item.database, `snapkeep_drill_${process.pid}_${item.database}`.slice(0, 63)] as const],
  );
  let recorded: Record<string, TableChecksums> = {};
  try {
    recorded = JSON.parse(await readFile(checksumsPath(stateDir, set.name, point.run), 'utf8')) as Record<
      string,
      TableChecksums
    >;
  } catch {
    // Not recorded here (a run from another host, or before checksums): the restore is still tested.
  }
  let ok = true;
  try {
    const restored = await restoreBackupSet(
      set,
      {
        run: point.run,
        to: scratch,
        databases: renames.map(([from, into]) => `${from}=${into}`),
        force: false,
        yes: true,
        dryRun: false,
        stateDir,
        verify: true,
      },
      { ...output, text: () => undefined, event: () => undefined },
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
      if (!then) {
        output.text(
          `ok   ${set.name}: drill: database ${item.database} of run ${point.run} restored (${Object.keys(now).length} tables; no checksums were recorded for this run on this host)`,
        );
        continue;
      }
      const differing = [...new Set([...Object.keys(then), ...Object.keys(now)])].filter(
        (table) => then[table]?.rows !== now[table]?.rows || then[table]?.checksum !== now[table]?.checksum,
      );
      const rows = Object.values(now).reduce((total, table) => total + table.rows, 0);
      output.event('drill', {
        set: set.name,
        run: point.run,
        database: item.database,
        ok: differing.length === 0,
        tables: Object.keys(now).length,
        rows,
        differing,
      });
      if (differing.length === 0)
        output.text(
          `ok   ${set.name}: drill: database ${item.database} of run ${point.run}: ${Object.keys(now).length} tables, ${rows} rows, every row count and checksum equal to the dump's`,
        );
      else {
        ok = false;
        output.text(
          `FAIL ${set.name}: drill: database ${item.database} of run ${point.run} differs from what was dumped in: ${differing.join(', ')}`,
        );
      }
    }
    for (const item of point.items)
      if (item.type === 'directory')
        output.text(
          `ok   ${set.name}: drill: ${(item.paths ?? []).join(' ')} restored under ${scratch} (restic verified every file's content hash)`,
        );
  } catch (error) {
    if (!(error instanceof SnapkeepError)) throw error;
    ok = false;
    output.text(`FAIL ${set.name}: drill: ${error.message}`);
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
