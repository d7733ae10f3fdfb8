// `backup`: every (or the named) backup set into its restic repository — directories and
// streamed PostgreSQL dumps of one run, tagged so that only complete runs are restore points —
// then copied to each offsite repository and compared.
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { loadResolvedConfig } from '../config/config-cache.js';
import type { ResolvedBackupSet, ResolvedConfig } from '../config/resolve.js';
import { ExitCode, SnapkeepError, UsageError } from '../errors.js';
import { backupSet, planItems, resolveSecretsOf, type SetOutcome } from '../restic/backup-set.js';
import { Restic, ResticError } from '../restic/restic.js';
import { exitCodeOf, withRun } from '../state/run-lifecycle.js';
import { createOutput } from './output.js';

export interface BackupOptions {
  readonly config?: string;
  readonly json: boolean;
  readonly dryRun: boolean;
  readonly sets: readonly string[];
}

export function selectSets(config: ResolvedConfig, names: readonly string[]): ResolvedBackupSet[] {
  const unknown = names.filter((name) => !config.backupSets.some((set) => set.name === name));
  if (unknown.length > 0)
    throw new UsageError(
      `unknown backup set ${unknown.map((name) => `"${name}"`).join(', ')}; the config defines: ${config.backupSets.map((set) => set.name).join(', ') || '(none)'}`,
    );
  return names.length === 0
    ? [...config.backupSets]
    : config.backupSets.filter((set) => names.includes(set.name));
}

/** Where a run's table checksums are kept for the restore drill (verify --drill). */
export const checksumsPath = (stateDir: string, set: string, run: string): string =>
  join(stateDir, 'checksums', set, `${run}.json`);

async function recordChecksums(stateDir: string, outcome: SetOutcome): Promise<void> {
  const byDatabase = Object.fromEntries(
    outcome.items.flatMap((item) =>
      item.item?.database !== undefined && item.item.checksums
        ? [[item.item.database, item.item.checksums]]
        : [],
    ),
  );
  if (Object.keys(byDatabase).length === 0) return;
  const path = checksumsPath(stateDir, outcome.set, outcome.run);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, `${JSON.stringify(byDatabase, null, 2)}\n`);
}

export async function runBackup(options: BackupOptions): Promise<number> {
  const output = createOutput(options.json);
  // The configuration first: until it is read, the variables its `env:` references name are not
  // known, and a child started meanwhile (`restic version`, when not cached) would inherit them.
  const { resolved } = await loadResolvedConfig(options.config);
  const restic = await Restic.detect();
  const sets = selectSets(resolved, options.sets);
  if (sets.length === 0) throw new UsageError('no backup sets are defined (backup_sets: in the config)');
  // Before the lock and the journal: a missing secret is a configuration error, nothing touched.
  await resolveSecretsOf(restic, sets);
  const now = new Date();
  if (options.dryRun) {
    for (const set of sets) {
      const items = await planItems(set);
      output.event('plan', { set: set.name, repository: set.repository.name, dryRun: true, items });
      const exists = await restic.exists(set.repository).catch((error: unknown) => {
        if (error instanceof ResticError) return error.message;
        throw error;
      });
      output.text(
        `${set.name} → ${set.repository.name} (${set.repository.url}${exists === false ? ', would be created' : typeof exists === 'string' ? `: ${exists}` : ''}):`,
      );
      for (const item of items) output.text(`  would ${item.description} (source ${item.source})`);
    }
    output.text('dry run: nothing changed');
    return ExitCode.ok;
  }

  const start = { sets: sets.map((set) => set.name), restic: restic.version.text };
  return withRun({ stateDir: resolved.stateDir, command: 'backup', fields: start, now }, async (current) => {
    const { id: run, journal } = current;
    const outcomes: SetOutcome[] = [];
    const codeOf = new Map<string, ExitCode>();
    for (const set of sets) {
      try {
        const outcome = await backupSet(
          restic,
          set,
          run,
          (item) => {
            output.event('item', { set: set.name, ...item });
            output.text(
              `${item.ok ? 'ok  ' : 'FAIL'} ${set.name}: ${item.what} [${(item.durationMs / 1000).toFixed(2)}s]${item.item ? ` snapshot ${item.item.snapshotId.slice(0, 8)}` : ''}`,
            );
            if (!item.ok && item.error) output.warn(`ERROR: ${set.name}: ${item.error}`);
            void journal.append('item', { set: set.name, ...item });
          },
          (copy) => {
            output.event('offsite', { set: set.name, ...copy });
            output.text(
              copy.ok
                ? `ok   ${set.name} → ${copy.repository}: copied, all ${copy.present} snapshot(s) of this run are there [${(copy.durationMs / 1000).toFixed(2)}s]`
                : `FAIL ${set.name} → ${copy.repository}: ${copy.error ?? ''}`,
            );
            if (!copy.ok)
              output.warn(
                `ERROR: ${set.name} → ${copy.repository}: ${copy.error ?? ''} (the local backup is kept)`,
              );
            void journal.append('offsite', { set: set.name, ...copy });
          },
        );
        if (!outcome.ok && outcome.offsite?.some((copy) => !copy.ok)) {
          const codes = new Set(
            outcome.offsite.filter((copy) => !copy.ok).map((copy) => copy.exitCode ?? ExitCode.partial),
          );
          codeOf.set(set.name, codes.size === 1 ? ([...codes][0] as ExitCode) : ExitCode.partial);
        }
        outcomes.push(outcome);
        await recordChecksums(resolved.stateDir, outcome);
      } catch (error) {
        if (!(error instanceof SnapkeepError)) throw error;
        codeOf.set(set.name, error.exitCode);
        outcomes.push({ set: set.name, run, ok: false, items: [], error: error.message });
        output.warn(`ERROR: ${set.name}: ${error.message}`);
      }
    }
    // One kind of failure everywhere (all unreachable, all a wrong password) keeps its own code.
    const exitCode = exitCodeOf(
      outcomes.map((outcome) => (outcome.ok ? ExitCode.ok : (codeOf.get(outcome.set) ?? ExitCode.partial))),
    );
    for (const outcome of outcomes) {
      output.event('set', { ...outcome, items: undefined });
      output.text(
        outcome.ok
          ? `${outcome.set}: restore point ${outcome.run} (${outcome.items.length} item(s))`
          : `${outcome.set}: FAILED: ${outcome.error ?? ''}`,
      );
    }
    output.event('summary', { command: 'backup', exitCode, run });
    return { exitCode, fields: { sets: outcomes.map(({ items: _items, ...rest }) => rest) } };
  });
}
