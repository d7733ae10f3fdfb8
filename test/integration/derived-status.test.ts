// status, check and doctor logs read one answer (state/derive-status.ts): fed one journal — a
// killed run, a failing target, a stale backup set, snapshots pending sync, a run interrupted
// after some of its jobs finished, a clock stepped back, a target new in the config, a
// subvolume with snapshots only, a weekday schedule over a gap of days, and older history folded
// into a compaction checkpoint — through the built CLI, they name the same jobs as failing and
// stale, and check keeps the monitoring-plugin contract (exit 0/1/2/3, one summary line first).
// `schedule status` and `schedule catch-up` read the scheduled runs through the same checkpoint.
import { appendFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compactJournal } from '../../src/state/journal-compaction.js';
import { events, expectExit, snapkeep } from '../helpers/cli.js';
import { makeTempDir } from '../helpers/loop-btrfs.js';

let directory: string;
let configPath: string;
let env: Record<string, string>;

// Times are hours before the real clock (the CLI reads it); the thresholds are hours apart from
// every age here, so the answers do not depend on how long the test takes.
const hour = 3_600_000;
const written = Date.now();
const ago = (hours: number): string => new Date(written - hours * hour).toISOString();
// A process that is gone (pid beyond pid_max, a boot id that is not this boot's).
const gone = { pid: 4_194_999, host: 'h', bootId: '00000000-0000-0000-0000-000000000000', processStart: 1 };
const gib = 2 ** 30;

// The weekday backup ran 50 h ago, 30 min after its scheduled time; its calendar has that
// weekday and the two weekdays 3 and 4 days later, so its next time is still a day away: not
// stale. The rule of the shortest interval (24 h between the next two) said stale.
const weeklySuccess = ago(50);
const weekdayCalendar = (() => {
  const scheduled = new Date(Date.parse(weeklySuccess) - 30 * 60_000);
  const names = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const days = [0, 3, 4].map((offset) => (scheduled.getUTCDay() + offset) % 7).sort();
  const time = `${String(scheduled.getUTCHours()).padStart(2, '0')}:${String(scheduled.getUTCMinutes()).padStart(2, '0')}`;
  return `${days.map((day) => names[day]).join(',')} ${time}`;
})();

const send = (time: string, run: string, subvolume: string, target: string, name: string, ok = true) => ({
  time,
  run,
  event: 'step',
  kind: 'send',
  subvolume,
  target,
  name,
  ok,
  ...(ok ? {} : { error: 'No space left on device' }),
});
const snapshot = (time: string, run: string, subvolume: string, name: string) => ({
  time,
  run,
  event: 'step',
  kind: 'create-snapshot',
  subvolume,
  name,
  ok: true,
});

/** What compaction folds into the checkpoint: the older history. */
function olderHistory(): Record<string, unknown>[] {
  return [
    // The scheduled backup (job "weekdays") two days ago: app is stale (26 h); weekly is not.
    {
      time: weeklySuccess,
      run: 'b1',
      event: 'run-start',
      command: 'backup',
      sets: ['app', 'weekly'],
      job: 'weekdays',
      ...gone,
    },
    { time: weeklySuccess, run: 'b1', event: 'item', set: 'app', what: 'folder', ok: true },
    { time: weeklySuccess, run: 'b1', event: 'item', set: 'weekly', what: 'folder', ok: true },
    {
      time: weeklySuccess,
      run: 'b1',
      event: 'run-end',
      command: 'backup',
      exitCode: 0,
      sets: [
        { set: 'app', run: 'b1', ok: true, offsite: [{ repository: 'copy', ok: true }] },
        { set: 'weekly', run: 'b1', ok: true },
      ],
    },
    // www reached both its targets.
    { time: ago(30), run: 'w0', event: 'run-start', command: 'run', only: ['www'], ...gone },
    snapshot(ago(30), 'w0', 'www', 'www.0'),
    send(ago(30), 'w0', 'www', 'usb', 'www.0'),
    send(ago(30), 'w0', 'www', 'nas', 'www.0'),
    {
      time: ago(30),
      run: 'w0',
      event: 'run-end',
      command: 'run',
      exitCode: 0,
      jobs: [{ subvolume: 'www', status: 'ok' }],
    },
  ];
}

