// `restore` of a btrfs subvolume: list what can be restored (local snapshots and every target's
// copies, with dates and the size each was sent with), and bring one back as a writable
// subvolume (or one path of it, or the read-only snapshot). A copy on a target is received into
// the snapshot directory first — incrementally when a snapshot here has a copy there — and stays
// there as a snapshot, so the next `run` continues incrementally from it. Everything it has to
// say is a RestoreEvent; src/cli/restore-command.ts renders them.
import { dirname, join } from 'node:path';
import { applyCheckout, btrfsFilesystemOf, planCheckout, type CheckoutPlan } from '../btrfs/fetch.js';
import { applyFileRestore, planFileRestore, type FileRestorePlan } from '../btrfs/file-restore.js';
import { Hosts } from '../btrfs/hosts.js';
import { datedSubvolumes, localHost, type DatedSubvolume, type Inventory } from '../btrfs/inventory.js';
import { messageOf, observeTarget, snapshotsIn } from '../btrfs/observe.js';
import type { ResolvedSubvolume } from '../config/resolve.js';
import { ExitCode, SnapkeepError, UsageError } from '../errors.js';
import { pickCopy, planFetch, type FetchPlan } from '../plan/fetch-plan.js';
import type { Host } from '../remote/host.js';
import { compareSnapshotDates, type SnapshotDate } from '../snapshot-name.js';
import { readJournal } from '../state/journal.js';
import { withRun, type RunRequest } from '../state/run-lifecycle.js';
import { TransferStateFile } from '../state/transfer-state.js';
import { receiveFetch, type FetchEvent } from './fetch-receive.js';

/** Where a restore's data really comes from: the scripting contract of `plan` and `restored`. */
export interface RestoreSource {
  /** A target name, "snapshots" (the snapshot directory), or "here" (a copy already on this machine). */
  readonly from: string;
  /** The host the data is read from ("local" or user@host). */
  readonly host: string;
  /** The subvolume read, on that host. */
  readonly path: string;
  /** How it is received: not at all (a snapshot here is used as it is), full, or incremental. */
  readonly transfer: 'none' | 'full' | 'incremental';
  /** With an incremental: the subvolume here whose data the changes are applied to. */
  readonly parent?: string;
}

/** A place the listing could not read. */
export interface RestoreUnreachableEvent {
  readonly type: 'unreachable';
  readonly subvolume: string;
  readonly location: string;
  readonly error: string;
}

/** One restore point of the listing (newest first per place). */
export interface RestorePointEvent {
  readonly type: 'restore-point';
  readonly subvolume: string;
  readonly name: string;
  /** ISO 8601. */
  readonly date: string;
  /** "snapshots" or a target name. */
  readonly location: string;
  readonly host: string;
  readonly path: string;
  /** What the copy cost to send, from the journal. */
  readonly sentBytes?: number;
  readonly sentAs?: 'full' | 'incremental';
}

export type RestoreListEvent = RestoreUnreachableEvent | RestorePointEvent;

/** A listed restore point, for the command's table. */
export interface ListedRestorePoint extends Omit<RestorePointEvent, 'type'> {
  readonly snapshotDate: SnapshotDate;
}

/** What the restore will do (under --dry-run: would do), decided before anything changes. */
export interface RestorePlanEvent {
  readonly type: 'plan';
  readonly subvolume: string;
  readonly dryRun: boolean;
  readonly from: string;
  readonly snapshot: string;
  readonly source: RestoreSource;
  readonly fetch?: FetchPlan;
  readonly checkout?: CheckoutPlan;
  readonly file?: FileRestorePlan;
  /** What a person should know about where the snapshot lands (stderr in the text); when any. */
  readonly notes?: readonly string[];
}

export interface RestoredEvent {
  readonly type: 'restored';
  readonly subvolume: string;
  /** The snapshot restored. */
  readonly name: string;
  readonly source: RestoreSource;
  /** The read-only snapshot kept here (none when it was received only for the checkout). */
  readonly snapshot?: string;
  /** The writable subvolume made. */
  readonly path?: string;
  readonly aside?: string;
  /** --path: the path inside the subvolume, and the copy. */
  readonly filePath?: string;
  readonly file?: FileRestorePlan;
}

export type RestoreEvent = RestorePlanEvent | FetchEvent | RestoredEvent;

