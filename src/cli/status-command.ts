// `status`: what the last runs did and when each subvolume last reached each target — read from
// the journal and the transfer state, never by touching btrfs (so it is instant and safe).
import { loadResolvedConfig } from '../config/config-cache.js';
import { ExitCode } from '../errors.js';
import { readJournal } from '../state/journal.js';
import { describeRunOutcome, recordedRuns, type RecordedRun } from '../state/run-history.js';
import { TransferStateFile } from '../state/transfer-state.js';
import { createOutput, formatTable } from './output.js';

export interface StatusOptions {
  readonly config?: string;
  readonly json: boolean;
}

function age(iso: string | undefined, now: number): string {
  if (!iso) return 'never';
  const hours = (now - Date.parse(iso)) / 3_600_000;
  if (hours < 1) return `${Math.round(hours * 60)} min ago`;
  if (hours < 48) return `${hours.toFixed(1)} h ago`;
  return `${(hours / 24).toFixed(1)} days ago`;
}

export async function runStatus(options: StatusOptions): Promise<number> {
  const output = createOutput(options.json);
  const { resolved } = await loadResolvedConfig(options.config);
  const [journal, transfers] = await Promise.all([
    readJournal(resolved.stateDir),
    TransferStateFile.load(resolved.stateDir),
  ]);
  const now = Date.now();
  const runs = recordedRuns(journal);
  const lastRun = runs.at(-1);
  output.event('status', {
    stateDir: resolved.stateDir,
    lastRun: lastRun ? runJson(lastRun) : null,
    runs: runs.length,
  });
  if (lastRun) {
    const when = lastRun.endedAt ?? lastRun.time;
    output.text(
      `last run: ${when} (${age(when, now)}), snapkeep ${lastRun.command}, ${describeRunOutcome(lastRun)}`,
    );
  } else {
    output.text(`no runs recorded yet in ${resolved.stateDir} (run: snapkeep run)`);
  }
  const rows: string[][] = [];
  for (const subvolume of resolved.subvolumes) {
    for (const target of subvolume.targets) {
      const record = transfers.get(subvolume.name, target.name);
      output.event('target-status', { subvolume: subvolume.name, target: target.name, ...record });
      rows.push([subvolume.name, target.name, record.lastSent ?? '-', age(record.lastSentAt, now)]);
    }
  }
  if (rows.length > 0) output.text(formatTable(['SUBVOLUME', 'TARGET', 'LAST SENT', 'WHEN'], rows));
  // A run still going has not failed (yet); one that was interrupted or killed did not finish.
  return !lastRun || lastRun.state === 'ok' || lastRun.state === 'running' ? ExitCode.ok : ExitCode.partial;
}

/** The last run for scripts: its end entry's fields (as before), and how it ended. */
function runJson(run: RecordedRun): Record<string, unknown> {
  return {
    ...(run.end ?? run.start),
    run: run.id,
    command: run.command,
    state: run.state,
    startedAt: run.startedAt,
    endedAt: run.endedAt,
    exitCode: run.exitCode,
    signal: run.signal,
    pid: run.pid,
  };
}