/** The lines after the checkpoint. */
function recentHistory(): Record<string, unknown>[] {
  return [
    // A run five hours ago: home → nas fails (the disk is full), the rest is sent.
    { time: ago(5), run: 'r1', event: 'run-start', command: 'run', only: ['home', 'srv'], ...gone },
    snapshot(ago(5), 'r1', 'home', 'home.1'),
    snapshot(ago(5), 'r1', 'srv', 'srv.1'),
    send(ago(5), 'r1', 'home', 'usb', 'home.1'),
    send(ago(5), 'r1', 'home', 'nas', 'home.1', false),
    send(ago(5), 'r1', 'srv', 'usb', 'srv.1'),
    {
      time: ago(5),
      run: 'r1',
      event: 'run-end',
      command: 'run',
      exitCode: 3,
      jobs: [
        { subvolume: 'home', target: 'nas', status: 'failed', message: 'No space left on device' },
        { subvolume: 'srv', status: 'ok' },
      ],
      space: [
        {
          target: 'usb',
          path: `${directory}/usb`,
          sizeBytes: 100 * gib,
          usedBytes: 40 * gib,
          freeBytes: 60 * gib,
          copies: { home: 5, srv: 3 },
        },
      ],
    },
    // The pre-sleep snapshot: taken, not sent yet.
    { time: ago(3), run: 's1', event: 'run-start', command: 'snapshot', ...gone },
    snapshot(ago(3), 's1', 'home', 'home.2'),
    snapshot(ago(3), 's1', 'srv', 'srv.2'),
    snapshot(ago(3), 's1', 'vm', 'vm.1'),
    {
      time: ago(3),
      run: 's1',
      event: 'run-end',
      command: 'snapshot',
      exitCode: 0,
      jobs: ['home', 'srv', 'vm'].map((subvolume) => ({ subvolume, status: 'ok' })),
    },
    // var: a success, then a failure written after it while the clock was two hours behind.
    { time: ago(2), run: 'v1', event: 'run-start', command: 'run', only: ['var'], ...gone },
    snapshot(ago(2), 'v1', 'var', 'var.1'),
    send(ago(2), 'v1', 'var', 'usb', 'var.1'),
    {
      time: ago(2),
      run: 'v1',
      event: 'run-end',
      command: 'run',
      exitCode: 0,
      jobs: [{ subvolume: 'var', status: 'ok' }],
    },
    { time: ago(4), run: 'v2', event: 'run-start', command: 'run', only: ['var'], ...gone },
    snapshot(ago(4), 'v2', 'var', 'var.2'),
    send(ago(4), 'v2', 'var', 'usb', 'var.2', false),
    {
      time: ago(4),
      run: 'v2',
      event: 'run-end',
      command: 'run',
      exitCode: 3,
      jobs: [{ subvolume: 'var', target: 'usb', status: 'failed', message: 'No space left on device' }],
    },
    // www: SIGTERM after its new snapshot reached usb, before it reached nas.
    { time: ago(1.5), run: 'w1', event: 'run-start', command: 'run', only: ['www'], ...gone },
    snapshot(ago(1.5), 'w1', 'www', 'www.1'),
    send(ago(1.5), 'w1', 'www', 'usb', 'www.1'),
    { time: ago(1.5), run: 'w1', event: 'run-end', command: 'run', exitCode: 130, signal: 'SIGTERM' },
    // A sync of srv an hour ago, killed (SIGKILL, power loss): a start, no end, the process gone.
    { time: ago(1), run: 'r2', event: 'run-start', command: 'resume', only: ['srv'], ...gone },
  ];
}

const ndjson = (lines: Record<string, unknown>[]): string =>
  lines.map((line) => JSON.stringify({ v: 1, ...line })).join('\n') + '\n';

