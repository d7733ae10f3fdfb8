// check's plugin answer for jobs that never ran: WARNING (stale), a threshold people can read,
// and no invented age in the performance data ("U", the plugin guidelines' undetermined value).
import { describe, expect, it } from 'vitest';
import { checkReport } from '../../../src/cli/check-command.js';
import { deriveStatus } from '../../../src/state/derive-status.js';
import type { ResolvedConfig } from '../../../src/config/resolve.js';
import { parseJournal } from '../../../src/state/journal-events.js';
import { jobsOfConfig, scheduleStaleHours } from '../../../src/state/status-inputs.js';

describe('check report', () => {
  it('a job that never succeeded: stale with its schedule threshold, age undetermined', () => {
    const now = new Date('2026-12-02T10:17:00Z');
    const rule = scheduleStaleHours(
      [{ name: 'often', command: 'run', only: [], calendar: '*-*-* 00/4:00:00', randomDelaySeconds: 300 }],
      now,
    );
    const status = deriveStatus([], () => ({}), {}, now, {
      jobs: [{ kind: 'btrfs', subvolume: 'home', target: 'usb' }],
      staleHours: rule.hours,
      staleDeadline: rule.deadline,
    });
    const report = checkReport(status);
    expect(report.code).toBe(1);
    expect(report.lines[0]).toBe(
      'SNAPKEEP WARNING - 1 stale | jobs=1 failing=0 stale=1 drills_failed=0 oldest_success_age=U',
    );
    expect(report.lines[1]).toBe('WARNING: home → usb: never succeeded; stale (threshold 6.1 h)');
  });
});

describe('check on a config with snapshots only', () => {
  it('judges each subvolume by its snapshot runs instead of answering UNKNOWN', () => {
    const jobs = jobsOfConfig({
      subvolumes: [{ name: 'home', targets: [] }] as unknown as ResolvedConfig['subvolumes'],
      backupSets: [],
    });
    expect(jobs).toEqual([{ kind: 'snapshot', subvolume: 'home' }]);
    const journal = parseJournal(
      [
        { time: '2026-12-02T09:00:00Z', run: 'r', event: 'run-start', command: 'snapshot' },
        {
          time: '2026-12-02T09:00:01Z',
          run: 'r',
          event: 'step',
          kind: 'create-snapshot',
          subvolume: 'home',
          name: 'home.1',
          ok: true,
        },
        {
          time: '2026-12-02T09:00:02Z',
          run: 'r',
          event: 'run-end',
          command: 'snapshot',
          exitCode: 0,
          jobs: [{ subvolume: 'home', status: 'ok' }],
        },
      ]
        .map((entry) => JSON.stringify(entry))
        .join('\n'),
    ).events;
    const report = checkReport(
      deriveStatus(journal, () => ({}), {}, new Date('2026-12-02T10:17:00Z'), { jobs, probe: () => false }),
    );
    expect(report.code).toBe(0);
    expect(report.lines[0]).toMatch(/^SNAPKEEP OK - 1 job\(s\) ok \| jobs=1 /);
    expect(report.lines[1]).toMatch(/^OK: home \(snapshots\): last success 2026-12-02T09:00:02Z/);
  });
});
