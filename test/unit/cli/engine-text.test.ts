// The text of the btrfs runs' events (src/replication/): an event in, the lines a person reads
// out — the lines `run`, `snapshot --deadline`, `pull` and `restore` printed before their
// orchestration moved out of src/cli/.
import { describe, expect, it } from 'vitest';
import { engineText } from '../../../src/cli/engine-command.js';
import { checkoutText, fetchText } from '../../../src/cli/fetch-output.js';
import { toStderr } from '../../../src/cli/printer.js';
import { listText } from '../../../src/cli/list-command.js';
import { pullText } from '../../../src/cli/pull-command.js';
import { quickstartText } from '../../../src/cli/quickstart-command.js';
import { repoText } from '../../../src/cli/repo-command.js';
import {
  scheduleCatchUpText,
  scheduleInstallText,
  scheduleRemoveText,
} from '../../../src/cli/schedule-command.js';
import { restoreListText, restoreText } from '../../../src/cli/restore-command.js';
import type { Step } from '../../../src/plan/btrfs-plan.js';

const send = {
  kind: 'send',
  subvolume: 'home',
  target: 'usb',
  name: 'home.20261203T0600',
  snapshotPath: '/home/.snapshots/home.20261203T0600',
  targetDirectory: '/mnt/usb',
  parent: {
    name: 'home.20261202T0600',
    path: '/home/.snapshots/home.20261202T0600',
    copyName: 'home.20261202T0600',
    reason: 'the newest with a copy on usb',
  },
  reason: 'kept by the retention of usb: newest',
} as const satisfies Step;
const snapshot = {
  kind: 'create-snapshot',
  subvolume: 'home',
  source: '/home',
  name: 'home.20261203T0600',
  path: '/home/.snapshots/home.20261203T0600',
  reason: 'none today',
} as const satisfies Step;
const notes = [
  { subvolume: 'home', level: 'info', message: 'nothing to prune' },
  { subvolume: 'home', target: 'usb', level: 'warning', message: 'not kept', routine: true },
] as const;

