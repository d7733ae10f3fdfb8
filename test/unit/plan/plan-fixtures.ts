// The world the btrfs planner's unit tests observe: one subvolume `home` (/data/home, snapshots
// in /data/snaps) sent to one target `usb` (/mnt/usb/snapkeep), its source subvolume, and
// snapshots and copies made by name.
import { resolveConfig } from '../../../src/config/resolve.js';
import { configSchema } from '../../../src/config/schema.js';
import type { DatedSubvolume, Subvolume } from '../../../src/btrfs/inventory.js';
import { parseSnapshotName } from '../../../src/snapshot-name.js';

process.env.TZ = 'UTC';

export const allSteps = { clean: true, snapshot: true, send: true, prune: true };

/** The resolved `home` subvolume, with `extra` keys of its config section. */
export function resolvedHome(extra: Record<string, unknown> = {}) {
  return resolveConfig(
    configSchema.parse({
      targets: { usb: { path: '/mnt/usb/snapkeep' } },
      subvolumes: { home: { path: '/data/home', snapshot_dir: '/data/snaps', targets: ['usb'], ...extra } },
    }),
  ).subvolumes[0]!;
}

export const source: Subvolume = {
  id: 256,
  uuid: 'source-uuid',
  readonly: false,
  generation: 100,
  creationGeneration: 5,
  path: '/data/home',
  name: 'home',
};

let nextId = 300;

/** A read-only snapshot of the source in /data/snaps, created at generation `cgen`. */
export function snapshot(name: string, cgen: number): DatedSubvolume {
  return {
    id: nextId++,
    uuid: `uuid-${name}`,
    parentUuid: source.uuid,
    readonly: true,
    generation: cgen,
    creationGeneration: cgen,
    path: `/data/snaps/${name}`,
    name,
    date: parseSnapshotName(name)!.date,
  };
}

/** A copy on the target received from the snapshot with UUID `from`, cloned from `parent`. */
export function copy(name: string, from: string, parent?: DatedSubvolume): DatedSubvolume {
  return {
    id: nextId++,
    uuid: `copy-${name}`,
    parentUuid: parent?.uuid,
    receivedUuid: from,
    readonly: true,
    generation: 1,
    creationGeneration: 1,
    path: `/mnt/usb/snapkeep/${name}`,
    name,
    date: parseSnapshotName(name)!.date,
  };
}

/** The copy of `snap` on the target, as a full receive leaves it (no parent). */
export function copyOf(snap: DatedSubvolume): DatedSubvolume {
  return {
    ...snap,
    id: nextId++,
    uuid: `copy-${snap.name}`,
    parentUuid: undefined,
    receivedUuid: snap.uuid,
    path: `/mnt/usb/snapkeep/${snap.name}`,
  };
}
