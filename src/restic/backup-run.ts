// The `backup` run: every (or the named) backup set into its restic repository — directories and
// streamed PostgreSQL dumps of one run, tagged so that only complete runs are restore points —
// then copied to each offsite repository and compared; the table checksums of each dump are
// recorded for the restore drill. One run (withRun: lock, journal, exit code) for all the sets.
import type { ResolvedBackupSet, ResolvedConfig } from '../config/resolve.js';
import { ExitCode, SnapkeepError, UsageError } from '../errors.js';
import { exitCodeOf, withRun } from '../state/run-lifecycle.js';
import {
  backupSet,
  planItems,
  resolveSecretsOf,
  type ItemOutcome,
  type ItemProgress,
  type OffsiteOutcome,
  type PlannedItem,
  type SetOutcome,
} from './backup-set.js';
import type { TableChecksums } from './checksums.js';
import { recordChecksums } from './recorded-checksums.js';
import { Restic, ResticError } from './restic.js';

/** What a backup reports as it goes (the command renders text or JSON from these). */
export type BackupEvent =
  | {
      /** --dry-run: what a set's run would capture, and whether its repository is there. */
      readonly type: 'plan';
      readonly set: string;
      readonly repository: string;
      readonly repositoryUrl: string;
      readonly dryRun: true;
      readonly items: readonly PlannedItem[];
      /** false: the run would create it; absent with `repositoryProblem` (it cannot be opened). */
      readonly repositoryExists?: boolean;
      readonly repositoryProblem?: string;
    }
  | ({ readonly type: 'item'; readonly set: string } & ItemOutcome)
  | ({ readonly type: 'offsite'; readonly set: string } & OffsiteOutcome)
  /** An item's backup under way (restic's status, about once a second). */
  | ({ readonly type: 'progress'; readonly set: string } & ItemProgress)
  | {
      /** The set's run stopped (its repository unreachable, a wrong password…); the next set goes on. */
      readonly type: 'set-failed';
      readonly set: string;
      readonly run: string;
      readonly error: string;
      readonly exitCode: number;
    }
  | ({
      readonly type: 'set';
      /** How many items the run captured. */
      readonly items: number;
    } & Omit<SetOutcome, 'items'>)
  | {
      readonly type: 'summary';
      readonly command: 'backup';
      readonly dryRun: boolean;
      readonly exitCode: number;
      readonly run?: string;
    };

export interface BackupRequest {
  readonly config: ResolvedConfig;
  /** Backup set names; none: every set. */
  readonly sets: readonly string[];
  readonly dryRun: boolean;
  readonly now?: Date;
  /** Detected when absent. */
  readonly restic?: Restic;
}

export interface BackupResult {
  readonly exitCode: number;
  /** The run's id (absent under --dry-run). */
  readonly run?: string;
  readonly outcomes: readonly SetOutcome[];
}

/** The named backup sets (all when none is named); an unknown name is a usage error. */
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

function checksumsByDatabase(outcome: SetOutcome): Record<string, TableChecksums> {
  return Object.fromEntries(
    outcome.items.flatMap((item) =>
      item.item?.database !== undefined && item.item.checksums
        ? [[item.item.database, item.item.checksums]]
        : [],
    ),
  );
}

export async function backupSets(
  request: BackupRequest,
  report: (event: BackupEvent) => void,
): Promise<BackupResult> {
  const { config } = request;
  const restic = request.restic ?? (await Restic.detect());
  const sets = selectSets(config, request.sets);
  if (sets.length === 0) throw new UsageError('no backup sets are defined (backup_sets: in the config)');
  // Before the lock and the journal: a missing secret is a configuration error, nothing touched.
  await resolveSecretsOf(restic, sets);
  const now = request.now ?? new Date();
  if (request.dryRun) {
    for (const set of sets) {
      const items = await planItems(set);
      const exists = await restic.exists(set.repository).catch((error: unknown) => {
        if (error instanceof ResticError) return error.message;
        throw error;
      });
      report({
        type: 'plan',
        set: set.name,
        repository: set.repository.name,
        repositoryUrl: set.repository.url,
        dryRun: true,
        items,
        ...(typeof exists === 'string' ? { repositoryProblem: exists } : { repositoryExists: exists }),
      });
    }
    report({ type: 'summary', command: 'backup', dryRun: true, exitCode: ExitCode.ok });
    return { exitCode: ExitCode.ok, outcomes: [] };
  }

  const outcomes: SetOutcome[] = [];
  let runId: string | undefined;
  const start = { sets: sets.map((set) => set.name), restic: restic.version.text };
  const exitCode = await withRun(
    { stateDir: config.stateDir, command: 'backup', fields: start, now },
    async (current) => {
      const { id: run, journal } = current;
      runId = run;
      const codeOf = new Map<string, ExitCode>();
      for (const set of sets) {
        try {
          const outcome = await backupSet(
            restic,
            set,
            run,
            (item) => {
              report({ type: 'item', set: set.name, ...item });
              void journal.append('item', { set: set.name, ...item });
            },
            (copy) => {
              report({ type: 'offsite', set: set.name, ...copy });
              void journal.append('offsite', { set: set.name, ...copy });
            },
            (progress) => {
              report({ type: 'progress', set: set.name, ...progress });
            },
          );
          if (!outcome.ok && outcome.offsite?.some((copy) => !copy.ok)) {
            const codes = new Set(
              outcome.offsite.filter((copy) => !copy.ok).map((copy) => copy.exitCode ?? ExitCode.partial),
            );
            codeOf.set(set.name, codes.size === 1 ? ([...codes][0] as ExitCode) : ExitCode.partial);
          }
          outcomes.push(outcome);
          await recordChecksums(config.stateDir, outcome.set, outcome.run, checksumsByDatabase(outcome));
        } catch (error) {
          if (!(error instanceof SnapkeepError)) throw error;
          codeOf.set(set.name, error.exitCode);
          outcomes.push({ set: set.name, run, ok: false, items: [], error: error.message });
          report({ type: 'set-failed', set: set.name, run, error: error.message, exitCode: error.exitCode });
        }
      }
      // One kind of failure everywhere (all unreachable, all a wrong password) keeps its own code.
      const code = exitCodeOf(
        outcomes.map((outcome) => (outcome.ok ? ExitCode.ok : (codeOf.get(outcome.set) ?? ExitCode.partial))),
      );
      for (const { items, ...outcome } of outcomes) report({ type: 'set', ...outcome, items: items.length });
      report({ type: 'summary', command: 'backup', dryRun: false, exitCode: code, run });
      return { exitCode: code, fields: { sets: outcomes.map(({ items: _items, ...rest }) => rest) } };
    },
  );
  return { exitCode, ...(runId === undefined ? {} : { run: runId }), outcomes };
}
