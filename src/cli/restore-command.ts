// `restore`: the options, and for btrfs subvolumes the listing and the restore
// (src/replication/restore.ts) with their text; backup sets go to set-restore-command.ts.
import { resolve } from 'node:path';
import { checkRestorePath } from '../btrfs/file-restore.js';
import { selectSubvolumes } from '../btrfs/btrfs-run.js';
import { loadResolvedConfig } from '../config/config-cache.js';
import type { ResolvedSubvolume } from '../config/resolve.js';
import { UsageError } from '../errors.js';
import {
  listRestorePoints,
  restoreSubvolume,
  snapshotsLocation,
  type RestoreEvent,
  type RestoreListEvent,
} from '../replication/restore.js';
import { checkoutText, describeFetch, describeSource, fetchText } from './fetch-output.js';
import { createOutput, formatSnapshotDate, formatTable, type Output } from './output.js';
import { createPrinter, toStderr, type TextLine } from './printer.js';
import { formatBytes } from './progress.js';

export interface RestoreOptions {
  readonly config?: string;
  readonly json: boolean;
  readonly dryRun: boolean;
  readonly subvolume?: string;
  /** A snapshot name or "latest"; without it, list. */
  readonly snapshot?: string;
  /** "snapshots" or a target name. */
  readonly from?: string;
  readonly to?: string;
  readonly readOnly: boolean;
  /** Receive without a parent: every byte from the source (a restore drill). */
  readonly full: boolean;
  readonly force: boolean;
  /** Copy only this path (relative to the subvolume) out of the snapshot, to --to (default: .). */
  readonly path?: string;
  /** Backup sets: OLD=NEW database renames, and consent to overwrite files in place. */
  readonly databases: readonly string[];
  readonly yes: boolean;
  /** Backup sets: restore only these sources; folders point-in-time (moved aside, then restored). */
  readonly only?: readonly string[];
  readonly exact?: boolean;
  readonly now?: Date;
}

export function restoreListText(event: RestoreListEvent): readonly TextLine[] {
  switch (event.type) {
    case 'unreachable':
      return [toStderr(`UNREACHABLE: ${event.subvolume} → ${event.location}: ${event.error}`)];
    case 'restore-point':
      return []; // the table, once every point is known
  }
}

/** The listing: its events, then the table. */
async function listSubvolumeRestorePoints(
  subvolumes: readonly ResolvedSubvolume[],
  stateDir: string,
  output: Output,
): Promise<number> {
  const { exitCode, points } = await listRestorePoints(
    subvolumes,
    stateDir,
    createPrinter(output, restoreListText),
  );
  const rows = points.map((point) => [
    point.subvolume,
    point.name,
    formatSnapshotDate(point.snapshotDate),
    point.location === snapshotsLocation ? 'snapshots (local)' : `${point.location} (${point.host})`,
    point.sentBytes !== undefined ? `${formatBytes(point.sentBytes)} sent ${point.sentAs ?? ''}` : '-',
  ]);
  output.text(formatTable(['SUBVOLUME', 'SNAPSHOT', 'DATE', 'WHERE', 'SIZE'], rows));
  if (rows.length > 0)
    output.text(
      '\nRestore one with: snapkeep restore <subvolume> <snapshot|latest> [--from WHERE] [--to PATH]',
    );
  return exitCode;
}

export function restoreText(event: RestoreEvent): readonly TextLine[] {
  switch (event.type) {
    case 'plan': {
      const prefix = event.dryRun ? 'would ' : '';
      const { file } = event;
      return [
        ...(event.notes ?? []).map(toStderr),
        ...(event.fetch ? [describeFetch(event.fetch, event.source.from, prefix)] : []),
        ...checkoutText(event.checkout, prefix),
        ...(file
          ? [
              `${prefix}copy ${file.source} to ${file.destination}${file.aside ? ` (the existing one moved aside to ${file.aside})` : ''}`,
            ]
          : []),
        ...(event.dryRun
          ? [`would restore ${event.snapshot} ${describeSource(event.source)}`, 'dry run: nothing changed']
          : []),
      ];
    }
    case 'step':
    case 'progress':
      return fetchText(event);
    case 'restored': {
      const { file } = event;
      const source = describeSource(event.source);
      return [
        file
          ? `restored ${event.filePath ?? ''} of ${event.name} ${source}: ${file.destination}${file.aside ? `; the previous one is at ${file.aside}` : ''}`
          : event.path !== undefined
            ? `restored ${event.name} ${source}: ${event.path} is a writable subvolume${event.aside ? `; the previous one is at ${event.aside}` : ''}`
            : `restored ${event.name} ${source}: read-only snapshot at ${event.snapshot ?? ''}`,
      ];
    }
  }
}

