// `list`: snapshots, their copies on every target and how they relate (which copy belongs to
// which snapshot, the latest common pair per target). Reads each filesystem once. Then each
// backup set's restore points in its repositories (--what sets for those alone).
import type { DatedSubvolume } from '../btrfs/inventory.js';
import { latestPointerPath } from '../btrfs/latest-pointer.js';
import { observeSubvolume } from '../btrfs/observe.js';
import { selectSubvolumes } from '../btrfs/btrfs-run.js';
import { loadResolvedConfig } from '../config/config-cache.js';
import { ExitCode } from '../errors.js';
import { CopyIndex, type ObservedSubvolume } from '../plan/btrfs-plan.js';
import { TransferStateFile } from '../state/transfer-state.js';
import { Hosts } from '../btrfs/hosts.js';
import type { ListEvent } from './list-events.js';
import { createOutput, formatSnapshotDate, formatTable } from './output.js';
import { createPrinter, toStderr, type Sink, type TextLine } from './printer.js';

export interface ListOptions {
  readonly config?: string;
  readonly json: boolean;
  readonly what: string;
  readonly only: readonly string[];
}

const byDate = (a: DatedSubvolume, b: DatedSubvolume): number =>
  a.date.epochSeconds - b.date.epochSeconds || a.date.sequence - b.date.sequence;

/** What `list` can show; btrbk spells it as the first argument (`list latest`). */
export const listKinds = ['all', 'snapshots', 'backups', 'latest', 'sets'] as const;

/**
 * btrbk's spelling `list latest [names…]` for `--what latest`: a first name that is a kind and not
 * a subvolume or set of the config (those win, so no name of the config becomes unreachable).
 */
export function listSelection(
  what: string,
  names: readonly string[],
  configured: readonly string[],
): { what: string; only: readonly string[] } {
  const [first, ...rest] = names;
  if (
    what === 'all' &&
    first !== undefined &&
    (listKinds as readonly string[]).includes(first) &&
    !configured.includes(first)
  )
    return { what: first, only: rest };
  return { what, only: names };
}

/** The events' own lines (stderr); the tables come from the rows, once every subvolume is read. */
export function listText(event: ListEvent): readonly TextLine[] {
  switch (event.type) {
    case 'subvolume-error':
      return [toStderr(`ERROR: ${event.message}`)];
    case 'unreachable':
      return [toStderr(`UNREACHABLE: ${event.subvolume} → ${event.target}: ${event.error}`)];
    default:
      return [];
  }
}

export async function runList(requested: ListOptions): Promise<number> {
  const output = createOutput(requested.json);
  const print = createPrinter(output, listText);
  const { resolved } = await loadResolvedConfig(requested.config);
  const options = {
    ...requested,
    ...listSelection(requested.what, requested.only, [
      ...resolved.subvolumes.map((subvolume) => subvolume.name),
      ...resolved.backupSets.map((set) => set.name),
    ]),
  };
  // Names on the command line may be subvolumes or backup sets.
  const isSet = (name: string): boolean => resolved.backupSets.some((set) => set.name === name);
  const onlySets = options.only.filter(isSet);
  const onlySubvolumes = options.only.filter((name) => !isSet(name));
  const subvolumes =
    options.what === 'sets' || (onlySets.length > 0 && onlySubvolumes.length === 0)
      ? []
      : selectSubvolumes(
          resolved,
          onlySubvolumes,
          resolved.backupSets.map((set) => set.name),
        );
  const sets =
    options.what === 'all' || options.what === 'sets'
      ? resolved.backupSets.filter((set) => options.only.length === 0 || onlySets.includes(set.name))
      : [];
  const transfers = await TransferStateFile.load(resolved.stateDir);
  const hosts = new Hosts();
  const results = await Promise.allSettled(
    subvolumes.map((subvolume) =>
      observeSubvolume(
        (target) => hosts.inventoryOf(target ?? subvolume),
        subvolume,
        (target) => transfers.get(subvolume.name, target).lastSent,
      ),
    ),
  ).finally(() => hosts.close());
  let exitCode: number = ExitCode.ok;
  const rows: string[][] = [];
  const targetNames = [
    ...new Set(subvolumes.flatMap((subvolume) => subvolume.targets.map((target) => target.name))),
  ];
  results.forEach((result, index) => {
    const subvolume = subvolumes[index]!;
    if (result.status === 'rejected') {
      print({
        type: 'subvolume-error',
        subvolume: subvolume.name,
        message: result.reason instanceof Error ? result.reason.message : String(result.reason),
      });
      exitCode = ExitCode.partial;
      return;
    }
    const observed = result.value;
    for (const target of observed.targets) {
      if (!target.reachable) {
        print({
          type: 'unreachable',
          subvolume: subvolume.name,
          target: target.target.name,
          error: target.error,
        });
        if (exitCode === ExitCode.ok) exitCode = ExitCode.targetUnreachable;
      }
    }
    rows.push(...describe(observed, options.what, print, targetNames));
  });
  if (!options.json && subvolumes.length > 0) {
    if (options.what === 'backups')
      output.text(formatTable(['SUBVOLUME', 'TARGET', 'COPY', 'DATE', 'SOURCE SNAPSHOT'], rows));
    else if (options.what === 'latest') output.text(formatTable(['SUBVOLUME', 'WHAT', 'NAME', 'DATE'], rows));
    else
      output.text(
        formatTable(
          ['SUBVOLUME', 'SNAPSHOT', 'DATE', ...targetNames.map((name) => name.toUpperCase())],
          rows,
        ),
      );
  }
  if (sets.length > 0) {
    if (subvolumes.length > 0) output.text('');
    const { listSetRestorePoints } = await import('./set-restore-command.js');
    const setsExit = await listSetRestorePoints(sets, output);
    if (exitCode === ExitCode.ok) exitCode = setsExit;
  }
  return exitCode;
}

