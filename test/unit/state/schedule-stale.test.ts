// A job's stale threshold comes from the schedules that update it: the shortest interval among
// them, plus its random delay and two hours of slack; jobs no schedule updates keep the default.
import { describe, expect, it } from 'vitest';
import type { ResolvedSchedule } from '../../../src/config/resolve.js';
import { scheduleStaleHours } from '../../../src/state/status-inputs.js';

const now = new Date('2026-12-02T10:17:00Z');
const schedule = (fields: Partial<ResolvedSchedule> & Pick<ResolvedSchedule, 'command' | 'calendar'>) => ({
  name: 'job',
  only: [],
  randomDelaySeconds: 0,
  ...fields,
});

describe('stale thresholds from schedules', () => {
  it('the shortest interval of the schedules that update the job, plus delay and 2 h', () => {
    const stale = scheduleStaleHours(
      [
        schedule({ command: 'run', calendar: 'daily', randomDelaySeconds: 1800 }),
        schedule({ command: 'run', calendar: '*-*-* 00/4:00:00', only: ['home'] }),
        // A snapshot job updates no target; a drill job no backup.
        schedule({ command: 'snapshot', calendar: 'hourly' }),
        schedule({ command: 'verify --drill', calendar: 'hourly' }),
        schedule({ command: 'backup', calendar: 'Mon..Fri 02:30' }),
      ],
      now,
    );
    expect(stale({ kind: 'btrfs', subvolume: 'home', target: 'usb' })).toBe(6);
    expect(stale({ kind: 'btrfs', subvolume: 'root', target: 'usb' })).toBe(26.5);
    // Wednesday 02:30 to Thursday 02:30: the next two elapses after now.
    expect(stale({ kind: 'restic', set: 'app', repository: 'local', primary: true })).toBe(26);
  });

  it('no schedule updates the job: undefined (the 26 h default applies)', () => {
    const stale = scheduleStaleHours([schedule({ command: 'snapshot', calendar: 'hourly' })], now);
    expect(stale({ kind: 'btrfs', subvolume: 'home', target: 'usb' })).toBeUndefined();
    expect(scheduleStaleHours([], now)({ kind: 'restic', set: 'a', repository: 'r', primary: true })).toBe(
      undefined,
    );
  });
});
