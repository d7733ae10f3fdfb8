// Which send chains share one `btrfs send` (fan-out) and which run alone.
import { describe, expect, it } from 'vitest';
import { groupSameStreams } from '../../../src/btrfs/btrfs-run.js';
import type { Step } from '../../../src/plan/btrfs-plan.js';

type SendStep = Extract<Step, { kind: 'send' }>;

function send(target: string, name: string, parent?: string): SendStep {
  return {
    kind: 'send',
    subvolume: 'data',
    target,
    name,
    snapshotPath: `/snaps/${name}`,
    targetDirectory: `/${target}`,
    parent: parent ? { name: parent, path: `/snaps/${parent}`, copyName: parent, reason: 'test' } : undefined,
    reason: 'test',
  };
}

const targetsOf = (groups: ReturnType<typeof groupSameStreams>) =>
  groups.map((group) => group.map(([target]) => target));

describe('groupSameStreams', () => {
  it('groups targets whose chains send the same snapshots from the same parents', () => {
    const chains = new Map([
      ['a', [send('a', 's2', 's1')]],
      ['b', [send('b', 's2', 's1')]],
      ['c', [send('c', 's2')]], // full: another stream
      ['d', [send('d', 's1', 's0'), send('d', 's2', 's1')]], // catching up: another sequence
    ]);
    expect(targetsOf(groupSameStreams(chains, () => true))).toEqual([['a', 'b'], ['c'], ['d']]);
  });

  it('never groups a target that cannot take part (remote)', () => {
    const chains = new Map([
      ['local', [send('local', 's2', 's1')]],
      ['remote', [send('remote', 's2', 's1')]],
    ]);
    expect(targetsOf(groupSameStreams(chains, (target) => target === 'local'))).toEqual([
      ['local'],
      ['remote'],
    ]);
  });
});
