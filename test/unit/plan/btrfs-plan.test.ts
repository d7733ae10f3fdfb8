import { describe, expect, it } from 'vitest';
import type { DatedSubvolume, Subvolume } from '../../../src/btrfs/inventory.js';
import type { StepOutcome } from '../../../src/btrfs/apply-steps.js';
import { observedAfter } from '../../../src/btrfs/observe.js';
import {
  planSubvolume,
  type ObservedSubvolume,
  type ObservedTarget,
  type Step,
} from '../../../src/plan/btrfs-plan.js';
import { allSteps, copyOf, resolvedHome, snapshot, source } from './plan-fixtures.js';

const all = allSteps;
const resolved = resolvedHome;

function observe(
  snapshots: DatedSubvolume[],
  target:
    | Partial<Extract<ObservedTarget, { reachable: true }>>
    | { reachable: false; error: string; lastSent?: string },
  extra: Record<string, unknown> = {},
): ObservedSubvolume {
  const subvolume = resolved(extra);
  const targetConfig = subvolume.targets[0]!;
  const observedTarget: ObservedTarget =
    'reachable' in target && target.reachable === false
      ? { target: targetConfig, reachable: false, error: target.error, lastSent: target.lastSent }
      : { target: targetConfig, reachable: true, copies: [], garbage: [], ...(target as object) };
  return { subvolume, source, snapshots, targets: [observedTarget] };
}

const kinds = (steps: readonly Step[]) =>
  steps.map((step) => `${step.kind}:${'name' in step ? step.name : step.path}`);
const now = new Date('2026-11-23T12:00:00Z');

