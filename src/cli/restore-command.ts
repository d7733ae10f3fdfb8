// `restore`: list what can be restored (local snapshots and every target's copies, with dates
// and the size each was sent with), and bring one back as a writable subvolume. A copy on a target
// is received into the snapshot directory first — incrementally when a snapshot here has a copy
// there — and stays there as a snapshot, so the next `run` continues incrementally from it.
import { dirname, join, resolve } from 'node:path';
import { applyCheckout, btrfsFilesystemOf, planCheckout, type CheckoutPlan } from '../btrfs/fetch.js';
import {
  applyFileRestore,
  checkRestorePath,
  planFileRestore,
  type FileRestorePlan,
} from '../btrfs/file-restore.js';
import { datedSubvolumes, localHost, type DatedSubvolume, type Inventory } from '../btrfs/inventory.js';
import { messageOf, observeTarget, snapshotsIn } from '../btrfs/observe.js';
import { selectSubvolumes } from '../btrfs/btrfs-run.js';
import { compareSnapshotDates } from '../snapshot-name.js';
import { loadResolvedConfig } from '../config/config-cache.js';
import type { ResolvedSubvolume } from '../config/resolve.js';
import { ExitCode, SnapkeepError, UsageError } from '../errors.js';
import { planFetch, pickCopy, type FetchPlan } from '../plan/fetch-plan.js';
import { Hosts } from '../btrfs/hosts.js';
import type { Host } from '../remote/host.js';
import { readJournal } from '../state/journal.js';
import { withRun, type RunRequest } from '../state/run-lifecycle.js';
import { TransferStateFile } from '../state/transfer-state.js';
import {
  checkoutText,
  fetchText,
  describeFetch,
  describeSource,
  type RestoreSource,
} from './fetch-output.js';
import { receiveFetch } from '../replication/fetch-receive.js';
import { createPrinter } from './printer.js';
import { createOutput, formatSnapshotDate, formatTable, type Output } from './output.js';
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
  readonly now?: Date;
}

/** Where restore points are kept: the snapshot directory, or one target. */
interface Location {
  readonly name: string;
  readonly host: Host;
  readonly inventory: Inventory;
  readonly points: readonly DatedSubvolume[];
  readonly error?: string;
}

const snapshotsLocation = 'snapshots';

async function locationsOf(subvolume: ResolvedSubvolume, hosts: Hosts): Promise<Location[]> {
  const inventory = hosts.inventoryOf(subvolume);
  const local: Promise<Location> = snapshotsIn(inventory, subvolume.snapshotDir, subvolume.snapshotName).then(
    (points) => ({ name: snapshotsLocation, host: localHost, inventory, points }),
    (error: unknown) => ({
      name: snapshotsLocation,
      host: localHost,
      inventory,
      points: [],
      error: messageOf(error),
    }),
  );
  const targets = subvolume.targets.map(async (target): Promise<Location> => {
    const targetInventory = hosts.inventoryOf(target);
    const observed = await observeTarget(targetInventory, subvolume, target, () => undefined);
    return {
      name: target.name,
      host: targetInventory.host,
      inventory: targetInventory,
      points: observed.reachable ? observed.copies : [],
      ...(observed.reachable ? {} : { error: observed.error }),
    };
  });
  return Promise.all([local, ...targets]);
}

/** Stream sizes from the journal: what each copy cost to send, and whether it was a full send. */
async function sentSizes(stateDir: string): Promise<Map<string, { bytes: number; full: boolean }>> {
  const sizes = new Map<string, { bytes: number; full: boolean }>();
  for (const entry of await readJournal(stateDir)) {
    if (entry.event !== 'step' || entry.kind !== 'send' || !entry.ok) continue;
    if (typeof entry.bytes !== 'number' || entry.bytes <= 0) continue;
    sizes.set(`${String(entry.subvolume)}\u0000${String(entry.target)}\u0000${String(entry.name)}`, {
      bytes: entry.bytes,
      full: entry.parent === undefined || entry.parent === null,
    });
  }
  return sizes;
}