describe('engine run', () => {
  it('a dry run prints every note and each planned step with "would"', () => {
    expect(
      engineText({
        type: 'plan',
        subvolume: 'home',
        phase: 'initial',
        dryRun: true,
        steps: [snapshot, send],
        notes,
      }),
    ).toEqual([
      '  home: nothing to prune',
      'WARNING: home → usb: not kept',
      'would home: snapshot /home → /home/.snapshots/home.20261203T0600 (none today)',
      'would home → usb: send home.20261203T0600 incremental from home.20261202T0600 (the newest with a copy on usb); kept by the retention of usb: newest',
    ]);
  });

  it('a run prints the notes that are not routine, no steps; the prune re-plan prints nothing', () => {
    const plan = { type: 'plan', subvolume: 'home', dryRun: false, steps: [send], notes } as const;
    expect(engineText({ ...plan, phase: 'initial' })).toEqual(['  home: nothing to prune']);
    expect(engineText({ ...plan, phase: 'prune' })).toEqual([]);
  });

  it("a step: its outcome line, the error on stderr; a send's progress line ends with it", () => {
    expect(
      engineText({ type: 'step', ok: true, durationMs: 1234, bytes: 3 * 1024 ** 2, step: send }),
    ).toEqual([
      { progressEnd: 'home → usb' },
      'ok   home → usb: send home.20261203T0600 incremental from home.20261202T0600 (the newest with a copy on usb); kept by the retention of usb: newest [1.23s, 3.0 MiB]',
    ]);
    expect(
      engineText({ type: 'step', ok: false, error: 'disk full', durationMs: 50, step: snapshot }),
    ).toEqual([
      'FAIL home: snapshot /home → /home/.snapshots/home.20261203T0600 (none today) [0.05s]',
      toStderr('ERROR: disk full'),
    ]);
  });

  it('progress: the line of its subvolume and target, from the figures of the event', () => {
    expect(
      engineText({
        type: 'progress',
        subvolume: 'home',
        target: 'usb',
        name: send.name,
        bytes: 10,
        bytesPerSecond: 5,
      }),
    ).toEqual([
      {
        progress: expect.objectContaining({ label: 'home → usb', bytes: 10, bytesPerSecond: 5 }) as unknown,
      },
    ]);
  });

  it('the deadline: what was taken and what was not', () => {
    expect(
      engineText({
        type: 'deadline',
        deadline: '10s',
        taken: [{ subvolume: 'home', name: snapshot.name, path: snapshot.path }],
        notTaken: ['var'],
      }),
    ).toEqual([
      'taken: home: /home/.snapshots/home.20261203T0600',
      'NOT TAKEN: var: the deadline (10s) passed first',
    ]);
  });

  it('the summary: each job with a problem on stderr, then the count line', () => {
    const jobs = [
      { subvolume: 'home', target: 'usb', status: 'ok' },
      { subvolume: 'home', target: 'nas', status: 'unreachable', message: 'no route' },
      { subvolume: 'var', status: 'failed', message: 'not btrfs' },
    ] as const;
    expect(
      engineText({
        type: 'summary',
        command: 'run',
        dryRun: false,
        exitCode: 3,
        jobs,
        steps: 4,
        failedSteps: 1,
      }),
    ).toEqual([
      toStderr('UNREACHABLE: home → nas: no route'),
      toStderr('FAILED: var: not btrfs'),
      'run: 3 step(s) done, 1 failed; 2 job(s) with problems (exit 3)',
    ]);
    expect(
      engineText({
        type: 'summary',
        command: 'resume',
        dryRun: false,
        exitCode: 0,
        jobs: [jobs[0]],
        steps: 2,
        failedSteps: 0,
      }),
    ).toEqual(['resume: 2 step(s) done, 0 failed; all jobs ok (exit 0)']);
    expect(
      engineText({
        type: 'summary',
        command: 'run',
        dryRun: true,
        exitCode: 0,
        jobs: [],
        steps: 0,
        plannedSteps: 5,
      }),
    ).toEqual(['dry run: 5 btrfs step(s) planned, nothing changed']);
  });

  it("prune's backup-set events are rendered by the set prune's text, when given", () => {
    const event = { type: 'sets-pruned', dryRun: true, runs: 2 } as const;
    expect(engineText(event)).toEqual([]);
    expect(engineText(event, () => ['from sets'])).toEqual(['from sets']);
  });
});

describe('fetch (restore, pull)', () => {
  const fetchStep = { ...send, target: 'local', targetDirectory: '/home/.snapshots' };

  it('the received step says where from; its progress line is from → into', () => {
    expect(fetchText({ type: 'step', ok: true, durationMs: 2000, step: fetchStep, from: 'usb' })).toEqual([
      'ok   received home.20261203T0600 from usb (incremental from home.20261202T0600) [2.00s]',
    ]);
    expect(
      fetchText({
        type: 'step',
        ok: false,
        error: 'receive failed',
        durationMs: 10,
        step: { ...fetchStep, parent: undefined },
        from: 'nas',
      }),
    ).toEqual([
      'FAIL received home.20261203T0600 from nas (full) [0.01s]',
      toStderr('ERROR: receive failed'),
    ]);
    expect(
      fetchText({
        type: 'progress',
        from: 'usb',
        name: 'home',
        into: '/mnt/in',
        bytes: 1,
        bytesPerSecond: 1,
      }),
    ).toEqual([{ progress: expect.objectContaining({ label: 'usb → /mnt/in' }) as unknown }]);
  });

  it('the checkout: aside, writable, rehome', () => {
    expect(
      checkoutText(
        {
          snapshot: '/mnt/in/home.20261203T0600',
          path: '/home',
          aside: '/home.before-restore',
          rehome: { into: '/home/.snapshots', removeSource: true },
        },
        'would ',
      ),
    ).toEqual([
      'would move /home aside to /home.before-restore',
      'would create writable /home from /mnt/in/home.20261203T0600',
      'would place home.20261203T0600 in /home/.snapshots (the snapshot directory inside /home), so the next run is incremental',
    ]);
    expect(checkoutText(undefined, '')).toEqual([]);
  });
});

