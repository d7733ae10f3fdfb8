// Run-level retention with restic's forget semantics.
import { describe, expect, it } from 'vitest';
import { decideRuns, subtractDuration, type RunEntry } from '../../../src/plan/restic-retention.js';

process.env.TZ = 'UTC';

const run = (name: string, iso: string, complete = true): RunEntry => ({
  run: name,
  time: new Date(iso),
  complete,
  snapshotIds: [`${name}-a`, `${name}-b`],
});

const runs = [
  run('r1', '2026-11-01T10:00:00Z'),
  run('r2', '2026-11-01T22:00:00Z'),
  run('r3', '2026-11-08T10:00:00Z'),
  run('r4', '2026-11-09T10:00:00Z', false),
  run('r5', '2026-11-20T10:00:00Z'),
  run('r6', '2026-11-21T10:00:00Z'),
];
const action = (decisions: ReturnType<typeof decideRuns>) =>
  Object.fromEntries(decisions.map((decision) => [decision.run, decision.action]));

describe('decideRuns', () => {
  it('keep_daily keeps the newest run of each day; incomplete older runs go', () => {
    const decisions = decideRuns(runs, { keep_daily: 3 });
    expect(action(decisions)).toEqual({
      r6: 'keep',
      r5: 'keep',
      r4: 'delete',
      r3: 'keep',
      r2: 'delete',
      r1: 'delete',
    });
    expect(decisions.find((d) => d.run === 'r4')!.reason).toMatch(/incomplete run/);
    expect(decisions.find((d) => d.run === 'r3')!.reason).toBe('keep_daily 3 (newest of 2026-11-08)');
  });

  it('keep_last, keep_weekly (ISO weeks) and keep_within combine; every kept run says why', () => {
    expect(action(decideRuns(runs, { keep_last: 1 }))).toMatchObject({ r6: 'keep', r5: 'delete' });
    // ISO weeks start on Monday: Sunday 8 Nov is in week 45 with Mon 2 Nov, Sunday 1 Nov in week 44.
    expect(action(decideRuns(runs, { keep_weekly: 2 }))).toMatchObject({
      r6: 'keep',
      r5: 'delete',
      r3: 'keep',
      r2: 'delete',
    });
    expect(action(decideRuns(runs, { keep_within: '2w' }))).toMatchObject({
      r6: 'keep',
      r5: 'keep',
      r3: 'keep',
      r2: 'delete',
    });
  });

  it('always keeps the newest complete run, and an incomplete run newer than it', () => {
    const decisions = decideRuns([...runs, run('r7', '2026-11-22T10:00:00Z', false)], { keep_yearly: 0 });
    expect(action(decisions)).toMatchObject({ r7: 'keep', r6: 'keep', r5: 'delete' });
    expect(decisions.find((d) => d.run === 'r6')!.reason).toBe('the newest complete run is always kept');
  });

  it('subtracts calendar durations like restic', () => {
    expect(subtractDuration(new Date('2026-03-31T00:00:00Z'), '1y1d').toISOString()).toBe(
      '2025-03-30T00:00:00.000Z',
    );
    expect(subtractDuration(new Date('2026-11-21T10:00:00Z'), '12h').toISOString()).toBe(
      '2026-11-20T22:00:00.000Z',
    );
  });
});