async function listRestorePoints(
  subvolumes: readonly ResolvedSubvolume[],
  stateDir: string,
  output: Output,
): Promise<number> {
  const hosts = new Hosts();
  let exitCode: number = ExitCode.ok;
  const sizes = await sentSizes(stateDir);
  const rows: string[][] = [];
  try {
    const all = await Promise.all(subvolumes.map((subvolume) => locationsOf(subvolume, hosts)));
    subvolumes.forEach((subvolume, index) => {
      for (const location of all[index]!) {
        if (location.error) {
          output.warn(`UNREACHABLE: ${subvolume.name} → ${location.name}: ${location.error}`);
          output.event('unreachable', {
            subvolume: subvolume.name,
            location: location.name,
            error: location.error,
          });
          exitCode = ExitCode.targetUnreachable;
        }
        const points = [...location.points].sort((a, b) => compareSnapshotDates(b.date, a.date));
        for (const point of points) {
          const size = sizes.get(`${subvolume.name}\u0000${location.name}\u0000${point.name}`);
          output.event('restore-point', {
            subvolume: subvolume.name,
            name: point.name,
            date: new Date(point.date.epochSeconds * 1000).toISOString(),
            location: location.name,
            host: location.host.label,
            path: point.path,
            sentBytes: size?.bytes,
            sentAs: size ? (size.full ? 'full' : 'incremental') : undefined,
          });
          rows.push([
            subvolume.name,
            point.name,
            formatSnapshotDate(point.date),
            location.name === snapshotsLocation
              ? 'snapshots (local)'
              : `${location.name} (${location.host.label})`,
            size ? `${formatBytes(size.bytes)} sent ${size.full ? 'full' : 'incremental'}` : '-',
          ]);
        }
      }
    });
  } finally {
    await hosts.close();
  }
  output.text(formatTable(['SUBVOLUME', 'SNAPSHOT', 'DATE', 'WHERE', 'SIZE'], rows));
  if (rows.length > 0)
    output.text(
      '\nRestore one with: snapkeep restore <subvolume> <snapshot|latest> [--from WHERE] [--to PATH]',
    );
  return exitCode;
}

/** The location and copy to restore: by name or newest, preferring local snapshots, then targets in config order. */
function chooseSource(
  locations: readonly Location[],
  subvolume: ResolvedSubvolume,
  snapshot: string,
  from: string | undefined,
): { location: Location; point: DatedSubvolume } {
  if (from !== undefined && !locations.some((location) => location.name === from))
    throw new UsageError(
      `--from ${from}: not a place ${subvolume.name} is kept; expected one of: ${locations.map((location) => location.name).join(', ')}`,
    );
  const candidates = locations.filter((location) => from === undefined || location.name === from);
  const wantedName =
    snapshot === 'latest'
      ? [...candidates.flatMap((location) => location.points)].sort((a, b) =>
          compareSnapshotDates(b.date, a.date),
        )[0]?.name
      : snapshot;
  for (const location of candidates) {
    const point = wantedName === undefined ? undefined : pickCopy(location.points, wantedName);
    if (point) return { location, point };
  }
  const unreachable = candidates.filter((location) => location.error);
  const where = from ?? 'the snapshot directory or any target';
  throw new SnapkeepError(
    `${snapshot === 'latest' ? `no snapshot of ${subvolume.name}` : `no snapshot named ${snapshot}`} in ${where}${
      unreachable.length > 0
        ? ` (unreachable: ${unreachable.map((location) => `${location.name}: ${location.error ?? ''}`).join('; ')})`
        : ''
    }; run "snapkeep restore ${subvolume.name}" to list what there is`,
    unreachable.length > 0 ? ExitCode.targetUnreachable : ExitCode.usage,
  );
}

interface RestorePlan {
  readonly fetch?: FetchPlan;
  readonly checkout?: CheckoutPlan;
  /** The read-only snapshot the restore ends with (or makes the writable subvolume from). */
  readonly snapshotPath: string;
  readonly source: RestoreSource;
  readonly notes: readonly string[];
}

/**
 * What a restore does, decided before anything changes (the dry run prints exactly this): where
 * the read-only snapshot is received (a writable one can only be made on its filesystem), what is
 * received from where, and the checkout. With --from, the data is read from that place even when
 * a copy of it is here; without it, a copy here is used. Bad paths are usage errors (exit 2).
 */