describe('pull', () => {
  const receive = {
    kind: 'receive',
    step: {
      ...send,
      target: 'local',
      targetDirectory: '/mnt/in',
      parent: undefined,
      reason: 'full: every byte is read from nas',
    },
  } as const;
  const plan = {
    type: 'plan',
    name: 'home',
    from: 'nas',
    snapshot: send.name,
    fetch: receive,
    expired: ['/mnt/in/home.20261101T0600'],
    keep: 2,
  } as const;

  it('the plan: the fetch, the expired pulled snapshots, the checkout; a dry run says nothing changed', () => {
    expect(pullText({ ...plan, dryRun: true })).toEqual([
      'would receive home.20261203T0600 from nas into /mnt/in: full: every byte is read from nas',
      'would delete /mnt/in/home.20261101T0600 (older than the newest 2 pulled, --keep 2)',
      'dry run: nothing changed',
    ]);
    expect(
      pullText({
        ...plan,
        dryRun: false,
        checkout: { snapshot: '/mnt/in/home.20261203T0600', path: '/data' },
      }),
    ).toEqual([
      'receive home.20261203T0600 from nas into /mnt/in: full: every byte is read from nas',
      'delete /mnt/in/home.20261101T0600 (older than the newest 2 pulled, --keep 2)',
      'create writable /data from /mnt/in/home.20261203T0600',
    ]);
  });

  it('deleted pulled snapshots, the received step and the end', () => {
    expect(pullText({ type: 'step', kind: 'delete-pulled', path: '/mnt/in/a', ok: true })).toEqual([
      'ok   delete /mnt/in/a',
    ]);
    expect(
      pullText({ type: 'step', kind: 'delete-pulled', path: '/mnt/in/a', ok: false, error: 'busy' }),
    ).toEqual(['FAIL delete /mnt/in/a: busy']);
    expect(pullText({ type: 'step', ok: true, durationMs: 1000, step: receive.step, from: 'nas' })).toEqual([
      'ok   received home.20261203T0600 from nas (full) [1.00s]',
    ]);
    const pulled = {
      type: 'pulled',
      name: 'home',
      snapshot: '/mnt/in/home.20261203T0600',
      snapshotName: 'home.20261203T0600',
      from: 'nas',
    } as const;
    expect(pullText(pulled)).toEqual(['pulled home.20261203T0600 from nas: /mnt/in/home.20261203T0600']);
    expect(pullText({ ...pulled, checkout: '/data', aside: '/data.before' })).toEqual([
      'pulled home.20261203T0600 from nas: /mnt/in/home.20261203T0600; writable /data (the previous one is at /data.before)',
    ]);
  });
});

