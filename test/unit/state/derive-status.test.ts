// deriveStatus: the one answer status, check and doctor logs give — pure, with the clock and the
// process probe injected; journals as the code writes them (and as older versions wrote them).
import { describe, expect, it } from 'vitest';
import { deriveStatus, foldJournal, lastRunOf, type JobSpec } from '../../../src/state/derive-status.js';
import { parseJournal, type JournalEvent } from '../../../src/state/journal-events.js';

const never = (): boolean => false;
const always = (): boolean => true;
const none = () => ({});
const identity = { pid: 4242, host: 'h', bootId: 'b', processStart: 77 };
const jobs: JobSpec[] = [
  { kind: 'btrfs', subvolume: 'home', target: 'usb' },
  { kind: 'btrfs', subvolume: 'home', target: 'offsite' },
  { kind: 'restic', set: 'db', repository: 'local', primary: true },
  { kind: 'restic', set: 'db', repository: 's3', primary: false },
];
const line = (fields: Record<string, unknown>): string => JSON.stringify({ v: 1, ...fields });
const parse = (...lines: string[]): JournalEvent[] => parseJournal(lines.join('\n')).events;
const byId = (status: ReturnType<typeof deriveStatus>) =>
  Object.fromEntries(status.jobs.map((job) => [job.id, job]));

describe('the journal: typed, versioned, read leniently', () => {
  it('lines of older versions (no v, backup-start/backup-end, run-end with ok) are read; garbled, unknown and torn lines are skipped', () => {
    const text = [
      // As snapkeep 0.1 wrote them, before the version and the run lifecycle.
      '{"time":"2026-11-20T10:00:00.000Z","run":"20261120T100000-11","event":"backup-start","sets":["db"]}',
      '{"time":"2026-11-20T10:00:05.000Z","run":"20261120T100000-11","event":"item","set":"db","what":"dump postgres","ok":true,"durationMs":5}',
      '{"time":"2026-11-20T10:00:09.000Z","run":"20261120T100000-11","event":"backup-end","ok":true,"sets":[{"set":"db","run":"20261120T100000-11","ok":true}]}',
      '{"time":"2026-11-21T10:00:00.000Z","run":"20261121T100000-12","event":"step","kind":"send","subvolume":"home","target":"usb","name":"home.20261121T1000","ok":true}',
      '{"time":"2026-11-21T10:00:01.000Z","run":"20261121T100000-12","event":"run-end","command":"run","ok":true,"jobs":[{"subvolume":"home","status":"ok"}]}',
      'not json at all',
      '{"time":"2026-11-21T11:00:00.000Z","run":"x","event":"from-the-future","whatever":1}',
      '{"time":"2026-11-21T11:00:00.000Z","run":"x","event":"step","kind":"send"}', // no ok: misshapen
      '{"time":"2026-11-21T12:00:00.000Z","run":"20261121T1200', // torn by a power loss
    ].join('\n');
    const parsed = parseJournal(text);
    expect(parsed.skipped).toBe(4);
    expect(parsed.events.map((event) => event.event)).toEqual([
      'backup-start',
      'item',
      'backup-end',
      'step',
      'run-end',
    ]);
    const status = byId(
      deriveStatus(parsed.events, none, {}, new Date('2026-11-21T13:00:00Z'), { jobs, probe: never }),
    );
    expect(status['db → local']).toMatchObject({
      lastSuccess: { time: '2026-11-20T10:00:09.000Z', outcome: 'ok' },
      stale: true, // 27 h later
      failing: false,
    });
    expect(status['home → usb']).toMatchObject({
      lastAttempt: { outcome: 'ok', time: '2026-11-21T10:00:01.000Z' },
      lastSent: 'home.20261121T1000',
      stale: false,
    });
    // A target no line named: never attempted, unless a run looked at it (the transfer state
    // knows it) — then the clean run covered it too.
    expect(status['home → offsite']?.lastSuccess).toBeUndefined();
    const looked = byId(
      deriveStatus(
        parsed.events,
        (_subvolume, target) => (target === 'offsite' ? { ownCopies: [] } : {}),
        {},
        new Date('2026-11-21T13:00:00Z'),
        { jobs, probe: never },
      ),
    );
    expect(looked['home → offsite']?.lastSuccess?.time).toBe('2026-11-21T10:00:01.000Z');
  });
});

