// Directories of a configuration that must not coincide or nest (pure). Each kind of directory
// has one owner that prunes it by snapshot name: a subvolume's snapshot_dir holds its snapshots,
// a target holds the copies of the subvolumes sent to it. Where two owners meet, one's retention
// deletes the other's snapshots (data loss), so such a configuration is refused:
// - two targets in one directory (each prunes the copies with its own policy);
// - a target equal to, inside, or holding a snapshot_dir;
// - two subvolumes with one snapshot_name in one snapshot_dir or on one target;
// - a target inside a subvolume that is sent to it (the copies live on the disk they protect).
// Every comparison uses one spelling per directory: local-path.ts's normalisePath, or, when
// the loader resolved the paths on disk (symlinks), the real path of each local one.
import { isSameOrInside, normalisePath } from '../local-path.js';
import type { ResolvedConfig, ResolvedSubvolume, ResolvedTarget } from './resolve.js';

export interface PathConflict {
  /** The key the message is about, as in the file (`targets.usb.path`). */
  readonly path: readonly (string | number)[];
  /** `<what is wrong> (got <value>; expected <what is accepted>)`. */
  readonly message: string;
}

/** The real path of a local path, when the loader resolved it on disk. */
export type RealPaths = ReadonlyMap<string, string>;

interface Place {
  /** '' for this machine, else host:port. */
  readonly host: string;
  /** As configured (resolve.ts normalised it). */
  readonly path: string;
  /** The spelling compared. */
  readonly compared: string;
}

function hostOf(item: ResolvedSubvolume | ResolvedTarget): string {
  const location = item.ssh?.location;
  return location ? `${location.host}:${location.port ?? 22}` : '';
}

/** Every local path whose real path decides a conflict (what the loader resolves on disk). */
export function localPathsOf(resolved: ResolvedConfig): string[] {
  const paths = new Set<string>();
  for (const subvolume of resolved.subvolumes) {
    if (hostOf(subvolume) === '') {
      paths.add(subvolume.path);
      paths.add(subvolume.snapshotDir);
    }
    for (const target of subvolume.targets) if (hostOf(target) === '') paths.add(target.path);
  }
  return [...paths];
}

export function pathConflicts(resolved: ResolvedConfig, realPaths?: RealPaths): PathConflict[] {
  const place = (item: ResolvedSubvolume | ResolvedTarget, path: string): Place => {
    const host = hostOf(item);
    const real = host === '' ? realPaths?.get(path) : undefined;
    return { host, path, compared: real ?? normalisePath(path) };
  };
  /** `"/a/b"`, and where it really is when a symlink makes that differ. */
  const shown = (at: Place): string =>
    at.compared === normalisePath(at.path)
      ? JSON.stringify(at.path)
      : `${JSON.stringify(at.path)}, which is ${at.compared} on disk`;
  const same = (a: Place, b: Place): boolean => a.host === b.host && a.compared === b.compared;
  const inside = (a: Place, b: Place): boolean => a.host === b.host && isSameOrInside(a.compared, b.compared);

  const conflicts: PathConflict[] = [];
  const targets = new Map<string, ResolvedTarget>();
  for (const subvolume of resolved.subvolumes)
    for (const target of subvolume.targets) if (!targets.has(target.name)) targets.set(target.name, target);

  // Two targets in one directory.
  const targetList = [...targets.values()];
  targetList.forEach((target, index) => {
    const here = place(target, target.path);
    const other = targetList.slice(0, index).find((earlier) => same(place(earlier, earlier.path), here));
    if (other)
      conflicts.push({
        path: ['targets', target.name, 'path'],
        message: `is the directory of target "${other.name}" too (got ${shown(here)}; expected a directory of its own for each target: each prunes the copies there with its own retention)`,
      });
  });

  // A target and a snapshot_dir that coincide or nest.
  for (const target of targetList) {
    const here = place(target, target.path);
    for (const subvolume of resolved.subvolumes) {
      const snapshots = place(subvolume, subvolume.snapshotDir);
      const relation = same(here, snapshots)
        ? 'is'
        : inside(here, snapshots)
          ? 'is inside'
          : inside(snapshots, here)
            ? 'holds'
            : undefined;
      if (relation === undefined) continue;
      conflicts.push({
        path: ['targets', target.name, 'path'],
        message: `${relation} the snapshot_dir of subvolume "${subvolume.name}" (${subvolume.snapshotDir}) (got ${shown(here)}; expected a directory apart from every snapshot_dir: pruning the copies and pruning the snapshots would delete each other's)`,
      });
    }
  }

  // A target inside a subvolume that is sent to it.
  for (const subvolume of resolved.subvolumes) {
    const source = place(subvolume, subvolume.path);
    for (const target of subvolume.targets) {
      const here = place(target, target.path);
      if (!inside(here, source)) continue;
      conflicts.push({
        path: ['targets', target.name, 'path'],
        message: `is inside subvolume "${subvolume.name}" (${subvolume.path}), which is sent to it (got ${shown(here)}; expected a directory outside the subvolumes sent to it, on another filesystem: copies on the disk they protect are lost with it)`,
      });
    }
  }

  // One snapshot name written twice into one snapshot_dir, or sent twice to one target.
  const writers = new Map<string, string>();
  for (const subvolume of resolved.subvolumes) {
    const snapshots = place(subvolume, subvolume.snapshotDir);
    const keys: (readonly [where: string, what: string, expected: string])[] = [
      [
        `dir\u0000${snapshots.host}\u0000${snapshots.compared}`,
        'would write snapshots with the same name into the same directory',
        'a different snapshot_name or snapshot_dir for one of them',
      ],
      ...subvolume.targets.map(
        (target) =>
          [
            `target\u0000${target.name}`,
            `would send copies with the same name to target "${target.name}" (${target.path}), where each would prune the other's`,
            'a different snapshot_name for one of them',
          ] as const,
      ),
    ];
    for (const [where, what, expected] of keys) {
      const key = `${where}\u0000${subvolume.snapshotName}`;
      const other = writers.get(key);
      if (other === undefined) {
        writers.set(key, subvolume.name);
        continue;
      }
      conflicts.push({
        path: ['subvolumes', subvolume.name, 'snapshot_name'],
        message: `subvolumes "${other}" and "${subvolume.name}" ${what} (got ${JSON.stringify(subvolume.snapshotName)}; expected ${expected})`,
      });
    }
  }
  return conflicts;
}
