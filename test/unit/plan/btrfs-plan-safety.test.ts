// The planner's data-safety rules (issue 13): whose copies a subvolume may prune, what is
// garbage, and what is never touched.
import { describe, expect, it } from 'vitest';
import type { DatedSubvolume } from '../../../src/btrfs/inventory.js';
import {
  attributeCopies,
  planSubvolume,
  type ObservedSubvolume,
  type ObservedTarget,
} from '../../../src/plan/btrfs-plan.js';
import { allSteps, copy, resolvedHome, snapshot, source } from './plan-fixtures.js';

const all = allSteps;
const now = new Date('2026-11-23T12:00:00Z');
type Reachable = Extract<ObservedTarget, { reachable: true }>;

const subvolume = resolvedHome({
  snapshot_retention: { preserve_min: 'latest', preserve: 'no' },
  target_retention: { preserve_min: 'latest', preserve: 'no' },
});

function observe(snapshots: DatedSubvolume[], target: Partial<Reachable>): ObservedSubvolume {
  return {
    subvolume,
    source,
    snapshots,
    targets: [{ target: subvolume.targets[0]!, reachable: true, copies: [], garbage: [], ...target }],
  };
}

const deletedCopies = (observed: ObservedSubvolume): string[] =>
  planSubvolume(observed, now, { clean: false, snapshot: false, send: false, prune: true })
    .steps.filter((step) => step.kind === 'delete-copy')
    .map((step) => (step.kind === 'delete-copy' ? step.name : ''));

describe('whose copies a subvolume prunes', () => {
  const latest = snapshot('home.20261122T1200', 100);

  it("never another subvolume's copies with the same snapshot_name, whatever their dates", () => {
    const mine = copy('home.20261122T1200', latest.uuid);
    const theirsOld = copy('home.20261101T1200', 'uuid-of-another-subvolume-1');
    const theirsNew = copy('home.20261122T1200_1', 'uuid-of-another-subvolume-2', theirsOld);
    const observed = observe([latest], { copies: [theirsOld, mine, theirsNew] });
    expect(deletedCopies(observed)).toEqual([]);
    const plan = planSubvolume(observed, now, all);
    expect(plan.notes.map((note) => note.message).join('\n')).toMatch(
      /2 subvolume\(s\) named like home's snapshots on usb were not received from its snapshots \(home\.20261101T1200, home\.20261122T1200_1\): never pruned/,
    );
  });

  it('its own copies whose snapshots are gone: recorded by an earlier run, or ancestors of its copies', () => {
    const recorded = copy('home.20261101T1200', 'uuid-gone-1');
    const ancestor = copy('home.20261110T1200', 'uuid-gone-2');
    const parentOfLatest = copy('home.20261120T1200', 'uuid-gone-3', ancestor);
    const mine = copy('home.20261122T1200', latest.uuid, parentOfLatest);
    const observed = observe([latest], {
      copies: [recorded, ancestor, parentOfLatest, mine],
      owned: ['uuid-gone-1'],
    });
    expect(attributeCopies(observed.targets[0] as Reachable, [latest]).own.map((each) => each.name)).toEqual([
      'home.20261101T1200',
      'home.20261110T1200',
      'home.20261120T1200',
      'home.20261122T1200',
    ]);
    expect(deletedCopies(observed).sort()).toEqual([
      'home.20261101T1200',
      'home.20261110T1200',
      'home.20261120T1200',
    ]);
  });

  it('an ancestor found through a clone source in another directory of the filesystem', () => {
    const elsewhere = {
      ...copy('home.20261120T1200', 'uuid-gone-3'),
      path: '/mnt/usb/other/home.20261120T1200',
    };
    const old = copy('home.20261120T1200', 'uuid-gone-3');
    const mine = copy('home.20261122T1200', latest.uuid, elsewhere);
    const observed = observe([latest], { copies: [old, mine], filesystem: [elsewhere, old, mine] });
    expect(deletedCopies(observed)).toEqual(['home.20261120T1200']);
  });
});

describe('garbage and what is never touched', () => {
  it('read-only subvolumes without a received UUID are neither copies nor garbage, and their names are taken', () => {
    const original = snapshot('home.20261123T1200', 90);
    const plan = planSubvolume(
      observe([], { others: [{ ...original, path: '/mnt/usb/snapkeep/home.20261123T1200' }] }),
      now,
      all,
    );
    expect(plan.steps.map((step) => step.kind)).toEqual(['create-snapshot', 'send']);
    expect(plan.steps[0]).toMatchObject({ name: 'home.20261123T1200_1' });
  });

  it('garbage a live receive writes into: no deletion, no send, an error naming the pid', () => {
    const garbage = { ...copy('home.20261122T1200', 'x'), readonly: false };
    const plan = planSubvolume(observe([], { garbage: [garbage], receiving: [4242] }), now, all);
    expect(plan.steps.map((step) => step.kind)).toEqual(['create-snapshot']);
    expect(plan.notes.find((note) => note.level === 'error')?.message).toContain(
      'a btrfs receive (pid 4242) is still writing into /mnt/usb/snapkeep',
    );
  });

  it('a target that is the snapshot directory: nothing sent or deleted there', () => {
    const existing = snapshot('home.20261122T1200', 60);
    const observed: ObservedSubvolume = {
      ...observe([existing], {}),
      targets: [
        {
          target: { ...subvolume.targets[0]!, path: '/data/snaps/' },
          reachable: true,
          copies: [],
          garbage: [],
          others: [existing],
        },
      ],
    };
    const plan = planSubvolume(observed, now, all);
    // Only the snapshot retention acts there (on snapshots, as it would anyway).
    expect(plan.steps.map((step) => step.kind)).toEqual(['create-snapshot', 'delete-snapshot']);
    expect(plan.notes.find((note) => note.level === 'error')?.message).toContain(
      'is the snapshot_dir /data/snaps',
    );
  });
});