describe('deriveStatus', () => {
  const now = new Date('2026-11-23T12:00:00Z');
  const history = parse(
    line({ time: '2026-11-23T00:00:00Z', run: 'r1', event: 'run-start', command: 'run', ...identity }),
    line({
      time: '2026-11-23T00:00:01Z',
      run: 'r1',
      event: 'step',
      kind: 'create-snapshot',
      subvolume: 'home',
      name: 'home.1',
      ok: true,
    }),
    line({
      time: '2026-11-23T00:00:02Z',
      run: 'r1',
      event: 'step',
      kind: 'send',
      subvolume: 'home',
      target: 'usb',
      name: 'home.1',
      ok: true,
    }),
    line({
      time: '2026-11-23T00:00:03Z',
      run: 'r1',
      event: 'step',
      kind: 'send',
      subvolume: 'home',
      target: 'offsite',
      name: 'home.1',
      ok: false,
      error: 'No space left on device',
    }),
    line({
      time: '2026-11-23T00:00:04Z',
      run: 'r1',
      event: 'run-end',
      command: 'run',
      exitCode: 3,
      jobs: [{ subvolume: 'home', target: 'offsite', status: 'failed', message: 'No space left on device' }],
    }),
    // The pre-sleep snapshot: taken, not sent.
    line({ time: '2026-11-23T02:00:00Z', run: 'r2', event: 'run-start', command: 'snapshot', ...identity }),
    line({
      time: '2026-11-23T02:00:01Z',
      run: 'r2',
      event: 'step',
      kind: 'create-snapshot',
      subvolume: 'home',
      name: 'home.2',
      ok: true,
    }),
    line({
      time: '2026-11-23T02:00:02Z',
      run: 'r2',
      event: 'run-end',
      command: 'snapshot',
      exitCode: 0,
      jobs: [],
    }),
    // A backup: db's own repository got it, the copy to s3 failed.
    line({
      time: '2026-11-23T03:00:00Z',
      run: 'r3',
      event: 'run-start',
      command: 'backup',
      sets: ['db'],
      ...identity,
    }),
    line({ time: '2026-11-23T03:00:01Z', run: 'r3', event: 'item', set: 'db', what: 'dump', ok: true }),
    line({
      time: '2026-11-23T03:00:02Z',
      run: 'r3',
      event: 'offsite',
      set: 'db',
      repository: 's3',
      ok: false,
      error: 'connection refused',
    }),
    line({
      time: '2026-11-23T03:00:03Z',
      run: 'r3',
      event: 'run-end',
      command: 'backup',
      exitCode: 10,
      sets: [
        {
          set: 'db',
          run: 'r3',
          ok: false,
          // As backup writes it: the set's error speaks of the copy, the local run is complete.
          error: 'the local backup is complete (a restore point), but offsite s3 did not get it',
          offsite: [{ repository: 's3', ok: false, error: 'connection refused' }],
        },
      ],
    }),
    line({ time: '2026-11-23T04:00:00Z', run: 'r4', event: 'drill', set: 'db', ok: true }),
    line({
      time: '2026-11-23T04:00:01Z',
      run: 'r4',
      event: 'drill',
      kind: 'btrfs',
      subvolume: 'home',
      target: 'usb',
      snapshot: 'home.1',
      ok: false,
      detail: '2 files differ',
    }),
  );

  it('per job: last attempt and outcome, last success, failure, pending sync, drills', () => {
    const status = deriveStatus(history, none, {}, now, { jobs, probe: never });
    const job = byId(status);
    expect(job['home → usb']).toMatchObject({
      lastAttempt: { outcome: 'ok', run: 'r1' },
      lastSuccess: { time: '2026-11-23T00:00:04Z' },
      failing: false,
      stale: false,
      pending: { count: 1, names: ['home.2'], oldest: '2026-11-23T02:00:01Z' },
      drill: { ok: false, detail: '2 files differ', snapshot: 'home.1' },
      drillFailed: true,
    });
    expect(job['home → offsite']).toMatchObject({
      lastAttempt: { outcome: 'failed', message: 'No space left on device' },
      failing: true,
      stale: true, // never succeeded
      pending: { count: 2 },
    });
    expect(job['home → offsite']!.lastSuccess).toBeUndefined();
    expect(job['db → local']).toMatchObject({
      lastAttempt: { outcome: 'ok' },
      failing: false,
      drill: { ok: true },
    });
    expect(job['db → s3']).toMatchObject({
      lastAttempt: { outcome: 'failed', message: 'connection refused' },
      failing: true,
    });
    expect(status.summary).toMatchObject({ jobs: 4, failing: 2, stale: 2, drillsFailed: 1 });
    expect(status.lastRun).toMatchObject({ id: 'r3', command: 'backup', state: 'failed' });
    expect(status.lastRuns.snapshot).toMatchObject({ id: 'r2', state: 'ok' });
  });

  it('stale after the threshold the option gives (default 26 h), from the last success', () => {
    const later = new Date('2026-11-24T03:00:00Z'); // 27 h after home → usb's success
    expect(byId(deriveStatus(history, none, {}, later, { jobs, probe: never }))['home → usb']!.stale).toBe(
      true,
    );
    const byJob = byId(
      deriveStatus(history, none, {}, later, {
        jobs,
        probe: never,
        staleHours: (spec) =>
          spec.kind === 'btrfs' ? 48 : spec.kind === 'restic' && spec.primary ? 12 : undefined,
      }),
    );
    expect(byJob['home → usb']).toMatchObject({ stale: false, staleHours: 48 });
    expect(byJob['db → local']).toMatchObject({ stale: true, staleHours: 12 });
    expect(byJob['db → s3']).toMatchObject({ stale: true, staleHours: 26 });
  });

  it('a run without an end: killed when its process is gone, running while it lives — never the run before', () => {
    const open = [
      ...history,
      ...parse(
        line({ time: '2026-11-23T08:00:00Z', run: 'r5', event: 'run-start', command: 'run', ...identity }),
        line({
          time: '2026-11-23T08:00:01Z',
          run: 'r5',
          event: 'step',
          kind: 'create-snapshot',
          subvolume: 'home',
          name: 'home.3',
          ok: true,
        }),
        line({
          time: '2026-11-23T09:00:00Z',
          run: 'r6',
          event: 'run-start',
          command: 'backup',
          sets: ['db'],
          ...identity,
        }),
      ),
    ];
    const killed = deriveStatus(open, none, {}, now, { jobs, probe: never });
    expect(byId(killed)['home → usb']).toMatchObject({
      lastAttempt: { outcome: 'killed', run: 'r5', time: '2026-11-23T08:00:00Z' },
      lastSuccess: { run: 'r1' },
      failing: true,
    });
    expect(byId(killed)['db → local']!.lastAttempt).toMatchObject({ outcome: 'killed', run: 'r6' });
    expect(killed.lastRun).toMatchObject({ id: 'r6', state: 'killed' });
    expect(killed.failures.map((failure) => failure.what)).toContain('snapkeep run');
    const running = deriveStatus(open, none, {}, now, { jobs, probe: always });
    expect(byId(running)['home → usb']).toMatchObject({
      lastAttempt: { outcome: 'running' },
      failing: false,
    });
    expect(running.summary.running).toBeGreaterThan(0);
  });

  it('interrupted runs, and partial backups (some items failed)', () => {
    const more = [
      ...history,
      ...parse(
        line({
          time: '2026-11-23T08:00:00Z',
          run: 'r5',
          event: 'run-start',
          command: 'resume',
          only: ['home'],
          ...identity,
        }),
        line({
          time: '2026-11-23T08:00:05Z',
          run: 'r5',
          event: 'run-end',
          command: 'resume',
          exitCode: 130,
          signal: 'SIGTERM',
        }),
        line({
          time: '2026-11-23T09:00:00Z',
          run: 'r6',
          event: 'run-start',
          command: 'backup',
          sets: ['db'],
          ...identity,
        }),
        line({ time: '2026-11-23T09:00:01Z', run: 'r6', event: 'item', set: 'db', what: 'dump', ok: true }),
        line({
          time: '2026-11-23T09:00:02Z',
          run: 'r6',
          event: 'item',
          set: 'db',
          what: 'folder /srv/up',
          ok: false,
          error: 'permission denied',
        }),
        line({
          time: '2026-11-23T09:00:03Z',
          run: 'r6',
          event: 'run-end',
          command: 'backup',
          exitCode: 3,
          sets: [{ set: 'db', run: 'r6', ok: false, error: 'an item failed' }],
        }),
      ),
    ];
    const job = byId(deriveStatus(more, none, {}, now, { jobs, probe: never }));
    expect(job['home → usb']!.lastAttempt).toMatchObject({ outcome: 'interrupted', command: 'resume' });
    expect(job['db → local']!.lastAttempt).toMatchObject({
      outcome: 'partial',
      message: 'folder /srv/up: permission denied',
    });
    expect(job['db → local']!.lastSuccess?.run).toBe('r3');
  });

  it('the transfer state stands in for a journal that lost the send', () => {
    const job = byId(
      deriveStatus(
        [],
        (subvolume, target) =>
          target === 'usb' ? { lastSent: 'home.9', lastSentAt: '2026-11-23T11:00:00Z' } : {},
        {},
        now,
        {
          jobs,
          probe: never,
        },
      ),
    );
    expect(job['home → usb']).toMatchObject({
      lastSent: 'home.9',
      stale: false,
      lastSuccess: { time: '2026-11-23T11:00:00Z' },
    });
    expect(job['home → offsite']).toMatchObject({ stale: true });
  });
});

