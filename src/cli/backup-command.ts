// `backup`: the options, the restic backup run (src/restic/backup-run.ts) and its text.
import { loadResolvedConfig } from '../config/config-cache.js';
import { backupSets, type BackupEvent } from '../restic/backup-run.js';
import { formatBytes } from './progress.js';
import { createOutput } from './output.js';
import { createPrinter, toStderr, type TextLine } from './printer.js';

export interface BackupOptions {
  readonly config?: string;
  readonly json: boolean;
  readonly dryRun: boolean;
  readonly sets: readonly string[];
}

const seconds = (durationMs: number): string => `${(durationMs / 1000).toFixed(2)}s`;

/** restic's own figures: new data in the repository, of how much read. */
const addedText = (item: { readonly dataAdded?: number; readonly bytesProcessed?: number }): string =>
  item.dataAdded === undefined
    ? ''
    : `, added ${formatBytes(item.dataAdded)}${item.bytesProcessed === undefined ? '' : ` of ${formatBytes(item.bytesProcessed)} read`}`;

export function backupText(event: BackupEvent): readonly TextLine[] {
  switch (event.type) {
    case 'plan': {
      const state =
        event.repositoryProblem !== undefined
          ? `: ${event.repositoryProblem}`
          : event.repositoryExists === false
            ? ', would be created'
            : '';
      return [
        `${event.set} → ${event.repository} (${event.repositoryUrl}${state}):`,
        ...event.items.map((item) => `  would ${item.description} (source ${item.source})`),
      ];
    }
    case 'item':
      return [
        `${event.ok ? 'ok  ' : 'FAIL'} ${event.set}: ${event.what} [${seconds(event.durationMs)}]${event.item ? ` snapshot ${event.item.snapshotId.slice(0, 8)}${addedText(event.item)}` : ''}`,
        ...(!event.ok && event.error ? [toStderr(`ERROR: ${event.set}: ${event.error}`)] : []),
      ];
    case 'offsite':
      return event.ok
        ? [
            `ok   ${event.set} → ${event.repository}: copied, all ${event.present} snapshot(s) of this run are there [${seconds(event.durationMs)}]`,
          ]
        : [
            `FAIL ${event.set} → ${event.repository}: ${event.error ?? ''}`,
            toStderr(
              `ERROR: ${event.set} → ${event.repository}: ${event.error ?? ''} (the local backup is kept)`,
            ),
          ];
    case 'progress':
      return [
        {
          progress: {
            label: `${event.set}: ${event.what}`,
            bytes: event.bytes,
            elapsedMs: event.elapsedMs,
            ...(event.expectedBytes !== undefined ? { expectedBytes: event.expectedBytes } : {}),
          },
        },
      ];
    case 'set-failed':
      return [toStderr(`ERROR: ${event.set}: ${event.error}`)];
    case 'set':
      return [
        event.ok
          ? `${event.set}: restore point ${event.run} (${event.items} item(s))`
          : `${event.set}: FAILED: ${event.error ?? ''}`,
      ];
    case 'summary':
      return event.dryRun ? ['dry run: nothing changed'] : [];
  }
}

export async function runBackup(options: BackupOptions): Promise<number> {
  const output = createOutput(options.json);
  // The configuration first: until it is read, the variables its `env:` references name are not
  // known, and a child started meanwhile (`restic version`, when not cached) would inherit them.
  const { resolved } = await loadResolvedConfig(options.config);
  const result = await backupSets(
    { config: resolved, sets: options.sets, dryRun: options.dryRun },
    createPrinter(output, backupText),
  );
  return result.exitCode;
}
