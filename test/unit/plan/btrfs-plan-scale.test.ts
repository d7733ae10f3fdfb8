// The planner at scale: thousands of snapshots and copies are matched through indexes, not by
// scanning every copy for every snapshot. Counted as reads of the copies' UUID fields (a count
// does not depend on the machine's speed or load).
import { describe, expect, it } from 'vitest';
import type { DatedSubvolume } from '../../../src/btrfs/inventory.js';
import { attributeCopies, planSubvolume, type ObservedSubvolume } from '../../../src/plan/btrfs-plan.js';
import { allSteps, copy, copyOf, resolvedHome, snapshot, source } from './plan-fixtures.js';

const now = new Date('2026-11-23T12:00:00Z');
const count = 2000;

/** Hourly names going back `count` hours from an hour before `now`. */
const names = Array.from({ length: count }, (_, index) => {
  const date = new Date(now.getTime() - (count - index) * 3600_000);
  const pad = (value: number) => String(value).padStart(2, '0');
  return `home.${date.getUTCFullYear()}${pad(date.getUTCMonth() + 1)}${pad(date.getUTCDate())}T${pad(date.getUTCHours())}${pad(date.getUTCMinutes())}`;
});

/** `subvolume` with every read of its UUID fields counted in `reads`. */
function counted<T extends object>(subvolume: T, reads: { count: number }): T {
  return new Proxy(subvolume, {
    get(target, key, receiver) {
      if (key === 'uuid' || key === 'receivedUuid' || key === 'parentUuid') reads.count++;
      return Reflect.get(target, key, receiver) as unknown;
    },
  });
}

describe('planning thousands of snapshots', () => {
  it(`a run over ${count} snapshots, each with its copy, reads each copy a bounded number of times`, () => {
    const reads = { count: 0 };
    const snapshots = names.map((name, index) => snapshot(name, 10 + index));
    const copies = snapshots.map((each) => counted(copyOf(each), reads));
    const subvolume = resolvedHome({
      snapshot_retention: { preserve_min: 'latest', preserve: '*h' },
      target_retention: { preserve_min: 'latest', preserve: '*h' },
    });
    const observed: ObservedSubvolume = {
      subvolume,
      source,
      snapshots,
      targets: [{ target: subvolume.targets[0]!, reachable: true, copies, garbage: [] }],
    };
    const plan = planSubvolume(observed, now, allSteps);
    expect(plan.steps.map((step) => step.kind)).toEqual(['create-snapshot', 'send']);
    const send = plan.steps[1]!;
    expect(send.kind === 'send' && send.parent?.name).toBe(names.at(-1));
    // A scan per snapshot reads about count * count / 2 (two million) of them.
    expect(reads.count).toBeLessThan(50 * count);
  });

  it(`copies whose snapshots are gone, in a chain of ${count}, are found to be ours in one pass over the filesystem`, () => {
    const reads = { count: 0 };
    // Each copy was received from the snapshot before it (its parent), oldest first as listed.
    const chain: DatedSubvolume[] = [];
    for (const [index, name] of names.entries())
      chain.push(counted(copy(name, `gone-${index}`, chain.at(-1)), reads));
    const subvolume = resolvedHome();
    const { own, foreign } = attributeCopies(
      {
        target: subvolume.targets[0]!,
        reachable: true,
        copies: chain,
        garbage: [],
        filesystem: chain,
        // Only the newest copy is recorded as ours: the rest are ours by ancestry.
        owned: [`gone-${count - 1}`],
      },
      [],
    );
    expect(own).toHaveLength(count);
    expect(foreign).toEqual([]);
    // Passes over the whole filesystem until nothing is added read about count * count of them.
    expect(reads.count).toBeLessThan(50 * count);
  });
});