describe('a killed run followed by a good one', () => {
  it('the later run is the last attempt (a killed run is resolved after all lines, never over newer ones)', () => {
    const journal = parse(
      line({ time: '2026-11-23T01:00:00Z', run: 'k', event: 'run-start', command: 'run', ...identity }),
      line({ time: '2026-11-23T02:00:00Z', run: 'g', event: 'run-start', command: 'run', ...identity }),
      line({
        time: '2026-11-23T02:00:01Z',
        run: 'g',
        event: 'step',
        kind: 'send',
        subvolume: 'home',
        target: 'usb',
        name: 'home.2',
        ok: true,
      }),
      line({
        time: '2026-11-23T02:00:02Z',
        run: 'g',
        event: 'run-end',
        command: 'run',
        exitCode: 0,
        jobs: [{ subvolume: 'home', status: 'ok' }],
      }),
    );
    const job = byId(
      deriveStatus(journal, none, {}, new Date('2026-11-23T03:00:00Z'), { jobs, probe: never }),
    );
    expect(job['home → usb']).toMatchObject({ lastAttempt: { run: 'g', outcome: 'ok' }, failing: false });
  });
});

describe('target space', () => {
  it('the newest sample per target, and "full in N days" from the trend of the samples', () => {
    const gib = 2 ** 30;
    const samples = [0, 1, 2, 3].map((day) =>
      line({
        time: new Date(Date.UTC(2026, 10, 20 + day)).toISOString(),
        run: `r${day}`,
        event: 'run-end',
        command: 'run',
        exitCode: 0,
        jobs: [{ subvolume: 'home', status: 'ok' }],
        space: [
          {
            target: 'usb',
            path: '/mnt/usb',
            sizeBytes: 100 * gib,
            usedBytes: (40 + 2 * day) * gib,
            freeBytes: (60 - 2 * day) * gib,
            copies: { home: 10 + day },
          },
        ],
      }),
    );
    const status = deriveStatus(parse(...samples), none, {}, new Date('2026-11-23T12:00:00Z'), {
      jobs,
      probe: never,
    });
    expect(status.space).toHaveLength(1);
    const usb = status.space[0]!;
    expect(usb).toMatchObject({
      target: 'usb',
      usedBytes: 46 * gib,
      freeBytes: 54 * gib,
      copies: { home: 13 },
    });
    expect(usb.bytesPerDay).toBeCloseTo(2 * gib, -3);
    expect(usb.fullInDays).toBeCloseTo(27, 5);
  });
});

