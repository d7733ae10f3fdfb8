// `schedule install / status / remove` without --unit-dir, where they call systemctl: here
// systemd is not PID 1, so a RECORDING STAND-IN for systemctl (a script first on PATH that logs
// its argv, and fails on request) takes its place. The units go to the user manager's directory
// (--user, with XDG_CONFIG_HOME in a temporary directory). What is checked: the calls and their
// order, that a failed install leaves exactly what was there before (no temporary files, no
// half-written set), drift in `status`, and that --unit-dir calls no systemctl at all.
import { chmod, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from '../../src/exec/command.js';
import { events, expectExit, snapkeep } from '../helpers/cli.js';
import { makeTempDir } from '../helpers/loop-btrfs.js';

let base: string;
let configPath: string;
let log: string;
let env: Record<string, string>;
let unitDir: string;

const config = (schedules: string): string => `
state_dir: ${join(base, 'state')}
subvolumes:
  home: {path: /home}
schedules:
${schedules}
sleep: {snapshot: true}
`;

const twoJobs = `
  hourly-snapshots: {command: snapshot, when: hourly}
  nightly: {command: run, when: "*-*-* 02:00"}
`;

async function calls(): Promise<string[]> {
  try {
    return (await readFile(log, 'utf8')).split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

async function snapshotOfDir(): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  let names: string[] = [];
  try {
    names = await readdir(unitDir);
  } catch {
    return files;
  }
  for (const name of names.sort()) files[name] = await readFile(join(unitDir, name), 'utf8');
  return files;
}

beforeAll(async () => {
  base = await makeTempDir('schedule-install');
  configPath = join(base, 'snapkeep.yaml');
  log = join(base, 'systemctl.log');
  const bin = join(base, 'bin');
  await mkdir(bin);
  // The stand-in for systemctl: records every call; exits 1 when its argv contains $STANDIN_FAIL.
  await writeFile(
    join(bin, 'systemctl'),
    '#!/bin/sh\nprintf "%s\\n" "$*" >> "$STANDIN_LOG"\ncase " $* " in *" $STANDIN_FAIL "*) [ -n "$STANDIN_FAIL" ] && exit 1;; esac\nexit 0\n',
  );
  await chmod(join(bin, 'systemctl'), 0o755);
  const config = join(base, 'xdg');
  env = {
    PATH: `${bin}:${process.env.PATH ?? ''}`,
    STANDIN_LOG: log,
    STANDIN_FAIL: '',
    XDG_CONFIG_HOME: config,
  };
  unitDir = join(config, 'systemd/user');
});
afterAll(async () => {
  await runCommand({ file: 'rm', args: ['-rf', base] });
});

const install = (extra: Record<string, string> = {}) =>
  snapkeep(['schedule', 'install', '--backend', 'systemd', '--user', '--config', configPath], {
    env: { ...env, ...extra },
  });

describe('schedule install / status / remove through systemctl (a recording stand-in)', () => {
  it('--unit-dir writes the units and calls no systemctl', async () => {
    await writeFile(configPath, config(twoJobs));
    const result = await snapkeep(
      [
        'schedule',
        'install',
        '--backend',
        'systemd',
        '--unit-dir',
        join(base, 'packaged'),
        '--config',
        configPath,
      ],
      { env },
    );
    expectExit(result, 0);
    expect(await readdir(join(base, 'packaged'))).toContain('snapkeep-job-nightly.timer');
    expect(await calls()).toEqual([]);
  });

  it('installs the units, reloads systemd and enables the timers', async () => {
    const result = await install();
    expectExit(result, 0);
    expect(Object.keys(await snapshotOfDir())).toEqual([
      'snapkeep-failure@.service',
      'snapkeep-job-hourly-snapshots.service',
      'snapkeep-job-hourly-snapshots.timer',
      'snapkeep-job-nightly.service',
      'snapkeep-job-nightly.timer',
    ]);
    // A user manager has no sleep.target: said, and not installed.
    expect(result.stderr).toContain('sleep.target');
    expect(await calls()).toEqual([
      '--user daemon-reload',
      '--user enable --now snapkeep-job-hourly-snapshots.timer snapkeep-job-nightly.timer',
    ]);
  });

  it('status: installed and matching; after a config change, the drift (exit 3)', async () => {
    const same = await snapkeep(
      ['schedule', 'status', '--json', '--backend', 'systemd', '--user', '--config', configPath],
      { env },
    );
    expectExit(same, 0);
    const status = events(same.stdout).find((line) => line.type === 'schedule-status')!;
    expect(status.installed).toBe(true);
    expect(status.drift).toEqual([]);
    await writeFile(configPath, config(`  nightly: {command: run, when: "*-*-* 03:00"}\n`));
    const drifted = await snapkeep(
      ['schedule', 'status', '--json', '--backend', 'systemd', '--user', '--config', configPath],
      { env },
    );
    expectExit(drifted, 3);
    const drift = events(drifted.stdout).find((line) => line.type === 'schedule-status')!.drift as {
      path: string;
      drift: string;
    }[];
    expect(drift.map((file) => [file.path.split('/').at(-1), file.drift])).toEqual([
      ['snapkeep-job-nightly.timer', 'changed'],
      ['snapkeep-job-hourly-snapshots.service', 'not-configured'],
      ['snapkeep-job-hourly-snapshots.timer', 'not-configured'],
    ]);
  });

  it('a failed install leaves what was installed before, file for file', async () => {
    const before = await snapshotOfDir();
    await writeFile(log, '');
    const result = await install({ STANDIN_FAIL: 'enable' });
    expectExit(result, 1);
    expect(await snapshotOfDir()).toEqual(before);
    const made = await calls();
    expect(made[0]).toBe('--user disable --now snapkeep-job-hourly-snapshots.timer');
    expect(made).toContain('--user enable --now snapkeep-job-nightly.timer');
    // After the rollback systemd reloads the restored files, and what ran before runs again.
    expect(made.slice(-2)).toEqual([
      '--user daemon-reload',
      '--user enable --now snapkeep-job-hourly-snapshots.timer',
    ]);
  });

  it('an install that drops a job disables its timer and removes its units', async () => {
    await writeFile(log, '');
    expectExit(await install(), 0);
    expect(Object.keys(await snapshotOfDir())).toEqual([
      'snapkeep-failure@.service',
      'snapkeep-job-nightly.service',
      'snapkeep-job-nightly.timer',
    ]);
    expect(await calls()).toEqual([
      '--user disable --now snapkeep-job-hourly-snapshots.timer',
      '--user daemon-reload',
      '--user enable --now snapkeep-job-nightly.timer',
    ]);
    expect(await readFile(join(unitDir, 'snapkeep-job-nightly.timer'), 'utf8')).toContain(
      'OnCalendar=*-*-* 03:00\n',
    );
  });

  it('--dry-run prints the files and the systemctl calls and changes nothing', async () => {
    const before = await snapshotOfDir();
    await writeFile(configPath, config(twoJobs));
    await writeFile(log, '');
    const result = await snapkeep(
      ['schedule', 'install', '--dry-run', '--backend', 'systemd', '--user', '--config', configPath],
      { env },
    );
    expectExit(result, 0);
    expect(result.stdout).toContain(`would write ${join(unitDir, 'snapkeep-job-hourly-snapshots.timer')}`);
    expect(result.stdout).toContain('OnCalendar=hourly');
    expect(result.stdout).toMatch(
      /would run \S*systemctl --user enable --now snapkeep-job-hourly-snapshots\.timer snapkeep-job-nightly\.timer/,
    );
    expect(await calls()).toEqual([]);
    expect(await snapshotOfDir()).toEqual(before);
    await writeFile(configPath, config(`  nightly: {command: run, when: "*-*-* 03:00"}\n`));
  });

  it('catch-up decides from the journal which jobs missed a time (cron has no Persistent=)', async () => {
    const stateDir = join(base, 'state');
    await mkdir(stateDir, { recursive: true });
    const line = (time: string, run: string, event: string, fields: object) =>
      JSON.stringify({ time, run, event, ...fields });
    await writeFile(
      join(stateDir, 'journal.ndjson'),
      [
        line('2020-01-01T03:00:00Z', 'old', 'run-start', {
          command: 'run',
          job: 'nightly',
          pid: 1,
          bootId: 'gone',
        }),
        line('2020-01-01T03:05:00Z', 'old', 'run-end', { command: 'run', exitCode: 0 }),
        '',
      ].join('\n'),
    );
    const result = await snapkeep(['schedule', 'catch-up', '--dry-run', '--json', '--config', configPath], {
      env,
    });
    expectExit(result, 0);
    const [decision] = events(result.stdout).filter((event) => event.type === 'catch-up');
    expect(decision).toMatchObject({ job: 'nightly', due: true, dryRun: true });
    expect(decision!.reason).toContain('last success 2020-01-01T03:00:00Z');
  });

  it('remove disables the timers, deletes the files and reloads systemd', async () => {
    await writeFile(join(unitDir, 'other.service'), '[Service]\nExecStart=/bin/true\n');
    await writeFile(log, '');
    const result = await snapkeep(['schedule', 'remove', '--backend', 'systemd', '--user'], { env });
    expectExit(result, 0);
    expect(await calls()).toEqual([
      '--user disable --now snapkeep-job-nightly.timer',
      '--user daemon-reload',
    ]);
    // Only snapkeep's own files go.
    expect(Object.keys(await snapshotOfDir())).toEqual(['other.service']);
  });
});
