// The pure parts of the schedules: time spans and `every:`, cron's fields (and what cron cannot
// express), quoting for ExecStart= and for cron's /bin/sh, the jobs with their defaults, and
// catch-up (cron's stand-in for Persistent=) deciding from the journal alone.
import { appendFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseCalendar } from '../../../src/calendar/systemd-calendar.js';
import { everyToCalendar, parseTimeSpan } from '../../../src/calendar/time-span.js';
import { configSchema } from '../../../src/config/schema.js';
import { cronFieldsOf, shellWord } from '../../../src/schedule/cron-file.js';
import { scheduledJobs } from '../../../src/schedule/jobs.js';
import { catchUpDecisions, planCatchUp, scheduleStatus } from '../../../src/schedule/schedule-engine.js';
import { execArgument, readWritePathsOf } from '../../../src/schedule/systemd-units.js';
import { resolveConfig } from '../../../src/config/resolve.js';
import { compactJournal } from '../../../src/state/journal-compaction.js';
import type { JournalEntry } from '../../../src/state/journal.js';
import { recordedRuns } from '../../../src/state/run-history.js';

const spec = (expression: string) => {
  const parsed = parseCalendar(expression);
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.spec;
};

describe('time spans and every:', () => {
  it('reads systemd spans', () => {
    expect(parseTimeSpan('90s')).toEqual({ ok: true, seconds: 90 });
    expect(parseTimeSpan('1h 30min')).toEqual({ ok: true, seconds: 5400 });
    expect(parseTimeSpan('2d')).toEqual({ ok: true, seconds: 172800 });
    expect(parseTimeSpan('5 parsecs').ok).toBe(false);
    expect(parseTimeSpan('4').ok).toBe(false);
  });
  it('turns intervals that divide an hour or a day into calendar events', () => {
    expect(everyToCalendar('4h')).toEqual({ ok: true, calendar: '*-*-* 00/4:00:00' });
    expect(everyToCalendar('15min')).toEqual({ ok: true, calendar: '*-*-* *:00/15:00' });
    expect(everyToCalendar('1h')).toEqual({ ok: true, calendar: 'hourly' });
    expect(everyToCalendar('1d')).toEqual({ ok: true, calendar: 'daily' });
    expect(everyToCalendar('1w')).toEqual({ ok: true, calendar: 'weekly' });
    expect(everyToCalendar('7h').ok).toBe(false);
    expect(everyToCalendar('45min').ok).toBe(false);
  });
});

describe('cron fields', () => {
  it('renders what cron can run', () => {
    expect(cronFieldsOf(spec('*-*-* 00/4:00:00'))).toEqual({ ok: true, fields: '0 0,4,8,12,16,20 * * *' });
    expect(cronFieldsOf(spec('Mon..Fri 02:30'))).toEqual({ ok: true, fields: '30 2 * * 1-5' });
    expect(cronFieldsOf(spec('Sun 03:30'))).toEqual({ ok: true, fields: '30 3 * * 0' });
    expect(cronFieldsOf(spec('monthly'))).toEqual({ ok: true, fields: '0 0 1 * *' });
    expect(cronFieldsOf(spec('quarterly'))).toEqual({ ok: true, fields: '0 0 1 1,4,7,10 *' });
  });
  it('refuses what cron would run at other times', () => {
    // cron ORs a restricted day of month with a restricted weekday: the 1st..7th AND every Monday.
    expect(cronFieldsOf(spec('Mon *-*-1..7 03:00')).ok).toBe(false);
    expect(cronFieldsOf(spec('*:*:30')).ok).toBe(false);
    expect(cronFieldsOf(spec('2027-*-* 00:00')).ok).toBe(false);
    expect(cronFieldsOf(spec('12:00 UTC')).ok).toBe(false);
  });
});