describe('a btrfs drill that could choose no copy', () => {
  it('is read (no snapshot field) and fails the drill of its job', () => {
    const journal = parse(
      line({
        time: '2026-11-23T04:00:00Z',
        run: 'r1',
        event: 'drill',
        kind: 'btrfs',
        subvolume: 'home',
        target: 'usb',
        snapshot: 'home.1',
        ok: true,
      }),
      line({
        time: '2026-11-24T04:00:00Z',
        run: 'r2',
        event: 'drill',
        kind: 'btrfs',
        subvolume: 'home',
        target: 'usb',
        ok: false,
        detail: 'target usb: not mounted',
      }),
    );
    expect(journal).toHaveLength(2);
    const status = deriveStatus(journal, none, {}, new Date('2026-11-24T05:00:00Z'), {
      jobs: [jobs[0]!],
      probe: never,
    });
    expect(byId(status)['home → usb']).toMatchObject({ drillFailed: true, drill: { ok: false } });
  });
});

describe('a clock stepped back (NTP correction, a wrong RTC after boot)', () => {
  // Run `ahead` wrote its lines while the clock was two hours fast; `behind` came after it in the
  // journal, with the clock corrected: its times are earlier, yet it is the later attempt.
  const ahead = [
    line({ time: '2026-11-23T12:00:00Z', run: 'ahead', event: 'run-start', command: 'run', ...identity }),
    line({
      time: '2026-11-23T12:00:01Z',
      run: 'ahead',
      event: 'step',
      kind: 'send',
      subvolume: 'home',
      target: 'usb',
      name: 'home.1',
      ok: true,
    }),
    line({
      time: '2026-11-23T12:00:02Z',
      run: 'ahead',
      event: 'run-end',
      command: 'run',
      exitCode: 0,
      jobs: [{ subvolume: 'home', status: 'ok' }],
    }),
  ];
  const behind = [
    line({ time: '2026-11-23T10:30:00Z', run: 'behind', event: 'run-start', command: 'run', ...identity }),
    line({
      time: '2026-11-23T10:30:01Z',
      run: 'behind',
      event: 'step',
      kind: 'send',
      subvolume: 'home',
      target: 'usb',
      name: 'home.2',
      ok: false,
      error: 'No space left on device',
    }),
    line({
      time: '2026-11-23T10:30:02Z',
      run: 'behind',
      event: 'run-end',
      command: 'run',
      exitCode: 3,
      jobs: [{ subvolume: 'home', target: 'usb', status: 'failed', message: 'No space left on device' }],
    }),
    line({
      time: '2026-11-23T10:31:00Z',
      run: 'behind-backup',
      event: 'run-start',
      command: 'backup',
      sets: ['db'],
      ...identity,
    }),
    line({
      time: '2026-11-23T10:31:01Z',
      run: 'behind-backup',
      event: 'run-end',
      command: 'backup',
      exitCode: 1,
      error: 'repository locked',
    }),
  ];
  const now = new Date('2026-11-23T11:00:00Z');

  it('the last attempt is the last written, whatever its time says', () => {
    const status = deriveStatus(parse(...ahead, ...behind), none, {}, now, { jobs, probe: never });
    expect(byId(status)['home → usb']).toMatchObject({
      lastAttempt: { run: 'behind', outcome: 'failed' },
      lastSuccess: { run: 'ahead' },
      lastFailure: { run: 'behind' },
      failing: true,
    });
    expect(status.lastRun).toMatchObject({ id: 'behind-backup' });
    // "The last run" of the engine and backup commands together: the backup, written last.
    expect(lastRunOf(status, ['run', 'backup'])).toMatchObject({ id: 'behind-backup' });
  });

  it('a killed run is placed where its lines are, not at its start time', () => {
    const killed = [
      line({ time: '2026-11-23T12:30:00Z', run: 'k', event: 'run-start', command: 'run', ...identity }),
      ...behind.slice(0, 3),
    ];
    // k (clock fast) was killed; `behind` ran after it and failed: its failure is the last attempt.
    const status = byId(deriveStatus(parse(...ahead, ...killed), none, {}, now, { jobs, probe: never }));
    expect(status['home → usb']!.lastAttempt).toMatchObject({ run: 'behind', outcome: 'failed' });
  });

  it('what a checkpoint holds is older than every line after it', () => {
    const { fold } = foldJournal(parse(...ahead), never);
    const checkpoint = line({
      time: '2026-11-23T12:05:00Z',
      run: 'checkpoint',
      event: 'checkpoint',
      through: '2026-11-23T12:00:02Z',
      state: fold,
    });
    const status = byId(deriveStatus(parse(checkpoint, ...behind), none, {}, now, { jobs, probe: never }));
    expect(status['home → usb']).toMatchObject({
      lastAttempt: { run: 'behind', outcome: 'failed' },
      lastSuccess: { run: 'ahead' },
      failing: true,
    });
  });
});

