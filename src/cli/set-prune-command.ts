// `prune` for backup sets: the restic part of `prune` (src/restic/set-prune.ts), rendered as text
// or JSON. engine-command.ts runs it inside the prune's run, after the btrfs part.
import type { ResolvedBackupSet } from '../config/resolve.js';
import { pruneSets, type SetPruneEvent } from '../restic/set-prune.js';
import type { Journal } from '../state/journal.js';
import type { Output } from './output.js';
import { createPrinter, toStderr, type TextLine } from './printer.js';

export { adminForgetCommand, resolvePruneSecrets } from '../restic/set-prune.js';

export function setPruneText(event: SetPruneEvent): readonly TextLine[] {
  const where = 'set' in event ? `${event.set} in ${event.repository}` : '';
  switch (event.type) {
    case 'note':
      return [
        `${where}: append-only (repositories.${event.repository}.append_only), so this identity cannot delete. Run instead:\n  ${event.adminCommand}`,
      ];
    case 'decision':
      return [
        `${where}: ${event.action === 'keep' ? 'keep' : `${event.dryRun ? 'would ' : ''}delete`} run ${event.run} (${event.reason})`,
      ];
    case 'prune-error':
      return [toStderr(`ERROR: ${where}: ${event.error}`)];
    case 'pruned':
      return [`${where}: deleted ${event.deletedRuns.length} run(s), unused data pruned`];
    case 'sets-pruned':
      // The btrfs part's summary counts only its own steps: this one says what restic would delete.
      return event.dryRun
        ? [`dry run: ${event.runs} backup-set run(s) would be deleted, nothing changed`]
        : [];
  }
}

export function pruneBackupSets(
  sets: readonly ResolvedBackupSet[],
  options: { readonly dryRun: boolean; readonly journal?: Journal },
  output: Output,
): Promise<number> {
  return pruneSets(sets, options, createPrinter(output, setPruneText));
}
