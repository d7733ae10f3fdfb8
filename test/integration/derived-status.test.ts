// status, check and doctor logs read one answer (state/derive-status.ts): fed one journal — a
// killed run, a failing target, a stale backup set, snapshots pending sync — through the built
// CLI, they name the same jobs as failing and stale, and check keeps the monitoring-plugin
// contract (exit 0/1/2/3, one summary line first).
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { events, expectExit, snapkeep } from '../helpers/cli.js';
import { makeTempDir } from '../helpers/loop-btrfs.js';

let directory: string;
let configPath: string;
let env: Record<string, string>;

// Times are hours before the real clock (the CLI reads it); the thresholds are a day apart from
// every age here, so the answers do not depend on how long the test takes.
const hour = 3_600_000;
const ago = (hours: number): string => new Date(Date.now() - hours * hour).toISOString();
// A process that is gone (pid beyond pid_max, a boot id that is not this boot's).
const gone = { pid: 4_194_999, host: 'h', bootId: '00000000-0000-0000-0000-000000000000', processStart: 1 };

function journal(): string {
  const lines: Record<string, unknown>[] = [
    // A backup two days ago: the set is stale (26 h).
    { time: ago(50), run: 'b1', event: 'run-start', command: 'backup', sets: ['app'], ...gone },
    { time: ago(50), run: 'b1', event: 'item', set: 'app', what: 'folder', ok: true },
    {
      time: ago(50),
      run: 'b1',
      event: 'run-end',
      command: 'backup',
      exitCode: 0,
      sets: [{ set: 'app', run: 'b1', ok: true, offsite: [{ repository: 'copy', ok: true }] }],
    },
    // A run five hours ago: home → nas fails (the disk is full), the rest is sent.
    { time: ago(5), run: 'r1', event: 'run-start', command: 'run', ...gone },
    {
      time: ago(5),
      run: 'r1',
      event: 'step',
      kind: 'create-snapshot',
      subvolume: 'home',
      name: 'home.1',
      ok: true,
    },
    {
      time: ago(5),
      run: 'r1',
      event: 'step',
      kind: 'create-snapshot',
      subvolume: 'srv',
      name: 'srv.1',
      ok: true,
    },
    {
      time: ago(5),
      run: 'r1',
      event: 'step',
      kind: 'send',
      subvolume: 'home',
      target: 'usb',
      name: 'home.1',
      ok: true,
    },
    {
      time: ago(5),
      run: 'r1',
      event: 'step',
      kind: 'send',
      subvolume: 'home',
      target: 'nas',
      name: 'home.1',
      ok: false,
      error: 'No space left on device',
    },
    {
      time: ago(5),
      run: 'r1',
      event: 'step',
      kind: 'send',
      subvolume: 'srv',
      target: 'usb',
      name: 'srv.1',
      ok: true,
    },
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
    },
    // The pre-sleep snapshot: taken, not sent yet.
    { time: ago(3), run: 's1', event: 'run-start', command: 'snapshot', ...gone },
    {
      time: ago(3),
      run: 's1',
      event: 'step',
      kind: 'create-snapshot',
      subvolume: 'home',
      name: 'home.2',
      ok: true,
    },
    { time: ago(3), run: 's1', event: 'run-end', command: 'snapshot', exitCode: 0, jobs: [] },
    // A sync of srv an hour ago, killed (SIGKILL, power loss): a start, no end, the process gone.
    { time: ago(1), run: 'r2', event: 'run-start', command: 'resume', only: ['srv'], ...gone },
  ];
  return lines.map((line) => JSON.stringify({ v: 1, ...line })).join('\n') + '\n';
}