export async function runRestore(options: RestoreOptions): Promise<number> {
  const output = createOutput(options.json);
  const { resolved } = await loadResolvedConfig(options.config);
  // Backup sets (restic) and subvolumes (btrfs) share one namespace (the schema keeps it so).
  const set = resolved.backupSets.find((candidate) => candidate.name === options.subvolume);
  if (set || (options.subvolume === undefined && resolved.subvolumes.length === 0)) {
    const { listSetRestorePoints, restoreBackupSet } = await import('./set-restore-command.js');
    if (!set) return listSetRestorePoints(resolved.backupSets, output);
    if (options.full)
      throw new UsageError(`--full: ${set.name} is a backup set; --full applies to btrfs subvolumes`);
    if (options.snapshot === undefined) return listSetRestorePoints([set], output);
    return restoreBackupSet(
      set,
      {
        run: options.snapshot,
        from: options.from,
        to: options.to,
        databases: options.databases,
        only: options.only ?? [],
        mode: options.exact ? 'exact' : 'merge',
        force: options.force,
        yes: options.yes,
        dryRun: options.dryRun,
        stateDir: resolved.stateDir,
      },
      output,
    );
  }
  const subvolumes = selectSubvolumes(resolved, options.subvolume ? [options.subvolume] : []);
  if ((options.only?.length ?? 0) > 0 || options.exact)
    throw new UsageError(
      `${options.only?.length ? '--only' : '--exact'}: applies to backup sets; ${options.subvolume ?? 'a subvolume'} is a btrfs subvolume (a restore of one is a whole snapshot)`,
    );
  if (options.snapshot === undefined) {
    const exitCode = await listSubvolumeRestorePoints(subvolumes, resolved.stateDir, output);
    if (options.subvolume !== undefined || resolved.backupSets.length === 0) return exitCode;
    const { listSetRestorePoints } = await import('./set-restore-command.js');
    output.text('');
    return Math.max(exitCode, await listSetRestorePoints(resolved.backupSets, output));
  }
  const subvolume = subvolumes[0]!;
  if (subvolume.ssh)
    throw new UsageError(
      `${subvolume.name} lives on ${subvolume.ssh.location.host} (pull mode): restore it there, or bring its snapshot here with "snapkeep pull"`,
    );
  if (options.readOnly && options.to !== undefined)
    throw new UsageError(
      `--read-only with --to ${options.to}: --read-only only brings the read-only snapshot back into the snapshot directory and makes no subvolume at --to; drop one of them`,
    );
  const filePath = options.path === undefined ? undefined : checkRestorePath(options.path);
  if (filePath !== undefined && options.readOnly)
    throw new UsageError('--path copies out of the read-only snapshot already; drop --read-only');
  // --path: like cp, --to is relative to the working directory, which is its default.
  const to = filePath !== undefined ? resolve(options.to ?? '.') : (options.to ?? subvolume.path);
  if (!to.startsWith('/')) throw new UsageError(`--to ${to}: expected an absolute path`);

  return restoreSubvolume(
    {
      subvolume,
      stateDir: resolved.stateDir,
      dryRun: options.dryRun,
      snapshot: options.snapshot,
      to,
      readOnly: options.readOnly,
      full: options.full,
      force: options.force,
      ...(options.from !== undefined ? { from: options.from } : {}),
      ...(filePath !== undefined ? { filePath } : {}),
      ...(options.now ? { now: options.now } : {}),
    },
    createPrinter(output, restoreText),
  );
}