describe('planSubvolume', () => {
  it('first run: snapshot then a full send, nothing deleted', () => {
    const plan = planSubvolume(observe([], {}), now, all);
    expect(kinds(plan.steps)).toEqual(['create-snapshot:home.20261123T1200', 'send:home.20261123T1200']);
    const send = plan.steps[1] as Extract<Step, { kind: 'send' }>;
    expect(send.parent).toBeUndefined();
    expect(send.reason).toMatch(/^kept by the retention of usb: /);
  });

  it('sends the new snapshot incrementally from the nearest older snapshot with a copy', () => {
    const older = snapshot('home.20261121T1200', 50);
    const newer = snapshot('home.20261122T1200', 60);
    const plan = planSubvolume(observe([older, newer], { copies: [copyOf(older), copyOf(newer)] }), now, all);
    const send = plan.steps.find((step) => step.kind === 'send') as Extract<Step, { kind: 'send' }>;
    expect(send.name).toBe('home.20261123T1200');
    expect(send.parent?.name).toBe('home.20261122T1200');
    expect(send.parent?.reason).toContain('nearest older snapshot that has a copy on usb');
  });

  it('chains missing sends oldest first, each the parent of the next', () => {
    const a = snapshot('home.20261121T1200', 50);
    const b = snapshot('home.20261122T1200', 60);
    const plan = planSubvolume(observe([a, b], { copies: [copyOf(a)] }), now, all);
    const sends = plan.steps.filter((step): step is Extract<Step, { kind: 'send' }> => step.kind === 'send');
    expect(sends.map((step) => [step.name, step.parent?.name])).toEqual([
      ['home.20261122T1200', 'home.20261121T1200'],
      ['home.20261123T1200', 'home.20261122T1200'],
    ]);
  });

  it('names a second snapshot in the same minute with _1 (btrbk rule)', () => {
    const existing = snapshot('home.20261123T1200', 90);
    const plan = planSubvolume(observe([existing], { copies: [copyOf(existing)] }), now, all);
    expect(plan.steps[0]).toMatchObject({ kind: 'create-snapshot', name: 'home.20261123T1200_1' });
  });

  it("onchange: no snapshot when the source generation equals the newest snapshot's", () => {
    const latest = snapshot('home.20261122T1200', 100); // source.generation is 100
    const plan = planSubvolume(
      observe([latest], { copies: [copyOf(latest)] }, { snapshot_create: 'onchange' }),
      now,
      all,
    );
    expect(plan.steps.filter((step) => step.kind === 'create-snapshot')).toEqual([]);
    expect(plan.notes.map((note) => note.message)).toContain(
      'no snapshot: unchanged since home.20261122T1200 (snapshot_create: onchange)',
    );
  });

  it('deletes garbage from interrupted receives before sending', () => {
    const garbage: Subvolume = {
      ...copyOf(snapshot('home.20261122T1200', 60)),
      readonly: false,
      receivedUuid: undefined,
    };
    const plan = planSubvolume(observe([], { garbage: [garbage] }), now, all);
    expect(plan.steps[0]).toMatchObject({ kind: 'delete-garbage', path: garbage.path });
    expect(plan.steps[0]!.reason).toContain('interrupted');
  });

  it('never deletes the latest common snapshot/copy pair, whatever the policy says', () => {
    const a = snapshot('home.20261101T1200', 10);
    const b = snapshot('home.20261102T1200', 20);
    const plan = planSubvolume(
      observe(
        [a, b],
        { copies: [copyOf(a), copyOf(b)] },
        {
          snapshot_retention: { preserve_min: 'no', preserve: 'no' },
          target_retention: { preserve_min: 'no', preserve: 'no' },
        },
      ),
      now,
      { clean: false, snapshot: false, send: false, prune: true },
    );
    expect(kinds(plan.steps).sort()).toEqual([
      'delete-copy:home.20261101T1200',
      'delete-snapshot:home.20261101T1200',
    ]);
  });

  it('an unreachable target: nothing sent there, its last parent kept, other snapshots pruned', () => {
    const a = snapshot('home.20261101T1200', 10);
    const b = snapshot('home.20261102T1200', 20);
    const c = snapshot('home.20261103T1200', 30);
    const plan = planSubvolume(
      observe(
        [a, b, c],
        { reachable: false, error: 'disk not mounted', lastSent: 'home.20261101T1200' },
        {
          snapshot_retention: { preserve_min: 'latest', preserve: 'no' },
        },
      ),
      now,
      { clean: true, snapshot: false, send: true, prune: true },
    );
    expect(kinds(plan.steps)).toEqual(['delete-snapshot:home.20261102T1200']);
    expect(plan.notes.some((note) => note.level === 'error' && note.message.includes('unreachable'))).toBe(
      true,
    );
  });

  it('refuses to send over a foreign subvolume with the same name on the target', () => {
    const a = snapshot('home.20261122T1200', 60);
    const foreign: DatedSubvolume = { ...copyOf(a), receivedUuid: 'someone-else' };
    const plan = planSubvolume(observe([a], { copies: [foreign] }), now, {
      clean: true,
      snapshot: false,
      send: true,
      prune: false,
    });
    expect(plan.steps).toEqual([]);
    expect(plan.notes.find((note) => note.level === 'error')?.message).toContain('was not received from it');
  });

  it('sends only what the target policy keeps', () => {
    // Hourly snapshots over two days; a target keeping "2d" dailies receives one per day plus the latest.
    const snapshots = Array.from({ length: 48 }, (_, hour) => {
      const date = new Date(Date.UTC(2026, 10, 21, hour));
      const stamp = `${date.getUTCFullYear()}${String(date.getUTCMonth() + 1).padStart(2, '0')}${String(date.getUTCDate()).padStart(2, '0')}T${String(date.getUTCHours()).padStart(2, '0')}00`;
      return snapshot(`home.${stamp}`, 10 + hour);
    });
    const plan = planSubvolume(
      observe(snapshots, {}, { target_retention: { preserve_min: 'latest', preserve: '2d' } }),
      now,
      { clean: false, snapshot: false, send: true, prune: false },
    );
    const sent = plan.steps
      .filter((step) => step.kind === 'send')
      .map((step) => (step as { name: string }).name);
    expect(sent).toEqual(['home.20261121T0000', 'home.20261122T0000', 'home.20261122T2300']);
  });

  it('prune after a run plans on what the steps made (observedAfter), without listing again', () => {
    const old = snapshot('home.20261101T1200', 50);
    const previous = snapshot('home.20261123T1100', 90);
    const garbage: DatedSubvolume = { ...copyOf(previous), readonly: false, receivedUuid: undefined };
    const observed = observe(
      [old, previous],
      { copies: [copyOf(old)], garbage: [garbage] },
      {
        snapshot_retention: { preserve_min: 'latest', preserve: 'no' },
        target_retention: { preserve_min: 'latest', preserve: 'no' },
      },
    );
    const plan = planSubvolume(observed, now, all);
    const created = (path: string, uuid: string, receivedUuid?: string) => ({
      name: path.split('/').at(-1)!,
      path,
      uuid,
      receivedUuid,
      parentUuid: receivedUuid ? undefined : source.uuid,
      readonly: true,
      generation: 101,
      creationGeneration: 101,
      id: 900,
    });
    const outcomes: StepOutcome[] = plan.steps
      .filter((step) => step.kind !== 'delete-snapshot' && step.kind !== 'delete-copy')
      .map((step) => ({
        step,
        ok: true,
        durationMs: 1,
        created:
          step.kind === 'create-snapshot'
            ? created(step.path, 'new-uuid')
            : step.kind === 'send' && step.name.startsWith('home.20261123T12')
              ? created(`/mnt/usb/snapkeep/${step.name}`, 'new-copy', 'new-uuid')
              : step.kind === 'send'
                ? created(`/mnt/usb/snapkeep/${step.name}`, `copy-${step.name}`, `uuid-${step.name}`)
                : undefined,
      }));
    const after = observedAfter(observed, outcomes);
    const target = after.targets[0] as Extract<ObservedTarget, { reachable: true }>;
    expect(target.garbage).toEqual([]);
    expect(after.snapshots.map((entry) => entry.name)).toEqual([
      'home.20261101T1200',
      'home.20261123T1100',
      'home.20261123T1200',
    ]);
    const prune = planSubvolume(after, now, { clean: false, snapshot: false, send: false, prune: true });
    // Only the new snapshot was sent ("latest"); everything but it and its copy goes.
    expect(kinds(plan.steps.filter((step) => step.kind === 'send'))).toEqual(['send:home.20261123T1200']);
    expect(kinds(prune.steps).sort()).toEqual(
      [
        'delete-copy:home.20261101T1200',
        'delete-snapshot:home.20261101T1200',
        'delete-snapshot:home.20261123T1100',
      ].sort(),
    );
  });
});
