// The metrics of a config's state directory, and the textfile node_exporter reads: derived once
// by readStatus (the answer `status` gives), written beside the old file and renamed over it, so
// the collector never reads half a file — it rejects the whole directory's scrape for one bad
// line (`node_textfile_scrape_error 1`). prom-client writes no sample timestamps, which that
// collector refuses as well.
import { open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { ResolvedConfig } from '../config/resolve.js';
import { ExitCode, SnapkeepError, messageOfPathError } from '../errors.js';
import { readStatusWithTransfers, statusRequestOf } from '../state/status-inputs.js';
import { renderStatusMetrics } from './status-metrics.js';

/** The file in the textfile directory (node_exporter reads every `*.prom` there). */
export const textfileName = 'snapkeep.prom';

export async function collectMetrics(
  resolved: Pick<ResolvedConfig, 'stateDir' | 'subvolumes' | 'backupSets' | 'schedules'>,
  options: { readonly version: string; readonly now?: Date },
): Promise<string> {
  const { status, transfers } = await readStatusWithTransfers(
    resolved.stateDir,
    statusRequestOf(resolved, options.now ?? new Date()),
  );
  return renderStatusMetrics({
    status,
    transfer: (subvolume, target) => transfers.get(subvolume, target),
    version: options.version,
  });
}

/**
 * Replace `<directory>/snapkeep.prom` with `text` atomically: a temporary file in the same
 * directory (a dot name without `.prom`, which the collector skips), fsynced, then renamed. Mode
 * 0644 whatever the umask (the units run with UMask=0077; node_exporter runs as its own user).
 */
export async function writeTextfile(directory: string, text: string): Promise<string> {
  const path = join(directory, textfileName);
  const temporary = join(directory, `.${textfileName}.${process.pid}.tmp`);
  try {
    const handle = await open(temporary, 'w', 0o644);
    try {
      await handle.writeFile(text);
      await handle.chmod(0o644);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true }).catch(() => undefined);
    throw new SnapkeepError(`metrics textfile ${path}: ${messageOfPathError(error, temporary)}`);
  }
  return path;
}

/** Collect the config's metrics and write them into its textfile directory; the file's path. */
export async function writeMetricsTextfile(
  resolved: Pick<ResolvedConfig, 'stateDir' | 'subvolumes' | 'backupSets' | 'schedules' | 'metrics'>,
  options: { readonly version: string; readonly now?: Date },
): Promise<string> {
  const directory = resolved.metrics.textfileDir;
  if (directory === undefined)
    throw new SnapkeepError(
      'metrics.textfile_dir is not set in the config; expected the directory node_exporter reads textfiles from (e.g. /var/lib/prometheus/node-exporter)',
      ExitCode.usage,
    );
  return writeTextfile(directory, await collectMetrics(resolved, options));
}
