// The fetch planner behind restore and pull: what is already here, what is in the way, which
// parent makes the transfer incremental, and what pull retention deletes.
import { describe, expect, it } from 'vitest';
import type { DatedSubvolume } from '../../../src/btrfs/inventory.js';
import { parseSnapshotName } from '../../../src/snapshot-name.js';
import { pickCopy, planFetch, planPulledRetention } from '../../../src/plan/fetch-plan.js';

process.env.TZ = 'UTC';

let nextId = 500;
/** A copy on the backup host: received from the original snapshot `original-<name>`. */
function copy(name: string, parentCopy?: DatedSubvolume): DatedSubvolume {
  return {
    id: nextId++,
    uuid: `copy-${name}`,
    parentUuid: parentCopy?.uuid,
    receivedUuid: `original-${name}`,
    readonly: true,
    generation: 1,
    creationGeneration: 1,
    path: `/backups/laptop/${name}`,
    name,
    date: parseSnapshotName(name)!.date,
  };
}

/** Here: the original snapshot itself, or a received one (restored or pulled earlier). */
function local(name: string, kind: 'original' | 'received' | 'partial' | 'foreign'): DatedSubvolume {
  return {
    id: nextId++,
    uuid: kind === 'original' ? `original-${name}` : `here-${name}`,
    receivedUuid: kind === 'received' ? `original-${name}` : kind === 'foreign' ? 'someone-else' : undefined,
    readonly: kind !== 'partial',
    generation: 1,
    creationGeneration: 1,
    path: `/data/.snapshots/${name}`,
    name,
    date: parseSnapshotName(name)!.date,
  };
}

const a = copy('home.20261101T1000');
const b = copy('home.20261102T1000', a);
const c = copy('home.20261103T1000', b);
const copies = [a, b, c];
const fetch = (
  wanted: DatedSubvolume,
  here: DatedSubvolume[],
  options: { fromSource?: boolean; full?: boolean } = {},
) =>
  planFetch({
    label: 'home',
    from: 'offsite',
    wanted,
    sourceCopies: copies,
    localDirectory: '/data/.snapshots',
    local: here,
    ...(options.fromSource ? { fromSource: { stagingDirectory: '/data/.snapshots/.staging' } } : {}),
    full: options.full,
  });

describe('planFetch', () => {
  it('is full when nothing here pairs with a copy there', () => {
    const plan = fetch(c, []);
    expect(plan.kind).toBe('receive');
    if (plan.kind !== 'receive') return;
    expect(plan.step.parent).toBeUndefined();
    expect(plan.step.streamUuid).toBe('original-home.20261103T1000');
    expect(plan.step.reason).toMatch(
      /^full: every byte is read from offsite \(no copy there has a counterpart/,
    );
  });

  it('is incremental from the nearest older copy with a counterpart here, and says why', () => {
    const plan = fetch(c, [local(a.name, 'original'), local(b.name, 'original')]);
    if (plan.kind !== 'receive') throw new Error(plan.kind);
    expect(plan.step.parent).toMatchObject({
      name: b.name,
      path: b.path,
      copyName: b.name,
      copyUuid: `original-${b.name}`,
    });
    expect(plan.step.reason).toBe(
      `incremental: the changes since ${b.name} are read from offsite, the rest is ${b.name}'s data here (/data/.snapshots/${b.name})`,
    );
  });

  it('prefers a received counterpart over an original (an original may hold nested-subvolume stubs)', () => {
    const plan = fetch(c, [local(a.name, 'received'), local(b.name, 'original')]);
    if (plan.kind !== 'receive') throw new Error(plan.kind);
    expect(plan.step.parent?.name).toBe(a.name);
  });

  it('uses a newer copy as the parent when restoring an older snapshot', () => {
    const plan = fetch(a, [local(c.name, 'received')]);
    if (plan.kind !== 'receive') throw new Error(plan.kind);
    expect(plan.step.parent?.name).toBe(c.name);
  });

  it('fetches nothing when the snapshot is here already (original or received)', () => {
    expect(fetch(b, [local(b.name, 'original')]).kind).toBe('present');
    const present = fetch(b, [local(b.name, 'received')]);
    expect(present.kind === 'present' && present.reason).toMatch(/received/);
  });

  it('receives from the source anyway when the data must come from there, beside the copy that is here', () => {
    const here = [local(a.name, 'original'), local(b.name, 'original')];
    const plan = fetch(b, here, { fromSource: true });
    if (plan.kind !== 'receive') throw new Error(plan.kind);
    expect(plan.alreadyHere?.path).toBe(here[1]!.path);
    expect(plan.step.targetDirectory).toBe('/data/.snapshots/.staging');
    expect(plan.step.parent?.name).toBe(a.name); // never the copy of the wanted snapshot itself
    // Not here: received into the directory itself, as always.
    const free = fetch(c, here, { fromSource: true });
    expect(free.kind === 'receive' && free.step.targetDirectory).toBe('/data/.snapshots');
  });

  it('with full, takes no parent: every byte from the source', () => {
    const plan = fetch(c, [local(b.name, 'received')], { full: true });
    if (plan.kind !== 'receive') throw new Error(plan.kind);
    expect(plan.step.parent).toBeUndefined();
    expect(plan.step.reason).toBe('full (--full): every byte is read from offsite');
  });

  it('deletes a partial receive in the way first, and refuses a complete foreign subvolume', () => {
    const partial = local(c.name, 'partial');
    expect(fetch(c, [partial])).toMatchObject({ kind: 'receive', garbage: { path: partial.path } });
    const blocked = fetch(c, [local(c.name, 'foreign')]);
    expect(blocked.kind === 'blocked' && blocked.reason).toMatch(
      /exists but is not a copy of home\.20261103T1000 on offsite/,
    );
  });
});

describe('planPulledRetention and pickCopy', () => {
  it('keeps the newest N pulled snapshots and never deletes an original', () => {
    const here = [
      local('home.20261101T1000', 'received'),
      local('home.20261102T1000', 'original'),
      local('home.20261103T1000', 'received'),
      local('home.20261104T1000', 'received'),
    ];
    expect(planPulledRetention(here, 'home.20261104T1000', 1).map((s) => s.name)).toEqual([
      'home.20261103T1000',
      'home.20261101T1000',
    ]);
    expect(planPulledRetention(here, 'home.20261104T1000', 2).map((s) => s.name)).toEqual([
      'home.20261101T1000',
    ]);
  });

  it('picks the newest copy for "latest" and an exact name otherwise', () => {
    expect(pickCopy(copies, 'latest')?.name).toBe(c.name);
    expect(pickCopy(copies, a.name)).toBe(a);
    expect(pickCopy(copies, 'home.20991231T0000')).toBeUndefined();
  });
});