describe('restore', () => {
  const source = {
    from: 'usb',
    host: 'local',
    path: '/mnt/usb/home.20261203T0600',
    transfer: 'full',
  } as const;
  const plan = {
    type: 'plan',
    subvolume: 'home',
    from: 'usb',
    snapshot: 'home.20261203T0600',
    source,
    fetch: {
      kind: 'receive',
      step: {
        ...send,
        target: 'local',
        targetDirectory: '/home/.snapshots',
        parent: undefined,
        reason: 'full',
      },
    },
    checkout: { snapshot: '/home/.snapshots/home.20261203T0600', path: '/home' },
    notes: ['note: /home is on another filesystem'],
  } as const;

  it('the plan: its notes on stderr, the fetch and the checkout; a dry run says what it would restore', () => {
    expect(restoreText({ ...plan, dryRun: true })).toEqual([
      toStderr('note: /home is on another filesystem'),
      'would receive home.20261203T0600 from usb into /home/.snapshots: full',
      'would create writable /home from /home/.snapshots/home.20261203T0600',
      'would restore home.20261203T0600 from usb (/mnt/usb/home.20261203T0600), received in full',
      'dry run: nothing changed',
    ]);
    expect(
      restoreText({
        ...plan,
        dryRun: false,
        notes: undefined,
        checkout: undefined,
        file: { source: '/s/a.txt', destination: '/tmp/a.txt', aside: '/tmp/a.txt.before' },
      }),
    ).toEqual([
      'receive home.20261203T0600 from usb into /home/.snapshots: full',
      'copy /s/a.txt to /tmp/a.txt (the existing one moved aside to /tmp/a.txt.before)',
    ]);
  });

  it('restored: a path, a writable subvolume, or the read-only snapshot', () => {
    const restored = { type: 'restored', subvolume: 'home', name: 'home.20261203T0600', source } as const;
    const from = 'from usb (/mnt/usb/home.20261203T0600), received in full';
    expect(
      restoreText({
        ...restored,
        filePath: 'a.txt',
        file: { source: '/s/a.txt', destination: '/tmp/a.txt' },
      }),
    ).toEqual([`restored a.txt of home.20261203T0600 ${from}: /tmp/a.txt`]);
    expect(restoreText({ ...restored, path: '/home', aside: '/home.before' })).toEqual([
      `restored home.20261203T0600 ${from}: /home is a writable subvolume; the previous one is at /home.before`,
    ]);
    expect(restoreText({ ...restored, snapshot: '/home/.snapshots/home.20261203T0600' })).toEqual([
      `restored home.20261203T0600 ${from}: read-only snapshot at /home/.snapshots/home.20261203T0600`,
    ]);
  });

  it('the listing: an unreachable place on stderr; the points make the table afterwards', () => {
    expect(
      restoreListText({ type: 'unreachable', subvolume: 'home', location: 'nas', error: 'timeout' }),
    ).toEqual([toStderr('UNREACHABLE: home → nas: timeout')]);
  });
});

describe('list', () => {
  it('a subvolume that cannot be read and an unreachable target on stderr; the rest makes the tables', () => {
    expect(listText({ type: 'subvolume-error', subvolume: 'home', message: 'not btrfs' })).toEqual([
      toStderr('ERROR: not btrfs'),
    ]);
    expect(listText({ type: 'unreachable', subvolume: 'home', target: 'nas', error: 'timeout' })).toEqual([
      toStderr('UNREACHABLE: home → nas: timeout'),
    ]);
    expect(listText({ type: 'garbage', subvolume: 'home', target: 'nas', path: '/mnt/nas/home.x' })).toEqual(
      [],
    );
  });
});

describe('repo', () => {
  const repository = { type: 'repository', name: 'offsite', url: 'rest:http://127.0.0.1:8000/' } as const;

  it('init: there already, would create, created (an offsite with its primary chunker); errors on stderr', () => {
    expect(repoText({ ...repository, exists: true, created: false })).toEqual([
      'offsite: exists (rest:http://127.0.0.1:8000/)',
    ]);
    expect(
      repoText({ ...repository, exists: false, created: false, dryRun: true, chunkerFrom: 'local' }),
    ).toEqual([
      'offsite: would create rest:http://127.0.0.1:8000/ with the chunker parameters of local (copies dedup)',
    ]);
    expect(repoText({ ...repository, exists: true, created: true })).toEqual([
      'offsite: created rest:http://127.0.0.1:8000/',
    ]);
    expect(
      repoText({ type: 'repository-error', name: 'offsite', error: 'wrong password', exitCode: 1 }),
    ).toEqual([toStderr('ERROR: offsite: wrong password')]);
  });

  it('check-permissions: each check OK or FAIL with its detail; a note indented', () => {
    const check = { type: 'check', repository: 'offsite', check: 'write', detail: 'created' } as const;
    expect(repoText({ ...check, status: 'ok' })).toEqual(['OK   write: created']);
    expect(repoText({ ...check, status: 'fail' })).toEqual(['FAIL write: created']);
    expect(repoText({ type: 'note', repository: 'offsite', message: 'restic 0.16 retries' })).toEqual([
      '     (restic 0.16 retries)',
    ]);
  });
});