describe('an interrupted run', () => {
  const engineJobs: JobSpec[] = [
    { kind: 'btrfs', subvolume: 'home', target: 'usb' },
    { kind: 'btrfs', subvolume: 'home', target: 'nas' },
    { kind: 'btrfs', subvolume: 'srv', target: 'usb' },
    { kind: 'btrfs', subvolume: 'var', target: 'usb' },
  ];
  const step = (time: string, run: string, fields: Record<string, unknown>): string =>
    line({ time, run, event: 'step', ok: true, ...fields });
  const send = (time: string, run: string, subvolume: string, target: string, name: string): string =>
    step(time, run, { kind: 'send', subvolume, target, name });
  // A run before it: every job up to date with *.0; srv.1 was taken since (pre-sleep) and is pending.
  const before = [
    line({ time: '2026-11-23T00:00:00Z', run: 'r0', event: 'run-start', command: 'run', ...identity }),
    ...['home', 'srv', 'var'].map((subvolume) =>
      step('2026-11-23T00:00:01Z', 'r0', { kind: 'create-snapshot', subvolume, name: `${subvolume}.0` }),
    ),
    send('2026-11-23T00:00:02Z', 'r0', 'home', 'usb', 'home.0'),
    send('2026-11-23T00:00:03Z', 'r0', 'home', 'nas', 'home.0'),
    send('2026-11-23T00:00:04Z', 'r0', 'srv', 'usb', 'srv.0'),
    send('2026-11-23T00:00:05Z', 'r0', 'var', 'usb', 'var.0'),
    line({
      time: '2026-11-23T00:00:06Z',
      run: 'r0',
      event: 'run-end',
      command: 'run',
      exitCode: 0,
      jobs: ['home', 'srv', 'var'].map((subvolume) => ({ subvolume, status: 'ok' })),
    }),
    step('2026-11-23T01:00:00Z', 's', { kind: 'create-snapshot', subvolume: 'srv', name: 'srv.1' }),
  ];
  // The run: home's new snapshot reached both targets; srv sent its older pending snapshot but not
  // its new one; var's snapshot failed; then SIGTERM.
  const during = [
    line({ time: '2026-11-23T02:00:00Z', run: 'r1', event: 'run-start', command: 'run', ...identity }),
    step('2026-11-23T02:00:01Z', 'r1', { kind: 'create-snapshot', subvolume: 'home', name: 'home.2' }),
    step('2026-11-23T02:00:01Z', 'r1', { kind: 'create-snapshot', subvolume: 'srv', name: 'srv.2' }),
    step('2026-11-23T02:00:01Z', 'r1', {
      kind: 'create-snapshot',
      subvolume: 'var',
      name: 'var.2',
      ok: false,
      error: 'Read-only file system',
    }),
    send('2026-11-23T02:00:02Z', 'r1', 'home', 'usb', 'home.2'),
    send('2026-11-23T02:00:03Z', 'r1', 'home', 'nas', 'home.2'),
    send('2026-11-23T02:00:04Z', 'r1', 'srv', 'usb', 'srv.1'),
  ];
  const sigterm = line({
    time: '2026-11-23T02:00:09Z',
    run: 'r1',
    event: 'run-end',
    command: 'run',
    exitCode: 130,
    signal: 'SIGTERM',
  });
  const now = new Date('2026-11-23T03:00:00Z');

  it('only the jobs not finished when the signal came are interrupted; finished ones keep their outcome', () => {
    const job = byId(
      deriveStatus(parse(...before, ...during, sigterm), none, {}, now, { jobs: engineJobs, probe: never }),
    );
    expect(job['home → usb']).toMatchObject({
      lastAttempt: { run: 'r1', outcome: 'ok' },
      lastSent: 'home.2',
      failing: false,
    });
    expect(job['home → nas']).toMatchObject({ lastAttempt: { run: 'r1', outcome: 'ok' }, failing: false });
    // srv.2 was still to be sent.
    expect(job['srv → usb']).toMatchObject({
      lastAttempt: { run: 'r1', outcome: 'interrupted' },
      failing: true,
      pending: { count: 1, names: ['srv.2'] },
    });
    // var's snapshot failed before the signal: its job ended so.
    expect(job['var → usb']).toMatchObject({
      lastAttempt: { run: 'r1', outcome: 'failed', message: 'Read-only file system' },
      failing: true,
    });
  });

  it('killed (no end, the process gone): the same, with killed for what was not finished', () => {
    const job = byId(
      deriveStatus(parse(...before, ...during), none, {}, now, { jobs: engineJobs, probe: never }),
    );
    expect(job['home → usb']!.lastAttempt).toMatchObject({ run: 'r1', outcome: 'ok' });
    expect(job['srv → usb']!.lastAttempt).toMatchObject({ run: 'r1', outcome: 'killed' });
  });

  it('resume: a target that already had the newest snapshot had nothing to do and is not interrupted', () => {
    const resume = [
      line({ time: '2026-11-23T02:00:00Z', run: 'r2', event: 'run-start', command: 'resume', ...identity }),
      send('2026-11-23T02:00:04Z', 'r2', 'srv', 'usb', 'srv.1'),
      line({
        time: '2026-11-23T02:00:09Z',
        run: 'r2',
        event: 'run-end',
        command: 'resume',
        exitCode: 130,
        signal: 'SIGINT',
      }),
    ];
    const withMore = [
      ...before,
      step('2026-11-23T01:30:00Z', 's2', { kind: 'create-snapshot', subvolume: 'home', name: 'home.1' }),
      ...resume,
    ];
    const job = byId(deriveStatus(parse(...withMore), none, {}, now, { jobs: engineJobs, probe: never }));
    // srv.1 was srv's newest: sent, so srv → usb finished; var had nothing to send.
    expect(job['srv → usb']!.lastAttempt).toMatchObject({ run: 'r2', outcome: 'ok' });
    expect(job['var → usb']!.lastAttempt).toMatchObject({ run: 'r0', outcome: 'ok' });
    // home.1 was waiting for both of home's targets: not sent when the signal came.
    expect(job['home → usb']!.lastAttempt).toMatchObject({ run: 'r2', outcome: 'interrupted' });
    expect(job['home → nas']!.lastAttempt).toMatchObject({ run: 'r2', outcome: 'interrupted' });
  });
});