function describe(
  observed: ObservedSubvolume,
  what: string,
  print: Sink<ListEvent>,
  targetNames: readonly string[],
): string[][] {
  const rows: string[][] = [];
  const name = observed.subvolume.name;
  const snapshots = [...observed.snapshots].sort(byDate);
  const reachable = observed.targets.flatMap((target) => (target.reachable ? [target] : []));
  // Lookups by UUID (ten thousand snapshots and copies would be 10^8 comparisons by scanning).
  const copiesOn = new Map(
    reachable.map((target) => [target.target.name, new CopyIndex(target.copies)] as const),
  );
  const bySnapshot = new CopyIndex(snapshots);
  const latestCommon = new Map<string, DatedSubvolume>();
  for (const target of reachable) {
    const index = copiesOn.get(target.target.name)!;
    const common = [...snapshots].reverse().find((snapshot) => index.copyOf(snapshot) !== undefined);
    if (common) latestCommon.set(target.target.name, common);
  }
  if (what === 'all' || what === 'snapshots') {
    for (const snapshot of snapshots) {
      const copies: Record<string, string | null> = {};
      for (const target of reachable) {
        copies[target.target.name] = copiesOn.get(target.target.name)!.copyOf(snapshot)?.name ?? null;
      }
      print({
        type: 'snapshot',
        subvolume: name,
        name: snapshot.name,
        path: snapshot.path,
        date: new Date(snapshot.date.epochSeconds * 1000).toISOString(),
        uuid: snapshot.uuid,
        copies,
      });
      const cells = targetNames.map((targetName) => {
        if (!observed.targets.some((target) => target.target.name === targetName)) return '';
        if (!(targetName in copies)) return '?';
        const common = latestCommon.get(targetName) === snapshot ? ' (latest common)' : '';
        return copies[targetName] ? `yes${common}` : '-';
      });
      rows.push([name, snapshot.name, formatSnapshotDate(snapshot.date), ...cells]);
    }
  }
  if (what === 'all' || what === 'backups') {
    for (const target of reachable) {
      for (const copy of [...target.copies].sort(byDate)) {
        const source = bySnapshot.snapshotOf(copy);
        print({
          type: 'backup',
          subvolume: name,
          target: target.target.name,
          name: copy.name,
          path: copy.path,
          date: new Date(copy.date.epochSeconds * 1000).toISOString(),
          receivedUuid: copy.receivedUuid,
          sourceSnapshot: source?.name ?? null,
        });
        if (what === 'backups')
          rows.push([
            name,
            target.target.name,
            copy.name,
            formatSnapshotDate(copy.date),
            source?.name ?? '(snapshot deleted)',
          ]);
      }
      for (const garbage of target.garbage) {
        print({ type: 'garbage', subvolume: name, target: target.target.name, path: garbage.path });
        if (what === 'backups')
          rows.push([
            name,
            target.target.name,
            garbage.name,
            '',
            'GARBAGE (interrupted receive; snapkeep clean)',
          ]);
      }
    }
  }
  if (what === 'latest') {
    const latest = snapshots.at(-1);
    const pointer = observed.latest;
    print({
      type: 'latest',
      subvolume: name,
      snapshot: latest?.name ?? null,
      latestCommon: Object.fromEntries(
        [...latestCommon].map(([target, snapshot]) => [target, snapshot.name]),
      ),
      ...(pointer
        ? {
            pointer: {
              path: latestPointerPath(observed.subvolume.snapshotDir, observed.subvolume.snapshotName),
              pointsTo: pointer.kind === 'symlink' ? pointer.target : null,
            },
          }
        : {}),
    });
    rows.push([
      name,
      'latest snapshot',
      latest?.name ?? '(none)',
      latest ? formatSnapshotDate(latest.date) : '',
    ]);
    if (pointer)
      rows.push([
        name,
        `pointer ${latestPointerPath(observed.subvolume.snapshotDir, observed.subvolume.snapshotName)}`,
        pointer.kind === 'symlink'
          ? `→ ${pointer.target}${pointer.target === latest?.name ? '' : ' (stale: the next run repairs it)'}`
          : pointer.kind === 'absent'
            ? '(none yet)'
            : `(${pointer.what}, not a symlink)`,
        '',
      ]);
    for (const target of observed.targets) {
      const common = latestCommon.get(target.target.name);
      rows.push([
        name,
        `latest on ${target.target.name}`,
        common?.name ?? (target.reachable ? '(none)' : '(unreachable)'),
        common ? formatSnapshotDate(common.date) : '',
      ]);
    }
  }
  return rows;
}