describe('quoting', () => {
  it('ExecStart= arguments: specifiers and variables escaped, spaces quoted', () => {
    expect(execArgument('/etc/snapkeep/snapkeep.yaml')).toBe('/etc/snapkeep/snapkeep.yaml');
    expect(execArgument('/etc/100%/a b')).toBe('"/etc/100%%/a b"');
    expect(execArgument('$HOME')).toBe('"$$HOME"');
    expect(execArgument('say "hi"')).toBe('"say \\"hi\\""');
  });
  it('cron command words for /bin/sh; % (a newline to cron) refused', () => {
    expect(shellWord('/usr/bin/node')).toBe('/usr/bin/node');
    expect(shellWord("/srv/it's here")).toBe(`'/srv/it'\\''s here'`);
    expect(shellWord('$(reboot)')).toBe(`'$(reboot)'`);
    expect(() => shellWord('/etc/100%')).toThrow(/%/);
  });
});

const config = configSchema.parse({
  subvolumes: { home: { path: '/home' } },
  schedules: {
    often: { command: 'run', every: '4h' },
    drill: { command: 'verify --drill', when: 'Sun 03:30', lock_wait: '2h' },
    snaps: { command: 'snapshot', when: 'hourly', only: ['home'], inhibit_sleep: true },
  },
});

describe('scheduled jobs', () => {
  it('apply the defaults and build the command line', () => {
    const [often, drill, snaps] = scheduledJobs(config, '/etc/snapkeep/snapkeep.yaml');
    expect(often).toMatchObject({
      calendar: '*-*-* 00/4:00:00',
      randomDelaySeconds: 300,
      nice: 10,
      ioClass: 'best-effort',
      inhibitSleep: true,
      args: ['run', '--config', '/etc/snapkeep/snapkeep.yaml', '--lock-wait', '3600s'],
    });
    expect(drill).toMatchObject({
      inhibitSleep: false,
      args: ['verify', '--drill', '--config', '/etc/snapkeep/snapkeep.yaml', '--lock-wait', '7200s'],
    });
    expect(snaps).toMatchObject({
      inhibitSleep: true,
      args: ['snapshot', '--config', '/etc/snapkeep/snapkeep.yaml', '--lock-wait', '3600s', 'home'],
    });
  });
});

describe('catch-up decides from the journal', () => {
  const jobs = scheduledJobs(config, '/c.yaml');
  const line = (time: string, run: string, event: string, fields: Record<string, unknown>): JournalEntry => ({
    time,
    run,
    event,
    ...fields,
  });
  const journal = [
    // often (every 4 h): last success at 08:00, so 12:00 was missed by 13:00.
    line('2026-11-30T08:00:00Z', 'a', 'run-start', { command: 'run', job: 'often', pid: 1 }),
    line('2026-11-30T08:10:00Z', 'a', 'run-end', { command: 'run', exitCode: 0 }),
    // a later failure does not count as a success
    line('2026-11-30T12:00:00Z', 'b', 'run-start', { command: 'run', job: 'often', pid: 1 }),
    line('2026-11-30T12:01:00Z', 'b', 'run-end', { command: 'run', exitCode: 10 }),
    // drill (Sundays 03:30): last success this Sunday
    line('2026-11-29T03:30:00Z', 'c', 'run-start', { command: 'verify', job: 'drill', pid: 1 }),
    line('2026-11-29T03:40:00Z', 'c', 'run-end', { command: 'verify', exitCode: 0 }),
    // a run without a job (typed by a person) is not the schedule's
    line('2026-11-30T12:30:00Z', 'd', 'run-start', { command: 'snapshot', pid: 1 }),
    line('2026-11-30T12:31:00Z', 'd', 'run-end', { command: 'snapshot', exitCode: 0 }),
  ];
  it('runs what missed a time since its last success, and nothing else', () => {
    process.env.TZ = 'UTC';
    const decisions = catchUpDecisions(
      jobs,
      recordedRuns(journal, () => false),
      new Date('2026-11-30T13:00:00Z'),
    );
    expect(decisions.map(({ job, due }) => [job, due])).toEqual([
      ['often', true],
      ['drill', false],
      ['snaps', false],
    ]);
    expect(decisions[0]!.reason).toContain('2026-11-30T12:00:00.000Z');
    expect(decisions[2]!.reason).toMatch(/no run recorded/);
  });
  it('never starts a job that is running', () => {
    const running = [
      ...journal,
      line('2026-11-30T12:50:00Z', 'e', 'run-start', { command: 'run', job: 'often', pid: 1 }),
    ];
    const decisions = catchUpDecisions(
      jobs,
      recordedRuns(running, () => true),
      new Date('2026-11-30T13:00:00Z'),
    );
    expect(decisions[0]).toMatchObject({ due: false, reason: 'it is running now' });
  });
});