async function planRestore(input: {
  readonly subvolume: ResolvedSubvolume;
  readonly location: Location;
  readonly point: DatedSubvolume;
  readonly to: string;
  readonly options: RestoreOptions;
  readonly now: Date;
  readonly local: Inventory;
}): Promise<RestorePlan> {
  const { subvolume, location, point, to, options, now, local } = input;
  const notes: string[] = [];
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '');
  const fromHere = location.name === snapshotsLocation;
  const copyOut = fromHere
    ? `or copy the files out of the read-only snapshot (cp -a ${point.path}/. ${to})`
    : `or restore with --read-only and copy the files out of the read-only snapshot it brings back (cp -a SNAPSHOT/. ${to})`;
  const snapshotFilesystem = await btrfsFilesystemOf(
    local,
    subvolume.snapshotDir,
    `snapshot_dir ${subvolume.snapshotDir} of ${subvolume.name}`,
    'snapshots can only be received on btrfs',
  );
  // Where the read-only snapshot lands: the snapshot directory, unless a writable snapshot could
  // not be made from there (another filesystem than --to), or the directory lives inside a --to
  // that does not exist yet — then next to --to, and the checkout carries it into place.
  const snapshotDirInside = subvolume.snapshotDir.startsWith(`${to}/`);
  let receiveDirectory = subvolume.snapshotDir;
  let otherFilesystem = false;
  if (!options.readOnly) {
    const toFilesystem = await btrfsFilesystemOf(
      local,
      dirname(to),
      `--to ${to}`,
      `a restored snapshot becomes a btrfs subvolume, which only btrfs can hold: restore to a path on btrfs, ${copyOut}`,
    );
    const toExists = await local.host.exists(to);
    otherFilesystem = toFilesystem.majorMinor !== snapshotFilesystem.majorMinor;
    if (otherFilesystem || (snapshotDirInside && !toExists)) receiveDirectory = dirname(to);
  }

  // A fetch whenever the snapshot is not in the receive directory yet: from a target, or from the
  // snapshot directory to another filesystem. --from means the data is read from there.
  let fetch: FetchPlan | undefined;
  if (!fromHere || dirname(point.path) !== receiveDirectory) {
    const here = (await local.host.exists(receiveDirectory))
      ? datedSubvolumes(await local.subvolumesIn(receiveDirectory), subvolume.snapshotName)
      : [];
    fetch = planFetch({
      label: subvolume.name,
      from: location.name,
      wanted: point,
      sourceCopies: location.points,
      localDirectory: receiveDirectory,
      local: here,
      ...(options.from !== undefined || options.full
        ? {
            fromSource: {
              stagingDirectory: join(receiveDirectory, `.restore-from-${location.name}.${stamp}`),
            },
          }
        : {}),
      full: options.full,
    });
    if (fetch.kind === 'blocked') throw new SnapkeepError(`cannot restore ${point.name}: ${fetch.reason}`);
  }
  if (options.full && fetch?.kind !== 'receive')
    throw new UsageError(
      `--full: ${point.name} is not received but used from ${fetch?.kind === 'present' ? fetch.local.path : point.path} as it is; --full makes a receive read every byte from its source, e.g. with --from ${subvolume.targets[0]?.name ?? 'TARGET'}`,
    );

  let snapshotPath = point.path;
  let source: RestoreSource = {
    from: location.name,
    host: location.host.label,
    path: point.path,
    transfer: 'none',
  };
  if (fetch?.kind === 'present') {
    snapshotPath = fetch.local.path;
    source = { from: 'here', host: localHost.label, path: fetch.local.path, transfer: 'none' };
  } else if (fetch?.kind === 'receive') {
    const { step } = fetch;
    snapshotPath = join(step.targetDirectory, step.name);
    source = {
      from: location.name,
      host: location.host.label,
      path: point.path,
      transfer: step.parent ? 'incremental' : 'full',
      ...(step.parent ? { parent: join(receiveDirectory, step.parent.copyName) } : {}),
    };
  }
  const checkout = !options.readOnly
    ? await planCheckout({
        snapshot: snapshotPath,
        path: to,
        snapshotDir: subvolume.snapshotDir,
        force: options.force,
        now,
        inventory: local,
        option: '--to',
        otherFilesystemHint: 'restore to a path on the filesystem of the snapshot',
        removeSnapshot: fetch?.kind === 'receive' && fetch.alreadyHere !== undefined,
      })
    : undefined;
  if (otherFilesystem && !checkout?.removeSnapshot)
    notes.push(
      `note: ${to} is on another filesystem than ${subvolume.snapshotDir}: ${point.name} is received into ${dirname(snapshotPath)} and its read-only copy stays at ${snapshotPath}`,
    );
  return { fetch, checkout, snapshotPath, source, notes };
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
        force: options.force,
        yes: options.yes,
        dryRun: options.dryRun,
        stateDir: resolved.stateDir,
      },
      output,
    );
  }
  const subvolumes = selectSubvolumes(resolved, options.subvolume ? [options.subvolume] : []);
  if (options.snapshot === undefined) {
    const exitCode = await listRestorePoints(subvolumes, resolved.stateDir, output);
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
  const now = options.now ?? new Date();
  // --path: like cp, --to is relative to the working directory, which is its default.
  const to = filePath !== undefined ? resolve(options.to ?? '.') : (options.to ?? subvolume.path);
  if (!to.startsWith('/')) throw new UsageError(`--to ${to}: expected an absolute path`);

  const hosts = new Hosts();
  try {
    const locations = await locationsOf(subvolume, hosts);
    const { location, point } = chooseSource(locations, subvolume, options.snapshot, options.from);
    const plan = await planRestore({
      subvolume,
      location,
      point,
      to,
      options: filePath === undefined ? options : { ...options, readOnly: true },
      now,
      local: hosts.inventoryOf(),
    });
    const { fetch, checkout, snapshotPath, source } = plan;
    for (const note of plan.notes) output.warn(note);
    let file: FileRestorePlan | undefined;
    if (filePath !== undefined) {
      file = await planFileRestore({
        snapshotPath,
        path: filePath,
        to,
        force: options.force,
        now,
        removeSnapshot: fetch?.kind === 'receive' && fetch.alreadyHere !== undefined,
      });
      // A snapshot that is here already is checked now, so that a dry run says the truth.
      if (fetch?.kind !== 'receive') await applyFileRestore(file, point.name, { check: true });
    }

    const prefix = options.dryRun ? 'would ' : '';
    output.event('plan', {
      subvolume: subvolume.name,
      dryRun: options.dryRun,
      from: location.name,
      snapshot: point.name,
      source,
      fetch,
      checkout,
      ...(file ? { file } : {}),
    });
    if (fetch) output.text(describeFetch(fetch, source.from, prefix));
    for (const line of checkoutText(checkout, prefix)) output.text(line);
    if (file)
      output.text(
        `${prefix}copy ${file.source} to ${file.destination}${file.aside ? ` (the existing one moved aside to ${file.aside})` : ''}`,
      );
    if (options.dryRun) {
      output.text(`would restore ${point.name} ${describeSource(source)}`);
      output.text('dry run: nothing changed');
      return ExitCode.ok;
    }

    const request: RunRequest = {
      stateDir: resolved.stateDir,
      command: 'restore',
      fields: {
        subvolume: subvolume.name,
        from: location.name,
        snapshot: point.name,
        to,
        ...(filePath !== undefined ? { path: filePath } : {}),
      },
      now,
    };
    return await withRun(request, async ({ journal }) => {
      const transfers = await TransferStateFile.load(resolved.stateDir);
      if (fetch?.kind === 'receive') {
        const record = transfers.get(subvolume.name, location.name);
        const outcome = await receiveFetch(
          {
            plan: fetch,
            sourceHost: location.host,
            fields: { subvolume: subvolume.name, from: location.name, name: point.name },
            expectedBytes: fetch.step.parent ? undefined : record.lastFullBytes,
            journal,
            journalFields: { restore: true },
          },
          createPrinter(output, fetchText),
        );
        if (!outcome.ok) return { exitCode: ExitCode.fatal, fields: { error: outcome.error } };
      }
      if (checkout) await applyCheckout(checkout);
      if (file) await applyFileRestore(file, point.name);
      output.event('restored', {
        subvolume: subvolume.name,
        source,
        snapshot: checkout?.removeSnapshot ? undefined : snapshotPath,
        path: checkout?.path,
        aside: checkout?.aside,
        ...(file ? { file } : {}),
      });
      output.text(
        file
          ? `restored ${filePath ?? ''} of ${point.name} ${describeSource(source)}: ${file.destination}${file.aside ? `; the previous one is at ${file.aside}` : ''}`
          : checkout
            ? `restored ${point.name} ${describeSource(source)}: ${checkout.path} is a writable subvolume${checkout.aside ? `; the previous one is at ${checkout.aside}` : ''}`
            : `restored ${point.name} ${describeSource(source)}: read-only snapshot at ${snapshotPath}`,
      );
      return {
        exitCode: ExitCode.ok,
        fields: {
          snapshot: snapshotPath,
          to: file?.destination ?? checkout?.path,
          aside: file?.aside ?? checkout?.aside,
        },
      };
    });
  } finally {
    await hosts.close();
  }
}
