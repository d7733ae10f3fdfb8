// The drill planner: which subvolume × target pair a run drills (every pair within N runs, also
// when pairs come and go or a drill fails) and which copy of it (one whose snapshot is still here).
import { describe, expect, it } from 'vitest';
import type { DatedSubvolume } from '../../../src/btrfs/inventory.js';
import { parseSnapshotName } from '../../../src/snapshot-name.js';
import {
  chooseCopy,
  choosePair,
  recordDrill,
  type DrillPair,
  type DrillRotation,
} from '../../../src/plan/drill-plan.js';

process.env.TZ = 'UTC';

const pairs: DrillPair[] = [
  { subvolume: 'data', target: 'disk' },
  { subvolume: 'data', target: 'offsite' },
  { subvolume: 'home', target: 'disk' },
];

/** Drill `runs` times from `rotation`, one hour apart; the pairs drilled, in order. */
function drillRuns(
  runs: number,
  from: DrillRotation = {},
  ok: (pair: DrillPair) => boolean = () => true,
  available: readonly DrillPair[] = pairs,
): { drilled: string[]; rotation: DrillRotation } {
  let rotation = from;
  const drilled: string[] = [];
  for (let run = 0; run < runs; run++) {
    const { pair } = choosePair(available, rotation)!;
    drilled.push(`${pair.subvolume}@${pair.target}`);
    rotation = recordDrill(rotation, pair, {
      lastDrilledAt: new Date(Date.UTC(2026, 0, 1, run)).toISOString(),
      ok: ok(pair),
    });
  }
  return { drilled, rotation };
}

describe('choosePair', () => {
  it('drills every pair within N runs, then starts over in the same order', () => {
    const { drilled } = drillRuns(6);
    expect(drilled.slice(0, 3)).toEqual(['data@disk', 'data@offsite', 'home@disk']);
    expect(drilled.slice(3)).toEqual(drilled.slice(0, 3));
  });

  it('moves on after a failed drill: one broken target does not starve the others', () => {
    const { drilled } = drillRuns(3, {}, (pair) => pair.target !== 'offsite');
    expect(new Set(drilled).size).toBe(3);
  });

  it('a pair added later is drilled next; a pair drilled in a narrowed run keeps the others in turn', () => {
    const { rotation } = drillRuns(3);
    const withNew = [...pairs, { subvolume: 'media', target: 'disk' }];
    const next = choosePair(withNew, rotation);
    expect(next?.pair).toEqual({ subvolume: 'media', target: 'disk' });
    expect(next?.reason).toMatch(/never drilled/);
    // `verify home --drill` drills only home's pairs; data's records are kept.
    const narrowed = drillRuns(1, rotation, () => true, [{ subvolume: 'home', target: 'disk' }]);
    expect(narrowed.rotation.data).toEqual(rotation.data);
  });

  it('says why, and nothing when there is nothing to drill', () => {
    expect(choosePair([], {})).toBeUndefined();
    const { rotation } = drillRuns(3);
    expect(choosePair(pairs, rotation)?.reason).toMatch(
      /drilled longest ago of 3 pairs \(last 2026-01-01T00:00/,
    );
  });
});

let nextId = 500;
function subvolume(
  name: string,
  fields: { uuid: string; receivedUuid?: string; path: string },
): DatedSubvolume {
  return {
    id: nextId++,
    uuid: fields.uuid,
    receivedUuid: fields.receivedUuid,
    readonly: true,
    generation: 1,
    creationGeneration: 1,
    path: fields.path,
    name,
    date: parseSnapshotName(name)!.date,
  };
}
const copyOf = (name: string, receivedUuid?: string): DatedSubvolume =>
  subvolume(name, { uuid: `copy-${name}`, receivedUuid, path: `/backups/${name}` });
const snapshot = (name: string): DatedSubvolume =>
  subvolume(name, { uuid: `original-${name}`, path: `/data/.snapshots/${name}` });

describe('chooseCopy', () => {
  it('the newest copy whose snapshot is still here, by received UUID', () => {
    const copies = [
      copyOf('data.20260101', 'original-data.20260101'),
      copyOf('data.20260103', 'original-data.20260103'),
      copyOf('data.20260102', 'original-data.20260102'),
    ];
    const choice = chooseCopy(copies, [snapshot('data.20260101'), snapshot('data.20260102')]);
    expect(choice?.copy.name).toBe('data.20260102');
    expect(choice?.counterpart).toMatchObject({ kind: 'received-uuid', local: { name: 'data.20260102' } });
  });

  it('a copy that lost its received UUID is still compared with the snapshot of its name', () => {
    const choice = chooseCopy([copyOf('data.20260103')], [snapshot('data.20260103')]);
    expect(choice?.counterpart.kind).toBe('name');
    expect(choice?.reason).toMatch(/no received UUID/);
  });

  it('with every snapshot pruned here: the newest copy, with nothing to compare it with', () => {
    const choice = chooseCopy(
      [copyOf('data.20260101', 'original-data.20260101'), copyOf('data.20260102', 'original-data.20260102')],
      [],
    );
    expect(choice?.copy.name).toBe('data.20260102');
    expect(choice?.counterpart.kind).toBe('none');
    expect(chooseCopy([], [snapshot('data.20260101')])).toBeUndefined();
  });
});
