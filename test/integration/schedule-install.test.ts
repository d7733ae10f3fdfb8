// `schedule install / status / remove` without --unit-dir, where they call systemctl: here
// systemd is not PID 1, so a RECORDING STAND-IN for systemctl (a script first on PATH that logs
// its argv, and fails on request) takes its place. The units go to the user manager's directory
// (--user, with XDG_CONFIG_HOME in a temporary directory). It keeps what is enabled as files in
// a directory, as systemd keeps its links. What is checked: the calls and their order, that a
// failed install leaves exactly what was there before (no temporary files, no half-written set,
// nothing left enabled), that a killed install's temporary files go with the next install,
// drift in `status`, and that --unit-dir calls no systemctl at all.
import { chmod, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from '../../src/exec/command.js';
import { events, expectExit, snapkeep } from '../helpers/cli.js';
import { makeTempDir } from '../helpers/loop-btrfs.js';
import { descendantsOf, killAndReap, startSnapkeep, waitUntil } from '../helpers/processes.js';

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
  // The stand-in for systemctl: records every call; exits 1 when its argv contains the words
  // $STANDIN_FAIL; hangs when $STANDIN_HANG is set; `enable` and `disable` keep the enabled units
  // as files in $STANDIN_STATE (`enable` fails at $STANDIN_FAIL_UNIT, after enabling the units
  // before it, as a real one may), `is-enabled` answers from there.
  await writeFile(
    join(bin, 'systemctl'),
    `#!/bin/sh
printf "%s\\n" "$*" >> "$STANDIN_LOG"
[ -n "$STANDIN_HANG" ] && exec sleep 600
case " $* " in *" $STANDIN_FAIL "*) [ -n "$STANDIN_FAIL" ] && exit 1;; esac
[ "$1" = --user ] && shift
verb=$1; shift
[ "$1" = --now ] && shift
mkdir -p "$STANDIN_STATE"
case $verb in
  is-enabled) if [ -e "$STANDIN_STATE/$1" ]; then echo enabled; else echo disabled; exit 1; fi;;
  enable) for unit; do [ "$unit" = "$STANDIN_FAIL_UNIT" ] && exit 1; : > "$STANDIN_STATE/$unit"; done;;
  disable) for unit; do rm -f "$STANDIN_STATE/$unit"; done;;
esac
exit 0
`,
  );
  await chmod(join(bin, 'systemctl'), 0o755);
  const config = join(base, 'xdg');
  env = {
    PATH: `${bin}:${process.env.PATH ?? ''}`,
    STANDIN_LOG: log,
    STANDIN_FAIL: '',
    STANDIN_STATE: join(base, 'enabled'),
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
      '--user is-enabled snapkeep-job-hourly-snapshots.timer',
      '--user is-enabled snapkeep-job-nightly.timer',
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
    expect(made.slice(0, 2)).toEqual([
      '--user is-enabled snapkeep-job-nightly.timer',
      '--user disable --now snapkeep-job-hourly-snapshots.timer',
    ]);
    expect(made).toContain('--user enable --now snapkeep-job-nightly.timer');
    // Enabled before the install: not disabled by its rollback.
    expect(made.filter((call) => call.includes('disable'))).toHaveLength(1);
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
      '--user is-enabled snapkeep-job-nightly.timer',
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

describe('schedule install that fails or is killed halfway (the recording stand-in)', () => {
  /** Its own unit directory, log and enabled units: nothing shared with the tests above. */
  function fresh(name: string) {
    const xdg = join(base, name);
    const own = {
      ...env,
      STANDIN_LOG: join(base, `${name}.log`),
      STANDIN_STATE: join(base, `${name}-enabled`),
      XDG_CONFIG_HOME: xdg,
    };
    const units = join(xdg, 'systemd/user');
    return {
      env: own,
      units,
      files: async () => (await readdir(units).catch(() => [] as string[])).sort(),
      enabled: async () => (await readdir(own.STANDIN_STATE).catch(() => [] as string[])).sort(),
      calls: async () =>
        (await readFile(own.STANDIN_LOG, 'utf8').catch(() => '')).split('\n').filter(Boolean),
      install: (extra: Record<string, string> = {}) =>
        snapkeep(['schedule', 'install', '--backend', 'systemd', '--user', '--config', configPath], {
          env: { ...own, ...extra },
        }),
    };
  }

  it('an enable that fails for one unit: the units it enabled before are disabled again, no file stays', async () => {
    await writeFile(configPath, config(twoJobs));
    const world = fresh('enable-fails');
    // `enable --now hourly nightly` enables hourly, then fails at nightly.
    const result = await world.install({ STANDIN_FAIL_UNIT: 'snapkeep-job-nightly.timer' });
    expectExit(result, 1);
    expect(await world.files()).toEqual([]);
    expect(await world.enabled()).toEqual([]);
    const made = await world.calls();
    expect(made).toContain(
      '--user enable --now snapkeep-job-hourly-snapshots.timer snapkeep-job-nightly.timer',
    );
    // Disabled (and stopped) while their unit files were still there, then the files went.
    expect(made.slice(-2)).toEqual([
      '--user disable --now snapkeep-job-hourly-snapshots.timer snapkeep-job-nightly.timer',
      '--user daemon-reload',
    ]);
  });

  it('an install killed before its renames leaves temporary files, which the next install removes', async () => {
    await writeFile(configPath, config(twoJobs));
    const world = fresh('killed');
    expectExit(await world.install(), 0);
    const installed = await world.files();
    // One job fewer: the next install begins by asking systemctl, its new files written.
    await writeFile(configPath, config(`  nightly: {command: run, when: "*-*-* 03:00"}\n`));
    const callsBefore = (await world.calls()).length;
    const killed = startSnapkeep(
      ['schedule', 'install', '--backend', 'systemd', '--user', '--config', configPath],
      {
        env: { ...world.env, STANDIN_HANG: '1' },
      },
    );
    await waitUntil('the install to call systemctl', async () => (await world.calls()).length > callsBefore);
    await killAndReap([killed.pid, ...descendantsOf(killed.pid).map((entry) => entry.pid)]);
    const left = (await world.files()).filter((name) => name.includes('.snapkeep-new-'));
    expect(left.length).toBeGreaterThan(0);
    expect(left.every((name) => name.endsWith(`.snapkeep-new-${killed.pid}`))).toBe(true);
    expect((await world.files()).filter((name) => !left.includes(name))).toEqual(installed);

    expectExit(await world.install(), 0);
    expect(await world.files()).toEqual([
      'snapkeep-failure@.service',
      'snapkeep-job-nightly.service',
      'snapkeep-job-nightly.timer',
    ]);
    expect(await world.enabled()).toEqual(['snapkeep-job-nightly.timer']);
  });
});