describe('a target newly added to the config', () => {
  const step = (time: string, run: string, fields: Record<string, unknown>): string =>
    line({ time, run, event: 'step', ok: true, ...fields });
  // Two runs to usb alone (nas was not configured yet); retention deleted home.0 since.
  const history = [
    ...[0, 1, 2].flatMap((index) => {
      const run = `r${index}`;
      const at = (second: number) => `2026-11-2${index}T00:00:0${second}Z`;
      return [
        line({ time: at(0), run, event: 'run-start', command: 'run', ...identity }),
        step(at(1), run, { kind: 'create-snapshot', subvolume: 'home', name: `home.${index}` }),
        step(at(2), run, { kind: 'send', subvolume: 'home', target: 'usb', name: `home.${index}` }),
        ...(index === 2
          ? [step(at(3), run, { kind: 'delete-snapshot', subvolume: 'home', name: 'home.0' })]
          : []),
        line({
          time: at(4),
          run,
          event: 'run-end',
          command: 'run',
          exitCode: 0,
          jobs: [{ subvolume: 'home', status: 'ok' }],
        }),
      ];
    }),
  ];
  const specs: JobSpec[] = [
    { kind: 'btrfs', subvolume: 'home', target: 'usb' },
    { kind: 'btrfs', subvolume: 'home', target: 'nas' },
  ];
  const now = new Date('2026-11-22T06:00:00Z');

  it('was never attempted, and every snapshot still there is pending for it', () => {
    const job = byId(deriveStatus(parse(...history), none, {}, now, { jobs: specs, probe: never }));
    expect(job['home → usb']).toMatchObject({
      lastAttempt: { run: 'r2', outcome: 'ok' },
      pending: { count: 0 },
    });
    expect(job['home → nas']).toMatchObject({
      failing: false,
      stale: true,
      pending: { count: 2, names: ['home.1', 'home.2'], oldest: '2026-11-21T00:00:01Z' },
    });
    expect(job['home → nas']!.lastAttempt).toBeUndefined();
    expect(job['home → nas']!.lastSuccess).toBeUndefined();
  });

  it('the same after a compaction folded those runs into a checkpoint', () => {
    const { fold } = foldJournal(parse(...history), never);
    const checkpoint = line({
      time: '2026-11-22T00:00:05Z',
      run: 'checkpoint',
      event: 'checkpoint',
      through: '2026-11-22T00:00:04Z',
      state: fold,
    });
    const job = byId(deriveStatus(parse(checkpoint), none, {}, now, { jobs: specs, probe: never }));
    expect(job['home → nas']).toMatchObject({ pending: { count: 2 }, stale: true });
    expect(job['home → nas']!.lastSuccess).toBeUndefined();
  });

  it('its first attempt failing (not mounted yet): no success is invented for it', () => {
    const unreachable = [
      line({ time: '2026-11-22T05:00:00Z', run: 'r3', event: 'run-start', command: 'resume', ...identity }),
      line({
        time: '2026-11-22T05:00:01Z',
        run: 'r3',
        event: 'run-end',
        command: 'resume',
        exitCode: 10,
        jobs: [{ subvolume: 'home', target: 'nas', status: 'unreachable', message: 'not mounted' }],
      }),
    ];
    const job = byId(
      deriveStatus(parse(...history, ...unreachable), none, {}, now, { jobs: specs, probe: never }),
    );
    expect(job['home → nas']).toMatchObject({
      lastAttempt: { run: 'r3', outcome: 'failed', message: 'unreachable: not mounted' },
      pending: { count: 2 },
    });
    expect(job['home → nas']!.lastSuccess).toBeUndefined();
    expect(job['home → usb']).toMatchObject({ lastAttempt: { run: 'r3', outcome: 'ok' } });
  });

  it('a target a run has looked at (the transfer state knows it) has the clean runs as its history', () => {
    const known = (_subvolume: string, target: string) => (target === 'nas' ? { ownCopies: [] } : {});
    const job = byId(deriveStatus(parse(...history), known, {}, now, { jobs: specs, probe: never }));
    expect(job['home → nas']).toMatchObject({ lastSuccess: { run: 'r2' }, stale: false });
  });
});

