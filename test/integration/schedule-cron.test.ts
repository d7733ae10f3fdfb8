// The cron backend with a real cron daemon: `schedule install --backend cron --cron-file
// /etc/cron.d/<unique>` writes an every-minute snapshot job; cron (the one running here, or
// one this test starts in the foreground and stops by its PID) runs it with nothing but what
// the file says (its PATH= line: cron's own PATH lacks /sbin, where btrfs may live), and the
// run lands in the journal with the job's name (SNAPKEEP_JOB → run-start `job`) and a snapshot
// on disk. Waits for the next minute boundary: up to about a minute.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runChecked, runCommand } from '../../src/exec/command.js';
import { createSubvolume } from '../helpers/btrfs-tree.js';
import { expectExit, snapkeep } from '../helpers/cli.js';
import { createLoopBtrfs, makeTempDir, requireTools, type LoopBtrfs } from '../helpers/loop-btrfs.js';
import { killAndReap, waitUntil } from '../helpers/processes.js';

const cronFile = `/etc/cron.d/snapkeep-test-${randomBytes(4).toString('hex')}`;
let disk: LoopBtrfs | undefined;
let base: string;
let daemon: ChildProcess | undefined;

/** A cron daemon already running on this machine (it reads /etc/cron.d too). */
function runningCron(): boolean {
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'cron') return true;
    } catch {
      // gone meanwhile
    }
  }
  return false;
}

beforeAll(async () => {
  await requireTools(['btrfs', 'mkfs.btrfs', 'cron']);
  disk = await createLoopBtrfs('cron', 256);
  base = await makeTempDir('schedule-cron');
});
afterAll(async () => {
  // The file first, so the daemon starts nothing more; then the daemon this test started.
  await rm(cronFile, { force: true });
  if (daemon?.pid !== undefined) await killAndReap([daemon.pid]);
  await disk?.cleanup();
  if (base) await runCommand({ file: 'rm', args: ['-rf', base] });
});

it('a real cron daemon runs the generated entry: the snapshot is taken and journaled as the job', async () => {
  const data = join(disk!.mountPoint, 'data');
  await createSubvolume(data);
  await runChecked({ file: 'mkdir', args: ['-p', join(disk!.mountPoint, 'snapshots')] });
  const stateDir = join(base, 'state');
  const configPath = join(base, 'snapkeep.yaml');
  await writeFile(
    configPath,
    `state_dir: ${stateDir}
subvolumes:
  data: {path: ${data}, snapshot_dir: ${join(disk!.mountPoint, 'snapshots')}}
schedules:
  every-minute: {command: snapshot, when: minutely, random_delay: 0s}
`,
  );
  expectExit(
    await snapkeep([
      'schedule',
      'install',
      '--backend',
      'cron',
      '--cron-file',
      cronFile,
      '--config',
      configPath,
    ]),
    0,
  );
  const text = await readFile(cronFile, 'utf8');
  expect(text).toMatch(/^SHELL=\/bin\/sh$/m);
  expect(text).toMatch(/^PATH=\/usr\/local\/sbin:\/usr\/local\/bin:\/usr\/sbin:\/usr\/bin:\/sbin:\/bin$/m);
  expect(text).toMatch(
    /^\* \* \* \* \* root SNAPKEEP_JOB=every-minute timeout .* snapshot --config \S+ --lock-wait 3600s$/m,
  );
  expect(text).toMatch(/^@reboot root .* schedule catch-up --config \S+$/m);

  if (!runningCron()) {
    daemon = spawn('cron', ['-f'], { stdio: 'ignore' });
    await waitUntil('cron started', () => daemon!.pid !== undefined && runningCron());
  }
  const run = await waitUntil(
    'cron to run the job and the run to end',
    async () => {
      let journal = '';
      try {
        journal = await readFile(join(stateDir, 'journal.ndjson'), 'utf8');
      } catch {
        return undefined;
      }
      const entries = journal
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      const start = entries.find((entry) => entry.event === 'run-start' && entry.job === 'every-minute');
      const end = start && entries.find((entry) => entry.event === 'run-end' && entry.run === start.run);
      return end ? { start, end } : undefined;
    },
    // cron starts jobs on the minute: up to 60 s, plus the run itself.
    5000,
  );
  expect(run.start.command).toBe('snapshot');
  expect(run.end.exitCode).toBe(0);
  expect((await readdir(join(disk!.mountPoint, 'snapshots'))).some((name) => name.startsWith('data.'))).toBe(
    true,
  );

  // schedule status reads the same journal: the job's last run is that one.
  const status = await snapkeep([
    'schedule',
    'status',
    '--json',
    '--backend',
    'cron',
    '--cron-file',
    cronFile,
    '--config',
    configPath,
  ]);
  expectExit(status, 0);
  const line = JSON.parse(status.stdout.split('\n')[0]!) as {
    installed: boolean;
    jobs: { name: string; lastRun: { id: string; state: string } }[];
  };
  expect(line.installed).toBe(true);
  expect(line.jobs[0]!.lastRun).toMatchObject({ id: run.start.run, state: 'ok' });
}, 150_000);
