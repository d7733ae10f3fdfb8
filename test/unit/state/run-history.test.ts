// The reading side of the run lifecycle (what status and doctor logs report as the last run),
// the exit-code rule and --lock-wait durations: pure, with the process probe injected.
import { describe, expect, it } from 'vitest';
import type { JournalEntry } from '../../../src/state/journal.js';
import { parseLockWait } from '../../../src/state/lock.js';
import { describeRunOutcome, lastRecordedRun, recordedRuns } from '../../../src/state/run-history.js';
import { exitCodeOf } from '../../../src/state/run-lifecycle.js';
import { logChecks } from '../../../src/doctor/log-checks.js';

const entry = (
  time: string,
  run: string,
  event: string,
  fields: Record<string, unknown> = {},
): JournalEntry => ({
  time,
  run,
  event,
  ...fields,
});
const identity = { pid: 4242, host: 'h', bootId: 'b', processStart: 77 };
const ok = [
  entry('2026-11-22T03:00:00Z', 'r1', 'run-start', { command: 'run', ...identity }),
  entry('2026-11-22T03:00:05Z', 'r1', 'step', { kind: 'send', ok: true }),
  entry('2026-11-22T03:00:09Z', 'r1', 'run-end', { command: 'run', exitCode: 0, jobs: [] }),
];
const never = (): boolean => false;

describe('recorded runs', () => {
  it('a start without an end is killed when its process is gone, running while it lives; never the run before', () => {
    const journal = [
      ...ok,
      entry('2026-11-23T03:00:00Z', 'r2', 'run-start', { command: 'run', ...identity }),
    ];
    const killed = lastRecordedRun(journal, { probe: never })!;
    expect(killed).toMatchObject({ id: 'r2', state: 'killed', pid: 4242 });
    expect(killed.exitCode).toBeUndefined();
    expect(describeRunOutcome(killed)).toMatch(
      /^killed: it never ended and its process \(pid 4242\) is gone/,
    );
    expect(lastRecordedRun(journal, { probe: () => true })).toMatchObject({ id: 'r2', state: 'running' });
  });

  it('an interrupted run carries its signal; a failed one its exit code and error', () => {
    const journal = [
      ...ok,
      entry('2026-11-23T03:00:00Z', 'r2', 'run-start', { command: 'backup', ...identity }),
      entry('2026-11-23T03:00:01Z', 'r2', 'run-end', { command: 'backup', exitCode: 130, signal: 'SIGTERM' }),
      entry('2026-11-23T04:00:00Z', 'r3', 'run-start', { command: 'restore', ...identity }),
      entry('2026-11-23T04:00:01Z', 'r3', 'run-end', { command: 'restore', exitCode: 1, error: 'no space' }),
    ];
    const runs = recordedRuns(journal, never);
    expect(runs.map((run) => [run.command, run.state])).toEqual([
      ['run', 'ok'],
      ['backup', 'interrupted'],
      ['restore', 'failed'],
    ]);
    expect(describeRunOutcome(runs[1]!)).toBe('interrupted by SIGTERM (exit 130)');
    expect(describeRunOutcome(runs[2]!)).toBe('exit 1: no space');
    expect(lastRecordedRun(journal, { commands: ['run'], probe: never })).toMatchObject({ id: 'r1' });
  });

  it('journals of older versions stay readable: run-end alone, backup-start/backup-end, a start without process identity', () => {
    const journal = [
      entry('2026-11-20T03:00:09Z', 'r0', 'run-end', { command: 'run', exitCode: 0 }),
      entry('2026-11-21T03:00:00Z', 'b1', 'backup-start', { sets: ['app'] }),
      entry('2026-11-21T03:00:09Z', 'b1', 'backup-end', { exitCode: 3, sets: [{ set: 'app', ok: false }] }),
      entry('2026-11-22T03:00:00Z', 'r1', 'run-start', { command: 'run', config: '/c' }),
    ];
    // The probe that really asks /proc: no identity recorded, so it cannot be this run's process.
    expect(recordedRuns(journal).map((run) => [run.id, run.command, run.state])).toEqual([
      ['r0', 'run', 'ok'],
      ['b1', 'backup', 'failed'],
      ['r1', 'run', 'killed'],
    ]);
  });

  it('doctor logs: a killed last run is a FAIL and a recent failure, not "exit 0"', () => {
    const results = logChecks({
      journal: [...ok, entry('2026-11-23T03:00:00Z', 'r2', 'run-start', { command: 'run', ...identity })],
      stateDir: '/s',
      pairs: [],
      backupSets: [],
      now: new Date('2026-11-23T04:00:00Z'),
      staleHours: 26,
      recentHours: 24,
      probe: never,
    });
    const lastRun = results.find((result) => result.check === 'last-run')!;
    expect(lastRun.status).toBe('FAIL');
    expect(lastRun.detail).toMatch(/snapkeep run, killed/);
    expect(lastRun.detail).not.toMatch(/exit 0/);
    expect(results.find((result) => result.check === 'recent-failures')!.detail).toMatch(
      /snapkeep run: killed/,
    );
  });
});

describe('the exit-code rule', () => {
  it('0 when all are ok; one kind of failure keeps its code; mixed kinds are partial (3)', () => {
    expect(exitCodeOf([])).toBe(0);
    expect(exitCodeOf([0, 0])).toBe(0);
    expect(exitCodeOf([0, 10, 10])).toBe(10);
    expect(exitCodeOf([3, 0])).toBe(3);
    expect(exitCodeOf([10, 3])).toBe(3);
    expect(exitCodeOf([10, 1])).toBe(3);
  });
});

describe('--lock-wait', () => {
  it('seconds, or s/m/h units; anything else is a usage error naming the value', () => {
    expect(parseLockWait('90')).toBe(90);
    expect(parseLockWait('90s')).toBe(90);
    expect(parseLockWait('30m')).toBe(1800);
    expect(parseLockWait('1h30m')).toBe(5400);
    for (const bad of ['', '0', '2d', 'soon', '10 m', '-5', '25h'])
      expect(() => parseLockWait(bad)).toThrow(`--lock-wait ${bad}: expected a duration`);
  });
});
