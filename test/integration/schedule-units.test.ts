// The generated systemd units against systemd's own tools (Debian 12's systemd package ships
// them; no systemd as PID 1 needed): `systemd-analyze verify` must print nothing at all (an
// unknown key such as "Persistant" only warns and exits 0, so the check fails on any output),
// `systemd-analyze security --offline=yes` must rate the services at most `maxExposure`, and the
// next runs `schedule show` prints must equal `systemd-analyze calendar`'s. Bad input exits 2
// and installs nothing.
import { cp, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from '../../src/exec/command.js';
import { events, expectExit, snapkeep } from '../helpers/cli.js';
import { makeTempDir, requireTools } from '../helpers/loop-btrfs.js';

/** "4.9 OK" today; each capability or sandbox switch dropped raises it. */
const maxExposure = 5.0;

let base: string;
let configPath: string;
let unitDir: string;

const config = (
  stateDir: string,
  schedules: string,
  sleep = 'sleep: {snapshot: true, sync_on_wake: true}',
) => `
state_dir: ${stateDir}
targets:
  usb: {path: /mnt/usb/backups}
subvolumes:
  home: {path: /home, snapshot_dir: /home/.snapshots, targets: [usb]}
  var: {path: /var, targets: [usb]}
schedules:
${schedules}
${sleep}
`;

const goodSchedules = `
  four-hourly:
    command: run
    when: "*-*-* 00/4:00:00"
  weekday-snapshots:
    command: snapshot
    when: "Mon..Fri 02:30"
    only: [home]
    on_ac_power: true
    nice: 15
    io_class: idle
  quarter-hour:
    command: resume
    every: 15min
    random_delay: 1min
  nightly-prune:
    command: prune
    when: daily
    timeout: 2h
  drill:
    command: verify --drill
    when: "Sun 03:30"
`;

beforeAll(async () => {
  await requireTools(['systemd-analyze']);
  base = await makeTempDir('schedule-units');
  configPath = join(base, 'snapkeep.yaml');
  await writeFile(configPath, config(join(base, 'state'), goodSchedules));
  unitDir = join(base, 'units');
  expectExit(
    await snapkeep([
      'schedule',
      'install',
      '--backend',
      'systemd',
      '--unit-dir',
      unitDir,
      '--config',
      configPath,
    ]),
    0,
  );
});
afterAll(async () => {
  await runCommand({ file: 'rm', args: ['-rf', base] });
});

/** Everything `systemd-analyze verify` says about these units ('' when it has no complaint). */
async function verifyComplaints(directory: string): Promise<string> {
  const names = (await readdir(directory)).filter((name) => /\.(service|timer)$/.test(name));
  const result = await runCommand({
    file: 'systemd-analyze',
    args: ['verify', '--man=no', ...names.map((name) => join(directory, name))],
  });
  return `${result.stdout}${result.stderr}${result.exitCode === 0 ? '' : `\n(exit ${result.exitCode})`}`.trim();
}

describe('systemd units', () => {
  it('writes a service and a timer per job, the failure handler and the sleep units', async () => {
    expect((await readdir(unitDir)).sort()).toEqual([
      'snapkeep-failure@.service',
      'snapkeep-job-drill.service',
      'snapkeep-job-drill.timer',
      'snapkeep-job-four-hourly.service',
      'snapkeep-job-four-hourly.timer',
      'snapkeep-job-nightly-prune.service',
      'snapkeep-job-nightly-prune.timer',
      'snapkeep-job-quarter-hour.service',
      'snapkeep-job-quarter-hour.timer',
      'snapkeep-job-weekday-snapshots.service',
      'snapkeep-job-weekday-snapshots.timer',
      'snapkeep-resume.service',
      'snapkeep-sleep.service',
      'snapkeep-wake.service',
    ]);
  });

  it('systemd-analyze verify has nothing to say about any of them', async () => {
    expect(await verifyComplaints(unitDir)).toBe('');
  });

  it('the same check catches a misspelt key (which systemd only warns about, exit 0)', async () => {
    const copy = join(base, 'typo');
    await cp(unitDir, copy, { recursive: true });
    const timer = join(copy, 'snapkeep-job-four-hourly.timer');
    await writeFile(timer, (await readFile(timer, 'utf8')).replace('Persistent=', 'Persistant='));
    const direct = await runCommand({ file: 'systemd-analyze', args: ['verify', '--man=no', timer] });
    expect(direct.exitCode).toBe(0);
    expect(await verifyComplaints(copy)).toContain("Unknown key 'Persistant'");
  });

  it('a path with a space is one quoted ReadWritePaths word (systemd splits unquoted values)', async () => {
    const spaced = join(base, 'spaced.yaml');
    await writeFile(
      spaced,
      config(join(base, 'state'), goodSchedules).replace('/mnt/usb/backups', '"/mnt/My Backup"'),
    );
    const units = join(base, 'spaced-units');
    expectExit(await snapkeep(['schedule', 'install', '--unit-dir', units, '--config', spaced]), 0);
    const service = await readFile(join(units, 'snapkeep-job-four-hourly.service'), 'utf8');
    expect(service).toContain('ReadWritePaths="-/mnt/My Backup"\n');
    expect(service).not.toMatch(/ReadWritePaths=-\/mnt\/My /);
    expect(await verifyComplaints(units)).toBe('');
  });

  it('with metrics.textfile_dir every service may write the textfile directory (scheduled runs write it)', async () => {
    const textfile = join(base, 'textfile.yaml');
    await writeFile(
      textfile,
      `${config(join(base, 'state'), goodSchedules)}metrics: {textfile_dir: /var/lib/prometheus/node-exporter}\n`,
    );
    const units = join(base, 'textfile-units');
    expectExit(await snapkeep(['schedule', 'install', '--unit-dir', units, '--config', textfile]), 0);
    const services = (await readdir(units)).filter(
      (name) => name.endsWith('.service') && !name.includes('@'),
    );
    expect(services.length).toBeGreaterThan(4);
    for (const name of services)
      if (name !== 'snapkeep-wake.service')
        // it only starts the resume service
        expect(await readFile(join(units, name), 'utf8'), name).toContain(
          'ReadWritePaths=-/var/lib/prometheus/node-exporter\n',
        );
    expect(await readFile(join(unitDir, 'snapkeep-job-four-hourly.service'), 'utf8')).not.toContain(
      'node-exporter',
    );
    expect(await verifyComplaints(units)).toBe('');
  });

  it("the sample configuration's schedules (with the drill job) install and verify too", async () => {
    const sample = join(base, 'sample.yaml');
    expectExit(await snapkeep(['config', 'init', '--output', sample]), 0);
    const units = join(base, 'sample-units');
    expectExit(await snapkeep(['schedule', 'install', '--unit-dir', units, '--config', sample]), 0);
    expect(await readFile(join(units, 'snapkeep-job-weekly-drill.service'), 'utf8')).toMatch(
      / verify --drill --config /,
    );
    expect(await verifyComplaints(units)).toBe('');
  });

  it(`systemd-analyze security rates every snapkeep service at most ${maxExposure}`, async () => {
    for (const name of [
      'snapkeep-job-four-hourly.service',
      'snapkeep-job-drill.service',
      'snapkeep-resume.service',
      'snapkeep-sleep.service',
    ]) {
      const result = await runCommand({
        file: 'systemd-analyze',
        args: ['security', '--offline=yes', '--no-pager', join(unitDir, name)],
      });
      const score = /Overall exposure level for \S+: (\d+\.\d)/.exec(result.stdout);
      expect(score, result.stdout + result.stderr).not.toBeNull();
      expect(Number(score![1]), `${name}\n${result.stdout}`).toBeLessThanOrEqual(maxExposure);
    }
  });

  it('timers are persistent with a small fixed random delay; services are hardened oneshots', async () => {
    const timer = await readFile(join(unitDir, 'snapkeep-job-quarter-hour.timer'), 'utf8');
    expect(timer).toContain('OnCalendar=*-*-* *:00/15:00\n');
    expect(timer).toContain('Persistent=true\n');
    expect(timer).toContain('RandomizedDelaySec=60s\n');
    expect(timer).toContain('FixedRandomDelay=true\n');
    const run = await readFile(join(unitDir, 'snapkeep-job-four-hourly.service'), 'utf8');
    for (const line of [
      'Type=oneshot',
      'Environment=SNAPKEEP_JOB=four-hourly',
      'OnFailure=snapkeep-failure@%n.service',
      'ProtectSystem=strict',
      'ReadWritePaths=-/home/.snapshots',
      'ReadWritePaths=-/mnt/usb/backups',
      `ReadWritePaths=-${join(base, 'state')}`,
      'NoNewPrivileges=yes',
      'PrivateTmp=yes',
    ])
      expect(run).toContain(`${line}\n`);
    expect(run).toMatch(/^CapabilityBoundingSet=CAP_SYS_ADMIN /m);
    expect(run).toMatch(
      /^ExecStart=\S*systemd-inhibit --what=sleep:shutdown .* run --config \S+ --lock-wait 3600s$/m,
    );
    expect(run).not.toMatch(/--what=\S*idle/);
    const snapshots = await readFile(join(unitDir, 'snapkeep-job-weekday-snapshots.service'), 'utf8');
    expect(snapshots).toContain('ConditionACPower=true\n');
    expect(snapshots).toContain('Nice=15\n');
    expect(snapshots).toContain('IOSchedulingClass=idle\n');
    // Taking snapshots transfers nothing: no inhibitor.
    expect(snapshots).not.toContain('systemd-inhibit');
    expect(snapshots).toMatch(/ snapshot --config \S+ --lock-wait 3600s home$/m);
    expect(await readFile(join(unitDir, 'snapkeep-job-drill.service'), 'utf8')).toMatch(
      / verify --drill --config /,
    );
    expect(await readFile(join(unitDir, 'snapkeep-job-nightly-prune.service'), 'utf8')).toContain(
      'TimeoutStartSec=7200s\n',
    );
  });

  it('the failure handler runs a command that exists and says where to look', async () => {
    const failure = await readFile(join(unitDir, 'snapkeep-failure@.service'), 'utf8');
    const exec = /^ExecStart=\S+ \S+ (notify-failure .*) %i$/m.exec(failure);
    expect(exec).not.toBeNull();
    const result = await snapkeep([...exec![1]!.split(' '), 'snapkeep-job-four-hourly.service']);
    expectExit(result, 0);
    expect(result.stderr).toContain('journalctl -u snapkeep-job-four-hourly.service');
  });

  it('sleep: a snapshot before sleep within 15 s; after wake the sync starts without blocking resume', async () => {
    const sleep = await readFile(join(unitDir, 'snapkeep-sleep.service'), 'utf8');
    expect(sleep).toContain('Before=sleep.target\n');
    expect(sleep).toContain('WantedBy=sleep.target\n');
    expect(sleep).toMatch(/^ExecStart=\S+ \S+ snapshot --deadline 10s --config \S+$/m);
    // The whole backstop, stop included (SIGTERM, then SIGKILL after TimeoutStopSec).
    const start = Number(/^TimeoutStartSec=(\d+)s$/m.exec(sleep)![1]);
    const stop = Number(/^TimeoutStopSec=(\d+)s$/m.exec(sleep)?.[1] ?? 90);
    expect(start + stop).toBeLessThanOrEqual(20);
    const targets = 'suspend.target hibernate.target hybrid-sleep.target suspend-then-hibernate.target';
    const wake = await readFile(join(unitDir, 'snapkeep-wake.service'), 'utf8');
    expect(wake).toContain(`After=${targets}\n`);
    expect(wake).toContain(`WantedBy=${targets}\n`);
    expect(wake).toMatch(/^ExecStart=\S*systemctl start --no-block snapkeep-resume\.service$/m);
    const resume = await readFile(join(unitDir, 'snapkeep-resume.service'), 'utf8');
    expect(resume).toContain('After=network-online.target\n');
    expect(resume).toContain('Wants=network-online.target\n');
    const delay = Number(/^ExecStartPre=\S*sleep (\d+)$/m.exec(resume)![1]);
    expect(delay).toBeGreaterThanOrEqual(10);
    expect(delay).toBeLessThan(70);
    expect(resume).toMatch(
      /^ExecStart=\S*systemd-inhibit --what=sleep:shutdown .* resume --config \S+ --lock-wait 1h$/m,
    );
  });
});

describe('schedule show', () => {
  it("prints each job's next 5 runs, equal to systemd-analyze calendar", async () => {
    const result = await snapkeep(
      ['schedule', 'show', '--json', '--backend', 'systemd', '--config', configPath],
      {
        env: { TZ: 'UTC' },
      },
    );
    expectExit(result, 0);
    const lines = events(result.stdout);
    const now = lines.find((line) => line.type === 'schedule')!.now as string;
    const jobs = lines.filter((line) => line.type === 'schedule-job');
    expect(jobs.map((job) => job.name)).toEqual([
      'four-hourly',
      'weekday-snapshots',
      'quarter-hour',
      'nightly-prune',
      'drill',
    ]);
    // Both in UTC; systemd-analyze reads the base time in whole seconds.
    const at = new Date(now);
    const pad = (value: number): string => String(value).padStart(2, '0');
    const baseTime = `${at.getUTCFullYear()}-${pad(at.getUTCMonth() + 1)}-${pad(at.getUTCDate())} ${pad(at.getUTCHours())}:${pad(at.getUTCMinutes())}:${pad(at.getUTCSeconds())}`;
    for (const job of jobs) {
      const analyzed = await runCommand({
        file: 'systemd-analyze',
        args: ['calendar', '--iterations=5', `--base-time=${baseTime}`, job.calendar as string],
        env: { TZ: 'UTC' },
      });
      expectExit(analyzed, 0);
      const expected = [
        ...analyzed.stdout.matchAll(/(?:Next elapse|Iter\. #\d): \w{3} (\S+) (\S+) UTC$/gm),
      ].map((match) => `${match[1]}T${match[2]}.000Z`);
      expect(job.next, String(job.name)).toEqual(expected);
    }
  });
});

describe('bad input: exit 2, the file, key, value and what is expected; nothing installed', () => {
  const cases: [string, string, RegExp][] = [
    [
      'a calendar systemd rejects',
      '  bad:\n    command: run\n    when: "Fri..Mon 02:00"\n',
      /:\d+:\d+: schedules\.bad\.when: .*runs backwards.*"Fri\.\.Mon 02:00".*expected a systemd calendar event/,
    ],
    [
      'a misspelt shorthand',
      '  bad:\n    command: run\n    when: dayly\n',
      /schedules\.bad\.when: .*"dayly".*expected a systemd calendar event/,
    ],
    [
      'an unknown job kind',
      '  bad:\n    command: backups\n    when: daily\n',
      /schedules\.bad\.command: .*"backups".*run, snapshot, resume, prune, backup, verify, verify --drill/,
    ],
    [
      'a subvolume that does not exist',
      '  bad:\n    command: snapshot\n    when: daily\n    only: [hmoe]\n',
      /schedules\.bad\.only\[0\]: .*"hmoe".*expected one of: home, var/,
    ],
    [
      'an interval that does not divide the day',
      '  bad:\n    command: run\n    every: 7h\n',
      /schedules\.bad\.every: .*7h.*expected an interval that divides/,
    ],
    ['no time at all', '  bad:\n    command: run\n', /schedules\.bad.*expected when: .* or every:/],
  ];
  for (const [what, schedules, message] of cases)
    it(what, async () => {
      const directory = await makeTempDir('schedule-bad');
      const file = join(directory, 'snapkeep.yaml');
      await writeFile(file, config(join(directory, 'state'), schedules));
      const units = join(directory, 'units');
      const result = await snapkeep(['schedule', 'install', '--unit-dir', units, '--config', file]);
      expectExit(result, 2);
      expect(result.stderr).toContain(file);
      expect(result.stderr).toMatch(message);
      await expect(readdir(units)).rejects.toThrow(/ENOENT/);
      await runCommand({ file: 'rm', args: ['-rf', directory] });
    });

  it('an event cron cannot express, for the cron backend', async () => {
    const directory = await makeTempDir('schedule-bad');
    const file = join(directory, 'snapkeep.yaml');
    await writeFile(
      file,
      config(
        join(directory, 'state'),
        '  first-monday:\n    command: run\n    when: "Mon *-*-1..7 03:00"\n',
        '',
      ),
    );
    const cronFile = join(directory, 'cron', 'snapkeep');
    const result = await snapkeep([
      'schedule',
      'install',
      '--backend',
      'cron',
      '--cron-file',
      cronFile,
      '--config',
      file,
    ]);
    expectExit(result, 2);
    expect(result.stderr).toMatch(
      /schedules\.first-monday\.when: .*cron ORs days of the month with weekdays/,
    );
    await expect(readdir(join(directory, 'cron'))).rejects.toThrow(/ENOENT/);
    await runCommand({ file: 'rm', args: ['-rf', directory] });
  });
});