beforeAll(async () => {
  directory = await makeTempDir('derived-status');
  for (const name of [
    'home',
    'srv',
    'var',
    'www',
    'vm',
    'usb',
    'nas',
    'cold',
    'repo',
    'copy',
    'uploads',
    'state',
  ])
    await mkdir(join(directory, name), { recursive: true });
  // What status lists locally: names in btrbk's grammar only.
  for (const name of ['home.20261201T0000', 'home.20261202T0000', 'home.latest', 'not-a-snapshot'])
    await mkdir(join(directory, 'home', '.snapshots', name), { recursive: true });
  await mkdir(join(directory, 'vm', '.snapshots', 'vm.20261202T0000'), { recursive: true });
  const subvolume = (name: string, targets: string[]) =>
    `  ${name}:\n    path: ${directory}/${name}\n    snapshot_dir: ${directory}/${name}/.snapshots\n    targets: [${targets.join(', ')}]\n`;
  configPath = join(directory, 'snapkeep.yaml');
  await writeFile(
    configPath,
    `state_dir: ${directory}/state
targets:
  usb:
    path: ${directory}/usb
  nas:
    path: ${directory}/nas
  cold:
    path: ${directory}/cold
subvolumes:
${subvolume('home', ['usb', 'nas', 'cold'])}${subvolume('srv', ['usb'])}${subvolume('var', ['usb'])}${subvolume('www', ['usb', 'nas'])}${subvolume('vm', [])}repositories:
  local:
    url: ${directory}/repo
    password: env:TEST_REPO_PASSWORD
  copy:
    url: ${directory}/copy
    password: env:TEST_REPO_PASSWORD
sources:
  uploads:
    type: directory
    paths: [${directory}/uploads]
backup_sets:
  app:
    sources: [uploads]
    repository: local
    offsite: [copy]
  weekly:
    sources: [uploads]
    repository: local
schedules:
  weekdays:
    command: backup
    only: [weekly]
    when: "${weekdayCalendar}"
`,
  );
  // The older history is compacted into a checkpoint, as a run starting on a large journal does.
  const stateDir = join(directory, 'state');
  await writeFile(join(stateDir, 'journal.ndjson'), ndjson(olderHistory()));
  expect(await compactJournal(stateDir, { maxBytes: 1, probe: () => false })).toMatchObject({
    compacted: true,
  });
  appendFileSync(join(stateDir, 'journal.ndjson'), ndjson(recentHistory()));
  env = { SNAPKEEP_CACHE_DIR: join(directory, 'cache'), TEST_REPO_PASSWORD: 'unused', TZ: 'UTC' };
});

afterAll(async () => {
  await rm(directory, { recursive: true, force: true });
});

// Failures first, then stale, then the rest; in config order within each.
const expectedStates = {
  'home → usb': ['OK', 'ok'],
  'home → nas': ['FAIL', 'failed'],
  'home → cold': ['STALE', 'never'],
  'srv → usb': ['FAIL', 'killed'],
  'var → usb': ['FAIL', 'failed'],
  'www → usb': ['OK', 'ok'],
  'www → nas': ['FAIL', 'interrupted'],
  'vm (snapshots)': ['OK', 'ok'],
  'app → local': ['STALE', 'ok'],
  'app → copy': ['STALE', 'ok'],
  'weekly → local': ['OK', 'ok'],
};

