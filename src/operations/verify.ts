// The `verify` run: `restic check` of every repository the backup sets use (a rotating part of the
// data, src/restic/set-verify.ts) and, with the drill, the restore drill of each set's latest run
// and of one btrfs target copy (src/btrfs/drill.ts) — one run (withRun) across both engines,
// which is why it lives above them.
import type { ResolvedConfig, ResolvedRepository } from '../config/resolve.js';
import { ExitCode, UsageError } from '../errors.js';
import { selectSubvolumes } from '../btrfs/btrfs-run.js';
import { drillBtrfs, type BtrfsDrillEvent } from '../btrfs/drill.js';
import { selectSets } from '../restic/backup-run.js';
import { Restic } from '../restic/restic.js';
import { checkRepositories, drillSet, planChecks, type ResticVerifyEvent } from '../restic/set-verify.js';
import type { Journal } from '../state/journal.js';
import { cleanUpOnInterrupt, exitCodeOf, withRun } from '../state/run-lifecycle.js';

export type VerifyEvent =
  | ResticVerifyEvent
  | BtrfsDrillEvent
  | {
      readonly type: 'summary';
      readonly command: 'verify';
      readonly dryRun: boolean;
      readonly exitCode: number;
    };

export interface VerifyRequest {
  readonly config: ResolvedConfig;
  /** Backup sets and subvolumes (one namespace); none: all. */
  readonly names: readonly string[];
  /** Read 1/parts of each repository's data per run. */
  readonly parts: number;
  readonly drill: boolean;
  /**
   * A repository name of the sets: only it is checked and the drills restore from it (an offsite
   * instead of the primary); btrfs copies are then not drilled.
   */
  readonly from?: string;
  readonly dryRun: boolean;
  readonly now?: Date;
}

/** --parts: a whole number from 1 to 1000 (checked before the config is read, and here). */
export function checkParts(parts: number): void {
  if (!Number.isInteger(parts) || parts < 1 || parts > 1000)
    throw new UsageError(`--parts ${parts}: expected a whole number from 1 (read everything) to 1000`);
}

export async function verify(request: VerifyRequest, report: (event: VerifyEvent) => void): Promise<number> {
  const { config: resolved, names, dryRun } = request;
  checkParts(request.parts);
  const isSubvolume = (name: string): boolean =>
    resolved.subvolumes.some((subvolume) => subvolume.name === name);
  const unknown = names.filter(
    (name) => !isSubvolume(name) && !resolved.backupSets.some((set) => set.name === name),
  );
  if (unknown.length > 0)
    throw new UsageError(
      `unknown backup set or subvolume ${unknown.map((name) => `"${name}"`).join(', ')}; the config defines: ${[...resolved.backupSets.map((set) => set.name), ...resolved.subvolumes.map((subvolume) => subvolume.name)].join(', ') || '(none)'}`,
    );
  const setNames = names.filter((name) => !isSubvolume(name));
  const subvolumeNames = names.filter(isSubvolume);
  const { from } = request;
  if (from !== undefined && subvolumeNames.length > 0)
    throw new UsageError(
      `--from ${from}: a repository of backup sets; ${subvolumeNames.join(', ')} ${subvolumeNames.length === 1 ? 'is a btrfs subvolume' : 'are btrfs subvolumes'} (its drill picks the target itself)`,
    );
  // Named: only those; unnamed: everything.
  const sets = names.length > 0 && setNames.length === 0 ? [] : selectSets(resolved, setNames);
  const subvolumes =
    !request.drill || from !== undefined
      ? []
      : names.length > 0 && subvolumeNames.length === 0
        ? []
        : selectSubvolumes(resolved, subvolumeNames);
  // The repository each set is drilled from: its own, or the one --from names (which every set
  // verified must have).
  const drillFrom = new Map<string, ResolvedRepository>();
  for (const set of sets) {
    const own = [set.repository, ...set.offsite];
    const chosen = from === undefined ? set.repository : own.find((repository) => repository.name === from);
    if (!chosen)
      throw new UsageError(
        `--from ${from ?? ''}: not a repository of backup set ${set.name}; its repositories: ${own.map((repository) => repository.name).join(', ')}`,
      );
    drillFrom.set(set.name, chosen);
  }
  if (from !== undefined && sets.length === 0)
    throw new UsageError(`--from ${from}: no backup sets are defined (backup_sets: in the config)`);
  const byName = new Map<string, ResolvedRepository>();
  for (const set of sets)
    for (const repository of from === undefined
      ? [set.repository, ...set.offsite]
      : [drillFrom.get(set.name)!])
      byName.set(repository.name, repository);
  const repositories = [...byName.values()];
  if (repositories.length === 0 && subvolumes.length === 0)
    throw new UsageError(
      subvolumeNames.length > 0
        ? `${subvolumeNames.join(', ')}: btrfs subvolumes are verified by a restore drill: add --drill`
        : 'no backup sets are defined (backup_sets: in the config); btrfs targets are verified with --drill',
    );
  const now = request.now ?? new Date();
  const drillBtrfsCopies = (journal?: Journal): Promise<number[]> =>
    drillBtrfs({
      subvolumes,
      stateDir: resolved.stateDir,
      dryRun,
      now,
      report,
      ...(journal ? { journal } : {}),
      onInterrupt: cleanUpOnInterrupt,
    });
  if (dryRun) {
    await planChecks(repositories, { stateDir: resolved.stateDir, parts: request.parts }, report);
    if (request.drill)
      for (const set of sets)
        report({
          type: 'drill-plan',
          kind: 'restic',
          set: set.name,
          repository: drillFrom.get(set.name)!.name,
        });
    const exitCode = exitCodeOf(await drillBtrfsCopies());
    report({ type: 'summary', command: 'verify', dryRun, exitCode });
    return exitCode;
  }
  const restic = repositories.length > 0 ? await Restic.detect() : undefined;
  return withRun(
    {
      stateDir: resolved.stateDir,
      command: 'verify',
      fields: {
        repositories: repositories.map((repository) => repository.name),
        ...(subvolumes.length > 0 ? { subvolumes: subvolumes.map((subvolume) => subvolume.name) } : {}),
      },
      now,
    },
    async ({ journal }) => {
      // Per repository and drill: 0, or how it failed.
      const codes: number[] = restic
        ? await checkRepositories(
            restic,
            repositories,
            { stateDir: resolved.stateDir, parts: request.parts, journal },
            report,
          )
        : [];
      if (request.drill && restic)
        for (const set of sets) {
          const repository = drillFrom.get(set.name)!;
          const ok = await drillSet(restic, set, resolved.stateDir, report, repository);
          await journal.append('drill', { set: set.name, ok, repository: repository.name });
          if (!ok) codes.push(ExitCode.partial);
        }
      if (request.drill) codes.push(...(await drillBtrfsCopies(journal)));
      const exitCode = exitCodeOf(codes);
      report({ type: 'summary', command: 'verify', dryRun, exitCode });
      return exitCode;
    },
  );
}