describe('a subvolume with snapshots only (no targets)', () => {
  const step = (time: string, run: string, fields: Record<string, unknown>): string =>
    line({ time, run, event: 'step', ok: true, ...fields });
  const specs: JobSpec[] = [
    { kind: 'snapshot', subvolume: 'home' },
    { kind: 'snapshot', subvolume: 'vm' },
  ];
  const history = [
    line({ time: '2026-11-23T00:00:00Z', run: 'r1', event: 'run-start', command: 'snapshot', ...identity }),
    step('2026-11-23T00:00:01Z', 'r1', { kind: 'create-snapshot', subvolume: 'home', name: 'home.1' }),
    step('2026-11-23T00:00:01Z', 'r1', { kind: 'create-snapshot', subvolume: 'vm', name: 'vm.1' }),
    line({
      time: '2026-11-23T00:00:02Z',
      run: 'r1',
      event: 'run-end',
      command: 'snapshot',
      exitCode: 0,
      jobs: [
        { subvolume: 'home', status: 'ok' },
        { subvolume: 'vm', status: 'ok' },
      ],
    }),
    line({ time: '2026-11-23T06:00:00Z', run: 'r2', event: 'run-start', command: 'run', ...identity }),
    step('2026-11-23T06:00:01Z', 'r2', {
      kind: 'create-snapshot',
      subvolume: 'vm',
      name: 'vm.2',
      ok: false,
      error: 'Read-only file system',
    }),
    line({
      time: '2026-11-23T06:00:02Z',
      run: 'r2',
      event: 'run-end',
      command: 'run',
      exitCode: 1,
      jobs: [
        { subvolume: 'home', status: 'ok' },
        { subvolume: 'vm', status: 'failed', message: 'Read-only file system' },
      ],
    }),
  ];

  it('is a job: judged by its last snapshot run, and stale by the age of its last success', () => {
    const status = deriveStatus(parse(...history), none, {}, new Date('2026-11-23T12:00:00Z'), {
      jobs: specs,
      probe: never,
    });
    const job = byId(status);
    expect(job['home (snapshots)']).toMatchObject({
      lastAttempt: { run: 'r2', outcome: 'ok', command: 'run' },
      lastSuccess: { time: '2026-11-23T06:00:02Z' },
      failing: false,
      stale: false,
    });
    expect(job['home (snapshots)']!.pending).toBeUndefined();
    expect(job['vm (snapshots)']).toMatchObject({
      lastAttempt: { run: 'r2', outcome: 'failed', message: 'Read-only file system' },
      lastSuccess: { run: 'r1' },
      failing: true,
    });
    expect(status.summary).toMatchObject({ jobs: 2, failing: 1, stale: 0 });
    const later = byId(
      deriveStatus(parse(...history), none, {}, new Date('2026-11-24T09:00:00Z'), {
        jobs: specs,
        probe: never,
      }),
    );
    expect(later['home (snapshots)']).toMatchObject({ stale: true, failing: false });
  });

  it('an interrupted snapshot run: what it took keeps ok, the rest is interrupted', () => {
    const interrupted = [
      ...history,
      line({ time: '2026-11-23T07:00:00Z', run: 'r3', event: 'run-start', command: 'snapshot', ...identity }),
      step('2026-11-23T07:00:01Z', 'r3', { kind: 'create-snapshot', subvolume: 'home', name: 'home.3' }),
      line({
        time: '2026-11-23T07:00:02Z',
        run: 'r3',
        event: 'run-end',
        command: 'snapshot',
        exitCode: 130,
        signal: 'SIGTERM',
      }),
    ];
    const job = byId(
      deriveStatus(parse(...interrupted), none, {}, new Date('2026-11-23T08:00:00Z'), {
        jobs: specs,
        probe: never,
      }),
    );
    expect(job['home (snapshots)']!.lastAttempt).toMatchObject({ run: 'r3', outcome: 'ok' });
    expect(job['vm (snapshots)']!.lastAttempt).toMatchObject({ run: 'r3', outcome: 'interrupted' });
  });
});

