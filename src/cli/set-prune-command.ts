// `prune` for backup sets: per repository with a `retention:`, decide which runs to keep
// (plan/restic-retention.ts), print every decision with its reason, then `restic forget` the
// snapshots of the runs that go and `restic prune`. Append-only repositories are never asked to
// delete: snapkeep prints the admin command instead (keep-within rules: a client that can write
// snapshots can fake their times, which keep-daily & co. would trust).
import type { ResolvedBackupSet, ResolvedRepository } from '../config/resolve.js';
import { ExitCode, SnapkeepError } from '../errors.js';
import { decideRuns, hasRetention, type RunDecision } from '../plan/restic-retention.js';
import { resolveSecretsOf, runTime, runsOf } from '../restic/backup-set.js';
import { Restic } from '../restic/restic.js';
import type { Journal } from '../state/journal.js';
import type { Output } from './output.js';

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

export async function pruneBackupSets(
  sets: readonly ResolvedBackupSet[],
  options: { readonly dryRun: boolean; readonly journal?: Journal },
  output: Output,
): Promise<number> {
  const restic = await resolvePruneSecrets(sets);
  let exitCode: number = ExitCode.ok;
  let wouldDelete = 0;
  for (const set of sets) {
    for (const repository of [set.repository, ...set.offsite]) {
      if (!hasRetention(repository.retention)) continue;
      const where = `${set.name} in ${repository.name}`;
      if (repository.appendOnly) {
        output.event('note', { set: set.name, repository: repository.name, appendOnly: true });
        output.text(
          `${where}: append-only (repositories.${repository.name}.append_only), so this identity cannot delete. Run instead:\n  ${adminForgetCommand(set.name, repository)}`,
        );
        continue;
      }
      let decisions: RunDecision[];
      try {
        const runs = await runsOf(restic, repository, set.name);
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
        output.warn(`ERROR: ${where}: ${error.message}`);
        exitCode = Math.max(exitCode, error.exitCode);
        continue;
      }
      const prefix = options.dryRun ? 'would ' : '';
      for (const decision of decisions) {
        output.event('decision', {
          set: set.name,
          repository: repository.name,
          dryRun: options.dryRun,
          ...decision,
        });
        output.text(
          `${where}: ${decision.action === 'keep' ? 'keep' : `${prefix}delete`} run ${decision.run} (${decision.reason})`,
        );
      }
      const doomed = decisions.filter((decision) => decision.action === 'delete');
      wouldDelete += doomed.length;
      if (options.dryRun || doomed.length === 0) continue;
      const forgot = await restic.forget(
        repository,
        doomed.flatMap((decision) => decision.snapshotIds),
      );
      if (forgot.exitCode !== 0) {
        const refused = /403|forbidden|permission denied|append.only|not allowed/i.test(forgot.stderr);
        const failure = refused ? undefined : restic.failure(repository, forgot, 'forget');
        output.warn(
          failure
            ? `ERROR: ${where}: ${failure.message}`
            : `ERROR: ${where}: the server refused to delete (an append-only repository?). Mark it append_only: true, and prune with the admin identity:\n  ${adminForgetCommand(set.name, repository)}`,
        );
        exitCode = Math.max(exitCode, failure ? failure.exitCode : ExitCode.partial);
        continue;
      }
      const pruned = await restic.prune(repository);
      await options.journal?.append('restic-prune', {
        set: set.name,
        repository: repository.name,
        deletedRuns: doomed.map((decision) => decision.run),
        pruneOk: pruned.exitCode === 0,
      });
      if (pruned.exitCode !== 0) {
        output.warn(`ERROR: ${where}: ${restic.failure(repository, pruned, 'prune').message}`);
        exitCode = Math.max(exitCode, ExitCode.partial);
      } else output.text(`${where}: deleted ${doomed.length} run(s), unused data pruned`);
    }
  }
  // The btrfs part's summary counts only its own steps: this one says what restic would delete.
  if (options.dryRun)
    output.text(`dry run: ${wouldDelete} backup-set run(s) would be deleted, nothing changed`);
  return exitCode;
}