beforeAll(async () => {
  directory = await makeTempDir('derived-status');
  for (const name of ['home', 'srv', 'usb', 'nas', 'repo', 'copy', 'uploads', 'state'])
    await mkdir(join(directory, name), { recursive: true });
  configPath = join(directory, 'snapkeep.yaml');
  await writeFile(
    configPath,
    `state_dir: ${directory}/state
targets:
  usb:
    path: ${directory}/usb
  nas:
    path: ${directory}/nas
subvolumes:
  home:
    path: ${directory}/home
    snapshot_dir: ${directory}/home/.snapshots
    targets: [usb, nas]
  srv:
    path: ${directory}/srv
    snapshot_dir: ${directory}/srv/.snapshots
    targets: [usb]
repositories:
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
`,
  );
  await writeFile(join(directory, 'state', 'journal.ndjson'), journal());
  env = { SNAPKEEP_CACHE_DIR: join(directory, 'cache'), TEST_REPO_PASSWORD: 'unused' };
});

afterAll(async () => {
  await rm(directory, { recursive: true, force: true });
});

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
      pending?: { count: number };
    }[];
    expect(summary).toMatchObject({
      version: 1,
      summary: { jobs: 5, failing: 2, stale: 3 },
      lastRun: { state: 'killed', command: 'resume' },
    });
    const states = Object.fromEntries(jobs.map((job) => [job.id, [job.state, job.outcome]]));
    expect(states).toEqual({
      'home → usb': ['OK', 'ok'],
      'home → nas': ['FAIL', 'failed'],
      'srv → usb': ['FAIL', 'killed'],
      'app → local': ['STALE', 'ok'],
      'app → copy': ['STALE', 'ok'],
    });
    const pending = Object.fromEntries(jobs.map((job) => [job.id, job.pending?.count]));
    expect(pending).toEqual({
      'home → usb': 1,
      'home → nas': 2,
      'srv → usb': 0,
      'app → local': undefined,
      'app → copy': undefined,
    });

    const text = await snapkeep(['status', '--config', configPath], { env });
    expectExit(text, 3);
    const rows = text.stdout.split('\n');
    expect(rows[0]).toMatch(/^last run: .*snapkeep resume, killed/);
    // Failures first, then stale, then the rest.
    const order = rows.filter((row) => /^(FAIL|STALE|OK) /.test(row)).map((row) => row.split(/\s{2,}/)[1]);
    expect(order).toEqual(['home → nas', 'srv → usb', 'app → local', 'app → copy', 'home → usb']);

    const check = await snapkeep(['check', '--config', configPath], { env });
    expectExit(check, 2);
    const [first, ...details] = check.stdout.trim().split('\n');
    expect(first).toMatch(/^SNAPKEEP CRITICAL - 2 failing, 3 stale \| jobs=5 failing=2 stale=3 /);
    const checkStates: Record<string, string> = Object.fromEntries(
      details.map((line): [string, string] => {
        const [, word = '', id = ''] = /^(\w+): (.+? → \S+):/.exec(line)!;
        return [id, word];
      }),
    );
    expect(checkStates).toEqual({
      'home → usb': 'OK',
      'home → nas': 'CRITICAL',
      'srv → usb': 'CRITICAL',
      'app → local': 'WARNING',
      'app → copy': 'WARNING',
    });
    expect(details.find((line) => line.includes('home → nas'))).toContain('2 snapshot(s) pending sync');

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
    expect(doctorStates).toEqual({
      'home → usb': 'OK',
      'home → nas': 'FAIL',
      'srv → usb': 'FAIL',
      'app → local': 'FAIL',
      'app → copy': 'FAIL',
    });
    // The same jobs are not OK in all three.
    const notOk = (entries: Record<string, string | undefined>): string[] =>
      Object.keys(entries)
        .filter((id) => entries[id] !== 'OK')
        .sort();
    const statusWords = Object.fromEntries(jobs.map((job) => [job.id, job.state]));
    expect(notOk(checkStates)).toEqual(notOk(statusWords));
    expect(notOk(doctorStates)).toEqual(notOk(statusWords));
    expect(checks.find((entry) => entry.check === 'last-run')).toMatchObject({ status: 'FAIL' });
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
});