describe('snapshot counts, locally and on each target', () => {
  const gib = 2 ** 30;
  const runEnd = (time: string, run: string, copies: Record<string, number>): string =>
    line({
      time,
      run,
      event: 'run-end',
      command: 'run',
      exitCode: 0,
      jobs: Object.keys(copies).map((subvolume) => ({ subvolume, status: 'ok' })),
      space: [
        {
          target: 'usb',
          path: '/mnt/usb',
          sizeBytes: 100 * gib,
          usedBytes: 40 * gib,
          freeBytes: 60 * gib,
          copies,
        },
      ],
    });
  const specs: JobSpec[] = [
    { kind: 'btrfs', subvolume: 'home', target: 'usb' },
    { kind: 'btrfs', subvolume: 'home', target: 'far' },
    { kind: 'btrfs', subvolume: 'srv', target: 'usb' },
    { kind: 'snapshot', subvolume: 'vm' },
  ];

  it('local counts from the listing given, target counts from the newest run that measured each', () => {
    // The later run was limited to home (run --only home): srv's count is the earlier run's.
    const journal = parse(
      runEnd('2026-11-23T00:00:00Z', 'r1', { home: 10, srv: 4 }),
      runEnd('2026-11-23T04:00:00Z', 'r2', { home: 11 }),
    );
    const { fold } = foldJournal(journal, never);
    const checkpoint = line({
      time: '2026-11-23T04:00:01Z',
      run: 'checkpoint',
      event: 'checkpoint',
      through: '2026-11-23T04:00:00Z',
      state: fold,
    });
    for (const events of [journal, parse(checkpoint)]) {
      const status = deriveStatus(events, none, {}, new Date('2026-11-23T05:00:00Z'), {
        jobs: specs,
        probe: never,
        localSnapshots: (subvolume) => ({ home: 12, vm: 3 })[subvolume],
      });
      expect(status.snapshots).toEqual([
        {
          subvolume: 'home',
          local: 12,
          targets: [
            { target: 'usb', count: 11, time: '2026-11-23T04:00:00Z' },
            // An SSH target is not measured.
            { target: 'far' },
          ],
        },
        { subvolume: 'srv', targets: [{ target: 'usb', count: 4, time: '2026-11-23T00:00:00Z' }] },
        { subvolume: 'vm', local: 3, targets: [] },
      ]);
    }
  });
});