describe('status, check and doctor logs: one answer for one journal', () => {
  it('name the same failing and stale jobs, the same pending sync and the same killed run', async () => {
    const json = await snapkeep(['status', '--config', configPath, '--json'], { env });
    expectExit(json, 3);
    const statusEvents = events(json.stdout);
    const summary = statusEvents.find((event) => event.type === 'status')!;
    const jobs = statusEvents.filter((event) => event.type === 'job-status') as {
      id: string;
      state: string;
      outcome: string;
      pending?: { count: number; names: string[] };
    }[];
    expect(summary).toMatchObject({
      version: 1,
      summary: { jobs: 11, failing: 4, stale: 5 },
      lastRun: { state: 'killed', command: 'resume' },
    });
    const states = Object.fromEntries(jobs.map((job) => [job.id, [job.state, job.outcome]]));
    expect(states).toEqual(expectedStates);
    const pending = Object.fromEntries(jobs.map((job) => [job.id, job.pending?.count]));
    expect(pending).toEqual({
      'home → usb': 1,
      'home → nas': 2,
      // New in the config: every snapshot there is pending for it.
      'home → cold': 2,
      'srv → usb': 1,
      'var → usb': 1,
      'www → usb': 0,
      'www → nas': 1,
      'vm (snapshots)': undefined,
      'app → local': undefined,
      'app → copy': undefined,
      'weekly → local': undefined,
    });
    expect(jobs.find((job) => job.id === 'home → cold')).toMatchObject({
      lastAttempt: null,
      lastSuccess: null,
      pending: { names: ['home.1', 'home.2'] },
    });
    // The counts: listed here, and as the run that measured usb found them.
    const counts = statusEvents.filter((event) => event.type === 'snapshot-count');
    expect(counts).toEqual([
      {
        type: 'snapshot-count',
        subvolume: 'home',
        local: 2,
        targets: [
          { target: 'usb', count: 5, time: ago(5) },
          { target: 'nas', count: null, time: null },
          { target: 'cold', count: null, time: null },
        ],
      },
      {
        type: 'snapshot-count',
        subvolume: 'srv',
        local: 0,
        targets: [{ target: 'usb', count: 3, time: ago(5) }],
      },
      {
        type: 'snapshot-count',
        subvolume: 'var',
        local: 0,
        targets: [{ target: 'usb', count: null, time: null }],
      },
      {
        type: 'snapshot-count',
        subvolume: 'www',
        local: 0,
        targets: [
          { target: 'usb', count: null, time: null },
          { target: 'nas', count: null, time: null },
        ],
      },
      { type: 'snapshot-count', subvolume: 'vm', local: 1, targets: [] },
    ]);

    const text = await snapkeep(['status', '--config', configPath], { env });
    expectExit(text, 3);
    const rows = text.stdout.split('\n');
    expect(rows[0]).toMatch(/^last run: .*snapkeep resume, killed/);
    const order = rows.filter((row) => /^(FAIL|STALE|OK) /.test(row)).map((row) => row.split(/\s{2,}/)[1]);
    expect(order).toEqual([
      'home → nas',
      'srv → usb',
      'var → usb',
      'www → nas',
      'home → cold',
      'app → local',
      'app → copy',
      'home → usb',
      'www → usb',
      'vm (snapshots)',
      'weekly → local',
    ]);
    expect(rows).toContain('snapshots of home: 2 here, 5 on usb, ? on nas, ? on cold');
    expect(rows).toContain('snapshots of vm: 1 here');

    const check = await snapkeep(['check', '--config', configPath], { env });
    expectExit(check, 2);
    const [first, ...details] = check.stdout.trim().split('\n');
    expect(first).toMatch(/^SNAPKEEP CRITICAL - 4 failing, 5 stale \| jobs=11 failing=4 stale=5 /);
    const checkStates: Record<string, string> = Object.fromEntries(
      details.map((line): [string, string] => {
        const [, word = '', id = ''] = /^(\w+): (.+? → \S+|\S+ \(snapshots\)):/.exec(line)!;
        return [id, word];
      }),
    );
    const word = { OK: 'OK', FAIL: 'CRITICAL', STALE: 'WARNING' } as const;
    expect(checkStates).toEqual(
      Object.fromEntries(
        Object.entries(expectedStates).map(([id, [state]]) => [id, word[state as keyof typeof word]]),
      ),
    );
    expect(details.find((line) => line.includes('home → nas'))).toContain('2 snapshot(s) pending sync');
    expect(details.find((line) => line.includes('home → cold'))).toMatch(
      /never succeeded; stale .*; 2 snapshot\(s\) pending sync$/,
    );

    const doctor = await snapkeep(['doctor', 'logs', '--config', configPath, '--json'], { env });
    expectExit(doctor, 3);
    const checks = events(doctor.stdout).filter((event) => event.type === 'check') as {
      check: string;
      subject?: string;
      status: string;
      detail: string;
    }[];
    const doctorStates: Record<string, string> = Object.fromEntries(
      checks
        .filter((entry) => entry.check === 'stale')
        .map((entry): [string, string] => [entry.subject ?? '', entry.status]),
    );
    expect(doctorStates).toEqual(
      Object.fromEntries(
        Object.entries(expectedStates).map(([id, [state]]) => [id, state === 'OK' ? 'ok' : 'fail']),
      ),
    );
    // The same jobs are not OK in all three.
    const notOk = (entries: Record<string, string | undefined>): string[] =>
      Object.keys(entries)
        .filter((id) => entries[id]?.toUpperCase() !== 'OK')
        .sort();
    const statusWords = Object.fromEntries(jobs.map((job) => [job.id, job.state]));
    expect(notOk(checkStates)).toEqual(notOk(statusWords));
    expect(notOk(doctorStates)).toEqual(notOk(statusWords));
    expect(checks.find((entry) => entry.check === 'last-run')).toMatchObject({ status: 'fail' });
    expect(checks.find((entry) => entry.check === 'last-run')!.detail).toMatch(/snapkeep resume, killed/);
  });

  it('check: only the jobs named, --max-age, and UNKNOWN (3) for what it cannot answer', async () => {
    const usb = await snapkeep(['check', '--config', configPath, 'home/usb'], { env });
    expectExit(usb, 0);
    expect(usb.stdout.split('\n')[0]).toMatch(/^SNAPKEEP OK - 1 job\(s\) ok \| jobs=1 failing=0 stale=0 /);

    // Two days and a half: the set is no longer stale; its check is OK.
    const set = await snapkeep(['check', '--config', configPath, '--max-age', '60h', 'app'], { env });
    expectExit(set, 0);
    const staleSet = await snapkeep(['check', '--config', configPath, 'app'], { env });
    expectExit(staleSet, 1);
    expect(staleSet.stdout.split('\n')[0]).toMatch(/^SNAPKEEP WARNING - 2 stale \|/);
    // The weekday set: not stale by its schedule; --max-age replaces the schedule's rule.
    const weekly = await snapkeep(['check', '--config', configPath, 'weekly'], { env });
    expectExit(weekly, 0);
    const weeklyMaxAge = await snapkeep(['check', '--config', configPath, '--max-age', '26h', 'weekly'], {
      env,
    });
    expectExit(weeklyMaxAge, 1);
    const snapshots = await snapkeep(['check', '--config', configPath, 'vm/snapshots'], { env });
    expectExit(snapshots, 0);

    const unknownJob = await snapkeep(['check', '--config', configPath, 'nosuch'], { env });
    expectExit(unknownJob, 3);
    expect(unknownJob.stdout).toMatch(/^SNAPKEEP UNKNOWN - no job "nosuch" in the config/);
    const badAge = await snapkeep(['check', '--config', configPath, '--max-age', 'soon'], { env });
    expectExit(badAge, 3);
    const badFlag = await snapkeep(['check', '--config', configPath, '--bogus'], { env });
    expectExit(badFlag, 3);
    expect(badFlag.stdout).toBe("SNAPKEEP UNKNOWN - unknown option '--bogus'\n");
    const noConfig = await snapkeep(['check', '--config', join(directory, 'missing.yaml')], { env });
    expectExit(noConfig, 3);
    expect(noConfig.stdout.split('\n')).toHaveLength(2); // one line (and the newline)
    expect(noConfig.stdout).toMatch(/^SNAPKEEP UNKNOWN - /);
  });

  it('check on a config with snapshots only: its subvolumes are the jobs, not UNKNOWN', async () => {
    const onlySnapshots = join(directory, 'only-snapshots.yaml');
    await writeFile(
      onlySnapshots,
      `state_dir: ${directory}/state
subvolumes:
  vm:
    path: ${directory}/vm
    snapshot_dir: ${directory}/vm/.snapshots
`,
    );
    const result = await snapkeep(['check', '--config', onlySnapshots], { env });
    expectExit(result, 0);
    expect(result.stdout.split('\n').slice(0, 2)).toEqual([
      expect.stringMatching(/^SNAPKEEP OK - 1 job\(s\) ok \| jobs=1 failing=0 stale=0 /),
      expect.stringMatching(/^OK: vm \(snapshots\): last success /),
    ]);
  });

  it('schedule status and catch-up read the scheduled job through the checkpoint', async () => {
    const status = await snapkeep(
      [
        'schedule',
        'status',
        '--config',
        configPath,
        '--json',
        '--backend',
        'cron',
        '--cron-file',
        join(directory, 'snapkeep-cron'),
      ],
      { env },
    );
    expectExit(status, 0);
    const [scheduleStatus] = events(status.stdout).filter((event) => event.type === 'schedule-status');
    expect(scheduleStatus).toMatchObject({
      jobs: [{ name: 'weekdays', lastRun: { id: 'b1', state: 'ok' }, lastSuccess: weeklySuccess }],
    });
    const catchUp = await snapkeep(['schedule', 'catch-up', '--config', configPath, '--dry-run', '--json'], {
      env,
    });
    expectExit(catchUp, 0);
    const [decision] = events(catchUp.stdout).filter((event) => event.type === 'catch-up');
    // Its next time is still to come: nothing was missed.
    expect(decision).toMatchObject({ job: 'weekdays', due: false });
    expect(decision!.reason).toContain(`last success ${weeklySuccess}`);
  });
});