describe('schedule', () => {
  it('install: the files (their text under --dry-run), stale files, systemctl calls; notes on stderr', () => {
    expect(
      scheduleInstallText({ type: 'schedule-file', path: '/u/a.timer', dryRun: true, text: 'A\nB' }),
    ).toEqual(['would write /u/a.timer', '    A\n    B']);
    expect(
      scheduleInstallText({ type: 'schedule-file', path: '/u/a.timer', dryRun: false, text: 'A' }),
    ).toEqual(['write /u/a.timer']);
    expect(scheduleInstallText({ type: 'schedule-stale', path: '/u/old.timer', dryRun: false })).toEqual([
      'remove /u/old.timer (no longer configured)',
    ]);
    expect(
      scheduleInstallText({ type: 'schedule-command', argv: ['systemctl', 'daemon-reload'], dryRun: true }),
    ).toEqual(['would run systemctl daemon-reload']);
    expect(scheduleInstallText({ type: 'schedule-note', note: 'no AC check' })).toEqual([
      toStderr('note: no AC check'),
    ]);
    expect(
      scheduleInstallText({ type: 'schedule-installed', backend: 'systemd', directory: '/u', files: 2 }),
    ).toEqual(['installed 2 file(s) for systemd in /u']);
  });

  it('remove: the calls and files; nothing installed when none was', () => {
    expect(scheduleRemoveText({ type: 'schedule-removed', path: '/u/a.timer', dryRun: true })).toEqual([
      'would remove /u/a.timer',
    ]);
    expect(scheduleRemoveText({ type: 'summary', backend: 'cron', removed: 0 })).toEqual([
      'nothing installed for cron',
    ]);
    expect(scheduleRemoveText({ type: 'summary', backend: 'cron', removed: 1 })).toEqual([]);
  });

  it('catch-up: run, would run or skip, and how the run ended', () => {
    const decision = { type: 'catch-up', job: 'daily', reason: 'missed 00:00' } as const;
    expect(scheduleCatchUpText({ ...decision, due: true, dryRun: false })).toEqual([
      'run daily: missed 00:00',
    ]);
    expect(scheduleCatchUpText({ ...decision, due: true, dryRun: true })).toEqual([
      'would run daily: missed 00:00',
    ]);
    expect(scheduleCatchUpText({ ...decision, due: false, dryRun: false })).toEqual([
      'skip daily: missed 00:00',
    ]);
    expect(scheduleCatchUpText({ type: 'catch-up-ended', job: 'daily', exitCode: null })).toEqual([
      'daily: exit ?',
    ]);
  });
});

describe('quickstart', () => {
  it('each step a heading; the verification; what to try next; the cleanup', () => {
    expect(quickstartText({ type: 'quickstart', step: 'plan', message: 'first run' })).toEqual([
      '\n== first run',
    ]);
    expect(
      quickstartText({ type: 'quickstart', step: 'verify', verified: false, sha256: 'ab', expected: 'cd' }),
    ).toEqual(['   sha256 ab != the original cd: RESTORE MISMATCH']);
    const done = quickstartText({
      type: 'quickstart',
      step: 'done',
      cli: 'snapkeep',
      root: '/s',
      config: '/s/c.yaml',
      journal: '/s/state/journal.ndjson',
      earlier: ['/old'],
    });
    expect(done[0]).toContain('\n== done. What to try next:\n   snapkeep list -c /s/c.yaml');
    expect(done[1]).toBe(
      '\n   Earlier sandboxes are still here (each: snapkeep quickstart --cleanup DIR): /old',
    );
    expect(
      quickstartText({ type: 'quickstart', action: 'cleanup', removed: false, root: null, stateDir: '/var' }),
    ).toEqual(['no sandbox to remove under /var']);
    expect(quickstartText({ type: 'quickstart', action: 'cleanup', removed: true, root: '/s' })).toEqual([
      'removed the sandbox /s',
    ]);
  });
});
