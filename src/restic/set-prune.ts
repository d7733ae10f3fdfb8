// `prune` for backup sets: per repository with a `retention:`, decide which runs to keep
// (plan/restic-retention.ts), report every decision with its reason, then `restic forget` the
// snapshots of the runs that go and `restic prune`. Append-only repositories are never asked to
// delete: the admin command is reported instead (keep-within rules: a client that can write
// snapshots can fake their times, which keep-daily & co. would trust). The run (lock, journal) is
// the caller's: `prune` prunes btrfs snapshots in the same run.
import type { ResolvedBackupSet, ResolvedRepository } from '../config/resolve.js';
import { ExitCode, SnapkeepError } from '../errors.js';
import { decideRuns, hasRetention, type RunDecision } from '../plan/restic-retention.js';
import type { Journal } from '../state/journal.js';
import { resolveSecretsOf, runTime, runsOf } from './backup-set.js';
import { Restic } from './restic.js';

/** What pruning backup sets reports as it goes. */
export type SetPruneEvent =
  | {
      /** An append-only repository: the admin identity must delete, with this command. */
      readonly type: 'note';
      readonly set: string;
      readonly repository: string;
      readonly appendOnly: true;
      readonly adminCommand: string;
    }
  | ({
      readonly type: 'decision';
      readonly set: string;
      readonly repository: string;
      readonly dryRun: boolean;
    } & RunDecision)
  | {
      /** Runs that could not be listed, deleted or pruned in one repository (the others go on). */
      readonly type: 'prune-error';
      readonly set: string;
      readonly repository: string;
      readonly stage: 'list' | 'forget' | 'prune';
      readonly error: string;
      readonly exitCode: number;
    }
  | {
      readonly type: 'pruned';
      readonly set: string;
      readonly repository: string;
      readonly deletedRuns: readonly string[];
    }
  | {
      /** The backup sets' part of a prune: how many runs it deleted (would delete, --dry-run). */
      readonly type: 'sets-pruned';
      readonly dryRun: boolean;
      readonly runs: number;
    };

export function adminForgetCommand(set: string, repository: ResolvedRepository): string {
  const within = repository.retention?.keep_within ?? '90d';
  return `RESTIC_REPOSITORY=${repository.url} restic forget --tag snapkeep-set=${set} --keep-within ${within} --prune   # with the ADMIN identity (credentials that may delete)`;
}

/**
 * Every secret the prune of these sets needs, resolved: a missing one is a configuration error
 * (exit 2) before anything is deleted — `prune` calls it before its btrfs part and the lock.
 */
export async function resolvePruneSecrets(sets: readonly ResolvedBackupSet[]): Promise<Restic> {
  const restic = await Restic.detect();
  await resolveSecretsOf(
    restic,
    [],
    sets
      .flatMap((set) => [set.repository, ...set.offsite])
      .filter((repository) => hasRetention(repository.retention) && !repository.appendOnly),
  );
  return restic;
}

export async function pruneSets(
  sets: readonly ResolvedBackupSet[],
  options: { readonly dryRun: boolean; readonly journal?: Journal },
  report: (event: SetPruneEvent) => void,
): Promise<number> {
  const restic = await resolvePruneSecrets(sets);
  let exitCode: number = ExitCode.ok;
  let deleted = 0;
  for (const set of sets) {
    for (const repository of [set.repository, ...set.offsite]) {
      if (!hasRetention(repository.retention)) continue;
      const names = { set: set.name, repository: repository.name };
      const failed = (stage: 'list' | 'forget' | 'prune', error: string, code: number): void => {
        report({ type: 'prune-error', ...names, stage, error, exitCode: code });
        exitCode = Math.max(exitCode, code);
      };
      if (repository.appendOnly) {
        report({
          type: 'note',
          ...names,
          appendOnly: true,
          adminCommand: adminForgetCommand(set.name, repository),
        });
        continue;
      }
      let decisions: RunDecision[];
      let listed: number;
      try {
        const runs = await runsOf(restic, repository, set.name);
        listed = runs.reduce((count, run) => count + run.snapshots.length, 0);
        decisions = decideRuns(
          runs.map(({ run, complete, snapshots }) => ({
            run,
            complete,
            time: new Date(runTime(snapshots)),
            snapshotIds: snapshots.map((snapshot) => snapshot.id),
          })),
          repository.retention,
        );
      } catch (error) {
        if (!(error instanceof SnapkeepError)) throw error;
        failed('list', error.message, error.exitCode);
        continue;
      }
      for (const decision of decisions)
        report({ type: 'decision', ...names, dryRun: options.dryRun, ...decision });
      const doomed = decisions.filter((decision) => decision.action === 'delete');
      if (options.dryRun) {
        deleted += doomed.length;
        continue;
      }
      // What the listing found, less what is forgotten: the set's snapshots there now.
      const remaining = (count: number): Promise<void> | undefined =>
        options.journal?.append('restic-snapshots', {
          ...names,
          primary: repository === set.repository,
          count,
        });
      if (doomed.length === 0) {
        await remaining(listed);
        continue;
      }
      const forgotten = doomed.flatMap((decision) => decision.snapshotIds);
      const forgot = await restic.forget(repository, forgotten);
      if (forgot.exitCode !== 0) {
        const refused = /403|forbidden|permission denied|append.only|not allowed/i.test(forgot.stderr);
        const failure = refused ? undefined : restic.failure(repository, forgot, 'forget');
        failed(
          'forget',
          failure
            ? failure.message
            : `the server refused to delete (an append-only repository?). Mark it append_only: true, and prune with the admin identity:\n  ${adminForgetCommand(set.name, repository)}`,
          failure ? failure.exitCode : ExitCode.partial,
        );
        continue;
      }
      deleted += doomed.length; // forgotten: no longer restore points, whatever prune does
      await remaining(listed - forgotten.length);
      const pruned = await restic.prune(repository);
      await options.journal?.append('restic-prune', {
        ...names,
        deletedRuns: doomed.map((decision) => decision.run),
        pruneOk: pruned.exitCode === 0,
      });
      if (pruned.exitCode !== 0)
        failed('prune', restic.failure(repository, pruned, 'prune').message, ExitCode.partial);
      else report({ type: 'pruned', ...names, deletedRuns: doomed.map((decision) => decision.run) });
    }
  }
  report({ type: 'sets-pruned', dryRun: options.dryRun, runs: deleted });
  return exitCode;
}