export interface RestoreRequest {
  readonly subvolume: ResolvedSubvolume;
  readonly stateDir: string;
  readonly dryRun: boolean;
  /** A snapshot name or "latest". */
  readonly snapshot: string;
  /** "snapshots" or a target name. */
  readonly from?: string;
  /** An absolute path (checked by the command). */
  readonly to: string;
  readonly readOnly: boolean;
  /** Receive without a parent: every byte from the source (a restore drill). */
  readonly full: boolean;
  readonly force: boolean;
  /** Copy only this path (relative to the subvolume, checked) out of the snapshot, to `to`. */
  readonly filePath?: string;
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

/** The snapshot directory's name as a place to restore from. */
export const snapshotsLocation = 'snapshots';

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

/** Every restore point of `subvolumes`, newest first per place; exit 10 when a place is unreachable. */
export async function listRestorePoints(
  subvolumes: readonly ResolvedSubvolume[],
  stateDir: string,
  report: (event: RestoreListEvent) => void,
): Promise<{ exitCode: number; points: ListedRestorePoint[] }> {
  const hosts = new Hosts();
  let exitCode: number = ExitCode.ok;
  const sizes = await sentSizes(stateDir);
  const listed: ListedRestorePoint[] = [];
  try {
    const all = await Promise.all(subvolumes.map((subvolume) => locationsOf(subvolume, hosts)));
    subvolumes.forEach((subvolume, index) => {
      for (const location of all[index]!) {
        if (location.error) {
          report({
            type: 'unreachable',
            subvolume: subvolume.name,
            location: location.name,
            error: location.error,
          });
          exitCode = ExitCode.targetUnreachable;
        }
        const points = [...location.points].sort((a, b) => compareSnapshotDates(b.date, a.date));
        for (const point of points) {
          const size = sizes.get(`${subvolume.name}\u0000${location.name}\u0000${point.name}`);
          const event: RestorePointEvent = {
            type: 'restore-point',
            subvolume: subvolume.name,
            name: point.name,
            date: new Date(point.date.epochSeconds * 1000).toISOString(),
            location: location.name,
            host: location.host.label,
            path: point.path,
            sentBytes: size?.bytes,
            sentAs: size ? (size.full ? 'full' : 'incremental') : undefined,
          };
          report(event);
          const { type: _type, ...fields } = event;
          listed.push({ ...fields, snapshotDate: point.date });
        }
      }
    });
  } finally {
    await hosts.close();
  }
  return { exitCode, points: listed };
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
  readonly options: RestoreRequest;
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

/** Plan, and unless a dry run apply as one run; the exit code. */
export async function restoreSubvolume(
  request: RestoreRequest,
  report: (event: RestoreEvent) => void,
): Promise<number> {
  const { subvolume, filePath, to } = request;
  const now = request.now ?? new Date();
  const hosts = new Hosts();
  try {
    const locations = await locationsOf(subvolume, hosts);
    const { location, point } = chooseSource(locations, subvolume, request.snapshot, request.from);
    const plan = await planRestore({
      subvolume,
      location,
      point,
      to,
      options: filePath === undefined ? request : { ...request, readOnly: true },
      now,
      local: hosts.inventoryOf(),
    });
    const { fetch, checkout, snapshotPath, source } = plan;
    let file: FileRestorePlan | undefined;
    if (filePath !== undefined) {
      file = await planFileRestore({
        snapshotPath,
        path: filePath,
        to,
        force: request.force,
        now,
        removeSnapshot: fetch?.kind === 'receive' && fetch.alreadyHere !== undefined,
      });
      // A snapshot that is here already is checked now, so that a dry run says the truth.
      if (fetch?.kind !== 'receive') await applyFileRestore(file, point.name, { check: true });
    }

    report({
      type: 'plan',
      subvolume: subvolume.name,
      dryRun: request.dryRun,
      from: location.name,
      snapshot: point.name,
      source,
      fetch,
      checkout,
      ...(file ? { file } : {}),
      ...(plan.notes.length > 0 ? { notes: plan.notes } : {}),
    });
    if (request.dryRun) return ExitCode.ok;

    const runRequest: RunRequest = {
      stateDir: request.stateDir,
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
    return await withRun(runRequest, async ({ journal }) => {
      const transfers = await TransferStateFile.load(request.stateDir);
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
          report,
        );
        if (!outcome.ok) return { exitCode: ExitCode.fatal, fields: { error: outcome.error } };
      }
      if (checkout) await applyCheckout(checkout);
      if (file) await applyFileRestore(file, point.name);
      report({
        type: 'restored',
        subvolume: subvolume.name,
        name: point.name,
        source,
        snapshot: checkout?.removeSnapshot ? undefined : snapshotPath,
        path: checkout?.path,
        aside: checkout?.aside,
        ...(file ? { filePath, file } : {}),
      });
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
