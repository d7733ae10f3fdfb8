// When a job is stale comes from the schedules that update it: the first time one of them
// elapses after the job's last success, plus its random delay and two hours of slack — so a
// Mon..Fri job is not stale over the weekend. Jobs no schedule updates keep the 26 h default, and
// a fixed threshold (check --max-age) replaces the rule.
import { describe, expect, it } from 'vitest';
import type { ResolvedSchedule } from '../../../src/config/resolve.js';
import { deriveStatus, type JobSpec } from '../../../src/state/derive-status.js';
import { parseJournal } from '../../../src/state/journal-events.js';
import { scheduleStaleHours } from '../../../src/state/status-inputs.js';
import { useTimeZone } from '../../helpers/time-zone.js';

useTimeZone('UTC');

const now = new Date('2026-12-02T10:17:00Z'); // a Wednesday
const schedule = (fields: Partial<ResolvedSchedule> & Pick<ResolvedSchedule, 'command' | 'calendar'>) => ({
  name: 'job',
  only: [],
  randomDelaySeconds: 0,
  ...fields,
});
const home: JobSpec = { kind: 'btrfs', subvolume: 'home', target: 'usb' };
const root: JobSpec = { kind: 'btrfs', subvolume: 'root', target: 'usb' };
const app: JobSpec = { kind: 'restic', set: 'app', repository: 'local', primary: true };
const schedules = [
  schedule({ command: 'run', calendar: 'daily', randomDelaySeconds: 1800 }),
  schedule({ command: 'run', calendar: '*-*-* 00/4:00:00', only: ['home'] }),
  // A snapshot job updates no target; a drill job no backup.
  schedule({ command: 'snapshot', calendar: 'hourly' }),
  schedule({ command: 'verify --drill', calendar: 'hourly' }),
  schedule({ command: 'backup', calendar: 'Mon..Fri 02:30' }),
];

describe('stale from the schedules', () => {
  it('due: the first elapse of an updating schedule after the last success, plus its delay and 2 h', () => {
    const rule = scheduleStaleHours(schedules, now);
    const success = new Date('2026-12-02T04:10:00Z');
    // home: every 4 h (08:00 after 04:10) comes before the daily one (tomorrow 00:00 + 30 min).
    expect(rule.deadline(home, success)?.toISOString()).toBe('2026-12-02T10:00:00.000Z');
    expect(rule.deadline(root, success)?.toISOString()).toBe('2026-12-03T02:30:00.000Z');
    // A success on Friday: the next weekday run is Monday's.
    expect(rule.deadline(app, new Date('2026-12-04T02:35:00Z'))?.toISOString()).toBe(
      '2026-12-07T04:30:00.000Z',
    );
  });

  it('the threshold shown for a job that never succeeded: the shortest interval, plus delay and 2 h', () => {
    const rule = scheduleStaleHours(schedules, now);
    expect(rule.hours(home)).toBe(6);
    expect(rule.hours(root)).toBe(26.5);
    expect(rule.hours(app)).toBe(26);
  });

  it('no schedule updates the job: undefined (the 26 h default applies)', () => {
    const rule = scheduleStaleHours([schedule({ command: 'snapshot', calendar: 'hourly' })], now);
    expect(rule.hours(home)).toBeUndefined();
    expect(rule.deadline(home, now)).toBeUndefined();
    expect(scheduleStaleHours([], now).deadline(app, now)).toBeUndefined();
  });
});

describe('a Mon..Fri backup over the weekend', () => {
  const journal = parseJournal(
    [
      { time: '2026-12-04T02:30:00Z', run: 'b', event: 'run-start', command: 'backup', sets: ['app'] },
      { time: '2026-12-04T02:30:01Z', run: 'b', event: 'item', set: 'app', what: 'folder', ok: true },
      {
        time: '2026-12-04T02:35:00Z',
        run: 'b',
        event: 'run-end',
        command: 'backup',
        exitCode: 0,
        sets: [{ set: 'app', ok: true }],
      },
    ]
      .map((line) => JSON.stringify({ v: 1, ...line }))
      .join('\n'),
  ).events;
  const statusAt = (at: string, fixed?: number) => {
    const clock = new Date(at);
    const rule = scheduleStaleHours([schedule({ command: 'backup', calendar: 'Mon..Fri 02:30' })], clock);
    return deriveStatus(journal, () => ({}), {}, clock, {
      jobs: [app],
      probe: () => false,
      ...(fixed === undefined
        ? { staleHours: rule.hours, staleDeadline: rule.deadline }
        : { staleHours: () => fixed }),
    }).jobs[0]!;
  };

  it('is not stale on Saturday or Sunday; it is once Monday 02:30 + 2 h passed without a success', () => {
    expect(statusAt('2026-12-05T12:00:00Z')).toMatchObject({
      stale: false,
      staleAt: '2026-12-07T04:30:00.000Z',
    });
    expect(statusAt('2026-12-06T23:00:00Z').stale).toBe(false);
    expect(statusAt('2026-12-07T04:29:00Z').stale).toBe(false);
    const monday = statusAt('2026-12-07T04:31:00Z');
    expect(monday.stale).toBe(true);
    // From the success to when it became stale.
    expect(monday.staleHours).toBeCloseTo(73.92, 2);
  });

  it('a fixed threshold (check --max-age 26h) replaces the rule: stale on Saturday', () => {
    expect(statusAt('2026-12-05T12:00:00Z', 26)).toMatchObject({
      stale: true,
      staleHours: 26,
      staleAt: '2026-12-05T04:35:00.000Z',
    });
  });
});