describe('catch-up and schedule status after the journal was compacted', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
  });
  const line = (time: string, run: string, event: string, fields: Record<string, unknown>): string =>
    JSON.stringify({ v: 1, time, run, event, ...fields });

  it('read each job’s last run and last success through the checkpoint', async () => {
    process.env.TZ = 'UTC';
    const stateDir = await mkdtemp(join(tmpdir(), 'snapkeep-catch-up-'));
    dirs.push(stateDir);
    const journalPath = join(stateDir, 'journal.ndjson');
    const gone = { pid: 1, bootId: 'gone', processStart: 1 };
    await writeFile(
      journalPath,
      [
        line('2026-11-29T03:30:00Z', 'c', 'run-start', { command: 'verify', job: 'drill', ...gone }),
        line('2026-11-29T03:40:00Z', 'c', 'run-end', { command: 'verify', exitCode: 0 }),
        line('2026-11-30T08:00:00Z', 'a', 'run-start', { command: 'run', job: 'often', ...gone }),
        line('2026-11-30T08:10:00Z', 'a', 'run-end', { command: 'run', exitCode: 0 }),
        '',
      ].join('\n'),
    );
    expect(await compactJournal(stateDir, { maxBytes: 1, probe: () => false })).toMatchObject({
      compacted: true,
    });
    // After the compaction: a failed run of `often`.
    appendFileSync(
      journalPath,
      [
        line('2026-11-30T12:00:00Z', 'b', 'run-start', { command: 'run', job: 'often', ...gone }),
        line('2026-11-30T12:01:00Z', 'b', 'run-end', { command: 'run', exitCode: 10 }),
        '',
      ].join('\n'),
    );
    const compacted = configSchema.parse({ ...config, state_dir: stateDir });
    const options = {
      loaded: { path: '/c.yaml', config: compacted, resolved: resolveConfig(compacted), input: {} },
      executable: ['/usr/bin/node', '/opt/snapkeep/main.cjs'],
      backend: 'cron' as const,
      user: false,
      cronFile: join(stateDir, 'snapkeep.cron'),
      now: new Date('2026-11-30T13:00:00Z'),
    };
    const { decisions } = await planCatchUp(options);
    // The last success (08:00) is in the checkpoint: 12:00 was missed.
    expect(decisions[0]).toMatchObject({ job: 'often', due: true });
    expect(decisions[0]!.reason).toContain('last success 2026-11-30T08:00:00Z');
    expect(decisions[1]).toMatchObject({ job: 'drill', due: false });
    expect(decisions[1]!.reason).toContain('last success 2026-11-29T03:30:00Z');
    const status = await scheduleStatus(options);
    const byName = Object.fromEntries(status.jobs.map((job) => [job.name, job]));
    expect(byName.often).toMatchObject({ lastRun: { id: 'b', state: 'failed' }, lastSuccess: { id: 'a' } });
    expect(byName.drill).toMatchObject({ lastRun: { id: 'c', state: 'ok' }, lastSuccess: { id: 'c' } });
    expect(byName.snaps!.lastRun).toBeUndefined();
  });
});

describe('what the hardened services may write', () => {
  it('the state directory, local snapshot directories and targets, local restic repositories; nothing remote', () => {
    const resolved = resolveConfig(
      configSchema.parse({
        state_dir: '/var/lib/snapkeep',
        targets: { usb: { path: '/mnt/usb/b' }, far: { path: 'ssh://u@h/backups' } },
        subvolumes: { home: { path: '/home', targets: ['usb', 'far'] } },
        repositories: {
          disk: { url: '/srv/restic', password: 'env:P1' },
          s3: { url: 's3:https://s3.example.org/b', password: 'env:P2' },
        },
        sources: { files: { type: 'directory', paths: ['/srv/files'] } },
        backup_sets: { app: { sources: ['files'], repository: 'disk', offsite: ['s3'] } },
      }),
    );
    expect(readWritePathsOf(resolved)).toEqual([
      '/home/.snapshots',
      '/mnt/usb/b',
      '/srv/restic',
      '/var/lib/snapkeep',
    ]);
  });
});
